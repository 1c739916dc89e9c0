-- Admin boundary layers carry a layout and a validity period, so the 2019 and 2025 ward layers
-- coexist (codes are reused across layouts: 26740 was Bến Nghé, is now Sài Gòn).
ALTER TABLE bando.layers
    ADD COLUMN layout     text,
    ADD COLUMN valid_from date,
    ADD COLUMN valid_to   date,
    -- For boundary layers: which level of government they draw (ward lookups use them).
    ADD COLUMN admin_level text CHECK (admin_level IN ('city', 'district', 'ward')),
    -- The layer table has per-zoom generalised geometry columns (geom_z5, geom_z8, geom_z10).
    ADD COLUMN generalized boolean NOT NULL DEFAULT false,
    -- Catalog values of the version kept as layers._prev_<id>, for rollback.
    ADD COLUMN previous jsonb,
    ADD CONSTRAINT layers_validity_check CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to);

ALTER TABLE bando.import_jobs
    ADD COLUMN target_crs text NOT NULL DEFAULT 'EPSG:4326',
    ADD COLUMN policy     text NOT NULL DEFAULT 'repair';

-- A WGS84 geometry generalised for display at `zoom`, in Web Mercator: NULL when the whole
-- feature is smaller than a screen pixel (512-pixel tiles) and would not be seen, else simplified
-- (Douglas-Peucker, collapsed parts kept) to half a pixel before projecting, which is 30x cheaper
-- than simplifying in metres after. Mercator x is linear in longitude, so a pixel is exactly
-- 360 / (512 * 2^zoom) degrees of longitude, and within cos(latitude) of that in latitude (2 % in
-- Ho Chi Minh City). Points are only projected. Tiles clip and make the result valid. Immutable:
-- layer tables keep it in generated columns, which follow every edit.
CREATE FUNCTION bando.generalize(g geometry, zoom integer) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN ST_Dimension(g) = 0 THEN bando.to_web_mercator(g)
        WHEN greatest(ST_XMax(g) - ST_XMin(g), ST_YMax(g) - ST_YMin(g))
             < 360.0 / (512 * 2 ^ zoom) THEN NULL
        ELSE bando.to_web_mercator(ST_Simplify(g, 360.0 / (512 * 2 ^ zoom) / 2, true))
    END
$$;

-- The catalog values that describe a layer table's content, kept in `previous` for rollback.
CREATE FUNCTION bando.content_snapshot(l bando.layers) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'fields', l.fields, 'geometry_type', l.geometry_type, 'bounds', l.bounds,
        'feature_count', l.feature_count, 'source_crs', l.source_crs, 'source_srid', l.source_srid,
        'version', l.version)
$$;

-- `jobs list`: newest first.
CREATE INDEX import_jobs_started_idx ON bando.import_jobs (started_at DESC);
