-- A queued upload: taken by a live server's runner (claim_job.sql), attempts counted from 0.
INSERT INTO bando.import_jobs
    (layer_slug, source_path, mode, policy, agency, request, max_attempts, attempts, status, queued_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 'queued', now())
RETURNING id
