-- Land use, parks and natural cover.
SELECT osm_id, osm_way_id, name,
       CASE
           WHEN leisure IN ('park', 'garden', 'playground', 'pitch', 'golf_course', 'recreation_ground') THEN 'park'
           WHEN "natural" IN ('wood', 'scrub', 'grassland', 'wetland', 'heath') THEN "natural"
           ELSE landuse
       END AS class,
       coalesce(leisure, landuse, "natural") AS subclass,
       GEOMETRY
FROM multipolygons
WHERE building IS NULL
  AND (landuse IS NOT NULL
       OR leisure IN ('park', 'garden', 'playground', 'pitch', 'golf_course', 'recreation_ground')
       OR "natural" IN ('wood', 'scrub', 'grassland', 'wetland', 'heath'))
  AND coalesce(landuse, '') NOT IN ('reservoir', 'basin')
