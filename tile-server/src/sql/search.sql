-- Names matching a folded query: trigram similarity (typos), boosted for a prefix of the name
-- or of one of its words, optionally pulled towards a point (a kilometre costs 0.02). Only the
-- layers in $5 (those the caller may see) are searched. The trigram index is scanned once for the 200 most similar
-- names; ranking and the layer join work on those.
WITH q AS MATERIALIZED (SELECT bando.fold($1) AS f),
candidates AS MATERIALIZED (
    SELECT s.layer_id, s.fid, s.name, s.folded, s.lon, s.lat, similarity(s.folded, q.f) AS sim
    FROM bando.search_names s, q
    WHERE s.folded % q.f OR s.folded LIKE '%' || q.f || '%'
    ORDER BY sim DESC
    LIMIT 200
)
SELECT l.slug AS layer, c.fid, c.name, c.lon, c.lat,
       c.sim
       + CASE WHEN c.folded LIKE q.f || '%' THEN 0.6
              WHEN c.folded LIKE '% ' || q.f || '%' THEN 0.4
              ELSE 0 END
       - CASE WHEN $3::float8 IS NULL THEN 0
              ELSE least(0.5, ST_Distance(ST_MakePoint(c.lon, c.lat)::geography,
                                          ST_MakePoint($3, $4)::geography) / 50000.0) END
       AS score
FROM candidates c
JOIN bando.layers l ON l.id = c.layer_id
CROSS JOIN q
WHERE l.slug = ANY ($5::text[])
ORDER BY score DESC, c.name, c.fid
LIMIT $2
