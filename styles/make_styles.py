#!/usr/bin/env python3
"""Writes styles/light.json and styles/dark.json: one base-map design (the layers below) in two
palettes, so the two can never drift apart. Edit this file, then run `python3 styles/make_styles.py`;
a test checks that the committed styles differ only in their colours.

Design notes (compared with OpenMapTiles' OSM Bright and Positron over the same places):
- roads by class with casings, widths growing exponentially with zoom; motorways and trunks from
  z5, primaries z8, secondaries z10, tertiaries z11, streets z13, service roads and paths z14;
- bridges drawn above the streets with a darker casing, tunnels with a dashed one;
- one-way arrows along one-way streets from z15 (reversed for oneway=-1);
- names along the line: motorway to secondary from z13, tertiary from z14, every street from z15,
  bolder for arterials, never upside down, spaced so they do not pile up;
- rivers and canals as water areas plus their lines, named along the line from z12; parks,
  schools, hospitals, cemeteries and the airport tinted;
- buildings from z13 (faint) to z16, optional 3D extrusion;
- POIs: coloured dots z13-14 for the important categories, their icons from z15, every icon
  (restaurants, shops, bus stops) and names from z16, ranked so that hospitals and schools win
  over shops when labels collide;
- route numbers (QL1A) along motorways and trunks at z10–12, park and school names from z15,
  house numbers from z17;
- official 2025 ward boundaries and names; no pre-2025 district names (see README.md).
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

PALETTES = {
    "light": {
        "name": "bando light",
        "description": "Ho Chi Minh City base map, light variant",
        "background": "#f6f1e7",
        "park": "#cfe8b9",
        "wood": "#b9dca1",
        "built": "#ece6da",
        "industrial": "#e6dfe8",
        "school": "#f2e8c9",
        "hospital": "#f6dcdc",
        "cemetery": "#d6e2cf",
        "aerodrome": "#e5e3ec",
        "water": "#9ecae1",
        "water_label": "#2f6690",
        "building": "#d9d0c1",
        "building_outline": "#c4b8a5",
        "casing": "#c9bfae",
        "bridge_casing": "#8c8070",
        "motorway": "#f39c4a",
        "trunk": "#f5b05f",
        "primary": "#f7c56b",
        "secondary": "#fbe7a1",
        "tertiary": "#fdf3cc",
        "minor": "#ffffff",
        "service": "#ffffff",
        "path": "#b8ab95",
        "runway": "#d0ccd8",
        "rail": "#8c8c8c",
        "rail_hatch": "#ffffff",
        "transit": "#2b8cbe",
        "ward_line": "#9a7fa8",
        "city_line": "#6a4c7a",
        "ward_text": "#6a4c7a",
        "text": "#333333",
        "text_minor": "#555555",
        "halo": "#ffffff",
        "arrow": "#8a7f70",
        "historic": "#b5651d",
        "religion": "#8e44ad",
        "transport": "#1f78b4",
        "shopping": "#e67e22",
        "food": "#d35400",
        "health": "#e31a1c",
        "education": "#33a02c",
        "government": "#5d6d7e",
        "other": "#7f7f7f",
    },
    "dark": {
        "name": "bando dark",
        "description": "Ho Chi Minh City base map, dark variant",
        "background": "#1d2330",
        "park": "#23372b",
        "wood": "#203326",
        "built": "#242a37",
        "industrial": "#2a2838",
        "school": "#2e2c26",
        "hospital": "#33262b",
        "cemetery": "#22302a",
        "aerodrome": "#282a36",
        "water": "#0f3a52",
        "water_label": "#7fb3d5",
        "building": "#2c3342",
        "building_outline": "#394256",
        "casing": "#11151d",
        "bridge_casing": "#05070a",
        "motorway": "#b8733a",
        "trunk": "#a7703f",
        "primary": "#8f7446",
        "secondary": "#6e6a55",
        "tertiary": "#55596a",
        "minor": "#454c5e",
        "service": "#3d4455",
        "path": "#5d6577",
        "runway": "#3a3d4b",
        "rail": "#6b7385",
        "rail_hatch": "#1d2330",
        "transit": "#4aa3d8",
        "ward_line": "#7d6a8f",
        "city_line": "#a48ab8",
        "ward_text": "#b9a3cc",
        "text": "#dde3ee",
        "text_minor": "#a9b3c4",
        "halo": "#1d2330",
        "arrow": "#8d96a8",
        "historic": "#d98b45",
        "religion": "#b07cc6",
        "transport": "#4aa3d8",
        "shopping": "#f0a04b",
        "food": "#e07b39",
        "health": "#ff5a5a",
        "education": "#5cc26b",
        "government": "#95a3b3",
        "other": "#9a9a9a",
    },
}

REGULAR = ["Noto Sans Regular"]
BOLD = ["Noto Sans Bold"]
ITALIC = ["Noto Sans Italic"]

# (class, first zoom, widths at zooms {z: px}): the road's fill width; casings add to it.
ROADS = [
    ("motorway", 5, {5: 0.8, 10: 2.5, 13: 5, 16: 18, 18: 40}),
    ("trunk", 5, {5: 0.7, 10: 2.2, 13: 4.5, 16: 16, 18: 36}),
    ("primary", 8, {8: 0.6, 10: 1.6, 13: 4, 16: 14, 18: 32}),
    ("secondary", 10, {10: 0.8, 13: 3, 16: 12, 18: 28}),
    ("tertiary", 11, {11: 0.6, 13: 2.2, 16: 10, 18: 24}),
    ("minor", 13, {13: 0.8, 15: 3, 16: 7, 18: 18}),
    ("service", 14, {14: 0.6, 16: 4, 18: 10}),
]
CASING_FROM = {"motorway": 11, "trunk": 11, "primary": 12, "secondary": 12, "tertiary": 13, "minor": 14, "service": 15}
ARTERIALS = ["motorway", "trunk", "primary", "secondary"]

POI_CATEGORIES = ["historic", "religion", "transport", "shopping", "food", "health", "education", "government"]
# Icon by subclass first (a café is not a restaurant), then by category.
POI_ICONS_BY_SUBCLASS = {
    "cafe": ["cafe", "bar", "pub"],
    "bus": ["bus_stop", "bus_station", "ferry_terminal", "station"],
    "hospital": ["hospital", "clinic", "doctors", "dentist", "pharmacy"],
    "lodging": ["hotel", "hostel", "guest_house", "motel", "apartment"],
}
POI_ICONS_BY_CATEGORY = {
    "monument": ["historic", "tourism"],
    "worship": ["religion"],
    "bus": ["transport"],
    "shop": ["shopping"],
    "restaurant": ["food"],
    "hospital": ["health"],
    "school": ["education"],
    "government": ["government"],
}
# Rank of a POI when labels collide (lower wins).
POI_RANK = {"health": 1, "education": 2, "government": 3, "transport": 4, "historic": 5, "religion": 6, "tourism": 7, "food": 8, "shopping": 9}


def stops(widths, scale=1.0, extra=0.0):
    expression = ["interpolate", ["exponential", 1.5], ["zoom"]]
    for z, w in sorted(widths.items()):
        expression += [z, round(w * scale + extra, 2)]
    return expression


def is_class(value):
    return ["==", ["get", "class"], value]


def layer(id, type, source_layer=None, minzoom=None, maxzoom=None, filter=None, layout=None, paint=None):
    out = {"id": id, "type": type}
    if source_layer:
        out["source"] = "basemap"
        out["source-layer"] = source_layer
    if minzoom is not None:
        out["minzoom"] = minzoom
    if maxzoom is not None:
        out["maxzoom"] = maxzoom
    if filter is not None:
        out["filter"] = filter
    if layout:
        out["layout"] = layout
    if paint:
        out["paint"] = paint
    return out


def brunnel(value):
    return ["==", ["get", "brunnel"], value]


def not_brunnel():
    # `match … false, true` rather than `!` around a match: QGIS 3.22's style converter cannot
    # read `!` (except around `has`) and drops the whole filter, drawing every road with every
    # road style.
    return ["match", ["get", "brunnel"], ["bridge", "tunnel"], False, True]


def road_layers(p, kind):
    """Casings then fills of every class, for tunnels, plain roads or bridges."""
    if kind == "tunnel":
        which = brunnel("tunnel")
    elif kind == "bridge":
        which = brunnel("bridge")
    else:
        which = not_brunnel()
    out = []
    casing_color = p["bridge_casing"] if kind == "bridge" else p["casing"]
    for cls, first, widths in reversed(ROADS):
        casing = {
            "line-color": casing_color,
            "line-width": stops(widths, 1.0, 1.5 if cls in ARTERIALS else 1.0),
        }
        if kind == "tunnel":
            casing["line-dasharray"] = [1.5, 1]
        out.append(layer(
            f"{kind}-{cls}-casing", "line", "road", max(CASING_FROM[cls], first),
            filter=["all", is_class(cls), which],
            layout={"line-cap": "butt" if kind != "road" else "round", "line-join": "round"},
            paint=casing,
        ))
    for cls, first, widths in reversed(ROADS):
        fill = {"line-color": p[cls], "line-width": stops(widths)}
        if kind == "tunnel":
            fill["line-opacity"] = 0.7
        out.append(layer(
            f"{kind}-{cls}", "line", "road", first,
            filter=["all", is_class(cls), which],
            layout={"line-cap": "butt" if kind != "road" else "round", "line-join": "round"},
            paint=fill,
        ))
    # Paths and tracks: a thin dashed line, no casing.
    out.append(layer(
        f"{kind}-path", "line", "road", 14,
        filter=["all", ["match", ["get", "class"], ["path", "other", "construction"], True, False], which],
        layout={"line-join": "round"},
        paint={"line-color": p["path"], "line-width": stops({14: 0.6, 16: 1.5, 18: 3}), "line-dasharray": [2, 1.5]},
    ))
    return out


def poi_icon_expression():
    expression = ["match", ["get", "subclass"]]
    for icon, values in POI_ICONS_BY_SUBCLASS.items():
        expression += [values, icon]
    category = ["match", ["get", "category"]]
    for icon, values in POI_ICONS_BY_CATEGORY.items():
        category += [values, icon]
    category.append("dot")
    expression.append(category)
    return expression


def poi_colour(p):
    expression = ["match", ["get", "category"]]
    for category in POI_CATEGORIES:
        expression += [category, p[category]]
    expression.append(p["other"])
    return expression


def poi_rank():
    expression = ["match", ["get", "category"]]
    for category, rank in POI_RANK.items():
        expression += [category, rank]
    expression.append(10)
    return expression


def style(name, p):
    label_halo = {"text-halo-color": p["halo"], "text-halo-width": 1.5, "text-halo-blur": 0.5}
    layers = [
        layer("background", "background", paint={"background-color": p["background"]}),
        # Land use and land cover.
        layer("landuse-built", "fill", "landuse", 10,
              filter=["match", ["get", "class"], ["residential", "commercial", "retail"], True, False],
              paint={"fill-color": p["built"], "fill-opacity": 0.6}),
        layer("landuse-industrial", "fill", "landuse", 10,
              filter=["match", ["get", "class"], ["industrial", "railway", "port"], True, False],
              paint={"fill-color": p["industrial"], "fill-opacity": 0.6}),
        layer("landuse-aerodrome", "fill", "landuse", 8, filter=is_class("aerodrome"),
              paint={"fill-color": p["aerodrome"]}),
        layer("landuse-school", "fill", "landuse", 12, filter=is_class("school"),
              paint={"fill-color": p["school"]}),
        layer("landuse-hospital", "fill", "landuse", 12, filter=is_class("hospital"),
              paint={"fill-color": p["hospital"]}),
        layer("landuse-cemetery", "fill", "landuse", 12, filter=is_class("cemetery"),
              paint={"fill-color": p["cemetery"]}),
        layer("landuse-park", "fill", "landuse", 8,
              filter=["match", ["get", "class"],
                      ["park", "grass", "meadow", "recreation_ground", "village_green", "orchard", "farmland", "grassland"],
                      True, False],
              paint={"fill-color": p["park"], "fill-opacity": ["interpolate", ["linear"], ["zoom"], 8, 0.5, 12, 1]}),
        layer("landuse-wood", "fill", "landuse", 8,
              filter=["match", ["get", "class"], ["wood", "forest", "scrub", "wetland", "heath"], True, False],
              paint={"fill-color": p["wood"]}),
        # Water: areas, then the lines of rivers, canals and streams.
        layer("water", "fill", "water", paint={"fill-color": p["water"], "fill-antialias": True}),
        layer("waterway-river", "line", "waterway", 8,
              filter=["match", ["get", "class"], ["river", "canal"], True, False],
              layout={"line-cap": "round", "line-join": "round"},
              paint={"line-color": p["water"], "line-width": stops({8: 0.6, 12: 1.5, 14: 3, 18: 12})}),
        layer("waterway-stream", "line", "waterway", 12,
              filter=["match", ["get", "class"], ["river", "canal"], False, True],
              layout={"line-cap": "round", "line-join": "round"},
              paint={"line-color": p["water"], "line-width": stops({12: 0.5, 14: 1.2, 18: 4})}),
        # Buildings.
        layer("building", "fill", "building", 13,
              paint={"fill-color": p["building"], "fill-outline-color": p["building_outline"],
                     "fill-opacity": ["interpolate", ["linear"], ["zoom"], 13, 0.3, 16, 0.9]}),
        layer("building-3d", "fill-extrusion", "building", 15, layout={"visibility": "none"},
              paint={"fill-extrusion-color": p["building"], "fill-extrusion-opacity": 0.8,
                     "fill-extrusion-height": ["coalesce", ["to-number", ["get", "height"]],
                                               ["*", 3.2, ["to-number", ["get", "levels"], 2]]]}),
        # Boundaries under the roads.
        layer("boundary-ward", "line", "boundary", 9, filter=["==", ["get", "admin_level"], "ward"],
              layout={"line-join": "round"},
              paint={"line-color": p["ward_line"], "line-width": stops({9: 0.4, 16: 1.5}),
                     "line-dasharray": [3, 2], "line-opacity": 0.8}),
        layer("boundary-city", "line", "boundary", 0, filter=["==", ["get", "admin_level"], "city"],
              layout={"line-join": "round"},
              paint={"line-color": p["city_line"], "line-width": stops({4: 1, 12: 2.5}),
                     "line-dasharray": [4, 2]}),
        # Airport runways and taxiways.
        layer("aeroway-runway", "line", "road", 11, filter=is_class("runway"),
              paint={"line-color": p["runway"], "line-width": stops({11: 2, 14: 12, 18: 80})}),
        layer("aeroway-taxiway", "line", "road", 12, filter=is_class("taxiway"),
              paint={"line-color": p["runway"], "line-width": stops({12: 0.5, 14: 3, 18: 20})}),
    ]
    layers += road_layers(p, "tunnel")
    layers += road_layers(p, "road")
    layers += [
        layer("railway", "line", "railway", 10, filter=not_brunnel(),
              paint={"line-color": p["rail"], "line-width": stops({10: 0.6, 16: 3})}),
        layer("railway-hatch", "line", "railway", 13, filter=not_brunnel(),
              paint={"line-color": p["rail_hatch"], "line-width": stops({13: 0.8, 16: 2}),
                     "line-dasharray": [0.2, 4]}),
        # Bridges the OSM roads do not cover (HCMGIS).
        layer("bridge-other", "line", "bridge", 13, layout={"line-cap": "butt", "line-join": "round"},
              paint={"line-color": p["bridge_casing"], "line-width": stops({13: 2, 16: 10}), "line-opacity": 0.6}),
    ]
    layers += road_layers(p, "bridge")
    layers += [
        layer("railway-bridge", "line", "railway", 10, filter=brunnel("bridge"),
              paint={"line-color": p["rail"], "line-width": stops({10: 0.8, 16: 3.5})}),
        # Bus routes at city scale; at street level their lines (not snapped to the streets) clutter.
        layer("transit", "line", "transit", 12, 15.5, layout={"line-cap": "round", "line-join": "round"},
              paint={"line-color": p["transit"], "line-width": stops({12: 0.3, 16: 1}), "line-opacity": 0.2}),
        # One-way arrows.
        layer("road-oneway", "symbol", "road", 15,
              filter=["all", ["match", ["get", "oneway"], [1, -1], True, False],
                      ["match", ["get", "class"], ["motorway", "trunk", "primary", "secondary", "tertiary", "minor", "service"], True, False]],
              layout={"symbol-placement": "line", "symbol-spacing": 90, "icon-image": "oneway",
                      "icon-size": ["interpolate", ["linear"], ["zoom"], 15, 0.6, 18, 1],
                      "icon-rotate": ["match", ["get", "oneway"], -1, 180, 0],
                      "icon-rotation-alignment": "map", "icon-allow-overlap": True, "icon-ignore-placement": True},
              paint={"icon-opacity": 0.8}),
        # POIs: dots for the important ones at mid zooms, icons after.
        layer("poi-dot", "circle", "poi", 13, 15,
              filter=["match", ["get", "category"], ["health", "education", "government", "historic", "transport"], True, False],
              paint={"circle-radius": stops({13: 2, 15: 4}), "circle-color": poi_colour(p),
                     "circle-stroke-color": p["halo"], "circle-stroke-width": 1}),
        # At z15 only the places people look for first; restaurants, shops and bus stops from z16.
        layer("poi-icon", "symbol", "poi", 15,
              filter=["any", [">=", ["zoom"], 16],
                      ["match", ["get", "category"], ["health", "education", "government", "historic", "religion"], True, False],
                      ["match", ["get", "subclass"], ["museum", "attraction", "zoo", "theme_park", "viewpoint", "marketplace"], True, False]],
              layout={"icon-image": poi_icon_expression(),
                      "icon-size": ["interpolate", ["linear"], ["zoom"], 15, 0.8, 18, 1.1], "icon-padding": 2,
                      "symbol-sort-key": poi_rank(),
                      "text-field": ["step", ["zoom"], "", 16, ["get", "name"]],
                      "text-font": REGULAR, "text-size": 11, "text-offset": [0, 1.1], "text-anchor": "top",
                      "text-max-width": 8, "text-optional": True, "text-padding": 4},
              paint={"text-color": p["text_minor"], **label_halo}),
        # Labels: water, roads, places, wards, the city.
        layer("waterway-label", "symbol", "waterway", 12,
              filter=["match", ["get", "class"], ["river", "canal"], True, False],
              layout={"symbol-placement": "line", "text-field": ["get", "name"], "text-font": ITALIC,
                      "text-size": ["interpolate", ["linear"], ["zoom"], 12, 11, 16, 14], "text-letter-spacing": 0.1,
                      "symbol-spacing": 400, "text-max-angle": 30},
              paint={"text-color": p["water_label"], **label_halo}),
        layer("water-label", "symbol", "water_name", 13,
              layout={"text-field": ["get", "name"], "text-font": ITALIC, "text-size": 12, "text-max-width": 8,
                      "text-padding": 10},
              paint={"text-color": p["water_label"], **label_halo}),
        layer("road-label-arterial", "symbol", "road", 13,
              filter=["match", ["get", "class"], ARTERIALS, True, False],
              layout={"symbol-placement": "line", "text-field": ["coalesce", ["get", "name"], ["get", "ref"]],
                      "text-font": BOLD, "text-size": ["interpolate", ["linear"], ["zoom"], 13, 10.5, 18, 15],
                      "text-max-angle": 30, "symbol-spacing": 350, "text-padding": 6,
                      "text-rotation-alignment": "map", "text-keep-upright": True},
              paint={"text-color": p["text"], **label_halo}),
        layer("road-label-tertiary", "symbol", "road", 14, filter=is_class("tertiary"),
              layout={"symbol-placement": "line", "text-field": ["get", "name"], "text-font": REGULAR,
                      "text-size": ["interpolate", ["linear"], ["zoom"], 14, 10.5, 18, 14], "text-max-angle": 30,
                      "symbol-spacing": 300, "text-padding": 4, "text-keep-upright": True},
              paint={"text-color": p["text"], **label_halo}),
        layer("road-label-minor", "symbol", "road", 15,
              filter=["match", ["get", "class"], ["minor", "service", "path"], True, False],
              layout={"symbol-placement": "line", "text-field": ["get", "name"], "text-font": REGULAR,
                      "text-size": ["interpolate", ["linear"], ["zoom"], 15, 10, 18, 13], "text-max-angle": 30,
                      "symbol-spacing": 250, "text-padding": 3, "text-keep-upright": True},
              paint={"text-color": p["text_minor"], **label_halo}),
        # Route numbers (QL1A, QL13) along motorways and trunks while their names are not shown.
        layer("road-ref", "symbol", "road", 10, 13,
              filter=["all", ["match", ["get", "class"], ["motorway", "trunk"], True, False], ["has", "ref"]],
              layout={"symbol-placement": "line", "text-field": ["get", "ref"], "text-font": BOLD,
                      "text-size": 10, "symbol-spacing": 500, "text-padding": 10, "text-keep-upright": True},
              paint={"text-color": p["text"], **label_halo}),
        # Names of parks, schools and hospital grounds, inside them.
        layer("landuse-label", "symbol", "landuse", 15,
              filter=["all", ["has", "name"],
                      ["match", ["get", "class"], ["park", "school", "hospital", "cemetery"], True, False]],
              layout={"text-field": ["get", "name"], "text-font": ITALIC, "text-size": 11, "text-max-width": 8,
                      "text-padding": 6},
              paint={"text-color": p["text_minor"], **label_halo}),
        # House numbers on the buildings that have them, when zoomed in close (overzoomed tiles).
        layer("housenumber", "symbol", "building", 17, filter=["has", "housenumber"],
              layout={"text-field": ["get", "housenumber"], "text-font": REGULAR, "text-size": 10,
                      "text-padding": 2},
              paint={"text-color": p["text_minor"], **label_halo}),
        layer("place-label", "symbol", "place", 12,
              layout={"text-field": ["get", "name"], "text-font": ITALIC, "text-size": 12, "text-max-width": 8},
              paint={"text-color": p["text_minor"], **label_halo}),
        layer("ward-label", "symbol", "boundary_label", 11, filter=["==", ["get", "admin_level"], "ward"],
              layout={"text-field": ["get", "name"], "text-font": BOLD,
                      "text-size": stops({11: 10.5, 16: 15}), "text-transform": "uppercase",
                      "text-letter-spacing": 0.05, "text-max-width": 7, "text-padding": 8},
              paint={"text-color": p["ward_text"], **label_halo}),
        layer("city-label", "symbol", "boundary_label", maxzoom=10, filter=["==", ["get", "admin_level"], "city"],
              layout={"text-field": ["get", "name"], "text-font": BOLD, "text-size": 16},
              paint={"text-color": p["text"], "text-halo-color": p["halo"], "text-halo-width": 2}),
    ]
    return {
        "version": 8,
        "name": p["name"],
        "metadata": {"bando:description": p["description"]},
        "center": [106.7, 10.776],
        "zoom": 12,
        "sources": {"basemap": {"type": "vector", "url": "{public_url}/tiles/basemap.json"}},
        "glyphs": "{public_url}/fonts/{fontstack}/{range}.pbf",
        "sprite": "{public_url}/sprites/basemap",
        "layers": layers,
    }


if __name__ == "__main__":
    for name, palette in PALETTES.items():
        text = json.dumps(style(name, palette), ensure_ascii=False, indent=2)
        (HERE / f"{name}.json").write_text(text + "\n", encoding="utf-8")
        print(f"wrote {name}.json: {len(style(name, palette)['layers'])} layers")
