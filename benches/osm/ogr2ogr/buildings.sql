-- Buildings with their kind, name and height where tagged.
SELECT osm_id, osm_way_id, name, building AS class,
       CAST(hstore_get_value(other_tags, 'building:levels') AS INTEGER) AS levels,
       CAST(hstore_get_value(other_tags, 'height') AS REAL) AS height,
       GEOMETRY
FROM multipolygons
WHERE building IS NOT NULL
