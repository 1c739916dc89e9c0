//! `bando demo`: loads the demo layers. With the real HCMC data set (`../shared/data` or
//! `--data`), it imports its ward, district, heritage, bridge, bus, OSM (the urban core's
//! extract, as the base map's themes) and District 7 layers; without it, it writes a small
//! generated sample into `data/sample/` and imports that. Test fixtures never go in.

use std::path::{Path, PathBuf};

use anyhow::Context;
use bando_importers::ImportRequest;
use bando_importers::convert::Converter;
use serde_json::json;
use sqlx::PgPool;

/// One demo layer: where its file is inside the data set, and its catalog entry.
struct DemoLayer {
    slug: &'static str,
    path: &'static str,
    title: &'static str,
    attribution: &'static str,
    convert: Option<Converter>,
    /// Admin layout and its validity: (layout, from, to).
    layout: Option<(&'static str, &'static str, Option<&'static str>)>,
    /// Boundary level for ward lookups.
    admin_level: Option<&'static str>,
}

const fn layer(
    slug: &'static str,
    path: &'static str,
    title: &'static str,
    attribution: &'static str,
) -> DemoLayer {
    DemoLayer {
        slug,
        path,
        title,
        attribution,
        convert: None,
        layout: None,
        admin_level: None,
    }
}

const OSM: &str = "© OpenStreetMap contributors (ODbL)";

/// The OpenStreetMap extract of the urban core, inside the data set.
const OSM_EXTRACT: &str = "hcmc-osm-2018/hcm_2018.osm.pbf";

const HCMC_LAYERS: &[DemoLayer] = &[
    DemoLayer {
        admin_level: Some("ward"),
        layout: Some(("2025", "2025-07-01", None)),
        ..layer(
            "wards_2025",
            "hcmc-wards-2025/79_ho_chi_minh/wards",
            "Phường, xã (từ 1/7/2025)",
            "sapnhap.bando.com.vn",
        )
    },
    DemoLayer {
        admin_level: Some("city"),
        layout: Some(("2025", "2025-07-01", None)),
        ..layer(
            "city_2025",
            "hcmc-wards-2025/79_ho_chi_minh/79_ho_chi_minh.geojson",
            "TP. Hồ Chí Minh (từ 1/7/2025)",
            "sapnhap.bando.com.vn",
        )
    },
    DemoLayer {
        admin_level: Some("ward"),
        layout: Some(("2019", "2019-01-01", Some("2025-07-01"))),
        ..layer(
            "wards_2019",
            "hcmc-wards-2019-cityscope/Population_Ward_Level.shp",
            "Phường, xã (2019)",
            "CityScope HCMC",
        )
    },
    DemoLayer {
        admin_level: Some("district"),
        layout: Some(("2019", "2019-01-01", Some("2025-07-01"))),
        ..layer(
            "districts_2019",
            "hcmc-wards-2019-cityscope/Population_District_Level.shp",
            "Quận, huyện (2019)",
            "CityScope HCMC",
        )
    },
    DemoLayer {
        admin_level: Some("district"),
        convert: Some(Converter::Dvhcvn),
        layout: Some(("2021", "2021-01-01", Some("2025-07-01"))),
        ..layer(
            "districts_2021",
            "vn-admin-dvhcvn/79.json",
            "Quận, huyện (2021–2025)",
            "dvhcvn / gis.chinhphu.vn",
        )
    },
    layer(
        "historic_sites",
        "hcmgis-vn2000/DiTich.shp",
        "Di tích lịch sử",
        "HCMGIS",
    ),
    layer(
        "religious_sites",
        "hcmgis-vn2000/Coso_Tongiao_07252017.shp",
        "Cơ sở tôn giáo",
        "HCMGIS",
    ),
    layer("bridges", "hcmgis-vn2000/Cau.shp", "Cầu", "HCMGIS"),
    DemoLayer {
        convert: Some(Converter::HcmcBusStops),
        ..layer(
            "bus_stops",
            "hcmc-bus/stops.json",
            "Trạm xe buýt",
            "buyttphcm.com.vn",
        )
    },
    DemoLayer {
        convert: Some(Converter::HcmcBusRoutes),
        ..layer(
            "bus_routes",
            "hcmc-bus/paths.json",
            "Tuyến xe buýt",
            "buyttphcm.com.vn",
        )
    },
    layer(
        "ohsome_amenities",
        "hcmc-osm-ohsome/ohsome_buildings.geojson",
        "OSM: quán, chợ, công trình",
        OSM,
    ),
    layer(
        "ohsome_shops",
        "hcmc-osm-ohsome/ohsome_shopsl_archive.geojson",
        "OSM: cửa hàng, tiện ích",
        OSM,
    ),
    layer(
        "d7_roads",
        "saigon-peninsula-cityscope/roads/RoadNetwork_WGS84.shp",
        "Quận 7: đường",
        "CityScope HCMC",
    ),
    layer(
        "d7_buildings",
        "saigon-peninsula-cityscope/buildings/Building_full.shp",
        "Quận 7: công trình",
        "CityScope HCMC",
    ),
];

/// Imports the demo layers; returns a summary.
pub async fn load(pool: &PgPool, data: Option<PathBuf>) -> anyhow::Result<String> {
    let data = data.unwrap_or_else(|| PathBuf::from("../shared/data"));
    let mut lines = Vec::new();
    if data.join("hcmc-wards-2025").is_dir() {
        for layer in HCMC_LAYERS {
            let path = data.join(layer.path);
            if !path.exists() {
                lines.push(format!(
                    "{}: {} not found, skipped",
                    layer.slug,
                    path.display()
                ));
                continue;
            }
            let request = ImportRequest {
                path,
                layer: layer.slug.to_owned(),
                title: Some(layer.title.to_owned()),
                attribution: Some(layer.attribution.to_owned()),
                convert: layer.convert,
                layout: layer.layout.map(|(l, _, _)| l.to_owned()),
                admin_level: layer.admin_level.map(str::to_owned),
                valid_from: layer.layout.and_then(|(_, from, _)| from.parse().ok()),
                valid_to: layer.layout.and_then(|(_, _, to)| to?.parse().ok()),
                ..ImportRequest::default()
            };
            lines.push(run(pool, &request).await?);
        }
        // The real OpenStreetMap extract of the urban core: the base map's OSM themes.
        let osm = data.join(OSM_EXTRACT);
        if osm.exists() {
            let request = ImportRequest {
                path: osm,
                layer: "osm".to_owned(),
                ..ImportRequest::default()
            };
            let themes =
                bando_importers::osm::import_osm(pool, &request, std::sync::Arc::new(|_, _| {}))
                    .await
                    .context("importing the OSM extract")?;
            lines.extend(themes.iter().map(|t| match (&t.outcome, &t.note) {
                (Some(o), _) => bando_importers::cli::summary(o),
                (None, note) => format!("{}: {}", t.theme, note.as_deref().unwrap_or("")),
            }));
        } else {
            lines.push(format!("osm: {} not found, skipped", osm.display()));
        }
    } else {
        let dir = PathBuf::from("data/sample");
        write_sample(&dir).context("writing the generated sample")?;
        lines.push(format!(
            "{} not found: using the generated sample in {}",
            data.display(),
            dir.display()
        ));
        lines.push(
            import_one(
                pool,
                "sample_wards",
                dir.join("wards.geojson"),
                "Sample wards (generated)",
                "bando",
            )
            .await?,
        );
        lines.push(
            import_one(
                pool,
                "sample_places",
                dir.join("places.geojson"),
                "Sample places (generated)",
                "bando",
            )
            .await?,
        );
    }
    Ok(lines.join("\n"))
}

async fn import_one(
    pool: &PgPool,
    slug: &str,
    path: PathBuf,
    title: &str,
    attribution: &str,
) -> anyhow::Result<String> {
    let request = ImportRequest {
        path,
        layer: slug.to_owned(),
        title: Some(title.to_owned()),
        attribution: Some(attribution.to_owned()),
        ..ImportRequest::default()
    };
    run(pool, &request).await
}

async fn run(pool: &PgPool, request: &ImportRequest) -> anyhow::Result<String> {
    let outcome = bando_importers::import(pool, request, std::sync::Arc::new(|_, _| {}))
        .await
        .with_context(|| format!("importing {}", request.layer))?;
    Ok(bando_importers::cli::summary(&outcome))
}

/// Writes a small synthetic data set around central HCMC: a 4×3 grid of "wards" and a point in
/// each, with Vietnamese names, so the service has something to show without the real data.
pub fn write_sample(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    const NAMES: [&str; 12] = [
        "Bến Thành",
        "Sài Gòn",
        "Tân Định",
        "Cầu Ông Lãnh",
        "Bàn Cờ",
        "Xuân Hòa",
        "Nhiêu Lộc",
        "Chợ Quán",
        "An Đông",
        "Chợ Lớn",
        "Bình Tây",
        "Thủ Thiêm",
    ];
    let (west, north, step) = (106.66, 10.80, 0.02);
    let mut wards = Vec::new();
    let mut places = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let (col, row) = ((i % 4) as f64, (i / 4) as f64);
        let (w, n) = (west + col * step, north - row * step);
        let (e, s) = (w + step, n - step);
        let code = 26_700 + i as i64;
        wards.push(json!({
            "type": "Feature", "id": code,
            "properties": { "code": code.to_string(), "name": name, "fullName": format!("Phường {name}") },
            "geometry": { "type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]] }
        }));
        places.push(json!({
            "type": "Feature", "id": i + 1,
            "properties": { "name": format!("Trạm {name}"), "category": if i % 2 == 0 { "bus_stop" } else { "school" } },
            "geometry": { "type": "Point", "coordinates": [w + step / 2.0, s + step / 2.0] }
        }));
    }
    let collection =
        |features| json!({ "type": "FeatureCollection", "features": features }).to_string();
    std::fs::write(dir.join("wards.geojson"), collection(wards))?;
    std::fs::write(dir.join("places.geojson"), collection(places))?;
    Ok(())
}
