SELECT id, slug, title, description, geometry_type, source_srid, source_crs, bounds,
       minzoom, maxzoom, attribution, agency, visibility, fields, feature_count, version, updated_at, layout, valid_from, valid_to, generalized, admin_level, revision
FROM bando.layers
ORDER BY slug
