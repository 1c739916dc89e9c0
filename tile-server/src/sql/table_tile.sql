-- One layer table as one MVT layer. {columns}, {table} and {geometry} (the column for the zoom:
-- generalised geom_z5/z8/z10 at low zooms, geom_3857 above) are substituted once per layer with
-- quoted identifiers; z, x, y and the layer name are bound per request. The && filter uses the
-- GiST index on geom_3857; the margin matches the 64-unit clip buffer so features just outside the
-- tile still draw their edges inside it.
SELECT ST_AsMVT(t, $4, 4096, 'geom', 'fid')
FROM (
    SELECT fid{columns},
           ST_AsMVTGeom({geometry}, ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom
    FROM {table}
    WHERE geom_3857 && ST_TileEnvelope($1, $2, $3, margin => 64.0 / 4096)
) AS t
WHERE geom IS NOT NULL
