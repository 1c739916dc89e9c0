"""Fetches every tile of a bounding box at each zoom from one server, one request at a time on a
keep-alive connection, and prints per zoom: tiles, raw MVT bytes (median, p99, max), build time
(median, p99, total) — with the server's caches off, every request is a cold build.

Usage: python3 tile_sweep.py NAME URL_TEMPLATE W,S,E,N ZMIN ZMAX
  URL_TEMPLATE like http://127.0.0.1:8080/tiles/basemap/{z}/{x}/{y}.mvt
Prints a table and, last, one JSON line with the figures (for scripts comparing servers)."""
import http.client
import json
import math
import sys
import time
import urllib.parse


def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def quantile(values, q):
    values = sorted(values)
    if not values:
        return 0
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    name, template, bbox, zmin, zmax = sys.argv[1:6]
    w, s, e, n = (float(v) for v in bbox.split(","))
    parsed = urllib.parse.urlparse(template.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
    prefix = template.split("://", 1)[1]
    prefix = prefix[prefix.index("/"):]
    results = {}
    print(f"{name}: {bbox} z{zmin}-z{zmax}")
    print(f"{'z':>3} {'tiles':>6} {'median B':>10} {'p99 B':>10} {'max B':>10} {'median ms':>10} {'p99 ms':>8} {'total s':>8}")
    for z in range(int(zmin), int(zmax) + 1):
        x0, y0 = tile(w, n, z)
        x1, y1 = tile(e, s, z)
        sizes, times = [], []
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                path = prefix.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
                start = time.perf_counter()
                conn.request("GET", path, headers={"Accept-Encoding": "identity"})
                response = conn.getresponse()
                body = response.read()
                times.append((time.perf_counter() - start) * 1000)
                if response.status not in (200, 204):
                    raise SystemExit(f"{name} {path}: HTTP {response.status} {body[:200]!r}")
                sizes.append(len(body))
        row = {
            "tiles": len(sizes),
            "median_bytes": quantile(sizes, 0.5),
            "p99_bytes": quantile(sizes, 0.99),
            "max_bytes": max(sizes),
            "median_ms": round(quantile(times, 0.5), 1),
            "p99_ms": round(quantile(times, 0.99), 1),
            "total_s": round(sum(times) / 1000, 2),
        }
        results[z] = row
        print(f"{z:>3} {row['tiles']:>6} {row['median_bytes']:>10} {row['p99_bytes']:>10} {row['max_bytes']:>10} "
              f"{row['median_ms']:>10} {row['p99_ms']:>8} {row['total_s']:>8}")
    print(json.dumps({"name": name, "zooms": results}))


main()
