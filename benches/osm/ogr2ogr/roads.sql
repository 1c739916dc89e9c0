-- Roads by class (motorway … path), with name, ref and oneway.
SELECT osm_id, name, highway,
       CASE
           WHEN highway IN ('motorway', 'motorway_link') THEN 'motorway'
           WHEN highway IN ('trunk', 'trunk_link') THEN 'trunk'
           WHEN highway IN ('primary', 'primary_link') THEN 'primary'
           WHEN highway IN ('secondary', 'secondary_link') THEN 'secondary'
           WHEN highway IN ('tertiary', 'tertiary_link') THEN 'tertiary'
           WHEN highway IN ('residential', 'unclassified', 'living_street', 'road') THEN 'minor'
           WHEN highway = 'service' THEN 'service'
           WHEN highway IN ('footway', 'path', 'pedestrian', 'cycleway', 'steps', 'track', 'bridleway') THEN 'path'
           ELSE 'other'
       END AS class,
       hstore_get_value(other_tags, 'ref') AS ref,
       hstore_get_value(other_tags, 'oneway') AS oneway,
       hstore_get_value(other_tags, 'name:en') AS name_en,
       GEOMETRY
FROM lines
WHERE highway IS NOT NULL
