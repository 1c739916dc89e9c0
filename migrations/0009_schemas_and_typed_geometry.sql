-- Schema `layers` holds the live layers and nothing else, so that tools listing it (QGIS,
-- Martin's auto-publishing, GeoServer, ogr2ogr) see exactly the layers: staging tables go to
-- `bando_staging`, versions kept for rollback (and tables found in a publish's way) to
-- `bando_history`.
CREATE SCHEMA bando_staging;
CREATE SCHEMA bando_history;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'layers' AND (tablename LIKE '\_prev\_%' OR tablename LIKE '\_orphan\_%') LOOP
        EXECUTE format('ALTER TABLE layers.%I SET SCHEMA bando_history', t.tablename);
    END LOOP;
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'layers' AND tablename LIKE '\_stg\_%' LOOP
        EXECUTE format('ALTER TABLE layers.%I SET SCHEMA bando_staging', t.tablename);
    END LOOP;
END $$;

-- Geometry columns typed by what they hold (`geometry(MultiPolygon, 4326)`,
-- `geometry(Point, 3857)`, …), as `geometry_columns` then reports them to GIS tools; a layer with
-- several kinds of geometry stays `Geometry`. Imports type their tables when they publish; this
-- types the layers published before. The derived columns are generated from `geom`, so they are
-- dropped and made again with the type (one rewrite per table).
CREATE FUNCTION bando.type_geometry_columns(layer_table text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    target text := format('layers.%I', layer_table);
    kinds text[];
    kind text;
    generated text[];
    col text;
    alters text[] := ARRAY[]::text[];
BEGIN
    EXECUTE format('SELECT array_agg(DISTINCT GeometryType(geom)) FROM %s', target) INTO kinds;
    IF kinds IS NULL OR array_length(kinds, 1) <> 1 THEN
        RETURN 'Geometry';
    END IF;
    kind := kinds[1];
    SELECT array_agg(attname::text ORDER BY attnum) INTO generated
    FROM pg_attribute
    WHERE attrelid = target::regclass AND attgenerated = 's' AND NOT attisdropped
      AND attname::text IN ('geom_3857', 'geom_z5', 'geom_z8', 'geom_z10');
    FOREACH col IN ARRAY coalesce(generated, ARRAY[]::text[]) LOOP
        alters := array_append(alters, format('DROP COLUMN %I', col));
    END LOOP;
    alters := alters || ARRAY[format('ALTER COLUMN geom TYPE geometry(%s, 4326)', kind),
                              'ALTER COLUMN geom SET STORAGE EXTERNAL'];
    FOREACH col IN ARRAY coalesce(generated, ARRAY[]::text[]) LOOP
        alters := alters || ARRAY[
            format('ADD COLUMN %I geometry(%s, 3857) GENERATED ALWAYS AS (%s) STORED',
                   col, kind,
                   CASE col WHEN 'geom_3857' THEN 'bando.to_web_mercator(geom)'
                            ELSE format('bando.generalize(geom, %s)', substr(col, 7)) END),
            format('ALTER COLUMN %I SET STORAGE EXTERNAL', col)];
    END LOOP;
    EXECUTE format('ALTER TABLE %s %s', target, array_to_string(alters, ', '));
    -- The spatial index on the Web Mercator column went with it.
    IF 'geom_3857' = ANY(generated) THEN
        EXECUTE format('CREATE INDEX ON %s USING gist (geom_3857)', target);
    END IF;
    RETURN kind;
END
$$;

SELECT bando.type_geometry_columns(slug)
FROM bando.layers
WHERE to_regclass(format('layers.%I', slug)) IS NOT NULL;
