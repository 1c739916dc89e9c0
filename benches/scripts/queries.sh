#!/usr/bin/env bash
# Query endpoints under load (wrk, 64 connections, random points/names over central HCMC):
#   ward lookups/s — in-memory index vs the same lookup by PostGIS, same server, same run;
#   nearest-5 bus stops — p99 latency;  name search — p99 latency; each also through its
#   PostGIS path (engine=postgis), same server, same run.
# The ward ratio is taken over ROUNDS alternating rounds (index, PostGIS, /health: this server's
# ceiling, and a bare axum route with no middleware: HTTP's floor) and the median reported, as
# the machine's speed drifts by ±15 % within minutes.
# Needs wrk (Debian) and the demo layers. Usage: benches/scripts/queries.sh  (DURATION=10s ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
PORT=${PORT:-18080}
cargo build --release --locked --bin bando --example http_floor >/dev/null
BANDO=./target/release/bando
$BANDO demo >/dev/null
$BANDO serve --listen 127.0.0.1:$PORT 2>/dev/null &
SERVER=$!
# A bare axum route, no middleware: the floor of HTTP on this machine, for reference.
FLOOR_PORT=$((PORT + 1))
./target/release/examples/http_floor 127.0.0.1:$FLOOR_PORT &
FLOOR=$!
trap 'kill $SERVER $FLOOR' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.1; done

script() {
  local lua
  lua=$(mktemp --suffix .lua)
  cat > "$lua" <<LUA
math.randomseed(7)
local names = {"ben thanh", "hoa binh", "thu duc", "benh vien", "cho lon", "nguyen hue", "tan dinh", "sai gon", "ben nghe", "an phu"}
-- Built before the run, as wrk's scripting guide advises for fast servers: formatting a request
-- in Lua each time costs the load generator CPU that, on two shared cores, the server then lacks.
local requests = {}
for i = 1, 20000 do
  local lon = 106.60 + math.random() * 0.15
  local lat = 10.70 + math.random() * 0.12
  local name = names[math.random(#names)]:gsub(" ", "%%20")
  requests[i] = wrk.format("GET", $1)
end
local next_request = 0
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
LUA
  echo "$lua"
}
run() { # url format (lon, lat, name) -> wrk output
  wrk -t2 -c64 -d"$DURATION" --latency -s "$(script "$1")" "http://127.0.0.1:$PORT"
}
rate() { awk '/Requests\/sec/ {printf "%d", $2}'; }
p99() { awk '$1 == "99%" {print $2}'; }
source benches/scripts/stats.sh
measure() { # label, url format (lon, lat, name)
  local out
  out=$(run "$2")
  printf '%-20s %10s req/s   p50 %8s   p99 %8s\n' "$1" "$(rate <<<"$out")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(p99 <<<"$out")"
}

# CPU time of process $1 so far (user and kernel), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Server CPU per request in µs: ticks before, ticks after, wrk output.
per_request() {
  local requests
  requests=$(awk '/requests in/ {print $1}' <<<"$3")
  awk -v t="$(($2 - $1))" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}'
}

ratios=()
for round in $(seq "$ROUNDS"); do
  before=$(cpu_ticks $SERVER)
  index=$(run 'string.format("/v1/wards?lon=%.6f&lat=%.6f", lon, lat)')
  index_cpu=$(per_request "$before" "$(cpu_ticks $SERVER)" "$index")
  postgis=$(run 'string.format("/v1/wards?lon=%.6f&lat=%.6f&engine=postgis", lon, lat)')
  health=$(run '"/health"')
  before=$(cpu_ticks $FLOOR)
  floor=$(wrk -t2 -c64 -d"$DURATION" "http://127.0.0.1:$FLOOR_PORT/health")
  floor_cpu=$(per_request "$before" "$(cpu_ticks $FLOOR)" "$floor")
  round_ratio=$(ratio "$(rate <<<"$index")" "$(rate <<<"$postgis")")
  ratios+=("$round_ratio")
  printf 'round %d: wards index %s/s (p99 %s, server CPU %s µs/request)   postgis %s/s (p99 %s)   ratio %s   /health %s/s   bare axum %s/s (%s µs/request)\n' \
    "$round" "$(rate <<<"$index")" "$(p99 <<<"$index")" "$index_cpu" "$(rate <<<"$postgis")" \
    "$(p99 <<<"$postgis")" "$round_ratio" "$(rate <<<"$health")" "$(rate <<<"$floor")" "$floor_cpu"
done
echo "ward lookups, index / PostGIS, median of $ROUNDS rounds: $(printf '%s\n' "${ratios[@]}" | median)x"
measure "nearest-5" 'string.format("/v1/layers/bus_stops/nearest?lon=%.6f&lat=%.6f&k=5", lon, lat)'
measure "nearest-5 (postgis)" 'string.format("/v1/layers/bus_stops/nearest?lon=%.6f&lat=%.6f&k=5&engine=postgis", lon, lat)'
measure "search" 'string.format("/v1/search?q=%s&lon=%.6f&lat=%.6f", name, lon, lat)'
measure "search (postgis)" 'string.format("/v1/search?q=%s&lon=%.6f&lat=%.6f&engine=postgis", name, lon, lat)'
