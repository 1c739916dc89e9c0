-- Jobs marked running whose runner no longer holds their advisory lock ($1, id) were interrupted:
-- the process died or lost its database connection. One with its file stored and attempts left
-- is queued again (after a short wait that grows with each attempt); the others fail, saying why.
-- The caller releases the locks taken here.
WITH dead AS (
    SELECT j.id,
           j.request IS NOT NULL AND j.attempts < j.max_attempts
           AND EXISTS (SELECT 1 FROM bando.job_files f WHERE f.job_id = j.id) AS retry
    FROM bando.import_jobs j
    WHERE j.status = 'running'
      AND pg_try_advisory_lock($1, j.id::int)
)
UPDATE bando.import_jobs j
SET status = (CASE WHEN dead.retry THEN 'queued' ELSE 'failed' END)::bando.job_status,
    stage = NULL,
    not_before = CASE WHEN dead.retry THEN now() + make_interval(secs => 2 * j.attempts) END,
    error = CASE
        WHEN dead.retry THEN format(
            'attempt %s of %s was interrupted: the server stopped during the import; queued again',
            j.attempts, j.max_attempts)
        WHEN j.request IS NOT NULL THEN format(
            'the server stopped during the import (attempt %s of %s)', j.attempts, j.max_attempts)
        ELSE 'the import stopped before publishing: its process ended or lost the database connection'
    END,
    finished_at = CASE WHEN dead.retry THEN NULL ELSE now() END,
    duration_ms = CASE WHEN dead.retry THEN NULL
                       ELSE (extract(epoch FROM now() - j.started_at) * 1000)::bigint END
FROM dead
WHERE j.id = dead.id
RETURNING j.id, j.status::text, j.request::text
