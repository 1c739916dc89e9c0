-- The catalog: the contract between the importers (writers) and the tile server (reader).
-- Catalog tables live in schema `bando`; every published layer is a real table in schema `layers`
-- named after its slug, with geometry in EPSG:4326 (`geom`) and a derived Web Mercator copy
-- (`geom_3857`) that tile queries read, both GiST-indexed.

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE SCHEMA IF NOT EXISTS bando;
CREATE SCHEMA IF NOT EXISTS layers;

CREATE TYPE bando.visibility AS ENUM ('public', 'restricted', 'private');

CREATE TABLE bando.agencies (
    slug        text PRIMARY KEY CHECK (slug ~ '^[a-z][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The city itself owns the base layers until agencies publish their own.
INSERT INTO bando.agencies (slug, name) VALUES ('hcmc', 'Ho Chi Minh City');

CREATE TABLE bando.layers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9_]{0,62}$'),
    title         text NOT NULL,
    description   text NOT NULL DEFAULT '',
    -- OGC simple-feature type name, e.g. 'MultiPolygon'; 'Geometry' when the layer mixes types.
    geometry_type text NOT NULL,
    -- The CRS the source data came in (EPSG code when known); the stored data is always 4326.
    source_srid   integer,
    source_crs    text,
    -- WGS84 bounds of the data: west, south, east, north.
    bounds        double precision[4] CHECK (bounds IS NULL OR cardinality(bounds) = 4),
    minzoom       smallint NOT NULL DEFAULT 0 CHECK (minzoom BETWEEN 0 AND 24),
    maxzoom       smallint NOT NULL DEFAULT 22 CHECK (maxzoom BETWEEN 0 AND 24),
    attribution   text NOT NULL DEFAULT '',
    agency        text NOT NULL DEFAULT 'hcmc' REFERENCES bando.agencies (slug),
    visibility    bando.visibility NOT NULL DEFAULT 'public',
    -- Attribute columns of the layer table: [{"name": sql name, "source_name": original, "type": json type}].
    fields        jsonb NOT NULL DEFAULT '[]',
    feature_count bigint NOT NULL DEFAULT 0,
    -- Bumped on every publish; tile URLs and cache keys carry it.
    version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (minzoom <= maxzoom)
);

CREATE TYPE bando.job_status AS ENUM ('running', 'succeeded', 'failed', 'skipped');

CREATE TABLE bando.import_jobs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer_slug         text NOT NULL,
    status             bando.job_status NOT NULL DEFAULT 'running',
    requested_by       text NOT NULL DEFAULT current_user,
    source_path        text NOT NULL,
    source_format      text,
    source_checksum    text,
    source_crs         text,
    target_srid        integer NOT NULL DEFAULT 4326,
    mode               text NOT NULL DEFAULT 'replace',
    features_read      bigint NOT NULL DEFAULT 0,
    features_written   bigint NOT NULL DEFAULT 0,
    features_repaired  bigint NOT NULL DEFAULT 0,
    features_skipped   bigint NOT NULL DEFAULT 0,
    -- Validation report: counts by reason and the first offending features.
    report             jsonb NOT NULL DEFAULT '{}',
    error              text,
    published_version  integer,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    duration_ms        bigint
);

CREATE INDEX import_jobs_layer_idx ON bando.import_jobs (layer_slug, started_at DESC);
CREATE INDEX import_jobs_checksum_idx ON bando.import_jobs (source_checksum) WHERE status = 'succeeded';

-- Web Mercator copy of a WGS84 geometry for tile queries. Parts beyond Mercator's latitude limit
-- are clipped first (they have no Mercator coordinates). Immutable, so layer tables can keep
-- `geom_3857` as a generated column that follows every edit, including edits made in plain SQL.
CREATE FUNCTION bando.to_web_mercator(g geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ST_Transform(
        CASE WHEN ST_YMin(g) < -85.0511287798 OR ST_YMax(g) > 85.0511287798
             THEN ST_ClipByBox2D(g, ST_MakeEnvelope(-180, -85.0511287798, 180, 85.0511287798, 4326))
             ELSE g END,
        3857)
$$;
