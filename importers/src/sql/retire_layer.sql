-- Keeps layer $1's catalog row and grants, with who retired it ($2) and until when ($3 days).
INSERT INTO bando.retired_layers (layer_id, slug, agency, catalog_row, grants, retired_by, purge_after)
SELECT l.id, l.slug, l.agency, to_jsonb(l),
       coalesce((SELECT jsonb_agg(to_jsonb(g)) FROM bando.layer_grants g WHERE g.layer_id = l.id),
                '[]'::jsonb),
       $2, now() + make_interval(days => $3)
FROM bando.layers l
WHERE l.id = $1
RETURNING retired_at, purge_after
