-- Names matching a folded query: trigram similarity (typos), boosted for a prefix of the name
-- or of one of its words, optionally pulled towards a point (a kilometre costs 0.02). Only
-- public layers are searched.
WITH q AS (SELECT bando.fold($1) AS f)
SELECT l.slug AS layer, s.fid, s.name, s.lon, s.lat,
       similarity(s.folded, q.f)
       + CASE WHEN s.folded LIKE q.f || '%' THEN 0.6
              WHEN s.folded LIKE '% ' || q.f || '%' THEN 0.4
              ELSE 0 END
       - CASE WHEN $3::float8 IS NULL THEN 0
              ELSE least(0.5, ST_Distance(ST_MakePoint(s.lon, s.lat)::geography,
                                          ST_MakePoint($3, $4)::geography) / 50000.0) END
       AS score
FROM bando.search_names s
JOIN bando.layers l ON l.id = s.layer_id AND l.visibility = 'public'
CROSS JOIN q
WHERE (s.folded % q.f OR s.folded LIKE '%' || q.f || '%')
  AND ($5::text[] IS NULL OR l.slug = ANY ($5))
ORDER BY score DESC, s.name, s.fid
LIMIT $2
