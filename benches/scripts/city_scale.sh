#!/usr/bin/env bash
# The shared tile cache, measured on the real city (`bando demo`), same run, ratios:
#   1. tier throughput: the base-map tile set (every tile z10–z16 over central HCMC) requested in
#      turn by wrk (2 threads, 64 connections, gzip) from an instance whose memory cache is off,
#      once with a warmed Redis behind it (what a freshly started instance gets before its own
#      memory fills) and once without (every tile built by PostgreSQL). Goal: Redis ≥ 10×.
#   2. fleet build count: Redis flushed, two fresh instances, the same set requested through both
#      at once; builds summed from both instances' /metrics over distinct tiles. Goal: 1.0.
# Hot tiles through one instance vs nginx serving the same bytes from files: tiles_vs_martin.sh.
# Needs wrk and redis-server (Debian). Usage: benches/scripts/city_scale.sh  (DURATION=15s)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
A_PORT=${A_PORT:-18481} B_PORT=${B_PORT:-18482} REDIS_PORT=${REDIS_PORT:-18479}
command -v wrk >/dev/null && command -v redis-server >/dev/null || { echo "needs wrk and redis-server" >&2; exit 1; }

cargo build --release --locked --bin bando >/dev/null
BANDO=./target/release/bando
$BANDO layers list | grep -q '^wards_2025 ' || $BANDO demo >/dev/null
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
source benches/scripts/stats.sh

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --maxmemory 1gb \
  --maxmemory-policy allkeys-lru --daemonize yes --logfile "$WORK/redis.log" --dir "$WORK"
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
REDIS=redis://127.0.0.1:$REDIS_PORT

python3 benches/scripts/tile_set.py "$WORK/tiles.txt"
TILES=$(wc -l < "$WORK/tiles.txt")
sed 's|^|/tiles/basemap/|; s|$|.mvt|' "$WORK/tiles.txt" > "$WORK/urls.txt"
echo "tile set: $TILES base-map tiles, z10–z16"
wrk_path_list "$WORK/urls.txt" "$WORK/list.lua"

wait_up() { for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
start() { # port, serve flags…
  local port=$1; shift
  $BANDO serve --listen 127.0.0.1:"$port" "$@" >>"$WORK/bando-$port.log" 2>&1 &
  PIDS+=($!); wait_up "http://127.0.0.1:$port/ready"
}
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${PIDS[@]}" 2>/dev/null || true; PIDS=(); }
load() { # port → "rps p99"
  local out
  out=$(wrk -t2 -c64 -d"$DURATION" --latency -s "$WORK/list.lua" "http://127.0.0.1:$1")
  if grep -q 'Non-2xx' <<<"$out"; then echo "port $1 answered errors: $(grep 'Non-2xx' <<<"$out")" >&2; exit 1; fi
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
warm() { while read -r path; do curl -s -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$1$path"; done < "$WORK/urls.txt"; }

# 1. Tier throughput.
start $A_PORT --cache-size-mb 0 --redis-url "$REDIS"
warm $A_PORT
read -r rps_redis p99_redis <<<"$(load $A_PORT)"
hits=$(metric $A_PORT bando_tile_shared_hits_total)
stop_all
start $A_PORT --cache-size-mb 0
read -r rps_pg p99_pg <<<"$(load $A_PORT)"
stop_all
printf '%-44s %10s req/s  p99 %8s\n' "memory off, from Redis (shared hits $hits)" "$rps_redis" "$p99_redis"
printf '%-44s %10s req/s  p99 %8s\n' "memory off, from PostgreSQL" "$rps_pg" "$p99_pg"
echo "  → Redis / PostgreSQL: $(ratio "$rps_redis" "$rps_pg")× (goal ≥ 10×)"

# 2. Fleet build count.
redis-cli -p "$REDIS_PORT" flushall >/dev/null
start $A_PORT --redis-url "$REDIS"
start $B_PORT --redis-url "$REDIS"
wrk -t1 -c32 -d5s -s "$WORK/list.lua" "http://127.0.0.1:$A_PORT" >/dev/null &
wrk_a=$!
wrk -t1 -c32 -d5s -s "$WORK/list.lua" "http://127.0.0.1:$B_PORT" >/dev/null &
wrk_b=$!
wait "$wrk_a" "$wrk_b"
built_a=$(metric $A_PORT bando_tile_builds_total)
built_b=$(metric $B_PORT bando_tile_builds_total)
waits=$(( $(metric $A_PORT bando_tile_shared_waits_total) + $(metric $B_PORT bando_tile_shared_waits_total) ))
errors=$(( $(metric $A_PORT bando_tile_shared_errors_total) + $(metric $B_PORT bando_tile_shared_errors_total) ))
stop_all
# Distinct tiles requested in those 5 s = distinct tiles stored (every built tile is stored).
distinct=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'bando:tile:*' | wc -l)
echo "fleet: $distinct distinct tiles through two instances at once: built $built_a on A + $built_b on B" \
  "= $(ratio "$((built_a + built_b))" "$distinct") builds per tile (goal 1.0); $waits misses waited for the other's build;" \
  "$errors Redis calls failed or missed their deadline"
