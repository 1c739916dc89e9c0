#!/usr/bin/env bash
# What access control costs on the hot path, same server, same run: the base-map tile set
# (z10–z16 over central HCMC, cached) requested by wrk (2 threads, 64 keep-alive connections,
# Accept-Encoding: gzip) anonymously, with an API key in `?key=` (map clients) and with
# `Authorization: Bearer` — each key checked on every request (hash + constant-time compare).
# Needs wrk (Debian) and the demo layers. Usage: benches/scripts/access.sh  (DURATION=15s)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
PORT=${PORT:-18084}
command -v wrk >/dev/null || { echo "needs wrk" >&2; exit 1; }
cargo build --release --locked --bin bando >/dev/null
BANDO=./target/release/bando
$BANDO demo >/dev/null
CREATED=$($BANDO keys create --agency hcmc --scopes read --name "access benchmark")
KEY=$(head -1 <<<"$CREATED")
KEY_ID=$(sed -n 2p <<<"$CREATED" | grep -o 'key [0-9]*' | cut -d' ' -f2)
WORK=$(mktemp -d)
$BANDO serve --listen 127.0.0.1:$PORT --cache-size-mb 512 >/dev/null 2>&1 &
SERVER=$!
cleanup() {
  kill $SERVER 2>/dev/null || true
  $BANDO keys revoke "$KEY_ID" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" && break; sleep 0.1; done

python3 benches/scripts/tile_set.py "$WORK/tiles.txt"
sed 's|^|/tiles/basemap/|; s|$|.mvt|' "$WORK/tiles.txt" > "$WORK/urls.txt"
while read -r path; do curl -s -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT$path"; done < "$WORK/urls.txt"

load() { # label, query suffix, extra header (lua table body)
  cat > "$WORK/list.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/urls.txt") do paths[#paths + 1] = line .. "$2" end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Accept-Encoding"] = "gzip"$3 })
end
LUA
  local out
  out=$(wrk -t2 -c64 -d"$DURATION" --latency -s "$WORK/list.lua" "http://127.0.0.1:$PORT")
  local rps p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-22s %10s req/s  p99 %8s  non-2xx %s\n' "$1" "$rps" "$p99" "${errors:-0}" >&2
  echo "$rps"
}
load "(warm-up)" "" "" >/dev/null 2>&1
anonymous=$(load "anonymous" "" "")
query=$(load "key in ?key=" "?key=$KEY" "")
bearer=$(load "Authorization: Bearer" "" ", [\"Authorization\"] = \"Bearer $KEY\"")
python3 -c "import sys; a, q, b = map(float, sys.argv[1:]); print(f'keyed/anonymous: ?key= {q / a:.2f}x, bearer {b / a:.2f}x')" "$anonymous" "$query" "$bearer"
