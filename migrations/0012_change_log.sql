-- The change log: every announced change of a layer's content (publish, rollback, restore,
-- retirement, an edit made in SQL, a catalog change that alters what its tiles draw) is a row
-- here, written in the same transaction as the change. It is what makes caches shared by many
-- instances exact (a cached tile is valid while no later change of its layers intersects it;
-- an instance that missed notifications reads what it missed here), and it is the feed CDNs and
-- offline packs purge from (`GET /v1/changes`).

CREATE TABLE bando.changes (
    seq        bigserial PRIMARY KEY,
    -- The writing transaction: the feed's cursor. Rows are read only below the oldest
    -- transaction still running, so a reader never skips a row that commits late.
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    layer_id   bigint NOT NULL,
    layer      text NOT NULL,
    -- The layer's revision after the change (per layer, revisions grow in commit order: every
    -- change updates the layer's catalog row, which serialises them).
    revision   bigint NOT NULL,
    -- WGS84 [west, south, east, north] boxes the change lies in; NULL for "anywhere".
    areas      jsonb,
    -- Announced but nothing drawn changed (a republish of identical data, a title edit).
    unchanged  boolean NOT NULL DEFAULT false,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX changes_xid_idx ON bando.changes (xid);
-- A layer's changes after a revision (an instance whose catalog got ahead of its log).
CREATE INDEX changes_layer_revision_idx ON bando.changes (layer, revision);
CREATE INDEX changes_changed_at_idx ON bando.changes (changed_at);

-- Per layer (by slug, as tiles name them), the highest revision of its pruned rows: the log is
-- complete only above it, so a tile cached at an older revision of the layer is no longer
-- provably current. The row of layer '*' holds the transaction id below which rows were pruned
-- (a feed cursor older than it has missed changes).
CREATE TABLE bando.change_floors (
    layer    text PRIMARY KEY,
    revision bigint NOT NULL
);

-- Drops change rows older than `keep` and raises the floors; returns the rows dropped.
CREATE FUNCTION bando.prune_changes(keep interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    dropped bigint;
BEGIN
    WITH gone AS (
        DELETE FROM bando.changes WHERE changed_at < now() - keep
        RETURNING layer, revision, xid::text::bigint AS xid
    ), floors AS (
        SELECT layer, max(revision) AS revision FROM gone GROUP BY layer
        UNION ALL
        SELECT '*', max(xid) + 1 FROM gone HAVING count(*) > 0
    ), raised AS (
        INSERT INTO bando.change_floors AS f (layer, revision)
        SELECT layer, revision FROM floors
        ON CONFLICT (layer) DO UPDATE SET revision = greatest(f.revision, EXCLUDED.revision)
    )
    SELECT count(*) INTO dropped FROM gone;
    RETURN dropped;
END
$$;

-- Records a change and notifies it on `bando_publish`. `notice` is the notification's JSON (id,
-- layer, version, bounds, areas, unchanged); the layer's revision as this transaction sees it
-- is added (a deleted layer's change gets a fresh one), and so is the change's seq.
CREATE FUNCTION bando.announce(notice jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    rev bigint;
    boxes jsonb;
    row_seq bigint;
BEGIN
    SELECT revision INTO rev FROM bando.layers WHERE id = (notice->>'id')::bigint;
    IF rev IS NULL THEN
        rev := nextval('bando.revision_seq');
    END IF;
    boxes := CASE
        WHEN notice->'bounds' IS NULL OR jsonb_typeof(notice->'bounds') = 'null' THEN NULL
        WHEN jsonb_array_length(coalesce(notice->'areas', '[]')) > 0 THEN notice->'areas'
        ELSE jsonb_build_array(notice->'bounds')
    END;
    INSERT INTO bando.changes (layer_id, layer, revision, areas, unchanged)
    VALUES ((notice->>'id')::bigint, notice->>'layer', rev, boxes,
            coalesce((notice->>'unchanged')::boolean, false))
    RETURNING seq INTO row_seq;
    PERFORM pg_notify('bando_publish',
        (notice || jsonb_build_object('revision', rev, 'seq', row_seq))::text);
    RETURN row_seq;
END
$$;

-- Whether a catalog edit alters what the layer's tiles draw: who may see it (composites drawn
-- for the public must lose a layer made restricted) or its zoom range.
CREATE FUNCTION bando.draws_differently(was bando.layers, becomes bando.layers) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT was.visibility IS DISTINCT FROM becomes.visibility
        OR was.minzoom IS DISTINCT FROM becomes.minzoom
        OR was.maxzoom IS DISTINCT FROM becomes.maxzoom
$$;

-- Such an edit gets a new revision like a publish (0004's function), so no cache takes old tiles
-- for current ones.
CREATE TRIGGER layers_drawing_changed
BEFORE UPDATE ON bando.layers
FOR EACH ROW WHEN (OLD.version IS NOT DISTINCT FROM NEW.version
                   AND OLD.revision IS NOT DISTINCT FROM NEW.revision
                   AND bando.draws_differently(OLD, NEW))
EXECUTE FUNCTION bando.bump_revision_on_publish();

-- Catalog edits outside a publish. A drawing change (new revision, above) stales the layer's
-- tiles over its extent; other edits (title, description) are announced as drawing nothing new.
CREATE OR REPLACE FUNCTION bando.notify_catalog_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed bando.layers := coalesce(NEW, OLD);
BEGIN
    PERFORM bando.announce(jsonb_build_object(
        'id', changed.id, 'layer', changed.slug, 'version', changed.version,
        'bounds', to_jsonb(changed.bounds),
        'unchanged', TG_OP = 'UPDATE' AND OLD.revision IS NOT DISTINCT FROM NEW.revision));
    RETURN NULL;
END
$$;

-- The trigger that announces catalog edits now also fires for drawing changes (their revision
-- moved, but not through a publish or a feature edit, which announce themselves).
DROP TRIGGER layers_changed_outside_publish ON bando.layers;
CREATE TRIGGER layers_changed_outside_publish
AFTER UPDATE ON bando.layers
FOR EACH ROW WHEN (OLD.version IS NOT DISTINCT FROM NEW.version
                   AND OLD IS DISTINCT FROM NEW
                   AND (OLD.revision IS NOT DISTINCT FROM NEW.revision
                        OR bando.draws_differently(OLD, NEW)))
EXECUTE FUNCTION bando.notify_catalog_change();

-- Edits made directly in SQL: as in 0008, announced through the change log.
CREATE OR REPLACE FUNCTION bando.notify_feature_edit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    extent box2d;
    changed bando.layers;
BEGIN
    IF current_setting('bando.publishing', true) = 'on' THEN
        RETURN NULL;
    END IF;
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
        PERFORM bando.announce(jsonb_build_object(
            'id', changed.id, 'layer', changed.slug, 'version', changed.version,
            'bounds', jsonb_build_array(ST_XMin(extent), ST_YMin(extent),
                                        ST_XMax(extent), ST_YMax(extent))));
    END IF;
    RETURN NULL;
END
$$;
