#!/usr/bin/env bash
# Fault drills with load on, against a local topology on loopback: two bando instances (A, B)
# over the embedded PostgreSQL with the real city (`bando demo`), nginx balancing them as in
# production (keepalive, no access log, passive health checks), wrk sending a mixed load (hot and
# cold tiles, wards, nearest, search, OGC items) through nginx. Each drill prints one row:
# requests, answers by kind, p99, time to recover, RSS of each instance at start and end, jobs
# lost. A benchmark, not a test: CI runs the short assertions (tests/tests/db_outage.rs,
# tile-server/tests/job_recovery.rs).
#
#   baseline  the same load with nothing failing (what the drills compare with; not in the default).
#   postgres  PostgreSQL stopped for 12 s, then started; nothing restarted by hand.
#   instance  A SIGKILLed while it runs an upload's import (held at its indexing stage by a fail
#             point), restarted as a supervisor would; B serves meanwhile; the job must end.
#   disk      the upload folder's disk full during an upload (a 32 MiB tmpfs, filled to 1 MiB free): a 507, nothing
#             stored, nothing else disturbed; room again, the same upload is published.
#   soak      SOAK (default 10m) of mixed load with 200 connections, a publish every minute.
#   redis     Redis (the shared tile cache of both instances) SIGKILLed for 10 s, then started
#             again on its port: requests keep being answered from memory and PostgreSQL; the
#             instances reconnect by themselves.
#
# Needs wrk (apt-get install wrk; benchmarks only, not in scripts/install-deps), nginx and
# redis-server (scripts/install-deps), root (tmpfs). Usage:
#   benches/scripts/faults.sh [postgres] [redis] [instance] [disk] [soak]  (default: all; SOAK=10m)
set -euo pipefail
cd "$(dirname "$0")/../.."
DRILLS=("$@")
[ ${#DRILLS[@]} -gt 0 ] || DRILLS=(postgres redis instance disk soak)
SOAK=${SOAK:-10m}
LOAD=${LOAD:-30}          # seconds of load per short drill
A_PORT=18280 B_PORT=18281 LB_PORT=18290 REDIS_PORT=18291
for tool in wrk nginx curl redis-server; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --locked --bin bando >/dev/null
BANDO=$PWD/target/release/bando
WORK=$(mktemp -d /tmp/bando-faults.XXXXXX)
$BANDO layers list > "$WORK/layers.txt"
grep -q '^wards_2025 ' "$WORK/layers.txt" || $BANDO demo >/dev/null
ADMIN=$($BANDO keys create --agency hcmc --scopes admin,publish,read --name fault-drills | sed -n 1p)

# The upload folder lives on its own small disk, so the disk drill can fill it.
UPLOADS=$WORK/uploads
mkdir -p "$UPLOADS"
mount -t tmpfs -o size=32m bando-drill-uploads "$UPLOADS"

declare -A PIDS
# start NAME PORT [serve flags...]: starts an instance (FAILPOINTS from the caller's env) and
# waits until it is ready.
start() {
  local name=$1 port=$2; shift 2
  env ${FAILPOINTS:+FAILPOINTS="$FAILPOINTS"} $BANDO serve --listen 127.0.0.1:"$port" \
    --instance-id "$name" --upload-dir "$UPLOADS" --upload-max-mb 64 \
    --redis-url "redis://127.0.0.1:$REDIS_PORT" "$@" 2>>"$WORK/$name.log" &
  PIDS[$name]=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && return; sleep 0.1; done
  echo "instance $name did not become ready" >&2; exit 1
}
stop() { kill "${PIDS[$1]}" 2>/dev/null || true; wait "${PIDS[$1]}" 2>/dev/null || true; }
# The shared tile cache, as scripts/cluster runs it.
start_redis() {
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --maxmemory 1gb \
    --maxmemory-policy allkeys-lru --daemonize yes --pidfile "$WORK/redis.pid" \
    --logfile "$WORK/redis.log" --dir "$WORK"
  until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
}
rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/${PIDS[$1]}/status" 2>/dev/null || echo "-"; }

cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  upstream bando {
    server 127.0.0.1:$A_PORT max_fails=1 fail_timeout=2s;
    server 127.0.0.1:$B_PORT max_fails=1 fail_timeout=2s;
    keepalive 256;
  }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / {
      proxy_pass http://bando;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
      proxy_connect_timeout 1s;
    }
  }
}
NGINX
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  nginx -c "$WORK/nginx.conf" -s stop 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  $BANDO db start >/dev/null 2>&1 || true
  umount "$UPLOADS" 2>/dev/null || true
  # The drills' uploads are not the city: retired and purged, so the demo stays the real data.
  $BANDO layers list > "$WORK/layers.txt" 2>/dev/null || true
  for layer in $(awk '/^drill_/ {print $1}' "$WORK/layers.txt"); do
    $BANDO layers delete "$layer" >/dev/null && $BANDO layers purge "$layer" >/dev/null
  done
}
trap cleanup EXIT
start_redis
start A $A_PORT
start B $B_PORT
nginx -c "$WORK/nginx.conf"

# The mixed load: statuses tallied per thread, summed in done(); requests pre-built.
cat > "$WORK/mixed.lua" <<'LUA'
math.randomseed(11)
local names = {"ben thanh", "hoa binh", "thu duc", "benh vien", "cho lon", "nguyen hue", "tan dinh"}
local requests = {}
local function tile(z, lon, lat)
  local n = 2 ^ z
  local x = math.floor((lon + 180) / 360 * n)
  local r = math.rad(lat)
  local y = math.floor((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
  return string.format("/tiles/basemap/%d/%d/%d.mvt", z, x, y)
end
for i = 1, 20000 do
  local lon, lat = 106.62 + math.random() * 0.16, 10.70 + math.random() * 0.14
  local pick = math.random(100)
  local path
  if pick <= 40 then      -- hot tiles: the city centre the app opens on
    path = tile(14, 106.695 + math.random() * 0.01, 10.772 + math.random() * 0.01)
  elseif pick <= 55 then  -- cold tiles: anywhere in the urban core at street zooms
    path = tile(math.random(15, 16), lon, lat)
  elseif pick <= 75 then
    path = string.format("/v1/wards?lon=%.5f&lat=%.5f", lon, lat)
  elseif pick <= 85 then
    path = string.format("/v1/layers/bus_stops/nearest?lon=%.5f&lat=%.5f&k=5", lon, lat)
  elseif pick <= 95 then
    path = "/v1/search?q=" .. names[math.random(#names)]:gsub(" ", "%%20")
  else
    path = string.format("/ogc/collections/wards_2025/items?limit=5&bbox=%.4f,%.4f,%.4f,%.4f",
      lon, lat, lon + 0.01, lat + 0.01)
  end
  -- nginx refuses HTTP/1.1 without a Host header; built before wrk sets its own.
  requests[i] = wrk.format("GET", path, {Host = "127.0.0.1"})
end
local next_request = 0
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
counts = {}
response = function(status)
  counts[status] = (counts[status] or 0) + 1
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency)
  local total = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do total[status] = (total[status] or 0) + n end
  end
  local e = summary.errors
  io.write(string.format("requests %d\np99_ms %.1f\nsocket_errors %d\n", summary.requests,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout))
  for status, n in pairs(total) do io.write(string.format("status %d %d\n", status, n)) end
end
LUA
load() { # seconds connections -> wrk's summary lines
  wrk -t2 -c"$2" -d"$1"s --timeout 5s -s "$WORK/mixed.lua" "http://127.0.0.1:$LB_PORT" |
    awk '/^(requests|p99_ms|socket_errors|status) /'
}
# "2xx 204 404 503 other-5xx socket" from wrk's summary on stdin
kinds() {
  awk '/^status/ { s = $2; n = $3
         if (s == 503) u += n; else if (s >= 500) f += n; else if (s == 404) m += n; else ok += n }
       /^socket_errors/ { k = $2 }
       END { printf "ok %d, 404 %d, 503 %d, other 5xx %d, socket %d", ok, m, u, f, k }'
}
field() { awk -v k="$1" '$1 == k {print $2}'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s ms | %s | %s | %s |' "$@")"); }

# Uploads the District 7 buildings (real, ~3 MB zipped Shapefile) as layer $2 through instance $1.
D7_ZIP=$WORK/d7_buildings.zip
(cd ../shared/data/saigon-peninsula-cityscope/buildings &&
  zip -q "$D7_ZIP" Building_full.shp Building_full.shx Building_full.dbf Building_full.prj Building_full.CPG)
upload() { # port layer -> job id
  curl -sf -H "Authorization: Bearer $ADMIN" -F "file=@$D7_ZIP" \
    "http://127.0.0.1:$1/v1/agencies/hcmc/layers/$2/uploads?force=true" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["job"])'
}
job_status() { # job id -> "status attempts"
  curl -sf -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$B_PORT/v1/jobs/$1" |
    python3 -c 'import json,sys; j = json.load(sys.stdin); print(j["status"], j["attempts"])'
}
wait_job() { # job id -> final "status attempts"
  for _ in $(seq 600); do
    local s; s=$(job_status "$1")
    case $s in queued*|running*) sleep 0.5 ;; *) echo "$s"; return ;; esac
  done
  echo "lost"
}

drill_postgres() {
  local a0 b0 out t0 recover fast
  a0=$(rss A) b0=$(rss B)
  load "$LOAD" 64 > "$WORK/pg.out" &
  local wrk_pid=$!
  sleep 8
  $BANDO db stop >/dev/null
  sleep 1
  # How fast a request that needs the database is refused now (an uncached tile).
  fast=$(for i in $(seq 20); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$A_PORT/tiles/wards_2025/16/$((52190 + i))/30790.mvt"
  done | sort -n | awk '{a[NR] = $1} END {printf "%.1f", a[int(NR / 2) + 1] * 1000}')
  sleep 11
  t0=$(now)
  $BANDO db start >/dev/null
  until curl -sf "http://127.0.0.1:$A_PORT/ready" >/dev/null && curl -sf "http://127.0.0.1:$B_PORT/ready" >/dev/null; do sleep 0.05; done
  recover=$(since "$t0")
  wait $wrk_pid
  out=$(cat "$WORK/pg.out")
  row "PostgreSQL stopped 12 s" "$(field requests <<<"$out")" "$(kinds <<<"$out"); 503 answered in ${fast} ms (median)" \
    "$(field p99_ms <<<"$out")" "${recover} s after start" "A $a0→$(rss A), B $b0→$(rss B) MiB" "-"
}

drill_baseline() {
  local a0 b0 out
  a0=$(rss A) b0=$(rss B)
  out=$(load "$LOAD" 64)
  row "baseline: nothing fails" "$(field requests <<<"$out")" "$(kinds <<<"$out")" \
    "$(field p99_ms <<<"$out")" "-" "A $a0→$(rss A), B $b0→$(rss B) MiB" "-"
}

drill_redis() {
  local a0 b0 out t0 recover errors
  a0=$(rss A) b0=$(rss B)
  load "$LOAD" 64 > "$WORK/redis.out" &
  local wrk_pid=$!
  sleep 8
  kill -KILL "$(cat "$WORK/redis.pid")"
  sleep 10
  t0=$(now)
  start_redis
  # Recovered: both instances use the shared cache again — a tile neither holds in memory,
  # asked of each, is stored in Redis (its key appears).
  local probe=0 recovered=""
  while [ -z "$recovered" ] && [ "$probe" -lt 2000 ]; do
    probe=$((probe + 1))
    local a_path="/tiles/wards_2025/17/$((104380 + probe))/61590.mvt" b_path="/tiles/wards_2025/17/$((104380 + probe))/61591.mvt"
    curl -s -o /dev/null "http://127.0.0.1:$A_PORT$a_path"
    curl -s -o /dev/null "http://127.0.0.1:$B_PORT$b_path"
    [ "$(redis-cli -p "$REDIS_PORT" exists "bando:tile:wards_2025:17/$((104380 + probe))/61590" "bando:tile:wards_2025:17/$((104380 + probe))/61591")" = 2 ] && recovered=yes
  done
  recover=$(since "$t0")
  wait $wrk_pid
  errors=$(( $(curl -s "http://127.0.0.1:$A_PORT/metrics" | awk '$1 == "bando_tile_shared_errors_total" {print $2}') +
             $(curl -s "http://127.0.0.1:$B_PORT/metrics" | awk '$1 == "bando_tile_shared_errors_total" {print $2}') ))
  out=$(cat "$WORK/redis.out")
  row "Redis SIGKILLed 10 s" "$(field requests <<<"$out")" "$(kinds <<<"$out"); $errors shared-cache calls failed, none reached a client" \
    "$(field p99_ms <<<"$out")" "both on Redis ${recover} s after it started" "A $a0→$(rss A), B $b0→$(rss B) MiB" "-"
}

drill_instance() {
  local a0 b0 out job t0 recover final
  a0=$(rss A) b0=$(rss B)
  # A takes the next upload and holds it at indexing; B runs no imports (A's supervisor brings
  # A back, and A re-runs the job).
  stop A; stop B
  FAILPOINTS='import::indexing=sleep(60000)' start A $A_PORT
  start B $B_PORT --import-workers 0
  a0=$(rss A) b0=$(rss B)
  load "$LOAD" 64 > "$WORK/kill.out" &
  local wrk_pid=$!
  sleep 3
  job=$(upload $A_PORT drill_d7_buildings)
  until [ "$(job_status "$job")" = "running 1" ]; do sleep 0.1; done
  sleep 2
  kill -KILL "${PIDS[A]}"
  t0=$(now)
  # Restarted by its supervisor (no fail point this time): it sweeps and re-runs the job.
  start A $A_PORT
  recover=$(since "$t0")
  final=$(wait_job "$job")
  wait $wrk_pid
  out=$(cat "$WORK/kill.out")
  local lost=0
  [ "${final% *}" = succeeded ] || lost=1
  row "instance A SIGKILLed mid-import" "$(field requests <<<"$out")" "$(kinds <<<"$out"); job: $final (status, attempts)" \
    "$(field p99_ms <<<"$out")" "A ready ${recover} s after the kill" "A $a0→$(rss A), B $b0→$(rss B) MiB" "$lost"
  # Back to the plain topology: B runs imports again.
  stop B
  start B $B_PORT
}

drill_disk() {
  local a0 b0 out code jobs_before jobs_after files final
  a0=$(rss A) b0=$(rss B)
  load "$LOAD" 64 > "$WORK/disk.out" &
  local wrk_pid=$!
  sleep 3
  jobs_before=$($BANDO jobs list --limit 1 --json | python3 -c 'import json,sys; j = json.load(sys.stdin); print(j[0]["id"] if j else 0)')
  # Leave 1 MiB free: the ~3 MB upload cannot fit.
  fallocate -l $(( $(df --output=avail -B1 "$UPLOADS" | tail -1) - 1048576 )) "$UPLOADS/filler"
  code=$(curl -s -o "$WORK/disk-answer.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
    -F "file=@$D7_ZIP" "http://127.0.0.1:$A_PORT/v1/agencies/hcmc/layers/drill_disk/uploads")
  jobs_after=$($BANDO jobs list --limit 1 --json | python3 -c 'import json,sys; j = json.load(sys.stdin); print(j[0]["id"] if j else 0)')
  files=$(find "$UPLOADS" -mindepth 1 -not -name filler | wc -l)
  rm -f "$UPLOADS/filler"
  final=$(wait_job "$(upload $A_PORT drill_disk)")
  wait $wrk_pid
  out=$(cat "$WORK/disk.out")
  row "upload folder's disk full" "$(field requests <<<"$out")" \
    "$(kinds <<<"$out"); upload: HTTP $code ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["detail"])' "$WORK/disk-answer.json")), jobs created $((jobs_after - jobs_before)), files left $files; with room again: $final" \
    "$(field p99_ms <<<"$out")" "at once (room freed)" "A $a0→$(rss A), B $b0→$(rss B) MiB" "0"
}

drill_soak() {
  local a0 b0 a1 b1 out seconds jobs=() lost=0 s
  a0=$(rss A) b0=$(rss B)
  seconds=$(( ${SOAK%m} * 60 ))
  [[ $SOAK == *s ]] && seconds=${SOAK%s}
  load "$seconds" 200 > "$WORK/soak.out" &
  local wrk_pid=$!
  for minute in $(seq $(( seconds / 60 ))); do
    sleep 55
    # After the first minute the caches are warm: growth from here on would be a leak.
    [ "$minute" = 1 ] && { a1=$(rss A); b1=$(rss B); }
    jobs+=("$(upload $(( minute % 2 ? A_PORT : B_PORT )) drill_soak_buildings)")
  done
  wait $wrk_pid
  for job in "${jobs[@]}"; do
    s=$(wait_job "$job")
    [ "${s% *}" = succeeded ] || [ "${s% *}" = skipped ] || lost=$((lost + 1))
  done
  out=$(cat "$WORK/soak.out")
  local cache
  cache=$(curl -s "http://127.0.0.1:$A_PORT/metrics" | awk '$1 == "bando_tile_cache_bytes" {printf "%.0f", $2 / 1048576}')
  row "soak $SOAK, 200 connections, ${#jobs[@]} publishes" "$(field requests <<<"$out")" "$(kinds <<<"$out")" \
    "$(field p99_ms <<<"$out")" "-" "A $a0→${a1:-?} (1 min)→$(rss A), B $b0→${b1:-?}→$(rss B) MiB; A's tile cache ${cache} MiB at the end" "$lost"
}

for drill in "${DRILLS[@]}"; do
  echo "drill: $drill" >&2
  "drill_$drill"
done

echo
echo "| drill | requests | answers | p99 | recovery | RSS start→end | jobs lost |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
