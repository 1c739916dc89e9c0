-- Staging tables (and their prepared search rows, `_stg_job<id>_names`) whose job is not running
-- (any more).
SELECT c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'layers'
  AND c.relkind = 'r'
  AND c.relname LIKE '\_stg\_job%'
  AND NOT EXISTS (
      SELECT 1 FROM bando.import_jobs j
      WHERE j.status = 'running'
        AND c.relname IN ('_stg_job' || j.id, '_stg_job' || j.id || '_names')
  )
