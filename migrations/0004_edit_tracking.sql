-- Precise tile invalidation. Every change to a layer's content gets a new `revision` from one
-- sequence (publishes, rollbacks and edits made directly in SQL alike), so a versioned tile URL
-- never names two different contents; and edits made in SQL notify the extent they touched on
-- the publish channel, like the importers do, so servers drop exactly the tiles over it.

CREATE SEQUENCE bando.revision_seq;

ALTER TABLE bando.layers
    ADD COLUMN revision bigint NOT NULL DEFAULT nextval('bando.revision_seq');

-- A publish or rollback changes `version`: give it a fresh revision too.
CREATE FUNCTION bando.bump_revision_on_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := nextval('bando.revision_seq');
    RETURN NEW;
END
$$;

CREATE TRIGGER layers_new_revision
BEFORE UPDATE ON bando.layers
FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version)
EXECUTE FUNCTION bando.bump_revision_on_publish();

-- A revision bumped by a feature edit is announced by the edit trigger itself, with the edited
-- extent; the catalog trigger must not announce it again as "the whole layer changed".
DROP TRIGGER layers_changed_outside_publish ON bando.layers;
CREATE TRIGGER layers_changed_outside_publish
AFTER UPDATE ON bando.layers
FOR EACH ROW WHEN (OLD.version IS NOT DISTINCT FROM NEW.version
                   AND OLD.revision IS NOT DISTINCT FROM NEW.revision
                   AND OLD IS DISTINCT FROM NEW)
EXECUTE FUNCTION bando.notify_catalog_change();

-- Statement-level: one notification per INSERT/UPDATE/DELETE statement, carrying the WGS84
-- extent of the rows before and after. Layer tables are named after their layer's slug; kept
-- previous versions (`_prev_<id>`) have no catalog row and notify nothing.
CREATE FUNCTION bando.notify_feature_edit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    extent box2d;
    changed bando.layers;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT ST_Extent(geom) INTO extent FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT ST_Extent(geom) INTO extent FROM old_rows;
    ELSE
        SELECT ST_Extent(geom) INTO extent
        FROM (SELECT geom FROM old_rows UNION ALL SELECT geom FROM new_rows) AS touched;
    END IF;
    IF extent IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE bando.layers SET revision = nextval('bando.revision_seq'), updated_at = now()
    WHERE slug = TG_TABLE_NAME
    RETURNING * INTO changed;
    IF changed.id IS NOT NULL THEN
        PERFORM pg_notify('bando_publish', json_build_object(
            'id', changed.id, 'layer', changed.slug, 'version', changed.version,
            'bounds', json_build_array(ST_XMin(extent), ST_YMin(extent),
                                       ST_XMax(extent), ST_YMax(extent)))::text);
    END IF;
    RETURN NULL;
END
$$;

-- Installs the edit triggers on a layer table (idempotent). Transition tables need one trigger
-- per event.
CREATE FUNCTION bando.watch_edits(layer_table text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    target text := format('%I.%I', 'layers', layer_table);
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS bando_edit_insert ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS bando_edit_update ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS bando_edit_delete ON %s', target);
    EXECUTE format('CREATE TRIGGER bando_edit_insert AFTER INSERT ON %s
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bando.notify_feature_edit()', target);
    EXECUTE format('CREATE TRIGGER bando_edit_update AFTER UPDATE ON %s
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bando.notify_feature_edit()', target);
    EXECUTE format('CREATE TRIGGER bando_edit_delete AFTER DELETE ON %s
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bando.notify_feature_edit()', target);
END
$$;

-- Layers published before this migration.
SELECT bando.watch_edits(slug)
FROM bando.layers
WHERE to_regclass(format('%I.%I', 'layers', slug)) IS NOT NULL;
