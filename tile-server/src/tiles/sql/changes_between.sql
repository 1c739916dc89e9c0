-- Change rows of transactions in [$1, $2) (ids of transactions, $2 a horizon from
-- change_horizon.sql) that changed what tiles draw.
SELECT seq, layer, revision, areas, xid::text::bigint AS xid, changed_at
FROM bando.changes
WHERE xid >= $1::bigint::text::xid8 AND xid < $2::bigint::text::xid8 AND NOT unchanged
ORDER BY seq
