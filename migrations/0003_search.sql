-- Name search across layers: Vietnamese folded to plain ASCII lower case (diacritics and tone
-- marks removed, so tone placement — "hoà" / "hòa" — and "đ"/"Đ"/"Ð" don't matter), matched
-- with trigrams (typos, prefixes, substrings).
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION bando.fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT lower(unaccent('unaccent'::regdictionary, normalize(t, NFC)))
$$;

-- One row per named feature of a searchable layer; refreshed by every publish and rollback of
-- that layer, in the same transaction.
CREATE TABLE bando.search_names (
    layer_id bigint NOT NULL REFERENCES bando.layers (id) ON DELETE CASCADE,
    fid      bigint NOT NULL,
    name     text NOT NULL,
    folded   text NOT NULL,
    -- A representative point (on the feature), WGS84.
    lon      double precision NOT NULL,
    lat      double precision NOT NULL,
    PRIMARY KEY (layer_id, fid)
);

CREATE INDEX search_names_folded_idx ON bando.search_names USING gin (folded gin_trgm_ops);

-- Catalog edits made outside a publish (visibility, title, zooms, a deleted layer) reach running
-- servers at once, like publishes do: a layer made restricted must disappear immediately.
CREATE FUNCTION bando.notify_catalog_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed bando.layers := coalesce(NEW, OLD);
BEGIN
    PERFORM pg_notify('bando_publish', json_build_object(
        'id', changed.id, 'layer', changed.slug, 'version', changed.version,
        'bounds', changed.bounds)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER layers_changed_outside_publish
AFTER UPDATE ON bando.layers
FOR EACH ROW WHEN (OLD.version IS NOT DISTINCT FROM NEW.version AND OLD IS DISTINCT FROM NEW)
EXECUTE FUNCTION bando.notify_catalog_change();

CREATE TRIGGER layers_deleted
AFTER DELETE ON bando.layers
FOR EACH ROW EXECUTE FUNCTION bando.notify_catalog_change();
