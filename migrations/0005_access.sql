-- Agencies' access: API keys (stored hashed), grants of restricted layers, the audit log, and the
-- agency each import job ran for. Changes to keys, grants and agencies are notified on
-- `bando_access` so running servers apply a revocation on the next request.

-- Who may read a key's secret: nobody. A key is `bando_<prefix>_<secret>`; the prefix finds the
-- row, the SHA-256 of the whole key proves it (keys are 256-bit random, so a slow hash would add
-- nothing but latency to every tile request).
CREATE TABLE bando.api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency      text NOT NULL REFERENCES bando.agencies (slug) ON DELETE CASCADE,
    name        text NOT NULL DEFAULT '',
    prefix      text NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
    hash        bytea NOT NULL CHECK (octet_length(hash) = 32),
    scopes      text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'publish', 'admin'] AND cardinality(scopes) > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);

CREATE INDEX api_keys_agency_idx ON bando.api_keys (agency);

-- A restricted layer is visible to its owner and to the agencies it is granted to.
CREATE TABLE bando.layer_grants (
    layer_id    bigint NOT NULL REFERENCES bando.layers (id) ON DELETE CASCADE,
    agency      text NOT NULL REFERENCES bando.agencies (slug) ON DELETE CASCADE,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (layer_id, agency)
);

-- Who did what, when, from where. `agency` is the agency the change concerns (the layer's owner,
-- the key's agency), so an agency can read its own rows.
CREATE TABLE bando.audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor_agency  text,
    actor_key_id  bigint,
    actor         text NOT NULL,
    origin        text NOT NULL DEFAULT '',
    action        text NOT NULL,
    agency        text,
    target        text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_agency_idx ON bando.audit_log (agency, at DESC);

ALTER TABLE bando.import_jobs ADD COLUMN agency text;

CREATE FUNCTION bando.notify_access_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bando_access', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON bando.api_keys
FOR EACH STATEMENT EXECUTE FUNCTION bando.notify_access_change();
CREATE TRIGGER layer_grants_changed AFTER INSERT OR UPDATE OR DELETE ON bando.layer_grants
FOR EACH STATEMENT EXECUTE FUNCTION bando.notify_access_change();
CREATE TRIGGER agencies_changed AFTER INSERT OR UPDATE OR DELETE ON bando.agencies
FOR EACH STATEMENT EXECUTE FUNCTION bando.notify_access_change();
