-- The derived geometry functions behind every layer table's generated columns, rewritten so that
-- PostgreSQL inlines them (same results, 2–4x cheaper per row, which is most of an import's COPY
-- time for polygon layers):
-- * not STRICT: a STRICT SQL function is inlined only when its body is strict too, and a CASE is
--   not; both still return NULL for NULL (ST_ClipByBox2D is strict);
-- * the parameter used once where the argument may be expensive (PostgreSQL will not inline a
--   function that would evaluate ST_Simplify twice);
-- * bounding boxes read from the serialised geometry's cached box instead of scanning every
--   vertex: ST_ClipByBox2D returns its input untouched when the box is inside the clip box, and
--   the sub-pixel test only needs the box (stored as float4, rounded outwards: a feature within a
--   hair of a pixel may be kept, never dropped wrongly).

-- Web Mercator copy of a WGS84 geometry for tile queries, parts beyond Mercator's latitude limit
-- clipped first (they have no Mercator coordinates).
CREATE OR REPLACE FUNCTION bando.to_web_mercator(g geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ST_Transform(
        ST_ClipByBox2D(g, ST_MakeEnvelope(-180, -85.0511287798, 180, 85.0511287798, 4326)),
        3857)
$$;

-- A WGS84 geometry generalised for display at `zoom`, in Web Mercator (see 0002 for the rule):
-- NULL when smaller than a pixel of a 512-pixel tile, else simplified to half a pixel and
-- projected; points only projected.
CREATE OR REPLACE FUNCTION bando.generalize(g geometry, zoom integer) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN GeometryType(g) IN ('POINT', 'MULTIPOINT')
             OR (GeometryType(g) = 'GEOMETRYCOLLECTION' AND ST_Dimension(g) = 0)
            THEN bando.to_web_mercator(g)
        WHEN greatest(ST_XMax(g::box2d) - ST_XMin(g::box2d), ST_YMax(g::box2d) - ST_YMin(g::box2d))
             < 360.0 / (512 * 2 ^ zoom) THEN NULL
        ELSE bando.to_web_mercator(ST_Simplify(g, 360.0 / (512 * 2 ^ zoom) / 2, true))
    END
$$;
