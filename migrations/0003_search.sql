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
