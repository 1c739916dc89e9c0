#!/usr/bin/env bash
# Vector tiles, bando vs Martin 1.14 on the same PostGIS and the same tables, same run:
#   every tile z10–z16 over central HCMC (bbox 106.66,10.75,106.72,10.80), requested in turn by wrk
#   (2 threads, 64 keep-alive connections, Accept-Encoding: gzip), for
#   - the base map  vs  Martin's composite of the raw tables it is made from;
#   - one layer (d7_buildings)  vs  Martin's same table;
#   cold = both caches off (every request queries PostGIS); hot = caches on, warmed first; plus
#   nginx serving bando's base-map tile bytes from files (the practical ceiling), alternated with
#   bando hot for ROUNDS rounds (default 3); and the total gzip size of each tile set.
# Needs wrk, nginx (Debian) and martin (MARTIN=path), installed with
#   cargo install martin@1.14.0 --locked --no-default-features \
#     --features fonts,lambda,mbtiles,metrics,passthrough,pmtiles,postgres,sprites,styles,webui,geojson,mlt
# (1.14 is the newest that builds with rustc 1.95; the default features fetch from GitHub).
# Usage: benches/scripts/tiles_vs_martin.sh  (DURATION=15s)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
MARTIN=${MARTIN:-martin}
BANDO_PORT=${BANDO_PORT:-18081}
MARTIN_PORT=${MARTIN_PORT:-18082}
NGINX_PORT=${NGINX_PORT:-18083}
command -v "$MARTIN" >/dev/null || { echo "martin not found (set MARTIN=/path/to/martin)" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx" >&2; exit 1; }

cargo build --release --locked --bin bando >/dev/null
BANDO=./target/release/bando
$BANDO demo >/dev/null
DB=$($BANDO db url 2>/dev/null | tail -1)
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# The tile set.
python3 benches/scripts/tile_set.py "$WORK/tiles.txt"
echo "tile set: $(wc -l < "$WORK/tiles.txt") tiles, z10–z16"

wait_up() { for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

start_bando() { # cache MiB
  $BANDO serve --listen 127.0.0.1:$BANDO_PORT --cache-size-mb "$1" >/dev/null 2>&1 &
  PIDS+=($!); wait_up "http://127.0.0.1:$BANDO_PORT/ready"
}
start_martin() { # cache MB
  "$MARTIN" --listen-addresses 127.0.0.1:$MARTIN_PORT --cache-size "$1" "$DB" >/dev/null 2>&1 &
  PIDS+=($!); wait_up "http://127.0.0.1:$MARTIN_PORT/catalog"
}
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }

# Martin's ids of the base map's source tables (it publishes every table of the `layers` schema;
# tables with several geometry columns get one source per column, the WGS84 `geom` one is used).
start_martin 0
SOURCES=$(grep -o 'source = "[a-z0-9_]*"' styles/basemap.toml | cut -d'"' -f2 | sort -u)
MARTIN_IDS=$(curl -s "http://127.0.0.1:$MARTIN_PORT/catalog" | python3 -c '
import json, sys
wanted = sys.argv[1].split()
tiles = json.load(sys.stdin)["tiles"]
ids = []
for table in wanted:
    for candidate in (table, table + ".geom"):
        if candidate in tiles:
            ids.append(candidate); break
print(",".join(ids))' "$SOURCES")
MARTIN_BUILDINGS=$(tr ',' '\n' <<<"$MARTIN_IDS" | grep '^d7_buildings' | head -1)
stop_all
echo "martin composite: $MARTIN_IDS"

urls() { # prefix → url file
  sed "s|^|$1/|; s|\$|$2|" "$WORK/tiles.txt" > "$WORK/urls.txt"
}
lua() { wrk_path_list "$WORK/urls.txt" "$WORK/list.lua"; }
load() { # port → "rps p99"
  lua
  local out
  out=$(wrk -t2 -c64 -d"$DURATION" --latency -s "$WORK/list.lua" "http://127.0.0.1:$1")
  # Fast errors would pass for speed: every answer must be a 2xx/3xx.
  if grep -q 'Non-2xx' <<<"$out"; then echo "port $1 answered errors: $(grep 'Non-2xx' <<<"$out")" >&2; echo 'ERRORS ERRORS'; return; fi
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}
warm() { # port → total gzip bytes of the set (each tile fetched once)
  local total=0 size
  while read -r path; do
    size=$(curl -s -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "http://127.0.0.1:$1$path")
    total=$((total + size))
  done < "$WORK/urls.txt"
  echo "$total"
}
source benches/scripts/stats.sh
row() { printf '%-34s %10s req/s  p99 %8s\n' "$1" "$2" "$3"; }

declare -A R
for mode in cold hot; do
  if [ $mode = cold ]; then start_bando 0; start_martin 0; else start_bando 512; start_martin 512; fi
  for pair in "basemap|/tiles/basemap|.mvt|/$MARTIN_IDS|" "d7_buildings|/tiles/d7_buildings|.mvt|/$MARTIN_BUILDINGS|"; do
    IFS='|' read -r name bprefix bsuffix mprefix msuffix <<<"$pair"
    urls "$bprefix" "$bsuffix"; bytes_b=$(warm $BANDO_PORT); read -r rps_b p99_b <<<"$(load $BANDO_PORT)"
    urls "$mprefix" "$msuffix"; bytes_m=$(warm $MARTIN_PORT); read -r rps_m p99_m <<<"$(load $MARTIN_PORT)"
    row "$mode $name bando" "$rps_b" "$p99_b"
    row "$mode $name martin" "$rps_m" "$p99_m"
    echo "  → bando/martin throughput: $(ratio "$rps_b" "$rps_m")×"
    R[$mode-$name-bando]=$rps_b; R[$mode-$name-martin]=$rps_m
    if [ $mode = cold ]; then
      echo "  bytes (gzip): bando $bytes_b, martin $bytes_m → $(ratio "$bytes_b" "$bytes_m")×"
    fi
  done
  stop_all
done

# nginx serving bando's base-map tiles (gzip bytes) from files, against bando hot: both servers up,
# measured alternately for ROUNDS rounds (the machine drifts by ±10 % between runs); the median
# of the per-round ratios is reported.
ROUNDS=${ROUNDS:-3}
start_bando 512
mkdir -p "$WORK/www"
urls /tiles/basemap .mvt
while read -r path; do
  mkdir -p "$WORK/www$(dirname "$path")"
  curl -s -H 'Accept-Encoding: gzip' -o "$WORK/www$path" "http://127.0.0.1:$BANDO_PORT$path"
done < "$WORK/urls.txt"
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  # As nginx serves static tiles in production: no access log, sendfile, long keep-alive
  # connections, open files cached.
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  open_file_cache max=10000 inactive=60s;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
    location /tiles/ { default_type application/vnd.mapbox-vector-tile; add_header Content-Encoding gzip; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
wait_up "http://127.0.0.1:$NGINX_PORT$(head -1 "$WORK/urls.txt")"
ratios=()
for round in $(seq "$ROUNDS"); do
  read -r rps_b p99_b <<<"$(load $BANDO_PORT)"
  read -r rps_n p99_n <<<"$(load $NGINX_PORT)"
  row "round $round hot basemap bando" "$rps_b" "$p99_b"
  row "round $round nginx (files)" "$rps_n" "$p99_n"
  ratios+=("$(ratio "$rps_b" "$rps_n")")
done
echo "  → bando hot / nginx, per round: ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | median)×"
