INSERT INTO bando.import_jobs (layer_slug, source_path, source_format, source_checksum, source_crs, mode, policy)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
