-- Swaps the catalog values of the live and the previous version (the tables are swapped by the
-- caller in the same transaction), so a rollback can itself be rolled back.
UPDATE bando.layers AS l SET
    fields        = p.previous -> 'fields',
    geometry_type = p.previous ->> 'geometry_type',
    bounds        = (SELECT array_agg(b::double precision)
                     FROM jsonb_array_elements_text(p.previous -> 'bounds') AS b),
    feature_count = (p.previous ->> 'feature_count')::bigint,
    source_crs    = p.previous ->> 'source_crs',
    source_srid   = (p.previous ->> 'source_srid')::integer,
    previous      = bando.content_snapshot(p),
    version       = p.version + 1,
    updated_at    = now()
FROM bando.layers AS p
WHERE l.id = p.id AND l.slug = $1 AND p.previous IS NOT NULL
RETURNING l.version, l.fields, l.feature_count, l.bounds, p.bounds AS old_bounds, (p.previous ->> 'version')::integer AS restored
