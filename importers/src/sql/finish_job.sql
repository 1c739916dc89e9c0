-- The job's outcome; a queued upload's stored file goes in the same statement, so no job is
-- ever seen finished with its file still kept.
WITH stored AS (
    DELETE FROM bando.job_files WHERE job_id = $1
)
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
