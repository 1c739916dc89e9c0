SELECT id, layer_slug, status::text AS status, mode, requested_by, source_path, source_format,
       source_checksum, source_crs, target_crs, policy, features_read, features_written,
       features_repaired, features_skipped, report, error, published_version, started_at,
       finished_at, duration_ms, reader
FROM bando.import_jobs
WHERE ($1::text IS NULL OR layer_slug = $1) AND ($2::bigint IS NULL OR id = $2)
ORDER BY id DESC
LIMIT $3
