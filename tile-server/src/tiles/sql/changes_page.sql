-- A page of the change feed: rows of transactions in [$1, $2) ($2 a horizon from
-- change_horizon.sql) that changed what tiles draw, by transaction, at most $3.
SELECT seq, layer, revision, areas, xid::text::bigint AS xid, changed_at
FROM bando.changes
WHERE xid >= $1::bigint::text::xid8 AND xid < $2::bigint::text::xid8 AND NOT unchanged
ORDER BY xid, seq
LIMIT $3
