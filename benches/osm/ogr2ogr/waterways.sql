-- Rivers, canals, streams and ditches as lines.
SELECT osm_id, name, waterway AS class, GEOMETRY
FROM lines
WHERE waterway IS NOT NULL
