-- Count, WGS84 extent and geometry types of a staging table (table name substituted, quoted).
SELECT count(*) AS feature_count,
       ST_XMin(ext) AS west, ST_YMin(ext) AS south, ST_XMax(ext) AS east, ST_YMax(ext) AS north,
       ARRAY(SELECT DISTINCT GeometryType(geom) FROM {table} ORDER BY 1) AS geometry_types
FROM {table}, LATERAL (SELECT ST_Extent(geom)::geometry AS ext FROM {table}) e
GROUP BY ext
