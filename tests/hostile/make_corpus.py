#!/usr/bin/env python3
"""Generates a corpus of hostile uploads for bando's upload API, with a manifest.

Each case is a file (or zip) an agency's publish key could upload, built to make a GIS parser
read a file of the server, call a URL, exhaust memory or CPU, or crash. The test
`tile-server/tests/hostile_uploads.rs` uploads every case through the HTTP API of a real server
and checks that each ends as the manifest says — refused (a 4xx naming the problem), failed (a
job ended with a specific reason) or harmless (any of those, or published) — with the canary
file's secret nowhere, nothing listening on the canary URL ever called, and the server answering.

Usage: make_corpus.py --out DIR --canary-dir DIR --listener http://127.0.0.1:PORT

The canary folder gets `secret.csv` (a point and a secret), `secret.zip` and `secret.gpkg`
holding it: what a hostile file would try to read. Only the standard library and GDAL's
command-line tools (ogr2ogr) are used; nothing here is large on disk except the cases that
must be (the 200 MB line).
"""

import argparse
import json
import os
import random
import sqlite3
import struct
import subprocess
import zipfile

CASES = []


def case(name, file, expect, says=None, query=None, upload_name=None):
    """Registers a case: `expect` is refused (4xx), failed (a failed job) or harmless."""
    CASES.append(
        {
            "name": name,
            "file": file,
            "expect": expect,
            "says": says,
            "query": query or {},
            "upload_name": upload_name,
        }
    )


def write(out, name, data):
    path = os.path.join(out, name)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)
    return name


def ogr(out, name, src, *args):
    """Converts GeoJSON text `src` to `name` with ogr2ogr (a valid file to corrupt)."""
    src_path = os.path.join(out, name + ".src.geojson")
    with open(src_path, "w") as f:
        f.write(src)
    subprocess.run(
        ["ogr2ogr", "-q", os.path.join(out, name), src_path, *args],
        check=True,
    )
    os.remove(src_path)
    return name


POINTS = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": f"p{i}"},
                "geometry": {"type": "Point", "coordinates": [106.70 + i / 1000, 10.77]},
            }
            for i in range(20)
        ],
    }
)


SQUARES = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": f"s{i}"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[106.7 + i / 100, 10.7], [106.71 + i / 100, 10.7],
                                     [106.71 + i / 100, 10.71], [106.7 + i / 100, 10.7]]],
                },
            }
            for i in range(5)
        ],
    }
)


def zip_of(out, name, entries, symlinks=()):
    with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_DEFLATED) as z:
        for entry, data in entries:
            z.writestr(entry, data)
        for entry, target in symlinks:
            info = zipfile.ZipInfo(entry)
            info.external_attr = (0o120777 << 16)  # a symbolic link
            z.writestr(info, target)
    return name


def make_canary(canary_dir):
    os.makedirs(canary_dir, exist_ok=True)
    secret = "CANARY-" + os.urandom(8).hex()
    csv = f"lon,lat,secret\n106.7,10.77,{secret}\n"
    with open(os.path.join(canary_dir, "secret.csv"), "w") as f:
        f.write(csv)
    with zipfile.ZipFile(os.path.join(canary_dir, "secret.zip"), "w") as z:
        z.writestr("secret.csv", csv)
    subprocess.run(
        [
            "ogr2ogr", "-q", os.path.join(canary_dir, "secret.gpkg"),
            os.path.join(canary_dir, "secret.csv"),
            "-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat",
        ],
        check=True,
    )
    return secret


def vrt(src, layer="secret"):
    return (
        '<OGRVRTDataSource><OGRVRTLayer name="x">'
        f"<SrcDataSource>{src}</SrcDataSource>"
        f'<SrcSQL dialect="SQLite">SELECT *, MakePoint(106.7, 10.77, 4326) AS geometry '
        f"FROM {layer}</SrcSQL>"
        "</OGRVRTLayer></OGRVRTDataSource>\n"
    )


def vrt_cases(out, canary, url):
    secret_csv = os.path.join(canary, "secret.csv")
    # The issue's own attack, under every extension a format is accepted by.
    for ext in ["geojson", "json", "geojsonl", "csv", "kml", "gml", "gpkg", "fgb"]:
        name = write(out, f"vrt.{ext}", vrt(secret_csv))
        case(f"vrt_by_content_as_{ext}", name, "failed", says="OGR VRT")
    name = write(out, "vrt-xml-decl.geojson", '<?xml version="1.0"?>\n<!-- x -->\n' + vrt(secret_csv))
    case("vrt_after_an_xml_declaration", name, "failed", says="OGR VRT")
    name = write(out, "vrt-vsicurl.geojson", vrt(f"/vsicurl/{url}/x.csv", "x"))
    case("vrt_pointing_at_vsicurl", name, "failed", says="OGR VRT")
    name = write(out, "vrt-vsizip.geojson", vrt(f"/vsizip/{canary}/secret.zip/secret.csv"))
    case("vrt_pointing_into_a_zip", name, "failed", says="OGR VRT")
    name = zip_of(out, "vrt-inside.zip", [("data/x.geojson", vrt(secret_csv))])
    case("vrt_inside_a_zip", name, "failed", says="OGR VRT")
    name = zip_of(out, "vrt-shp.zip", [("x.shp", vrt(secret_csv)), ("x.shx", b"\0" * 100), ("x.dbf", b"\0" * 100)])
    case("vrt_as_a_shapefile_in_a_zip", name, "failed", says="OGR VRT")
    name = zip_of(out, "vrt-only.zip", [("x.vrt", vrt(secret_csv))])
    case("a_vrt_file_in_a_zip", name, "refused", says="no dataset")


def parameter_cases(out, canary, url):
    points = write(out, "points.geojson", POINTS)
    values = {
        "vsicurl": f"/vsicurl/{url}/x.csv",
        "vsizip": f"/vsizip/{canary}/secret.zip/secret.csv",
        "csv_prefix": f"CSV:{canary}/secret.csv",
        "gpkg_prefix": f"GPKG:{canary}/secret.gpkg:secret",
        "url": f"{url}/x.prj",
        "path": f"{canary}/secret.csv",
    }
    # Names the reader uses: refused with a problem naming the parameter.
    for param in ["source_crs", "source_layer", "lon_column", "lat_column", "wkt_column"]:
        for label, value in values.items():
            case(f"{label}_in_{param}", points, "refused", says=param, query={param: value})
    # Free text stored as it is (a title may say anything): nothing is opened or fetched.
    for param in ["title", "description", "attribution", "layout"]:
        case(f"vsicurl_in_{param}", points, "harmless", query={param: values["vsicurl"]})
    case(
        "vsicurl_as_upsert_key",
        points,
        "harmless",
        query={"mode": "upsert", "upsert_key": values["vsicurl"]},
    )
    case("proj_init_file_in_source_crs", points, "refused", says="source_crs",
         query={"source_crs": f"+init={canary}/secret.csv:x"})
    case("proj_grid_path_in_source_crs", points, "refused", says="source_crs",
         query={"source_crs": f"+proj=longlat +nadgrids={canary}/secret.csv"})
    # The multipart file name is input too.
    case("vsicurl_file_name", points, "harmless", upload_name=f"/vsicurl/{url}/points.geojson")
    case("csv_prefix_file_name", points, "refused", says="file", upload_name="CSV:points.csv")
    case("traversal_file_name", points, "harmless", upload_name="../../../etc/points.geojson")


def xml_cases(out, canary, url):
    gml = f"""<?xml version="1.0" encoding="UTF-8"?>
<ogr:FeatureCollection xmlns:ogr="http://ogr.maptools.org/" xmlns:gml="http://www.opengis.net/gml"
  xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://ogr.maptools.org/ {url}/schema.xsd">
  <gml:featureMember>
    <ogr:x fid="x.0">
      <ogr:geometryProperty xlink:href="{url}/geometry.gml#g1"/>
      <ogr:name xlink:href="{url}/name.xml">a</ogr:name>
    </ogr:x>
  </gml:featureMember>
  <gml:featureMember>
    <ogr:x fid="x.1">
      <ogr:geometryProperty><gml:Point srsName="EPSG:4326"><gml:coordinates>106.7,10.77</gml:coordinates></gml:Point></ogr:geometryProperty>
      <ogr:name xlink:href="file://{canary}/secret.csv">b</ogr:name>
    </ogr:x>
  </gml:featureMember>
</ogr:FeatureCollection>
"""
    case("gml_with_remote_xlinks_and_schema", write(out, "xlink.gml", gml), "harmless")

    def kml(body, prolog=""):
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n' + prolog +
            '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>' + body + "</Document></kml>\n"
        )

    placemark = "<Placemark><name>{}</name><Point><coordinates>106.7,10.77</coordinates></Point></Placemark>"
    xxe = kml(
        placemark.format("&xxe;") + placemark.format("&remote;"),
        f'<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file://{canary}/secret.csv">'
        f'<!ENTITY remote SYSTEM "{url}/entity.xml">]>\n',
    )
    case("kml_external_entities", write(out, "xxe.kml", xxe), "harmless")
    laughs = "".join(
        f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10)
    )
    bomb = kml(placemark.format("&l9;"), f'<!DOCTYPE kml [<!ENTITY l0 "ha">{laughs}]>\n')
    case("kml_billion_laughs", write(out, "laughs.kml", bomb), "harmless")
    network = kml(
        f"<NetworkLink><name>n</name><Link><href>{url}/more.kml</href><refreshMode>onInterval</refreshMode></Link></NetworkLink>"
        + placemark.format("a")
    )
    case("kml_network_link", write(out, "network.kml", network), "harmless")
    overlay = kml(
        f"<GroundOverlay><Icon><href>{url}/image.png</href></Icon>"
        "<LatLonBox><north>10.8</north><south>10.7</south><east>106.8</east><west>106.6</west></LatLonBox></GroundOverlay>"
        + placemark.format("a")
    )
    case("kml_ground_overlay_href", write(out, "overlay.kml", overlay), "harmless")


def gpkg_cases(out, canary):
    def base(name):
        # No R-tree: its triggers call GDAL's SQL functions, which Python's sqlite3 lacks.
        return ogr(out, name, POINTS, "-nln", "pts", "-lco", "SPATIAL_INDEX=NO")

    name = base("trigger.gpkg")
    db = sqlite3.connect(os.path.join(out, name))
    db.executescript(
        f"""
        CREATE TABLE loot (x TEXT);
        CREATE TRIGGER steal AFTER UPDATE ON pts BEGIN
            INSERT INTO loot SELECT load_extension('{canary}/secret.csv');
        END;
        CREATE TRIGGER steal2 AFTER INSERT ON gpkg_contents BEGIN
            INSERT INTO loot SELECT load_extension('{canary}/secret.csv');
        END;
        """
    )
    db.commit()
    db.close()
    case("gpkg_with_triggers", name, "harmless")

    def view_as_layer(name, view, select):
        """A GeoPackage whose one feature layer is the view `view` (`select` over `pts`)."""
        name = base(name)
        db = sqlite3.connect(os.path.join(out, name))
        db.executescript(
            f"""
            CREATE VIEW {view} AS {select};
            INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
                VALUES ('{view}', 'features', '{view}', 4326);
            INSERT INTO gpkg_geometry_columns VALUES ('{view}', 'geom', 'POINT', 4326, 0, 0);
            DELETE FROM gpkg_geometry_columns WHERE table_name = 'pts';
            DELETE FROM gpkg_contents WHERE table_name = 'pts';
            """
        )
        db.commit()
        db.close()
        return name

    name = view_as_layer(
        "view.gpkg",
        "sneaky",
        f"SELECT fid, geom, load_extension('{canary}/secret.csv') AS a, ogr_geocode('x') AS b FROM pts",
    )
    case("gpkg_view_calling_functions", name, "harmless")

    name = base("garbage-geometry.gpkg")
    db = sqlite3.connect(os.path.join(out, name))
    db.execute("UPDATE pts SET geom = ?", (b"GP\x00\x01" + os.urandom(60),))
    db.execute("UPDATE pts SET geom = ? WHERE fid = 1", (b"GP" + b"\xff" * 200,))
    db.commit()
    db.close()
    case("gpkg_garbage_geometry_blobs", name, "failed")

    # A view that never ends: a recursive query with no stop, as the layer.
    name = view_as_layer(
        "forever.gpkg",
        "forever",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT p.fid AS fid, p.geom AS geom FROM pts p, n WHERE n.i < 0",
    )
    case("gpkg_view_that_loops_forever", name, "failed", says="CPU")


def shapefile_parts(out, stem, geojson):
    """The bytes of a Shapefile ogr2ogr writes from `geojson`, by extension (files removed)."""
    ogr(out, f"{stem}.shp", geojson)
    parts = {}
    for ext in ["shp", "shx", "dbf", "prj", "cpg"]:
        path = os.path.join(out, f"{stem}.{ext}")
        if os.path.exists(path):
            with open(path, "rb") as f:
                parts[ext] = f.read()
            os.remove(path)
    return parts


def shapefile_cases(out):
    parts = shapefile_parts(out, "base", POINTS)

    def shp_zip(name, **override):
        files = dict(parts, **override)
        return zip_of(out, name, [(f"x.{ext}", data) for ext, data in files.items()])

    shx = bytearray(parts["shx"])
    # Every record's offset (in 16-bit words) far past the end of the .shp.
    for i in range(100, len(shx), 8):
        shx[i:i + 4] = struct.pack(">i", 0x7FFFFFF0)
    case("shx_offsets_past_the_end", shp_zip("bad-shx.zip", shx=bytes(shx)), "failed")

    dbf = bytearray(parts["dbf"])
    dbf[10:12] = struct.pack("<H", 0xFFFF)  # record length
    dbf[4:8] = struct.pack("<I", 0x7FFFFFFF)  # records
    case("dbf_declaring_2_gb_of_records", shp_zip("bad-dbf.zip", dbf=bytes(dbf)), "failed")

    huge_prj = b'PROJCS["' + b"A" * (10 * 1024 * 1024) + b'"]'
    case("prj_of_10_mb", shp_zip("huge-prj.zip", prj=huge_prj), "harmless")

    # A polygon whose record declares 2^31 - 1 points.
    poly = shapefile_parts(out, "poly", SQUARES)
    shp = bytearray(poly["shp"])
    # Record header (8 bytes) at 100, then type (4), box (32), parts (4), points (4).
    shp[148:152] = struct.pack("<i", 0x7FFFFFFF)
    case(
        "shp_polygon_declaring_2_billion_points",
        zip_of(out, "bad-shp.zip", [(f"x.{ext}", bytes(shp) if ext == "shp" else data) for ext, data in poly.items()]),
        "failed",
    )

    link = zip_of(out, "symlink.zip", [("x.shp", parts["shp"]), ("x.shx", parts["shx"])],
                  symlinks=[("x.dbf", "/etc/passwd")])
    case("zip_with_a_symbolic_link", link, "refused", says="symbolic link")
    escape = zip_of(out, "escape.zip", [("../../escape.geojson", POINTS)])
    case("zip_entry_escaping_its_folder", escape, "refused", says="unsafe path")


def size_cases(out, large):
    deep = '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":' + "[" * 100_000 + "]" * 100_000 + '},"geometry":{"type":"Point","coordinates":[106.7,10.77]}}]}'
    case("geojson_nested_100000_levels", write(out, "deep.geojson", deep), "harmless")

    if not large:
        return
    # A feature whose parse needs more memory than a reader may have (the test's limit: 512
    # MiB): 4 million points of one line, 92 MB of JSON, zipped to ~29 MB.
    rng = random.Random(1)
    coords = ",".join(
        "[%.6f,%.6f]" % (106.6 + rng.random() * 0.2, 10.7 + rng.random() * 0.2)
        for _ in range(4_000_000)
    )
    line = (
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
        '"geometry":{"type":"LineString","coordinates":[' + coords + "]}}]}"
    )
    name = zip_of(out, "huge-line.zip", [("huge-line.geojson", line)])
    case("geojson_feature_needing_more_memory_than_allowed", name, "failed", says="memory")

    path = os.path.join(out, "long-line.csv")
    with open(path, "w") as f:
        f.write("lon,lat,blob\n106.7,10.77,")
        chunk = "0123456789" * 100_000
        for _ in range(200):
            f.write(chunk)
        f.write("\n")
    case("csv_with_a_200_mb_line", "long-line.csv", "harmless")

    # 1,000:1: a zip of zeros.
    with zipfile.ZipFile(os.path.join(out, "bomb.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.csv", b"\0" * (300 * 1024 * 1024))
    case("zip_bomb_1000_to_1", "bomb.zip", "refused", says="zip bomb")


def flatgeobuf_cases(out):
    name = ogr(out, "indexed.fgb", POINTS, "-lco", "SPATIAL_INDEX=YES")
    data = bytearray(open(os.path.join(out, name), "rb").read())
    # The header is at 12 (its length at 8); the packed R-tree follows it: overwrite it.
    header_len = struct.unpack("<I", data[8:12])[0]
    start = 12 + header_len
    for i in range(start, min(start + 400, len(data))):
        data[i] = 0xFF
    write(out, "corrupt-index.fgb", bytes(data))
    os.remove(os.path.join(out, name))
    case("flatgeobuf_corrupt_index", "corrupt-index.fgb", "harmless")
    truncated = bytes(data[: start + 20])
    case("flatgeobuf_truncated", write(out, "truncated.fgb", truncated), "failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--canary-dir", required=True)
    parser.add_argument("--listener", required=True, help="http://127.0.0.1:PORT, must never be called")
    parser.add_argument("--no-large", action="store_true", help="leave out the cases of 30-300 MB")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    secret = make_canary(args.canary_dir)
    vrt_cases(args.out, args.canary_dir, args.listener)
    parameter_cases(args.out, args.canary_dir, args.listener)
    xml_cases(args.out, args.canary_dir, args.listener)
    gpkg_cases(args.out, args.canary_dir)
    shapefile_cases(args.out)
    size_cases(args.out, not args.no_large)
    flatgeobuf_cases(args.out)
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names are unique"
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"secret": secret, "cases": CASES}, f, indent=1)
    print(f"{len(CASES)} cases in {args.out}")


if __name__ == "__main__":
    main()
