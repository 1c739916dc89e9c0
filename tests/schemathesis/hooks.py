"""Rules of bando's API that OpenAPI cannot state, for schemathesis (loaded with
SCHEMATHESIS_HOOKS=hooks). Each keeps generated requests within a rule that spans several
parameters or needs a value only the server can judge; everything a single parameter or body
field can say is in the OpenAPI document itself (`GET /api`). A request made to break a rule of
the document stays broken: these only complete or correct the parts they name.

- /v1/layers/{layer}/within takes lon, lat and radius together, or bbox, not both;
- /v1/search takes lon and lat together;
- the ogc items `filter` is CQL2 text or CQL2-JSON, as `filter-lang` says (a grammar) and `datetime` an RFC 3339 instant or
  interval of real calendar dates;
- a new API key's `expires_at` must be in the future;
- an upload's file must be a vector file (a GeoJSON point is sent); its layer is named
  `<agency>_<name>`; `upsert_key` goes with mode=upsert and mode=upsert needs it; `valid_from`
  comes before `valid_to` and `minzoom` is not above `maxzoom`;
- a layer's catalog change keeps its zooms ordered and its validity forwards: given one end of
  a range, the other end is given too (the layer's current value could be on the wrong side);
- (a check, not a rule) every 400 is an RFC 9457 problem naming the parameter or field at fault;
- tile coordinates come from a map, not from responses: a coordinate left as the `{z}` of a
  TileJSON URL template by the stateful phase's link inference is filled in.
"""

import datetime
import json
import re
from urllib.parse import unquote

import schemathesis
from schemathesis.transport.serialization import Binary

CENTRE = {"lon": 106.70, "lat": 10.776}
POINT = json.dumps({"type": "Feature", "properties": {"name": "Bến Thành"},
                    "geometry": {"type": "Point", "coordinates": [106.698, 10.772]}}).encode()
NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def is_integer(value):
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def is_number(value):
    return isinstance(value, (int, float)) or (isinstance(value, str) and NUMBER.match(value.strip()))


@schemathesis.hook
def map_case(context, case):
    path, query = case.operation.path, case.query
    if query is None:
        query = case.query = {}
    if path == "/v1/layers/{layer}/within":
        circle = [k for k in ("lon", "lat", "radius") if k in query]
        if circle and "bbox" in query:
            del query["bbox"]
        if circle:
            query.setdefault("lon", CENTRE["lon"])
            query.setdefault("lat", CENTRE["lat"])
            query.setdefault("radius", 500)
        elif "bbox" not in query:
            query["bbox"] = "106.69,10.77,106.71,10.78"
        elif is_bbox(query["bbox"]):
            query["bbox"] = ordered_bbox(query["bbox"])
    elif path == "/ogc/collections/{id}/items":
        if "bbox" in query and is_bbox(query["bbox"]):
            query["bbox"] = ordered_bbox(query["bbox"])
        if isinstance(query.get("filter"), str):
            json_filter = query.get("filter-lang") == "cql2-json"
            query["filter"] = '{"op": "=", "args": [1, 1]}' if json_filter else "1 = 1"
        if isinstance(query.get("datetime"), str):
            query["datetime"] = "2025-08-01T00:00:00Z"
    elif path == "/v1/search":
        if ("lon" in query) != ("lat" in query):
            query.setdefault("lon", CENTRE["lon"])
            query.setdefault("lat", CENTRE["lat"])
    elif path == "/v1/agencies/{agency}/keys" and case.method.upper() == "POST":
        body = case.body
        if isinstance(body, dict) and isinstance(body.get("expires_at"), str):
            try:
                when = datetime.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
                if when.tzinfo is None or when <= datetime.datetime.now(datetime.timezone.utc):
                    body["expires_at"] = "2099-01-01T00:00:00Z"
            except ValueError:
                pass  # not a date-time: a request made to break the document, left broken
    elif path == "/v1/agencies/{agency}/layers/{layer}/uploads":
        if isinstance(case.body, dict) and "file" in case.body:
            case.body["file"] = Binary(POINT)
        agency, layer = case.path_parameters.get("agency"), case.path_parameters.get("layer")
        if isinstance(agency, str) and isinstance(layer, str) and not layer.startswith(agency + "_"):
            case.path_parameters["layer"] = f"{agency}_{layer}"[:63]
        if query.get("mode") == "upsert":
            query.setdefault("upsert_key", "name")
        elif "upsert_key" in query:
            del query["upsert_key"]
        start, end = query.get("valid_from"), query.get("valid_to")
        if isinstance(start, str) and isinstance(end, str):
            if start == end:
                del query["valid_to"]
            elif start > end:
                query["valid_from"], query["valid_to"] = end, start
        low, high = query.get("minzoom"), query.get("maxzoom")
        if is_integer(low) and is_integer(high):
            query["minzoom"], query["maxzoom"] = sorted((int(low), int(high)))
    elif path == "/v1/layers/{layer}" and case.method.upper() == "PATCH":
        body = case.body
        if isinstance(body, dict):
            def zoom(name):
                value = body.get(name)
                whole = isinstance(value, (int, float)) and not isinstance(value, bool)
                return value if whole and float(value).is_integer() and 0 <= value <= 24 else None
            if zoom("minzoom") is not None and "maxzoom" not in body:
                body["maxzoom"] = 24
            if zoom("maxzoom") is not None and "minzoom" not in body:
                body["minzoom"] = 0
            low, high = zoom("minzoom"), zoom("maxzoom")
            if low is not None and high is not None and low > high:
                body["minzoom"], body["maxzoom"] = high, low
            start, end = body.get("valid_from"), body.get("valid_to")
            if isinstance(start, str) and "valid_to" not in body:
                body["valid_to"] = "9999-12-31"
            if isinstance(end, str) and "valid_from" not in body:
                body["valid_from"] = "0001-01-01"
            start, end = body.get("valid_from"), body.get("valid_to")
            if isinstance(start, str) and isinstance(end, str):
                if start > end:
                    body["valid_from"], body["valid_to"] = end, start
                elif start == end:
                    body["valid_from"], body["valid_to"] = "0001-01-01", "9999-12-31"
    return case


@schemathesis.hook
def before_call(context, case, kwargs):
    # The stateful phase fills link values in after `map_case` (URL-encoded, as taken from the
    # TileJSON URL), so the placeholders are replaced here, just before the request goes out.
    if case.operation.path == "/tiles/{layer}/{z}/{x}/{y}.mvt":
        for name, value in (("z", 14), ("x", 13047), ("y", 7698)):
            if unquote(str(case.path_parameters.get(name))) == "{" + name + "}":
                case.path_parameters[name] = value


def is_bbox(value):
    parts = str(value).split(",")
    return len(parts) == 4 and all(is_number(p) for p in parts)


def ordered_bbox(value):
    w, s, e, n = (float(p) for p in str(value).split(","))
    w, e = sorted((max(-180.0, min(180.0, w)), max(-180.0, min(180.0, e))))
    s, n = sorted((max(-90.0, min(90.0, s)), max(-90.0, min(90.0, n))))
    if w == e:
        w, e = (w - 0.01, w) if w > -180 else (w, w + 0.01)
    if s == n:
        s, n = (s - 0.01, s) if s > -90 else (s, s + 0.01)
    return f"{w},{s},{e},{n}"


@schemathesis.check
def refusals_name_the_field(ctx, response, case):
    """A refused request gets `application/problem+json` naming what is wrong (`invalid-params`)."""
    if response.status_code != 400:
        return
    media = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if media != "application/problem+json":
        raise AssertionError(f"400 answered as {media!r}, not application/problem+json")
    problem = response.json()
    names = [p.get("name") for p in problem.get("invalid-params") or [] if isinstance(p, dict)]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise AssertionError(f"400 problem names no parameter: {problem}")
