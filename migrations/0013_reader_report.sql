-- How each job's source was read: the GDAL driver, and for an upload read in a confined reader
-- process its exit (code or signal), peak memory, CPU and wall time, limits and confinement —
-- what a GIS officer asking "why did my file fail" is answered with (`GET /v1/jobs/{id}`, the
-- audit log's import records).
ALTER TABLE bando.import_jobs ADD COLUMN reader jsonb;
