-- Place labels: city, town, suburb, quarter, neighbourhood, village, hamlet.
SELECT osm_id, name, place AS class,
       hstore_get_value(other_tags, 'name:en') AS name_en,
       CAST(hstore_get_value(other_tags, 'population') AS INTEGER) AS population,
       GEOMETRY
FROM points
WHERE place IS NOT NULL AND name IS NOT NULL
