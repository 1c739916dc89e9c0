#!/usr/bin/env bash
# Ward lookups per second at 64 connections: the in-memory index vs the same lookup done by
# PostGIS (ST_Covers on the GiST index) through the same server, same run, random points over
# central HCMC. Needs wrk (Debian package) and the demo layers (`bando demo`).
# Usage: benches/scripts/ward_lookup.sh   (DURATION=10s by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
PORT=${PORT:-18080}
cargo build --release --locked --bin bando >/dev/null
BANDO=./target/release/bando
$BANDO demo >/dev/null
$BANDO serve --listen 127.0.0.1:$PORT --pool-size 16 2>/dev/null &
SERVER=$!
trap 'kill $SERVER' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.1; done

LUA=$(mktemp --suffix .lua)
cat > "$LUA" <<'LUA'
math.randomseed(7)
request = function()
  local lon = 106.60 + math.random() * 0.15
  local lat = 10.70 + math.random() * 0.12
  return wrk.format("GET", string.format("/v1/wards?lon=%.6f&lat=%.6f%s", lon, lat, engine))
end
LUA
run() {
  local engine=$1
  sed -i "1i engine = \"$engine\"" "$LUA"
  wrk -t2 -c64 -d"$DURATION" --latency -s "$LUA" "http://127.0.0.1:$PORT" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'
  sed -i '1d' "$LUA"
}
index=$(run "")
postgis=$(run "&engine=postgis")
python3 -c "print(f'index {float(\"$index\"):.0f}/s  postgis {float(\"$postgis\"):.0f}/s  ratio {float(\"$index\")/float(\"$postgis\"):.1f}x')"
