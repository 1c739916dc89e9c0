UPDATE bando.import_jobs
SET status = $2::bando.job_status,
    features_read = $3,
    features_written = $4,
    features_repaired = $5,
    features_skipped = $6,
    report = $7,
    error = $8,
    published_version = $9,
    stage = NULL,
    finished_at = now(),
    duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint
WHERE id = $1
