-- Retired layers. Retiring a layer takes it off every surface at once (its catalog row is
-- deleted, so catalogs, tiles, OGC, search, ward and nearest lookups lose it on the delete's
-- notification) without losing it: its table moves to `bando_history` as `_retired_<id>`, its
-- catalog row and grants are kept here, and `restore` puts all of it back under the same id.
-- It is purged (table, previous version, this row) after `purge_after`, or on request.
-- A migration that adds a NOT NULL column to bando.layers must add it to `catalog_row` here too.
CREATE TABLE bando.retired_layers (
    -- The catalog id it had and gets back (ids are never reused, so it stays unique).
    layer_id    bigint PRIMARY KEY,
    slug        text NOT NULL,
    agency      text NOT NULL,
    -- Its bando.layers row as it was.
    catalog_row jsonb NOT NULL,
    -- Its bando.layer_grants rows.
    grants      jsonb NOT NULL DEFAULT '[]',
    retired_at  timestamptz NOT NULL DEFAULT now(),
    -- Who retired it (audit actor: agency, key, name, origin).
    retired_by  jsonb NOT NULL,
    purge_after timestamptz NOT NULL
);

CREATE INDEX retired_layers_slug_idx ON bando.retired_layers (slug, retired_at DESC);
CREATE INDEX retired_layers_purge_idx ON bando.retired_layers (purge_after);
