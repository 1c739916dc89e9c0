-- Water areas: lakes, ponds, reservoirs, river banks.
SELECT osm_id, osm_way_id, name,
       coalesce(hstore_get_value(other_tags, 'water'), "natural", landuse, 'water') AS class,
       GEOMETRY
FROM multipolygons
WHERE "natural" = 'water' OR landuse IN ('reservoir', 'basin')
   OR hstore_get_value(other_tags, 'waterway') = 'riverbank'
