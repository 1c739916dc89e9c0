-- WGS84 extent of the features that differ between two versions of a layer table with the same
-- columns: rows whose feature id is new or gone, or whose geometry or attributes changed (both
-- versions of a changed row count). Geometries are compared with PostGIS `=` (same coordinates
-- in the same order) and attributes as one row value ({same} compares the same columns on both
-- sides; NULLs compare equal), so no geometry is turned into text; one full join compares each
-- pair once. NULLs when nothing changed.
SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n
FROM (
    SELECT ST_Extent(g.geom)::geometry AS e
    FROM {old} AS o
    FULL JOIN {new} AS n ON n.fid = o.fid
    CROSS JOIN LATERAL (VALUES (o.geom), (n.geom)) AS g (geom)
    WHERE o.fid IS NULL OR n.fid IS NULL OR NOT coalesce(({same}), false)
) AS extent
