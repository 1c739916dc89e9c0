#!/usr/bin/env bash
# Import wall time: bando vs ogr2ogr, same PostGIS, same reprojection, same run.
#   (a) the 2019 ward Shapefile (UTM 48N → WGS84), 322 polygons;
#   (b) a generated 1,000,000-point GeoPackage in UTM 48N → WGS84.
# ogr2ogr gets -lco PRECISION=NO, without which it aborts on the ward file's overflowing
# numeric(19,11) column; bando also validates, repairs, builds per-zoom generalised columns and
# publishes atomically. Each import runs RUNS times, alternating; the medians are reported, of wall
# time and of the CPU time the machine was busy (importer, PostgreSQL and kernel together: on two
# cores, extra work shows as wall time whichever process does it).
# Usage: benches/scripts/import_vs_ogr2ogr.sh   (DATABASE_URL to use another PostGIS)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
DATA=${BANDO_DATA_DIR:-../shared/data}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release --locked --bin bando >/dev/null
BANDO=./target/release/bando
URL=${DATABASE_URL:-$($BANDO db start >/dev/null && $BANDO db url)}
export DATABASE_URL=$URL
PG="PG:$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(f'host={p.hostname} port={p.port or 5432} user={p.username} dbname={p.path[1:]}')" "$URL")"

echo "generating 1,000,000 points (UTM 48N) ..."
python3 - "$WORK/points.csv" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    f.write("id,name,kind,x,y\n")
    for i in range(1_000_000):
        f.write(f"{i},điểm {i},{('a','b','c')[i % 3]},{random.uniform(660000, 720000):.2f},{random.uniform(1170000, 1220000):.2f}\n")
PY
ogr2ogr -f GPKG "$WORK/points.gpkg" "$WORK/points.csv" -oo X_POSSIBLE_NAMES=x -oo Y_POSSIBLE_NAMES=y \
  -oo AUTODETECT_TYPE=YES -a_srs EPSG:32648 -nln points

source benches/scripts/stats.sh
# CPU time (all cores: the importer, PostgreSQL's backends, the kernel) busy so far, in seconds.
busy_cpu() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {print ($2 + $3 + $4 + $7 + $8 + $9) / hz}' /proc/stat; }
# "wall busy" seconds of a command. Busy CPU is machine-wide: run nothing else meanwhile.
measure() {
  local s b
  s=$(date +%s.%N); b=$(busy_cpu)
  "$@" >/dev/null 2>&1
  python3 -c "print($(date +%s.%N) - $s, $(busy_cpu) - $b)"
}

run_case() {
  local name=$1 file=$2
  local ogr=() bando=()
  # Alternating, so that the machine's drift (±15 % within minutes) falls on both alike.
  for _ in $(seq "$RUNS"); do
    ogr+=("$(measure ogr2ogr -f PostgreSQL "$PG" "$file" -nln "bench_ogr_$name" -t_srs EPSG:4326 \
      -lco GEOMETRY_NAME=geom -lco PRECISION=NO -overwrite -gt 65536)")
    bando+=("$(measure $BANDO import "$file" --layer "bench_bando_$name" --force --area none)")
  done
  local ogr_wall ogr_cpu bando_wall bando_cpu
  ogr_wall=$(printf '%s\n' "${ogr[@]}" | cut -d' ' -f1 | median)
  ogr_cpu=$(printf '%s\n' "${ogr[@]}" | cut -d' ' -f2 | median)
  bando_wall=$(printf '%s\n' "${bando[@]}" | cut -d' ' -f1 | median)
  bando_cpu=$(printf '%s\n' "${bando[@]}" | cut -d' ' -f2 | median)
  printf '%-10s ogr2ogr %6.2f s (CPU %6.2f s)   bando %6.2f s (CPU %6.2f s)   bando/ogr2ogr wall %s, CPU %s\n' \
    "$name" "$ogr_wall" "$ogr_cpu" "$bando_wall" "$bando_cpu" \
    "$(ratio "$bando_wall" "$ogr_wall")" "$(ratio "$bando_cpu" "$ogr_cpu")"
}

run_case wards2019 "$DATA/hcmc-wards-2019-cityscope/Population_Ward_Level.shp"
run_case points1m "$WORK/points.gpkg"

# The benchmark's layers must not stay in the catalog (a running server would serve and index them).
psql -q "$URL" <<'SQL'
DO $$
DECLARE l record;
BEGIN
    FOR l IN SELECT id, slug FROM bando.layers WHERE slug LIKE 'bench\_bando\_%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS layers.%I, layers.%I', l.slug, '_prev_' || l.id);
        DELETE FROM bando.layers WHERE id = l.id;
    END LOOP;
END $$;
DROP TABLE IF EXISTS bench_ogr_wards2019, bench_ogr_points1m;
SQL
