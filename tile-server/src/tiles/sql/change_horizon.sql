-- Every transaction below this id has finished: the change rows they wrote are all visible now,
-- and no row of a transaction below it can appear later.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint
