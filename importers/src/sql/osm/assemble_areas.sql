-- The areas of multipolygon relations ($1: ids, $2: their member ways as EWKB multilinestrings)
-- and a point on each; relations that close no ring are left out.
SELECT id, ST_AsEWKB(area), ST_AsEWKB(ST_PointOnSurface(area))
FROM (
    SELECT r.id, bando.osm_area(ST_GeomFromEWKB(r.lines)) AS area
    FROM unnest($1::bigint[], $2::bytea[]) AS r(id, lines)
) a
WHERE area IS NOT NULL
