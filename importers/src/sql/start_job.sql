INSERT INTO bando.import_jobs (layer_slug, source_path, mode, policy)
VALUES ($1, $2, $3, $4)
RETURNING id
