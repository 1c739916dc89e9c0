-- The job that published the live version of this layer from a file with this checksum, if any.
SELECT j.id
FROM bando.import_jobs j
JOIN bando.layers l ON l.slug = j.layer_slug AND l.version = j.published_version
WHERE j.layer_slug = $1 AND j.source_checksum = $2 AND j.status = 'succeeded'
ORDER BY j.id DESC
LIMIT 1
