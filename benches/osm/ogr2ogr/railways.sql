-- Railways, trams and metro lines.
SELECT osm_id, name, railway AS class, GEOMETRY
FROM lines
WHERE railway IS NOT NULL AND railway NOT IN ('abandoned', 'razed', 'proposed')
