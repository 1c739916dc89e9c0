#!/usr/bin/env bash
# The base map over the whole urban core (the OSM extract's extent, 106.55,10.62,106.90,10.95),
# every tile z8–z16, caches off: raw MVT size (median, p99, max) and cold build time per zoom, for
#   - bando's base map (`/tiles/basemap`, generalised per zoom, each theme from its zoom on);
#   - Martin 1.14 on the raw OSM theme tables (`osm_*`, the same tables the base map reads), as
#     its composite source: what serving the extract's tables as they are costs.
# Same PostGIS, same run, one request at a time. Needs martin (MARTIN=path; see
# tiles_vs_martin.sh for the build command). Usage: benches/scripts/basemap_sweep.sh [ZMIN ZMAX]
set -euo pipefail
cd "$(dirname "$0")/../.."
ZMIN=${1:-8}
ZMAX=${2:-16}
BBOX=106.55,10.62,106.90,10.95
MARTIN=${MARTIN:-martin}
BANDO_PORT=${BANDO_PORT:-18091}
MARTIN_PORT=${MARTIN_PORT:-18092}
command -v "$MARTIN" >/dev/null || { echo "martin not found (set MARTIN=/path/to/martin)" >&2; exit 1; }

cargo build --release --locked --bin bando >/dev/null
BANDO=./target/release/bando
$BANDO demo >/dev/null
DB=$($BANDO db url 2>/dev/null | tail -1)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_up() { for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

$BANDO serve --listen 127.0.0.1:$BANDO_PORT --cache-size-mb 0 >/dev/null 2>&1 &
PIDS+=($!)
"$MARTIN" --listen-addresses 127.0.0.1:$MARTIN_PORT --cache-size 0 "$DB" >/dev/null 2>&1 &
PIDS+=($!)
wait_up "http://127.0.0.1:$BANDO_PORT/ready"
wait_up "http://127.0.0.1:$MARTIN_PORT/catalog"
MARTIN_IDS=$(curl -s "http://127.0.0.1:$MARTIN_PORT/catalog" | python3 -c '
import json, sys
tiles = json.load(sys.stdin)["tiles"]
themes = ["osm_landuse", "osm_water", "osm_waterways", "osm_roads", "osm_railways", "osm_buildings", "osm_pois", "osm_places"]
ids = []
for table in themes:
    for candidate in (table, table + ".geom"):
        if candidate in tiles:
            ids.append(candidate); break
print(",".join(ids))')
echo "martin composite: $MARTIN_IDS"

python3 benches/scripts/tile_sweep.py bando "http://127.0.0.1:$BANDO_PORT/tiles/basemap/{z}/{x}/{y}.mvt" "$BBOX" "$ZMIN" "$ZMAX" | tee /tmp/bando-sweep.txt
python3 benches/scripts/tile_sweep.py martin "http://127.0.0.1:$MARTIN_PORT/$MARTIN_IDS/{z}/{x}/{y}" "$BBOX" "$ZMIN" "$ZMAX" | tee /tmp/martin-sweep.txt
python3 - /tmp/bando-sweep.txt /tmp/martin-sweep.txt <<'PY'
import json, sys
b = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["zooms"]
m = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])["zooms"]
print(f"{'z':>3} {'bando max KB':>12} {'martin max KB':>13} {'bando total s':>13} {'martin total s':>14} {'time ratio':>10}")
for z in b:
    r = b[z]["total_s"] / m[z]["total_s"] if m[z]["total_s"] else float("nan")
    print(f"{z:>3} {b[z]['max_bytes']/1024:>12.1f} {m[z]['max_bytes']/1024:>13.1f} {b[z]['total_s']:>13} {m[z]['total_s']:>14} {r:>10.2f}")
over = [z for z in b if b[z]["max_bytes"] > 500 * 1024]
print("bando tiles over 500 KB at zooms:", over or "none")
PY
