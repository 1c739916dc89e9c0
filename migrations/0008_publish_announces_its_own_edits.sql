-- A publish that changes the live table in place (append, upsert, an OSM change file) announces
-- its change itself, precisely (for a change file, one box per edited place). The edit triggers
-- would announce the same rows again as one extent covering them all — staling every tile
-- between two edits far apart — so they stay silent in a transaction that sets
-- `bando.publishing` (SET LOCAL), and only announce edits made directly in SQL.
CREATE OR REPLACE FUNCTION bando.notify_feature_edit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    extent box2d;
    changed bando.layers;
BEGIN
    IF current_setting('bando.publishing', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT ST_Extent(geom) INTO extent FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT ST_Extent(geom) INTO extent FROM old_rows;
    ELSE
        SELECT ST_Extent(geom) INTO extent
        FROM (SELECT geom FROM old_rows UNION ALL SELECT geom FROM new_rows) AS touched;
    END IF;
    IF extent IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE bando.layers SET revision = nextval('bando.revision_seq'), updated_at = now()
    WHERE slug = TG_TABLE_NAME
    RETURNING * INTO changed;
    IF changed.id IS NOT NULL THEN
        PERFORM pg_notify('bando_publish', json_build_object(
            'id', changed.id, 'layer', changed.slug, 'version', changed.version,
            'bounds', json_build_array(ST_XMin(extent), ST_YMin(extent),
                                       ST_XMax(extent), ST_YMax(extent)))::text);
    END IF;
    RETURN NULL;
END
$$;
