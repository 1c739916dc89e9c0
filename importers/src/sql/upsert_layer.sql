-- Registers a newly published layer, or bumps the version of an existing one. Descriptive fields
-- given as NULL keep their current value. The owner of an existing layer never changes here.
INSERT INTO bando.layers AS l
    (slug, title, description, geometry_type, source_srid, source_crs, bounds, minzoom, maxzoom,
     attribution, fields, feature_count, layout, valid_from, valid_to, generalized, admin_level,
     agency, visibility)
VALUES ($1, coalesce($2, $1), coalesce($3, ''), $4, $5, $6, $7, coalesce($8, 0), coalesce($9, 22),
        coalesce($10, ''), $11, $12, $13, $14, $15, $16, $17,
        coalesce($18, 'hcmc'), coalesce($19, 'public'::bando.visibility))
ON CONFLICT (slug) DO UPDATE SET
    title         = coalesce($2, l.title),
    description   = coalesce($3, l.description),
    geometry_type = excluded.geometry_type,
    source_srid   = excluded.source_srid,
    source_crs    = excluded.source_crs,
    bounds        = excluded.bounds,
    minzoom       = coalesce($8, l.minzoom),
    maxzoom       = coalesce($9, l.maxzoom),
    attribution   = coalesce($10, l.attribution),
    fields        = excluded.fields,
    feature_count = excluded.feature_count,
    layout        = coalesce($13, l.layout),
    valid_from    = coalesce($14, l.valid_from),
    valid_to      = coalesce($15, l.valid_to),
    generalized   = $16,
    admin_level   = coalesce($17, l.admin_level),
    visibility    = coalesce($19, l.visibility),
    previous      = bando.content_snapshot(l),
    version       = l.version + 1,
    updated_at    = now()
RETURNING id, version, agency
