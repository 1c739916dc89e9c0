#!/usr/bin/python3
"""Drive QGIS (PyQGIS, headless) against a running bando server and report what it saw.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis/check_bando.py BASE_URL \
        [--restricted COLLECTION --key KEY] --out DIR

Prints ONE JSON object on stdout. Exits non-zero only if QGIS itself could not start (2), or
on a bad command line (argparse: 2); every failed check is reported in the JSON instead (see its
"checks" object). Needs Debian's `python3-qgis` (QGIS 3.22 on Debian 12; newer QGIS works too).

What it does, the way a GIS user would:
  wards      the OGC API - Features collection `wards_2025` through QGIS's "OAPIF" provider (what
             Layer > Add WFS / OGC API - Features layer creates), and through GDAL's OAPIF driver
             ("ogr" provider); counts, fields, a known ward's Vietnamese name, a bbox request.
  restricted a collection only visible with a key: opened without it, with `?key=` on the service
             URL, with an `Authorization: Bearer` header (QGIS auth config "APIHeader" where the
             QGIS has it, QGIS >= 3.24; else a QgsNetworkAccessManager request preprocessor).
  basemap    the vector tile base map (XYZ template), its MapLibre style converted by
             QgsMapBoxGlStyleConverter, rendered around Ben Thanh market into DIR/basemap.png.
  wards_map  the wards layer rendered with its names as labels into DIR/wards.png.

The key never appears in the output (URLs are printed with key=REDACTED).
"""

import argparse
import json
import os
import re
import shutil
import tempfile
import threading
import time
import traceback
import unicodedata
from collections import Counter

BEN_THANH_CODE = "26743"
BEN_THANH_NAME = "Bến Thành"
BEN_THANH_FULLNAME = "Phường Bến Thành"
# Around Ben Thanh market (lon/lat).
BBOX = (106.69, 10.765, 106.71, 10.78)

RESULT = {}
_OUT_FD = None
_TMP = None
_EMITTED = threading.Lock()


def emit_and_exit(code=0):
    """Write RESULT as one JSON line to the real stdout and leave without Qt teardown.

    os._exit: QGIS/Qt teardown at interpreter exit can crash (a non-zero status after a good run).
    """
    if not _EMITTED.acquire(blocking=False):
        return
    data = json.dumps(RESULT, ensure_ascii=False, default=str) + "\n"
    os.write(_OUT_FD, data.encode("utf-8"))
    if _TMP:
        shutil.rmtree(_TMP, ignore_errors=True)
    os._exit(code)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base_url", help="bando base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--out", required=True, help="directory for basemap.png and wards.png")
    p.add_argument("--collection", default="wards_2025", help="public collection (default wards_2025)")
    p.add_argument("--restricted", help="collection visible only with --key")
    p.add_argument("--key", help="API key that may see --restricted")
    p.add_argument("--style", default="light", help="style name under /styles/ (default light)")
    p.add_argument("--tileset", default="basemap", help="tileset under /tiles/ (default basemap)")
    p.add_argument("--no-gdal", action="store_true", help="skip GDAL's OAPIF driver (~14 s less)")
    p.add_argument("--only", help="comma-separated sections to run: wards,restricted,basemap,wards_map")
    p.add_argument("--timeout", type=float, default=240.0,
                   help="overall seconds; past them the partial JSON is printed (default 240)")
    a = p.parse_args()
    if bool(a.restricted) != bool(a.key):
        p.error("--restricted and --key go together")
    a.base_url = a.base_url.rstrip("/")
    return a


ARGS = parse_args()


def redact(s):
    s = str(s)
    s = re.sub(r"(key=)[^&\s'\"]+", r"\1REDACTED", s)
    if ARGS.key:
        s = s.replace(ARGS.key, "REDACTED")
    return s


# ---------------------------------------------------------------------------------------------
# Start QGIS. Anything QGIS prints on stdout goes to stderr: stdout is for the one JSON object.
_OUT_FD = os.dup(1)
os.dup2(2, 1)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_TMP = tempfile.mkdtemp(prefix="check_bando_")
if not os.environ.get("XDG_RUNTIME_DIR"):
    os.environ["XDG_RUNTIME_DIR"] = os.path.join(_TMP, "xdg")
    os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700)
# A throw-away profile: no user settings, no network cache carried between runs, own auth db.
os.environ["QGIS_AUTH_DB_DIR_PATH"] = os.path.join(_TMP, "auth")
os.makedirs(os.environ["QGIS_AUTH_DB_DIR_PATH"])

_T0 = time.time()
try:
    from qgis.core import (
        Qgis, QgsApplication, QgsAuthMethodConfig, QgsBlockingNetworkRequest,
        QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsDataSourceUri, QgsFeatureRequest,
        QgsFillSymbol, QgsMapBoxGlStyleConversionContext, QgsMapBoxGlStyleConverter,
        QgsMapRendererSequentialJob, QgsMapSettings, QgsNetworkAccessManager,
        QgsNetworkReplyContent, QgsNetworkRequestParameters, QgsPalLayerSettings, QgsProject,
        QgsRectangle, QgsSingleSymbolRenderer, QgsTextFormat, QgsUnitTypes,
        QgsVectorLayer, QgsVectorLayerSimpleLabeling, QgsVectorTileLayer, QgsWkbTypes,
    )
    from qgis.PyQt.QtCore import QSize, QUrl
    from qgis.PyQt.QtGui import QColor, QFont, QImage
    from qgis.PyQt.QtNetwork import QNetworkRequest

    APP = QgsApplication([b"check_bando"], False, os.path.join(_TMP, "profile"))
    APP.initQgis()
    RESULT["qgis_version"] = Qgis.QGIS_VERSION
    try:
        from osgeo import gdal
        RESULT["gdal_version"] = gdal.__version__
    except Exception:  # noqa: BLE001 - only informative
        pass
    from qgis.core import QgsProviderRegistry
    RESULT["providers"] = sorted(p for p in QgsProviderRegistry.instance().providerList()
                                 if p in ("OAPIF", "WFS", "ogr", "vectortile", "wms"))
    RESULT["auth_methods"] = sorted(QgsApplication.authManager().authMethodsKeys())
except Exception as e:  # QGIS could not start: the one non-zero exit.
    RESULT["qgis_start_error"] = "".join(traceback.format_exception_only(type(e), e)).strip()
    RESULT["traceback"] = traceback.format_exc()
    emit_and_exit(2)

RESULT["base_url"] = ARGS.base_url
RESULT["startup_s"] = round(time.time() - _T0, 2)


def _watchdog():
    RESULT["timed_out"] = f"gave up after {ARGS.timeout:.0f} s (in section {RESULT.get('_section')})"
    emit_and_exit(0)


_WATCHDOG = threading.Timer(ARGS.timeout, _watchdog)
_WATCHDOG.daemon = True
_WATCHDOG.start()

# ---------------------------------------------------------------------------------------------
# What QGIS asks the server and what it is answered; what QGIS logs.
NAM = QgsNetworkAccessManager.instance()
NAM.setTimeout(30000)
_NET = []        # dicts: id, url, status, error
_NET_BY_ID = {}
_LOG = []        # (tag, level, message)


def _on_request(p):
    d = {"url": p.request().url().toString(), "status": None, "error": None,
         "bearer": bool(p.request().hasRawHeader(b"Authorization"))}
    _NET.append(d)
    _NET_BY_ID[p.requestId()] = d


def _on_finished(r):
    d = _NET_BY_ID.get(r.requestId())
    if d is None:
        d = {"url": r.request().url().toString()}
        _NET.append(d)
    d["status"] = r.attribute(QNetworkRequest.HttpStatusCodeAttribute)
    d["from_cache"] = bool(r.attribute(QNetworkRequest.SourceIsFromCacheAttribute))
    d["error"] = int(r.error()) if r.error() else None
    if r.error():
        d["error_string"] = r.errorString()


NAM.requestAboutToBeCreated[QgsNetworkRequestParameters].connect(_on_request)
NAM.finished[QgsNetworkReplyContent].connect(_on_finished)
QgsApplication.messageLog().messageReceived.connect(
    lambda msg, tag, level: _LOG.append((tag, int(level), msg)))


def pump():
    """Deliver the queued network signals of worker threads."""
    for _ in range(3):
        APP.processEvents()


class Section:
    """Marks where a section's requests and log messages start."""

    def __init__(self, name):
        self.name = name
        RESULT["_section"] = name
        pump()
        self.net0 = len(_NET)
        self.log0 = len(_LOG)
        self.t0 = time.time()

    def requests(self, limit=60):
        pump()
        out = []
        for d in _NET[self.net0:]:
            s = redact(d["url"]) + (" [Authorization]" if d.get("bearer") else "")
            s += f" -> {d.get('status')}" + (" (from QGIS cache)" if d.get("from_cache") else "")
            if d.get("error") and d.get("status") is None:
                s += f" (network error {d['error']}: {d.get('error_string', '')})"
            out.append(s)
        if len(out) > limit:
            out = out[:limit] + [f"... {len(out) - limit} more"]
        return out

    def raw_requests(self):
        pump()
        return list(_NET[self.net0:])

    def log(self, limit=20):
        pump()
        msgs = [f"[{t}] {redact(m)}" for t, _lvl, m in _LOG[self.log0:]]
        return msgs[:limit] + ([f"... {len(msgs) - limit} more"] if len(msgs) > limit else [])

    def seconds(self):
        return round(time.time() - self.t0, 2)


def guarded(fn):
    """Run a section; an exception becomes an "exception" entry instead of a crash."""
    def run(*a, **kw):
        out = {}
        try:
            fn(out, *a, **kw)
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            out["exception"] = redact("".join(traceback.format_exception_only(type(e), e)).strip())
            out["traceback"] = redact(traceback.format_exc())
        return out
    return run


# ---------------------------------------------------------------------------------------------
# Helpers.

def oapif_uri(base, collection, query=None, authcfg=None, bbox_restricted=True):
    """The data source URI QGIS's "Add WFS / OGC API - Features layer" dialog builds."""
    uri = QgsDataSourceUri()
    url = base + "/ogc" + (("?" + query) if query else "")
    uri.setParam("url", url)
    uri.setParam("typename", collection)
    uri.setParam("version", "OGC_API_FEATURES")
    uri.setParam("pagingEnabled", "true")
    uri.setParam("preferCoordinatesForWfsT11", "false")
    uri.setParam("srsname", "EPSG:4326")
    if bbox_restricted:
        uri.setParam("restrictToRequestBBOX", "1")
    if authcfg:
        uri.setAuthConfigId(authcfg)
    return uri.uri(False)


def layer_errors(layer):
    out = []
    try:
        err = layer.error()
        # QgsError.summary() crashes QGIS 3.22 on an empty error: look before touching it.
        if not err.isEmpty():
            out += [redact(m.message()) for m in err.messageList()]
    except Exception:  # noqa: BLE001
        pass
    try:
        dp = layer.dataProvider()
        if dp is not None:
            out += [redact(e) for e in dp.errors()]
    except Exception:  # noqa: BLE001
        pass
    return out


def field_list(layer):
    return [f.name() for f in layer.fields()]


def nfc(s):
    return s is not None and unicodedata.normalize("NFC", s) == s


def describe_vector_layer(out, layer, full=True):
    out["valid"] = layer.isValid()
    errs = layer_errors(layer)
    if errs:
        out["errors"] = errs
    if not layer.isValid():
        return False
    out["provider"] = layer.providerType()
    out["count"] = layer.featureCount()
    out["geometry_type"] = QgsWkbTypes.displayString(layer.wkbType())
    out["crs"] = layer.crs().authid()
    if full:
        out["fields"] = field_list(layer)
        out["field_types"] = {f.name(): f.typeName() for f in layer.fields()}
        ext = layer.extent()
        out["extent"] = [round(v, 6) for v in (ext.xMinimum(), ext.yMinimum(),
                                               ext.xMaximum(), ext.yMaximum())]
    return True


def bbox_request(out, layer, sec):
    """Features in BBOX through a filter rect; did the request reach the server as bbox=?"""
    n0 = len(sec.raw_requests())
    req = QgsFeatureRequest().setFilterRect(QgsRectangle(*BBOX))
    codes = []
    for f in layer.getFeatures(req):
        codes.append(str(f["code"]) if "code" in f.fields().names() else str(f.id()))
    out["bbox_count"] = len(codes)
    out["bbox_codes"] = sorted(codes)
    items = [d["url"] for d in sec.raw_requests()[n0:] if "/items" in d["url"]]
    out["bbox_sent_to_server"] = any("bbox=" in u for u in items)
    out["bbox_requests"] = [redact(u) for u in items][:5]


def ben_thanh(out, layer):
    req = QgsFeatureRequest().setFilterExpression(f"\"code\" = '{BEN_THANH_CODE}'")
    found = [f for f in layer.getFeatures(req)]
    if not found:
        out["ben_thanh"] = None
        return
    f = found[0]
    names = f.fields().names()
    bt = {"matches": len(found)}
    for k in ("name", "fullname", "nameen"):
        if k in names:
            bt[k] = f[k]
    bt["diacritics_ok"] = bt.get("name") == BEN_THANH_NAME and bt.get("fullname") == BEN_THANH_FULLNAME
    bt["nfc"] = nfc(bt.get("name")) and nfc(bt.get("fullname"))
    g = f.geometry()
    bt["geometry_valid"] = (not g.isNull()) and g.isGeosValid()
    bt["area_km2_geodesic"] = None
    try:
        from qgis.core import QgsDistanceArea
        da = QgsDistanceArea()
        da.setSourceCrs(layer.crs(), QgsProject.instance().transformContext())
        da.setEllipsoid("WGS84")
        bt["area_km2_geodesic"] = round(da.measureArea(g) / 1e6, 3)
    except Exception:  # noqa: BLE001
        pass
    out["ben_thanh"] = bt


def count_iterated(layer):
    req = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry).setNoAttributes()
    return sum(1 for _ in layer.getFeatures(req))


def fetch(url, headers=None):
    """GET through QGIS's network stack (so it shows in the request log)."""
    req = QNetworkRequest(QUrl(url))
    for k, v in (headers or {}).items():
        req.setRawHeader(k.encode(), v.encode())
    br = QgsBlockingNetworkRequest()
    err = br.get(req)
    reply = br.reply()
    status = reply.attribute(QNetworkRequest.HttpStatusCodeAttribute)
    return err, status, bytes(reply.content())


def distinct_colours(img):
    img = img.convertToFormat(QImage.Format_ARGB32)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes() if hasattr(img, "sizeInBytes") else img.byteCount())
    px = memoryview(bytes(ptr)).cast("I")
    counts = Counter(px)
    total = len(px)
    top_colour, top_n = counts.most_common(1)[0]
    return {
        "distinct_colours": len(counts),
        "dominant_colour": "#%08x" % top_colour,
        "dominant_share": round(top_n / total, 3),
        "transparent_share": round(sum(n for c, n in counts.items() if (c >> 24) == 0) / total, 3),
    }


def render(layers, crs, extent_wgs84, path, size=(1024, 768), background=QColor(255, 255, 255)):
    """Render with the sequential job and wait; vector tiles are fetched during rendering."""
    ms = QgsMapSettings()
    ms.setLayers(layers)
    ms.setDestinationCrs(crs)
    ct = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), crs,
                                QgsProject.instance())
    ms.setExtent(ct.transformBoundingBox(QgsRectangle(*extent_wgs84)))
    ms.setOutputSize(QSize(*size))
    ms.setOutputDpi(96)
    ms.setBackgroundColor(background)
    ms.setFlag(QgsMapSettings.Antialiasing, True)
    ms.setFlag(QgsMapSettings.DrawLabeling, True)
    job = QgsMapRendererSequentialJob(ms)
    t = time.time()
    job.start()
    job.waitForFinished()
    out = {"render_s": round(time.time() - t, 2)}
    img = job.renderedImage()
    out["errors"] = [f"{e.layerID}: {redact(e.message)}" for e in job.errors()]
    out["scale"] = round(ms.scale())
    out["extent_3857"] = [round(v, 1) for v in (ms.visibleExtent().xMinimum(),
                                                ms.visibleExtent().yMinimum(),
                                                ms.visibleExtent().xMaximum(),
                                                ms.visibleExtent().yMaximum())]
    out["size"] = [img.width(), img.height()]
    out["saved"] = bool(img.save(path, "PNG"))
    out["image"] = path
    out.update(distinct_colours(img))
    labels = []
    res = job.takeLabelingResults()
    if res is not None:
        labels = [lp.labelText for lp in res.allLabels() if not lp.isUnplaced]
    out["labels_drawn"] = len(labels)
    out["some_labels"] = sorted(set(labels))[:15]
    return out


# ---------------------------------------------------------------------------------------------
# a. the wards as an OGC API - Features layer.

@guarded
def check_wards(out):
    base, coll = ARGS.base_url, ARGS.collection
    sec = Section("wards")
    uri = oapif_uri(base, coll)
    out["uri"] = redact(uri)
    layer = QgsVectorLayer(uri, "wards", "OAPIF")
    if describe_vector_layer(out, layer):
        # featureCount() before any download: from numberMatched of the first (limit=10) page.
        probes = [d["url"] for d in sec.raw_requests() if "/items" in d["url"]]
        out["count_from_numberMatched"] = len(probes) <= 1 and out["count"] >= 0
        bbox_request(out, layer, sec)          # first, so it really goes to the server
        out["count_iterated"] = count_iterated(layer)
        ben_thanh(out, layer)
        pages = [d["url"] for d in sec.raw_requests() if "/items" in d["url"] and "bbox=" not in d["url"]]
        out["items_requests"] = len(pages)
        m = re.findall(r"[?&]limit=(\d+)", " ".join(pages))
        out["page_size_used"] = max(map(int, m)) if m else None
        RESULT["_wards_layer"] = layer
    out["requests"] = sec.requests()
    out["log"] = sec.log()
    out["seconds"] = sec.seconds()


@guarded
def check_wards_providers(out):
    """Other ways to open it: the "WFS" provider with version=OGC_API_FEATURES, GDAL's OAPIF."""
    base, coll = ARGS.base_url, ARGS.collection
    sec = Section("wards_wfs_provider")
    layer = QgsVectorLayer(oapif_uri(base, coll), "wards_wfs", "WFS")
    w = {"valid": layer.isValid(), "errors": layer_errors(layer)[:3], "requests": sec.requests(5),
         "log": sec.log(3)}
    out["WFS_provider"] = w
    if ARGS.no_gdal:
        return
    sec = Section("wards_gdal")
    g = {"uri": f"OAPIF:{base}/ogc/collections/{coll}"}
    layer = QgsVectorLayer(g["uri"], "wards_gdal", "ogr")
    if describe_vector_layer(g, layer, full=False):
        g["fields"] = field_list(layer)
        bbox_request(g, layer, sec)
        g["count_iterated"] = count_iterated(layer)
        ben_thanh(g, layer)
        pages = [d["url"] for d in sec.raw_requests() if "/items" in d["url"]]
        m = re.findall(r"[?&]limit=(\d+)", " ".join(pages))
        g["items_requests"] = len(pages)
        g["page_size_used"] = max(map(int, m)) if m else None
    g["log"] = sec.log(5)
    g["seconds"] = sec.seconds()
    out["gdal_ogr_provider"] = g


# ---------------------------------------------------------------------------------------------
# b. a collection only visible with a key.

def clear_http_cache():
    """Empty QGIS's HTTP disk cache (shared by all threads).

    QGIS's OAPIF provider fetches the landing page, /api, the collection and the first page of
    items with QNetworkRequest::PreferCache and keeps them even without Cache-Control (it sets its
    own expiry), and the cache is keyed by URL only: without this, a variant with the key in a
    header would be answered from what the previous variant got, and the other way round.
    """
    cache = NAM.cache()
    if cache is not None:
        cache.clear()


def _open_restricted(out, sec, uri, provider="OAPIF"):
    clear_http_cache()
    sec.net0 = len(_NET)
    layer = QgsVectorLayer(uri, "restricted", provider)
    if describe_vector_layer(out, layer, full=False):
        # Features really downloaded (items pages are never served from QGIS's cache).
        out["count_iterated"] = count_iterated(layer)
    reqs = sec.raw_requests()
    out["http_statuses"] = dict(Counter(str(d.get("status")) for d in reqs))
    out["requests"] = sec.requests(12)
    log = sec.log(5)
    if log:
        out["log"] = log
    return layer, reqs


@guarded
def check_restricted(out):
    base, coll, key = ARGS.base_url, ARGS.restricted, ARGS.key
    out["collection"] = coll

    # Without a key: bando answers 404 as for a missing collection.
    sec = Section("restricted_without_key")
    w = {}
    _open_restricted(w, sec, oapif_uri(base, coll))
    out["without_key"] = w

    # With the key on the service URL (QGIS appends the URL's query to every request it makes).
    sec = Section("restricted_query_key")
    q = {"method": "url='BASE/ogc?key=KEY' (QGIS appends it to every request)"}
    _layer, reqs = _open_restricted(q, sec, oapif_uri(base, coll, query="key=" + key))
    q["requests_without_key"] = [redact(d["url"]) for d in reqs
                                 if d["url"].startswith(base) and "key=" not in d["url"]]
    out["with_key"] = q

    # With an Authorization: Bearer header.
    sec = Section("restricted_bearer")
    b = {}
    if "APIHeader" in QgsApplication.authManager().authMethodsKeys():
        b["method"] = "auth config APIHeader (Authorization: Bearer KEY)"
        am = QgsApplication.authManager()
        am.setMasterPassword("check_bando", True)
        cfg = QgsAuthMethodConfig("APIHeader")
        cfg.setName("bando")
        cfg.setConfig("Authorization", "Bearer " + key)
        ok = am.storeAuthenticationConfig(cfg)
        ok = ok[0] if isinstance(ok, tuple) else ok
        b["auth_config_stored"] = bool(ok)
        _open_restricted(b, sec, oapif_uri(base, coll, authcfg=cfg.id()))
    else:
        b["auth_config_APIHeader"] = ("not available in QGIS " + Qgis.QGIS_VERSION +
                                      " (auth methods: " + ", ".join(RESULT["auth_methods"]) + ")")
        b["method"] = "QgsNetworkAccessManager request preprocessor adding Authorization: Bearer KEY"
        prefix = base + "/"

        def add_bearer(request):
            if request.url().toString().startswith(prefix):
                request.setRawHeader(b"Authorization", ("Bearer " + key).encode())

        pid = NAM.setRequestPreprocessor(add_bearer)
        try:
            _l, reqs = _open_restricted(b, sec, oapif_uri(base, coll))
            b["requests_without_header"] = [redact(d["url"]) for d in reqs
                                            if d["url"].startswith(base) and not d.get("bearer")]
        finally:
            NAM.removeRequestPreprocessor(pid)
    out["with_bearer"] = b

    if not ARGS.no_gdal:
        sec = Section("restricted_gdal")
        g = {"method": "ogr provider, OAPIF:BASE/ogc/collections/COLL?key=KEY"}
        _open_restricted(g, sec, f"OAPIF:{base}/ogc/collections/{coll}?key={key}", provider="ogr")
        g.pop("requests", None)
        out["with_key_gdal"] = g


# ---------------------------------------------------------------------------------------------
# c. the base map as vector tiles with its MapLibre style.

@guarded
def check_basemap(out):
    base = ARGS.base_url
    sec = Section("basemap")
    tmpl = f"{base}/tiles/{ARGS.tileset}/{{z}}/{{x}}/{{y}}.mvt"
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", tmpl)
    uri.setParam("zmin", "0")
    uri.setParam("zmax", "16")
    enc = bytes(uri.encodedUri()).decode()
    out["uri"] = enc
    layer = QgsVectorTileLayer(enc, "basemap")
    out["valid"] = layer.isValid()
    out["zoom_range"] = [layer.sourceMinZoom(), layer.sourceMaxZoom()]

    # The TileJSON as the layer URL (what MapLibre and the style's source use).
    tj = QgsVectorTileLayer(f"type=xyz&url={base}/tiles/{ARGS.tileset}.json", "tilejson")
    out["tilejson_url_valid"] = tj.isValid()

    # The style, fetched and converted as QGIS's "Load style from URL" does.
    style_url = f"{base}/styles/{ARGS.style}.json"
    err, status, body = fetch(style_url)
    st = {"url": style_url, "http_status": status}
    style = json.loads(body.decode("utf-8")) if status == 200 else {}
    ctx = QgsMapBoxGlStyleConversionContext()
    ctx.setTargetUnit(QgsUnitTypes.RenderMillimeters)
    ctx.setPixelSizeConversionFactor(25.4 / 96.0)
    sprite = style.get("sprite")
    if isinstance(sprite, str) and sprite:
        for suffix in ("@2x", ""):
            e1, s1, js = fetch(sprite + suffix + ".json")
            e2, s2, png = fetch(sprite + suffix + ".png")
            if s1 == 200 and s2 == 200:
                img = QImage.fromData(png)
                ctx.setSprites(img, json.loads(js.decode("utf-8")))
                st["sprite"] = f"{suffix or '@1x'}: {len(json.loads(js))} icons, " \
                               f"{img.width()}x{img.height()}"
                break
        else:
            st["sprite"] = "not loaded"
    conv = QgsMapBoxGlStyleConverter()
    res = conv.convert(style, ctx)
    st["result"] = {0: "Success", 1: "NoLayerList"}.get(int(res), int(res))
    if conv.errorMessage():
        st["error"] = conv.errorMessage()
    warnings = list(conv.warnings())
    st["warnings_count"] = len(warnings)
    st["warnings"] = warnings[:60]
    st["style_layers"] = len(style.get("layers", []))
    if conv.renderer() is not None:
        r = conv.renderer()
        layer.setRenderer(r.clone())
        st["renderer_styles"] = len(r.styles())
    if conv.labeling() is not None:
        lab = conv.labeling()
        layer.setLabeling(lab.clone())
        st["labeling_styles"] = len(lab.styles())
    # Style layers whose filter QGIS could not convert: it then drops the filter and draws every
    # feature of the source layer with that style (e.g. all roads with the motorway casing).
    converted = {}
    for holder in (conv.renderer(), conv.labeling()):
        for s in (holder.styles() if holder is not None else []):
            converted.setdefault(s.styleName(), []).append(s.filterExpression())
    st["filters_dropped"] = [
        lyr.get("id") for lyr in style.get("layers", [])
        if lyr.get("filter") is not None and lyr.get("id") in converted
        and all(not f for f in converted[lyr.get("id")])
    ]
    out["style"] = st

    # The same through the layer URI's styleUrl (the connection dialog's "Style URL").
    su = QgsVectorTileLayer(enc + "&styleUrl=" + QUrl.toPercentEncoding(style_url).data().decode(),
                            "styled")
    msg, ok = su.loadDefaultStyle()
    out["style_url_param"] = {"ok": bool(ok), "message": msg,
                              "renderer_styles": len(su.renderer().styles()) if su.renderer() else 0}

    # Render Ben Thanh.
    n0 = len(sec.raw_requests())
    path = os.path.join(ARGS.out, "basemap.png")
    out.update(render([layer], QgsCoordinateReferenceSystem("EPSG:3857"), BBOX, path))
    tiles = [d for d in sec.raw_requests()[n0:] if d["url"].endswith(".mvt")]
    out["tiles_requested"] = len(tiles)
    out["tile_statuses"] = dict(Counter(str(d.get("status")) for d in tiles))
    zs = sorted({int(m.group(1)) for d in tiles
                 for m in [re.search(r"/(\d+)/\d+/\d+\.mvt$", d["url"])] if m})
    out["tile_zooms"] = zs
    out["tiles_sample"] = [redact(d["url"]) for d in tiles[:3]]
    out["log"] = sec.log(8)
    out["seconds"] = sec.seconds()


# ---------------------------------------------------------------------------------------------
# d. the wards layer on a map.

@guarded
def check_wards_map(out):
    layer = RESULT.get("_wards_layer")
    if layer is None:
        out["skipped"] = "wards layer did not open"
        return
    sec = Section("wards_map")
    sym = QgsFillSymbol.createSimple({"color": "255,200,120,90", "outline_color": "120,40,20",
                                      "outline_width": "0.5"})
    layer.setRenderer(QgsSingleSymbolRenderer(sym))
    pal = QgsPalLayerSettings()
    pal.fieldName = "name"
    fmt = QgsTextFormat()
    fmt.setFont(QFont("Noto Sans"))
    fmt.setSize(11)
    pal.setFormat(fmt)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(pal))
    layer.setLabelsEnabled(True)
    path = os.path.join(ARGS.out, "wards.png")
    wide = (106.665, 10.75, 106.725, 10.795)
    out.update(render([layer], QgsCoordinateReferenceSystem("EPSG:3857"), wide, path))
    out["requests"] = sec.requests(8)
    out["seconds"] = sec.seconds()


# ---------------------------------------------------------------------------------------------

def checks():
    """The expectations, as booleans, for the caller's assertions (sections that ran only)."""
    c = {}
    w = RESULT.get("wards")
    if w is not None:
        c.update({
            "wards_valid": w.get("valid") is True,
            # The caller compares the count with its database.
            "wards_count_matches_features": (w.get("count") or 0) > 0
                                            and w.get("count") == w.get("count_iterated"),
            "wards_multipolygon": w.get("geometry_type") == "MultiPolygon",
            "wards_ben_thanh_diacritics": bool((w.get("ben_thanh") or {}).get("diacritics_ok")),
            "wards_bbox_small_with_ben_thanh": (0 < (w.get("bbox_count") or 0) <= 20
                                                and BEN_THANH_CODE in w.get("bbox_codes", [])),
            "wards_bbox_sent_to_server": w.get("bbox_sent_to_server") is True,
        })
    r = RESULT.get("restricted")
    if r is not None:
        wo, wk, wb = r.get("without_key", {}), r.get("with_key", {}), r.get("with_bearer", {})
        c["restricted_hidden_without_key"] = (wo.get("valid") is False
                                              or not wo.get("count_iterated"))
        c["restricted_with_query_key"] = (wk.get("valid") is True
                                          and (wk.get("count_iterated") or 0) > 0
                                          and wk.get("count_iterated") == wk.get("count"))
        c["restricted_with_bearer"] = (wb.get("valid") is True
                                       and (wb.get("count_iterated") or 0) > 0
                                       and wb.get("count_iterated") == wb.get("count"))
        c["restricted_query_key_on_every_request"] = wk.get("requests_without_key") == []
    b = RESULT.get("basemap")
    if b is not None:
        st = b.get("style") or {}
        c["basemap_valid"] = b.get("valid") is True
        c["basemap_style_converted"] = st.get("result") == "Success"
        c["basemap_style_filters_kept"] = st.get("filters_dropped") == []
        c["basemap_rendered"] = ((b.get("distinct_colours") or 0) > 50 and not b.get("errors")
                                 and (b.get("tiles_requested") or 0) > 0
                                 and set((b.get("tile_statuses") or {}).keys()) <= {"200", "204"})
        c["basemap_png_saved"] = b.get("saved") is True
    m = RESULT.get("wards_map")
    if m is not None:
        c["wards_png_saved"] = m.get("saved") is True
    return c


def main():
    os.makedirs(ARGS.out, exist_ok=True)
    only = set(ARGS.only.split(",")) if ARGS.only else None

    def want(name):
        return only is None or name in only

    if want("wards") or want("wards_map"):
        RESULT["wards"] = check_wards()
    if want("wards"):
        RESULT["wards_other_providers"] = check_wards_providers()
    if ARGS.restricted and want("restricted"):
        RESULT["restricted"] = check_restricted()
    if want("basemap"):
        RESULT["basemap"] = check_basemap()
    if want("wards_map"):
        RESULT["wards_map"] = check_wards_map()
    RESULT.pop("_wards_layer", None)
    RESULT.pop("_section", None)
    RESULT["checks"] = checks()
    RESULT["all_checks_passed"] = all(RESULT["checks"].values())
    RESULT["total_s"] = round(time.time() - _T0, 2)
    emit_and_exit(0)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - QGIS started; report, exit 0
        RESULT.pop("_wards_layer", None)
        RESULT["exception"] = redact(traceback.format_exc())
        emit_and_exit(0)
