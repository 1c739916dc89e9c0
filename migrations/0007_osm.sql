-- OpenStreetMap extracts. An extract imported with prefix P is published as the theme layers
-- `layers.P_<theme>`; the OSM objects it was made of stay in schema `osm_middle` (like
-- osm2pgsql's "slim" tables) so that OSM change files (.osc) can be applied later: a moved node
-- must redraw every way through it, and a changed way every multipolygon it belongs to.
--   osm_middle.P_nodes      (id, version, lon, lat)       every node's location (10⁻⁷ degree)
--   osm_middle.P_ways       (id, version, nodes, tags)    every way: node ids in order, tags
--   osm_middle.P_relations  (id, version, members, way_ids, tags)   multipolygon relations
-- Tools that list schema `layers` (Martin, QGIS) never see these.
CREATE SCHEMA osm_middle;

-- One row per imported extract.
CREATE TABLE bando.osm_sources (
    prefix          text PRIMARY KEY,
    source_path     text NOT NULL,
    source_checksum text NOT NULL,
    -- When the data was current: the extract's replication timestamp (or newest object), then
    -- the newest object of each change file applied.
    data_timestamp  timestamptz,
    imported_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    changes_applied integer NOT NULL DEFAULT 0
);

-- The area outlined by a multipolygon relation's member ways (a MULTILINESTRING, roles ignored:
-- rings nest by even-odd, as OSM's inner/outer do). The ways are noded first, so rings split
-- over several ways or touching each other still close. NULL when no ring closes (members cut
-- off by the extract's edge) or GEOS cannot make sense of the linework.
CREATE FUNCTION bando.osm_area(lines geometry) RETURNS geometry
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    area geometry;
BEGIN
    area := ST_BuildArea(ST_UnaryUnion(lines));
    IF area IS NULL OR ST_IsEmpty(area) THEN
        RETURN NULL;
    END IF;
    RETURN area;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;
