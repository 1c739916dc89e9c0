-- Points of interest by category (health, education, transport, shopping, food, ...), with the
-- OSM tag value as subclass.
SELECT osm_id, name, category, subclass, GEOMETRY
FROM (
    SELECT osm_id, name, GEOMETRY,
           coalesce(hstore_get_value(other_tags, 'amenity'), hstore_get_value(other_tags, 'shop'),
                    hstore_get_value(other_tags, 'tourism'), hstore_get_value(other_tags, 'healthcare'),
                    hstore_get_value(other_tags, 'leisure'), hstore_get_value(other_tags, 'office'),
                    hstore_get_value(other_tags, 'public_transport')) AS subclass,
           CASE
               WHEN hstore_get_value(other_tags, 'amenity') IN ('hospital', 'clinic', 'doctors', 'dentist', 'pharmacy')
                    OR hstore_get_value(other_tags, 'healthcare') IS NOT NULL THEN 'health'
               WHEN hstore_get_value(other_tags, 'amenity') IN ('school', 'university', 'college', 'kindergarten', 'library') THEN 'education'
               WHEN hstore_get_value(other_tags, 'amenity') IN ('bus_station', 'ferry_terminal', 'parking', 'fuel', 'taxi')
                    OR highway = 'bus_stop' OR hstore_get_value(other_tags, 'public_transport') IS NOT NULL THEN 'transport'
               WHEN hstore_get_value(other_tags, 'amenity') IN ('townhall', 'police', 'fire_station', 'post_office', 'courthouse') THEN 'government'
               WHEN hstore_get_value(other_tags, 'amenity') IN ('place_of_worship') THEN 'religion'
               WHEN hstore_get_value(other_tags, 'amenity') IN ('restaurant', 'cafe', 'fast_food', 'bar', 'pub', 'food_court') THEN 'food'
               WHEN hstore_get_value(other_tags, 'amenity') = 'marketplace' OR hstore_get_value(other_tags, 'shop') IS NOT NULL THEN 'shopping'
               WHEN hstore_get_value(other_tags, 'tourism') IS NOT NULL THEN 'tourism'
               WHEN hstore_get_value(other_tags, 'amenity') IS NOT NULL THEN 'amenity'
               ELSE NULL
           END AS category
    FROM points
) AS p
WHERE category IS NOT NULL
