-- The values given ($2..$10, NULL: unchanged) of layer $1; the table's CHECKs guard the result.
UPDATE bando.layers
SET title       = coalesce($2, title),
    description = coalesce($3, description),
    attribution = coalesce($4, attribution),
    minzoom     = coalesce($5, minzoom),
    maxzoom     = coalesce($6, maxzoom),
    layout      = coalesce($7, layout),
    valid_from  = coalesce($8, valid_from),
    valid_to    = coalesce($9, valid_to),
    visibility  = coalesce($10, visibility),
    updated_at  = now()
WHERE slug = $1
RETURNING slug AS layer, title, description, attribution, minzoom, maxzoom, layout, valid_from,
          valid_to, visibility, agency
