-- Jobs still marked running whose importer no longer holds the job's advisory lock were killed:
-- mark them failed. Their staging tables are dropped by the caller.
UPDATE bando.import_jobs
SET status = 'failed',
    error = 'interrupted: the importer stopped before publishing',
    finished_at = now(),
    duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint
WHERE status = 'running'
  AND pg_try_advisory_lock(1650552420, id::int)
RETURNING id
