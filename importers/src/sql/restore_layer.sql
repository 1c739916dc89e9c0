-- Puts retired layer $1's catalog row back under its id, with a new revision (caches and versioned
-- tile URLs must not take it for what they held before), and its grants to agencies that still
-- exist.
WITH restored AS (
    INSERT INTO bando.layers OVERRIDING SYSTEM VALUE
    SELECT (jsonb_populate_record(NULL::bando.layers,
                r.catalog_row || jsonb_build_object('revision', nextval('bando.revision_seq'),
                                                    'updated_at', now()))).*
    FROM bando.retired_layers r
    WHERE r.layer_id = $1
    RETURNING id, version, fields, feature_count, bounds
), grants AS (
    INSERT INTO bando.layer_grants
    SELECT g.*
    FROM bando.retired_layers r,
         jsonb_populate_recordset(NULL::bando.layer_grants, r.grants) g
    WHERE r.layer_id = $1 AND EXISTS (SELECT 1 FROM bando.agencies a WHERE a.slug = g.agency)
)
SELECT * FROM restored
