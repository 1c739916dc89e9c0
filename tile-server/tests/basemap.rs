//! The base map and ad-hoc composites: one request, unique MVT layers fed by several catalog
//! layers, per-input zooms and filters, TileJSON; on a fresh database with real HCMC data and the
//! project's OSM sample.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use bando_core::testing::{TestDatabase, fresh_database, mvt, shared_data};
use bando_core::tile::TileCoord;
use bando_importers::ImportRequest;
use bando_importers::convert::Converter;
use common::{get_json, get_raw};
use tile_server::{AppState, Config};

/// Bến Thành market, WGS84.
const MARKET: (f64, f64) = (106.6981, 10.7725);

async fn import(db: &TestDatabase, request: ImportRequest) {
    bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

/// Bến Thành ward (2025), the city outline, bus stops and the OSM sample's themes.
async fn city_centre() -> (TestDatabase, AppState) {
    let db = fresh_database().await;
    let wards = shared_data().join("hcmc-wards-2025/79_ho_chi_minh");
    for (layer, path) in [
        ("wards_2025", wards.join("wards/26743_ben_thanh.geojson")),
        ("city_2025", wards.join("79_ho_chi_minh.geojson")),
    ] {
        import(
            &db,
            ImportRequest {
                path,
                layer: layer.to_owned(),
                ..ImportRequest::default()
            },
        )
        .await;
    }
    import(
        &db,
        ImportRequest {
            path: shared_data().join("hcmc-bus/stops.json"),
            layer: "bus_stops".to_owned(),
            convert: Some(Converter::HcmcBusStops),
            ..ImportRequest::default()
        },
    )
    .await;
    let osm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/fixtures/ben-thanh.osm");
    bando_importers::osm::import_osm(
        &db.pool,
        &ImportRequest {
            path: osm,
            layer: "osm".to_owned(),
            ..ImportRequest::default()
        },
        Arc::new(|_, _| {}),
    )
    .await
    .unwrap();
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();
    (db, state)
}

async fn tile(state: &AppState, tileset: &str, t: TileCoord) -> Vec<mvt::DecodedLayer> {
    let response = get_raw(state, &format!("/tiles/{tileset}/{t}.mvt"), &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{tileset} {t}");
    mvt::decode(&response.body)
}

fn names(layer: &mvt::DecodedLayer) -> HashSet<String> {
    layer
        .features
        .iter()
        .filter_map(|f| f.properties.get("name")?.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn basemap_tile_combines_configured_layers_in_one_request() {
    let (_db, state) = city_centre().await;
    let t = TileCoord::containing(MARKET.0, MARKET.1, 16).unwrap();
    let layers = tile(&state, "basemap", t).await;

    let layer_names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    let unique: HashSet<&str> = layer_names.iter().copied().collect();
    assert_eq!(unique.len(), layer_names.len(), "{layer_names:?}");
    for expected in ["boundary", "boundary_label", "road", "poi"] {
        assert!(
            unique.contains(expected),
            "{expected} missing: {layer_names:?}"
        );
    }
    let get = |name: &str| layers.iter().find(|l| l.name == name).unwrap();

    // The ward polygon under the market, with the properties the definition maps.
    let boundary = get("boundary");
    let (fx, fy) = bando_core::tile::lonlat_to_tile_fraction(MARKET.0, MARKET.1, 16);
    let (px, py) = (
        (fx - f64::from(t.x)) * 4096.0,
        (fy - f64::from(t.y)) * 4096.0,
    );
    let under: Vec<_> = boundary.features_at(px, py);
    assert!(under.iter().any(|f| f.properties["admin_level"] == "ward"
        && f.properties["name"] == "Bến Thành"
        && f.properties["code"] == "26743"));
    // Bus stops and OSM POIs share one layer, told apart by category and subclass; ids stay
    // unique.
    let poi = get("poi");
    let kinds: HashSet<(&str, &str)> = poi
        .features
        .iter()
        .filter_map(|f| {
            Some((
                f.properties.get("category")?.as_str()?,
                f.properties.get("subclass")?.as_str()?,
            ))
        })
        .collect();
    assert!(kinds.contains(&("transport", "bus_stop")), "{kinds:?}");
    for layer in &layers {
        let ids: Vec<u64> = layer.features.iter().map(|f| f.id.unwrap()).collect();
        let distinct: HashSet<u64> = ids.iter().copied().collect();
        assert_eq!(ids.len(), distinct.len(), "duplicate ids in {}", layer.name);
    }
    // Roads carry the class the definition filtered them by.
    assert!(
        get("road")
            .features
            .iter()
            .all(|f| f.properties.get("class").is_some_and(|c| c.is_string()))
    );
}

#[tokio::test]
async fn inputs_appear_only_at_their_zooms() {
    let (_db, state) = city_centre().await;
    // Ward outlines start at z9 and bus stops at z15 in the built-in definition.
    let z8 = tile(
        &state,
        "basemap",
        TileCoord::containing(MARKET.0, MARKET.1, 8).unwrap(),
    )
    .await;
    let boundary = z8.iter().find(|l| l.name == "boundary").unwrap();
    assert!(
        boundary
            .features
            .iter()
            .all(|f| f.properties["admin_level"] == "city")
    );
    assert!(z8.iter().all(|l| l.name != "poi"));
    let z14 = tile(
        &state,
        "basemap",
        TileCoord::containing(MARKET.0, MARKET.1, 14).unwrap(),
    )
    .await;
    assert!(
        z14.iter()
            .filter(|l| l.name == "poi")
            .flat_map(|l| &l.features)
            .all(|f| f.properties["category"] != "bus_stop")
    );
    let labels = z14.iter().find(|l| l.name == "boundary_label").unwrap();
    assert!(names(labels).contains("Bến Thành"));
    assert!(
        labels
            .features
            .iter()
            .all(|f| matches!(f.geometry, geo::Geometry::Point(_)))
    );
}

#[tokio::test]
async fn ad_hoc_composites_name_layers_by_slug_and_reject_bad_lists() {
    let (_db, state) = city_centre().await;
    let t = TileCoord::containing(MARKET.0, MARKET.1, 15).unwrap();
    let layers = tile(&state, "wards_2025,bus_stops", t).await;
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["wards_2025", "bus_stops"]);
    assert!(!layers[1].features.is_empty());

    let (status, tilejson) = get_json(&state, "/tiles/wards_2025,bus_stops.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tilejson["vector_layers"].as_array().unwrap().len(), 2);

    for (uri, status, param) in [
        (
            "/tiles/wards_2025,nope/15/0/0.mvt",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/tiles/wards_2025,wards_2025/15/0/0.mvt",
            StatusCode::BAD_REQUEST,
            Some("layer"),
        ),
    ] {
        let (got, problem) = get_json(&state, uri).await;
        assert_eq!(got, status, "{uri}: {problem}");
        if let Some(param) = param {
            assert_eq!(problem["invalid-params"][0]["name"], param);
        }
    }
}

#[tokio::test]
async fn basemap_tilejson_lists_every_mvt_layer_with_fields_and_a_versioned_url() {
    let (_db, state) = city_centre().await;
    let (status, tilejson) = get_json(&state, "/tiles/basemap.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tilejson["tilejson"], "3.0.0");
    let layers = tilejson["vector_layers"].as_array().unwrap();
    let road = layers.iter().find(|l| l["id"] == "road").unwrap();
    assert_eq!(road["fields"]["class"], "String");
    let poi = layers.iter().find(|l| l["id"] == "poi").unwrap();
    assert_eq!(poi["fields"]["category"], "String");
    let url = tilejson["tiles"][0].as_str().unwrap();
    assert!(url.contains("/tiles/basemap/{z}/{x}/{y}.mvt?v="), "{url}");
    let bounds: Vec<f64> = serde_json::from_value(tilejson["bounds"].clone()).unwrap();
    assert!(bounds[0] < MARKET.0 && MARKET.0 < bounds[2]);
}

#[tokio::test]
async fn no_base_map_tile_of_the_real_data_exceeds_500_kb() {
    let (db, _) = city_centre().await;
    // The densest real layers: all 168 wards, District 7's buildings and roads, the OSM
    // amenities and shops, the bus network, the OSM extract of the urban core.
    let data = shared_data();
    for (layer, path, convert) in [
        ("wards_2025", "hcmc-wards-2025/79_ho_chi_minh/wards", None),
        (
            "d7_buildings",
            "saigon-peninsula-cityscope/buildings/Building_full.shp",
            None,
        ),
        (
            "d7_roads",
            "saigon-peninsula-cityscope/roads/RoadNetwork_WGS84.shp",
            None,
        ),
        (
            "ohsome_amenities",
            "hcmc-osm-ohsome/ohsome_buildings.geojson",
            None,
        ),
        (
            "ohsome_shops",
            "hcmc-osm-ohsome/ohsome_shopsl_archive.geojson",
            None,
        ),
        (
            "bus_routes",
            "hcmc-bus/paths.json",
            Some(Converter::HcmcBusRoutes),
        ),
    ] {
        import(
            &db,
            ImportRequest {
                path: data.join(path),
                layer: layer.to_owned(),
                convert,
                force: true,
                ..ImportRequest::default()
            },
        )
        .await;
    }
    // The real street network of the urban core, in place of the sample's few streets.
    bando_importers::osm::import_osm(
        &db.pool,
        &ImportRequest {
            path: data.join("hcmc-osm-2018/hcm_2018.osm.pbf"),
            layer: "osm".to_owned(),
            ..ImportRequest::default()
        },
        Arc::new(|_, _| {}),
    )
    .await
    .unwrap();
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();
    // The whole city at z0–z7, the urban core (the OSM extract's extent) at z8–z14, then the
    // densest districts (1, 3, 4, 5, 10, Bình Thạnh, Phú Nhuận) and District 7 down to z16.
    let sweeps = [
        ((106.35, 10.35, 107.05, 11.20), 0..=7),
        ((106.55, 10.62, 106.90, 10.95), 8..=14),
        ((106.66, 10.70, 106.75, 10.80), 15..=16),
    ];
    let mut largest = (0, String::new());
    let mut count = 0;
    for ((west, south, east, north), zooms) in sweeps {
        for z in zooms {
            let top_left = TileCoord::containing(west, north, z).unwrap();
            let bottom_right = TileCoord::containing(east, south, z).unwrap();
            for x in top_left.x..=bottom_right.x {
                for y in top_left.y..=bottom_right.y {
                    let uri = format!("/tiles/basemap/{z}/{x}/{y}.mvt");
                    let response = get_raw(&state, &uri, &[]).await;
                    assert!(response.status.is_success(), "{uri}: {}", response.status);
                    count += 1;
                    if response.body.len() > largest.0 {
                        largest = (response.body.len(), uri);
                    }
                }
            }
        }
    }
    assert!(count > 300, "{count} tiles only");
    assert!(largest.0 > 50_000, "suspiciously light: {largest:?}");
    assert!(largest.0 <= 500 * 1024, "{largest:?}");
}

/// Where sources overlap, the base map draws each real thing once, by the rules of
/// `styles/README.md`: places to eat come from the newer OSM snapshot (ohsome) over its extent,
/// bus stops from the operator, places of worship from the city's register, and in the District 7
/// model's extent only the buildings it marks as existing.
#[tokio::test]
async fn each_real_thing_is_drawn_once() {
    let db = fresh_database().await;
    let data = shared_data();
    for (layer, path, convert) in [
        (
            "ohsome_amenities",
            "hcmc-osm-ohsome/ohsome_buildings.geojson",
            None,
        ),
        (
            "religious_sites",
            "hcmgis-vn2000/Coso_Tongiao_07252017.shp",
            None,
        ),
        (
            "bus_stops",
            "hcmc-bus/stops.json",
            Some(Converter::HcmcBusStops),
        ),
        (
            "d7_buildings",
            "saigon-peninsula-cityscope/buildings/Building_full.shp",
            None,
        ),
    ] {
        import(
            &db,
            ImportRequest {
                path: data.join(path),
                layer: layer.to_owned(),
                convert,
                ..ImportRequest::default()
            },
        )
        .await;
    }
    bando_importers::osm::import_osm(
        &db.pool,
        &ImportRequest {
            path: data.join("hcmc-osm-2018/hcm_2018.osm.pbf"),
            layer: "osm".to_owned(),
            ..ImportRequest::default()
        },
        Arc::new(|_, _| {}),
    )
    .await
    .unwrap();
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();
    let names_in = |sql: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(sql)
                .fetch_all(&pool)
                .await
                .unwrap()
                .into_iter()
                .collect::<HashSet<String>>()
        }
    };
    let ohsome_food = names_in(
        "SELECT name FROM layers.ohsome_amenities WHERE name IS NOT NULL \
         AND amenity IN ('restaurant', 'cafe', 'fast_food', 'bar', 'pub', 'food_court')",
    )
    .await;
    let official_stops = names_in("SELECT name FROM layers.bus_stops WHERE name IS NOT NULL").await;
    let register = names_in("SELECT ten FROM layers.religious_sites WHERE ten IS NOT NULL").await;

    // Around Bến Thành market (inside ohsome's extent), z16.
    let mut food = 0;
    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        let t = TileCoord::containing(MARKET.0, MARKET.1, 16).unwrap();
        let t = TileCoord::new(16, t.x + dx, t.y + dy).unwrap();
        let layers = tile(&state, "basemap", t).await;
        let Some(poi) = layers.iter().find(|l| l.name == "poi") else {
            continue;
        };
        for f in &poi.features {
            let get = |k: &str| f.properties.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let name = get("name");
            match (get("category"), get("subclass")) {
                ("food", _) => {
                    food += 1;
                    assert!(
                        name.is_empty() || ohsome_food.contains(name),
                        "{name}: a place to eat not from the newer snapshot"
                    );
                }
                (_, "bus_stop") => assert!(
                    name.is_empty() || official_stops.contains(name),
                    "{name}: not the operator's stop"
                ),
                ("religion", _) => assert!(
                    name.is_empty() || register.contains(name),
                    "{name}: not in the city's register"
                ),
                _ => {}
            }
        }
    }
    assert!(food > 5, "{food} places to eat drawn around the market");

    // The District 7 model's extent: its existing buildings, none of its planned ones.
    let (existing, planned): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE landusetyp LIKE 'Existing%'), \
                count(*) FILTER (WHERE landusetyp NOT LIKE 'Existing%') \
         FROM layers.d7_buildings WHERE geom_3857 && ST_TileEnvelope(15, $1, $2)",
    )
    .bind(i32::try_from(TileCoord::containing(106.7419, 10.7342, 15).unwrap().x).unwrap())
    .bind(i32::try_from(TileCoord::containing(106.7419, 10.7342, 15).unwrap().y).unwrap())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        existing > 0 && planned > 0,
        "{existing} existing, {planned} planned"
    );
    let layers = tile(
        &state,
        "basemap",
        TileCoord::containing(106.7419, 10.7342, 15).unwrap(),
    )
    .await;
    let drawn = layers
        .iter()
        .find(|l| l.name == "building")
        .map_or(0, |l| l.features.len());
    let drawn = i64::try_from(drawn).unwrap();
    assert!(
        drawn >= existing * 9 / 10 && drawn < existing + planned / 2,
        "{drawn} buildings drawn; the model has {existing} existing and {planned} planned there"
    );
}
