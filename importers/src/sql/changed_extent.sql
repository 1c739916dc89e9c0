-- WGS84 extent of the features that differ between two versions of a layer table with the same
-- columns: rows whose feature id is new or gone, or whose geometry or attributes changed.
-- Geometries are compared with PostGIS `=` (same coordinates in the same order) and attributes
-- as one row value ({attributes} lists the same columns on both sides; NULLs compare equal), so
-- no geometry is turned into text. NULLs when nothing changed.
SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n
FROM (
    SELECT ST_Extent(geom)::geometry AS e
    FROM (
        SELECT o.geom FROM {old} AS o
        LEFT JOIN {new} AS n ON n.fid = o.fid AND {same}
        WHERE n.fid IS NULL
        UNION ALL
        SELECT n.geom FROM {new} AS n
        LEFT JOIN {old} AS o ON o.fid = n.fid AND {same}
        WHERE o.fid IS NULL
    ) AS differing
) AS extent
