-- The oldest due queued job, taken by one runner ($1) only: the others skip the row while it is
-- locked. The job's advisory lock ($2, id) is taken in the same statement, so no sweeper ever
-- sees the job running without a holder.
WITH next AS (
    SELECT id
    FROM bando.import_jobs
    WHERE status = 'queued' AND coalesce(not_before, '-infinity') <= now()
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
UPDATE bando.import_jobs j
SET status = 'running',
    attempts = j.attempts + 1,
    runner = $1,
    stage = 'starting',
    started_at = now(),
    not_before = NULL
FROM next
WHERE j.id = next.id
RETURNING j.id, j.request, j.attempts, j.max_attempts,
          (SELECT f.file_name FROM bando.job_files f WHERE f.job_id = j.id LIMIT 1),
          (SELECT true FROM pg_advisory_lock($2, j.id::int)) AS locked
