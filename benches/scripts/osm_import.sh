#!/usr/bin/env bash
# A whole OSM extract into PostGIS: bando vs osm2pgsql vs ogr2ogr, same PostGIS, same run.
#   bando     `bando import hcm_2018.osm.pbf --layer bench_osm`: reads the file once, draws the
#             eight base-map themes, validates and repairs, builds the Web Mercator and per-zoom
#             generalised columns, two spatial indexes, the search rows, keeps the OSM objects
#             for change files, and publishes everything in one transaction;
#   osm2pgsql Debian's 1.8, default style, `--slim` off (its fastest full import; it cannot
#             apply change files then), into its own database;
#   ogr2ogr   the same eight themes as bando, each with the GDAL SQLite-dialect query in
#             benches/osm/ogr2ogr/ (the file is read once per theme), no validation or publish.
# Each tool runs RUNS times (default 5), alternating; medians of wall time and of the CPU time
# the machine was busy (tool, PostgreSQL and kernel together).
# Usage: benches/scripts/osm_import.sh   (RUNS=5, DATABASE_URL to use another PostGIS)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
DATA=${BANDO_DATA_DIR:-../shared/data}
PBF="$DATA/hcmc-osm-2018/hcm_2018.osm.pbf"
command -v osm2pgsql >/dev/null || { echo "needs osm2pgsql (apt-get install osm2pgsql)" >&2; exit 1; }

cargo build --release --locked --bin bando >/dev/null
BANDO=./target/release/bando
URL=${DATABASE_URL:-$($BANDO db start >/dev/null && $BANDO db url)}
export DATABASE_URL=$URL
read -r HOST PORT USER DB < <(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432, p.username, p.path[1:])" "$URL")
PG="PG:host=$HOST port=$PORT user=$USER dbname=$DB"
O2P_DB=bench_osm2pgsql
psql -q "$URL" -c "DROP DATABASE IF EXISTS $O2P_DB" -c "CREATE DATABASE $O2P_DB"
psql -q "postgresql://$USER@$HOST:$PORT/$O2P_DB" -c "CREATE EXTENSION postgis"

source benches/scripts/stats.sh
busy_cpu() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {print ($2 + $3 + $4 + $7 + $8 + $9) / hz}' /proc/stat; }
measure() {
  local s b
  s=$(date +%s.%N); b=$(busy_cpu)
  "$@" >/dev/null 2>&1
  python3 -c "print($(date +%s.%N) - $s, $(busy_cpu) - $b)"
}
ogr_themes() {
  for sql in benches/osm/ogr2ogr/*.sql; do
    ogr2ogr -f PostgreSQL "$PG" "$PBF" -dialect SQLite -sql "$(cat "$sql")" \
      -nln "bench_ogr_osm_$(basename "$sql" .sql)" -lco GEOMETRY_NAME=geom -overwrite -gt 65536 || return 1
  done
}
o2p() {
  osm2pgsql --create -d "$O2P_DB" -H "$HOST" -P "$PORT" -U "$USER" "$PBF"
}

bando=() o2p_runs=() ogr=()
for _ in $(seq "$RUNS"); do
  bando+=("$(measure $BANDO import "$PBF" --layer bench_osm --force)")
  o2p_runs+=("$(measure o2p)")
  ogr+=("$(measure ogr_themes)")
done
col() { printf '%s\n' "${@:2}" | cut -d' ' -f"$1" | median; }
b_wall=$(col 1 "${bando[@]}") b_cpu=$(col 2 "${bando[@]}")
o_wall=$(col 1 "${o2p_runs[@]}") o_cpu=$(col 2 "${o2p_runs[@]}")
g_wall=$(col 1 "${ogr[@]}") g_cpu=$(col 2 "${ogr[@]}")
echo "runs: bando ${bando[*]} | osm2pgsql ${o2p_runs[*]} | ogr2ogr ${ogr[*]}"
printf 'bando      %6.2f s (CPU %6.2f s)\n' "$b_wall" "$b_cpu"
printf 'osm2pgsql  %6.2f s (CPU %6.2f s)   bando/osm2pgsql wall %s, CPU %s\n' "$o_wall" "$o_cpu" \
  "$(ratio "$b_wall" "$o_wall")" "$(ratio "$b_cpu" "$o_cpu")"
printf 'ogr2ogr    %6.2f s (CPU %6.2f s)   bando/ogr2ogr wall %s, CPU %s\n' "$g_wall" "$g_cpu" \
  "$(ratio "$b_wall" "$g_wall")" "$(ratio "$b_cpu" "$g_cpu")"

# Nothing of the benchmark stays behind (a running server would serve and index it).
psql -q "$URL" -c "DROP DATABASE IF EXISTS $O2P_DB" <<'SQL'
SQL
psql -q "$URL" <<'SQL'
DO $$
DECLARE l record;
BEGIN
    FOR l IN SELECT id, slug FROM bando.layers WHERE slug LIKE 'bench\_osm\_%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS layers.%I, layers.%I', l.slug, '_prev_' || l.id);
        DELETE FROM bando.search_names WHERE layer_id = l.id;
        DELETE FROM bando.layers WHERE id = l.id;
    END LOOP;
END $$;
DROP TABLE IF EXISTS osm_middle.bench_osm_nodes, osm_middle.bench_osm_ways, osm_middle.bench_osm_relations;
DELETE FROM bando.osm_sources WHERE prefix = 'bench_osm';
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'bench\_ogr\_osm\_%' LOOP
        EXECUTE format('DROP TABLE public.%I', t.tablename);
    END LOOP;
END $$;
SQL
