-- Staging tables whose job is not running (any more), schema-qualified and quoted: a job's
-- staging table `bando_staging._stg_job<id>`, and the tables named after it (`_stg_job<id>_names`,
-- the themes of an OSM change `_stg_job<id>_<n>`, an OSM middle `osm_middle._stg_job<id>_nodes`).
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('bando_staging', 'osm_middle')
  AND c.relkind = 'r'
  AND c.relname LIKE '\_stg\_job%'
  AND NOT EXISTS (
      SELECT 1 FROM bando.import_jobs j
      WHERE j.status = 'running'
        AND (c.relname = '_stg_job' || j.id OR c.relname LIKE '\_stg\_job' || j.id || '\_%')
  )
