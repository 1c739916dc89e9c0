-- The changes of layers $1 above revisions $2 (one per layer) that changed what tiles draw.
SELECT c.seq, c.layer, c.revision, c.areas, c.xid::text::bigint AS xid, c.changed_at
FROM bando.changes c
JOIN unnest($1::text[], $2::bigint[]) AS k(layer, known)
  ON c.layer = k.layer AND c.revision > k.known
WHERE NOT c.unchanged
ORDER BY c.revision
