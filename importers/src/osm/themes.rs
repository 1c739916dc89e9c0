//! The base-map themes an OSM extract is mapped to, and which OSM objects each one draws with
//! which attributes. Every theme is one layer `<prefix>_<theme>` whose `class` column the styles
//! key on (`styles/basemap.toml`); classes follow OpenMapTiles' where they overlap, so styles
//! written for it read naturally here.
//!
//! Every table also has `osm_type` (`n`/`w`/`r`) and `osm_id`, and its `fid` is
//! [`feature_id`](super::elements::feature_id) of the object, so change files find their rows.

use super::elements::{Tags, tag};

/// The geometry a theme draws its objects with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Nodes, and areas at a point inside them (a hospital mapped as a building is a POI too).
    Point,
    /// Ways as lines (closed ones too, unless tagged `area=yes`).
    Line,
    /// Closed ways and multipolygon relations as polygons (unless tagged `area=no`).
    Area,
}

/// Type of a theme column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `text`.
    Text,
    /// `integer`.
    Integer,
    /// `double precision`.
    Real,
}

/// A theme column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: ColumnType,
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Text,
    }
}

const fn integer(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Integer,
    }
}

const fn real(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Real,
    }
}

/// The values of one row, in the order of the theme's [`Theme::columns`] (text as written in
/// `COPY`; numbers already checked to parse).
pub type Values = Vec<Option<String>>;

/// A base-map theme.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    /// Layer suffix.
    pub name: &'static str,
    /// Zoom range it is served at.
    pub zooms: (u8, u8),
    /// The geometry it draws.
    pub shape: Shape,
    /// Its attribute columns (after `osm_type`, `osm_id`).
    pub columns: &'static [Column],
    /// The row of an object with these tags, or `None` when the theme does not draw it.
    pub classify: fn(&Tags) -> Option<Values>,
}

/// The themes, in drawing order.
pub const THEMES: [Theme; 8] = [
    Theme {
        name: "landuse",
        zooms: (8, 22),
        shape: Shape::Area,
        columns: &[text("name"), text("class"), text("subclass")],
        classify: landuse,
    },
    Theme {
        name: "water",
        zooms: (4, 22),
        shape: Shape::Area,
        columns: &[text("name"), text("class")],
        classify: water,
    },
    Theme {
        name: "waterways",
        zooms: (8, 22),
        shape: Shape::Line,
        columns: &[
            text("name"),
            text("class"),
            text("brunnel"),
            integer("intermittent"),
        ],
        classify: waterways,
    },
    Theme {
        name: "roads",
        zooms: (5, 22),
        shape: Shape::Line,
        columns: &[
            text("name"),
            text("name_en"),
            text("ref"),
            text("highway"),
            text("class"),
            integer("oneway"),
            text("brunnel"),
            integer("layer"),
        ],
        classify: roads,
    },
    Theme {
        name: "railways",
        zooms: (8, 22),
        shape: Shape::Line,
        columns: &[
            text("name"),
            text("class"),
            text("brunnel"),
            text("service"),
        ],
        classify: railways,
    },
    Theme {
        name: "buildings",
        zooms: (13, 22),
        shape: Shape::Area,
        columns: &[
            text("name"),
            text("class"),
            integer("levels"),
            real("height"),
            text("housenumber"),
        ],
        classify: buildings,
    },
    Theme {
        name: "pois",
        zooms: (12, 22),
        shape: Shape::Point,
        columns: &[text("name"), text("category"), text("subclass")],
        classify: pois,
    },
    Theme {
        name: "places",
        zooms: (4, 22),
        shape: Shape::Point,
        columns: &[
            text("name"),
            text("class"),
            text("name_en"),
            integer("population"),
        ],
        classify: places,
    },
];

/// The theme called `name`.
pub fn theme(name: &str) -> Option<&'static Theme> {
    THEMES.iter().find(|t| t.name == name)
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}

/// The feature's name: `name`, else the Vietnamese `name:vi`.
fn name(tags: &Tags) -> Option<String> {
    owned(tag(tags, "name").or_else(|| tag(tags, "name:vi")))
}

/// An integer tag (`layer=-1`, `building:levels=12`); values that are not one (`3;4`) are left out.
fn int_tag(tags: &Tags, key: &str) -> Option<String> {
    tag(tags, key)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|v| v.to_string())
}

/// A length in metres (`height=25`, `25 m`); other units or text are left out.
fn metres_tag(tags: &Tags, key: &str) -> Option<String> {
    let value = tag(tags, key)?.trim();
    let number = value.strip_suffix('m').unwrap_or(value).trim();
    number
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v.to_string())
}

fn yes(tags: &Tags, key: &str) -> bool {
    matches!(tag(tags, key), Some("yes" | "true" | "1"))
}

/// `bridge`, `tunnel` or `ford`, as OpenMapTiles' `brunnel`.
fn brunnel(tags: &Tags) -> Option<String> {
    let set = |key| tag(tags, key).is_some_and(|v| v != "no");
    if set("bridge") {
        Some("bridge".to_owned())
    } else if set("tunnel") {
        Some("tunnel".to_owned())
    } else if set("ford") {
        Some("ford".to_owned())
    } else {
        None
    }
}

const PARKS: [&str; 7] = [
    "park",
    "garden",
    "playground",
    "pitch",
    "golf_course",
    "recreation_ground",
    "nature_reserve",
];
const NATURAL_COVER: [&str; 6] = ["wood", "scrub", "grassland", "wetland", "heath", "sand"];

fn landuse(tags: &Tags) -> Option<Values> {
    if tag(tags, "building").is_some() {
        return None;
    }
    let leisure = tag(tags, "leisure");
    let natural = tag(tags, "natural");
    let landuse = tag(tags, "landuse");
    let amenity = tag(tags, "amenity");
    let (class, subclass) = if let Some(l) = leisure.filter(|l| PARKS.contains(l)) {
        ("park", l)
    } else if let Some(n) = natural.filter(|n| NATURAL_COVER.contains(n)) {
        (n, n)
    } else if let Some(a) = amenity.filter(|a| {
        [
            "school",
            "university",
            "college",
            "kindergarten",
            "hospital",
            "grave_yard",
        ]
        .contains(a)
    }) {
        let class = match a {
            "hospital" => "hospital",
            "grave_yard" => "cemetery",
            _ => "school",
        };
        (class, a)
    } else if tag(tags, "aeroway") == Some("aerodrome") {
        ("aerodrome", "aerodrome")
    } else if let Some(l) = landuse.filter(|l| !["reservoir", "basin"].contains(l)) {
        (l, l)
    } else {
        return None;
    };
    Some(vec![
        name(tags),
        Some(class.to_owned()),
        Some(subclass.to_owned()),
    ])
}

fn water(tags: &Tags) -> Option<Values> {
    let class = if tag(tags, "natural") == Some("water") {
        tag(tags, "water").unwrap_or("water")
    } else if tag(tags, "waterway") == Some("riverbank") {
        "river"
    } else {
        tag(tags, "landuse").filter(|l| ["reservoir", "basin"].contains(l))?
    };
    Some(vec![name(tags), Some(class.to_owned())])
}

const WATERWAYS: [&str; 7] = [
    "river",
    "canal",
    "stream",
    "drain",
    "ditch",
    "brook",
    "tidal_channel",
];

fn waterways(tags: &Tags) -> Option<Values> {
    let class = tag(tags, "waterway").filter(|w| WATERWAYS.contains(w))?;
    Some(vec![
        name(tags),
        Some(class.to_owned()),
        brunnel(tags),
        Some(if yes(tags, "intermittent") { "1" } else { "0" }.to_owned()),
    ])
}

/// The road classes of the styles, from `highway` (and `aeroway` for runways).
fn road_class(highway: &str) -> Option<&'static str> {
    Some(match highway {
        "motorway" | "motorway_link" => "motorway",
        "trunk" | "trunk_link" => "trunk",
        "primary" | "primary_link" => "primary",
        "secondary" | "secondary_link" => "secondary",
        "tertiary" | "tertiary_link" => "tertiary",
        "residential" | "unclassified" | "living_street" | "road" => "minor",
        "service" => "service",
        "footway" | "path" | "pedestrian" | "cycleway" | "steps" | "track" | "bridleway" => "path",
        "construction" => "construction",
        // Not roads on a map: planned, demolished, or platforms mapped as ways.
        "proposed" | "abandoned" | "razed" | "platform" | "bus_stop" | "elevator" | "services"
        | "rest_area" => return None,
        _ => "other",
    })
}

fn roads(tags: &Tags) -> Option<Values> {
    let (highway, class) = match (tag(tags, "highway"), tag(tags, "aeroway")) {
        (Some(h), _) => (h, road_class(h)?),
        (None, Some(a @ ("runway" | "taxiway"))) => {
            (a, if a == "runway" { "runway" } else { "taxiway" })
        }
        _ => return None,
    };
    // Motorways and roundabouts are one-way unless tagged otherwise.
    let implied = highway == "motorway" || tag(tags, "junction") == Some("roundabout");
    let oneway = match tag(tags, "oneway") {
        Some("yes" | "true" | "1") => 1,
        Some("-1" | "reverse") => -1,
        Some("no" | "false" | "0") => 0,
        _ => i32::from(implied),
    };
    Some(vec![
        name(tags),
        owned(tag(tags, "name:en")),
        owned(tag(tags, "ref")),
        Some(highway.to_owned()),
        Some(class.to_owned()),
        Some(oneway.to_string()),
        brunnel(tags),
        int_tag(tags, "layer"),
    ])
}

fn railways(tags: &Tags) -> Option<Values> {
    let class = tag(tags, "railway").filter(|r| {
        [
            "rail",
            "light_rail",
            "subway",
            "tram",
            "monorail",
            "narrow_gauge",
            "funicular",
            "construction",
        ]
        .contains(r)
    })?;
    Some(vec![
        name(tags),
        Some(class.to_owned()),
        brunnel(tags),
        owned(tag(tags, "service")),
    ])
}

fn buildings(tags: &Tags) -> Option<Values> {
    let class = tag(tags, "building").filter(|b| *b != "no")?;
    Some(vec![
        name(tags),
        Some(class.to_owned()),
        int_tag(tags, "building:levels"),
        metres_tag(tags, "height"),
        owned(tag(tags, "addr:housenumber")),
    ])
}

/// POI category (the icon) and subclass (the tag value), as the styles draw them.
fn poi_category(tags: &Tags) -> Option<(&'static str, String)> {
    let amenity = tag(tags, "amenity");
    let subclass = amenity
        .or_else(|| tag(tags, "shop"))
        .or_else(|| tag(tags, "tourism"))
        .or_else(|| tag(tags, "healthcare"))
        .or_else(|| tag(tags, "leisure"))
        .or_else(|| tag(tags, "office"))
        .or_else(|| tag(tags, "historic"))
        .or_else(|| tag(tags, "public_transport"))
        .or_else(|| tag(tags, "highway"))
        .or_else(|| tag(tags, "railway"))?
        .to_owned();
    let category = match amenity {
        Some("hospital" | "clinic" | "doctors" | "dentist" | "pharmacy") => "health",
        _ if tag(tags, "healthcare").is_some() => "health",
        Some("school" | "university" | "college" | "kindergarten" | "library") => "education",
        Some("bus_station" | "ferry_terminal" | "parking" | "fuel" | "taxi") => "transport",
        _ if tag(tags, "highway") == Some("bus_stop")
            || tag(tags, "public_transport").is_some()
            || matches!(tag(tags, "railway"), Some("station" | "halt")) =>
        {
            "transport"
        }
        Some("townhall" | "police" | "fire_station" | "post_office" | "courthouse") => "government",
        Some("place_of_worship") => "religion",
        Some("restaurant" | "cafe" | "fast_food" | "bar" | "pub" | "food_court") => "food",
        Some("marketplace") => "shopping",
        _ if tag(tags, "shop").is_some() => "shopping",
        _ if tag(tags, "tourism").is_some() || tag(tags, "historic").is_some() => "tourism",
        Some(_) => "amenity",
        None => return None,
    };
    Some((category, subclass))
}

fn pois(tags: &Tags) -> Option<Values> {
    let (category, subclass) = poi_category(tags)?;
    Some(vec![name(tags), Some(category.to_owned()), Some(subclass)])
}

fn places(tags: &Tags) -> Option<Values> {
    let class = tag(tags, "place").filter(|p| {
        [
            "city",
            "town",
            "suburb",
            "quarter",
            "neighbourhood",
            "village",
            "hamlet",
            "island",
            "islet",
        ]
        .contains(p)
    })?;
    let name = name(tags)?;
    Some(vec![
        Some(name),
        Some(class.to_owned()),
        owned(tag(tags, "name:en")),
        int_tag(tags, "population"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn classify(theme: &str, pairs: &[(&str, &str)]) -> Option<Values> {
        (super::theme(theme).map(|t| t.classify)?)(&tags(pairs))
    }

    #[test]
    fn every_theme_fills_each_of_its_columns() {
        for theme in THEMES {
            let sample: &[(&str, &str)] = match theme.name {
                "landuse" => &[("landuse", "residential")],
                "water" => &[("natural", "water")],
                "waterways" => &[("waterway", "canal")],
                "roads" => &[("highway", "primary")],
                "railways" => &[("railway", "rail")],
                "buildings" => &[("building", "yes")],
                "pois" => &[("amenity", "hospital")],
                _ => &[("place", "suburb"), ("name", "Sài Gòn")],
            };
            let row = classify(theme.name, sample).unwrap_or_default();
            assert_eq!(row.len(), theme.columns.len(), "{}", theme.name);
        }
    }

    #[test]
    fn roads_carry_class_direction_and_bridges() {
        let row = classify(
            "roads",
            &[
                ("highway", "trunk_link"),
                ("name", "Cầu Sài Gòn"),
                ("bridge", "yes"),
                ("layer", "1"),
            ],
        )
        .unwrap_or_default();
        assert_eq!(row[4].as_deref(), Some("trunk"));
        assert_eq!(row[5].as_deref(), Some("0"));
        assert_eq!(row[6].as_deref(), Some("bridge"));
        assert_eq!(row[7].as_deref(), Some("1"));
        let motorway = classify("roads", &[("highway", "motorway")]).unwrap_or_default();
        assert_eq!(motorway[5].as_deref(), Some("1"), "motorways are one-way");
        let reverse =
            classify("roads", &[("highway", "residential"), ("oneway", "-1")]).unwrap_or_default();
        assert_eq!(reverse[5].as_deref(), Some("-1"));
        assert!(classify("roads", &[("highway", "proposed")]).is_none());
    }

    #[test]
    fn numbers_that_do_not_parse_are_left_out() {
        let row = classify(
            "buildings",
            &[
                ("building", "apartments"),
                ("building:levels", "3;4"),
                ("height", "25 m"),
            ],
        )
        .unwrap_or_default();
        assert_eq!(row[2], None);
        assert_eq!(row[3].as_deref(), Some("25"));
    }

    #[test]
    fn pois_are_grouped_into_the_styles_categories() {
        let category =
            |pairs: &[(&str, &str)]| classify("pois", pairs).and_then(|row| row[1].clone());
        assert_eq!(
            category(&[("amenity", "clinic")]).as_deref(),
            Some("health")
        );
        assert_eq!(category(&[("shop", "bakery")]).as_deref(), Some("shopping"));
        assert_eq!(
            category(&[("highway", "bus_stop")]).as_deref(),
            Some("transport")
        );
        assert_eq!(category(&[("highway", "residential")]), None);
        assert_eq!(category(&[("building", "yes")]), None);
    }
}
