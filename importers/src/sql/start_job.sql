INSERT INTO bando.import_jobs (layer_slug, source_path, mode, policy, agency)
VALUES ($1, $2, $3, $4, $5)
RETURNING id
