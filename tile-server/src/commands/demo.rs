//! `bando demo`: loads the demo layers. With the real HCMC data set (`../shared/data` or
//! `--data`), it imports its ward, district, heritage, bridge, OSM and District 7 layers; without
//! it, it writes a small generated sample into `data/sample/` and imports that.

use std::path::{Path, PathBuf};

use anyhow::Context;
use bando_importers::ImportRequest;
use serde_json::json;
use sqlx::PgPool;

/// One demo layer: where its file is inside the data set, and its catalog entry.
struct DemoLayer {
    slug: &'static str,
    path: &'static str,
    title: &'static str,
    attribution: &'static str,
}

const OSM: &str = "© OpenStreetMap contributors (ODbL)";

const HCMC_LAYERS: &[DemoLayer] = &[
    DemoLayer {
        slug: "wards_2025",
        path: "hcmc-wards-2025/79_ho_chi_minh/wards",
        title: "Phường, xã (từ 1/7/2025)",
        attribution: "sapnhap.bando.com.vn",
    },
    DemoLayer {
        slug: "city_2025",
        path: "hcmc-wards-2025/79_ho_chi_minh/79_ho_chi_minh.geojson",
        title: "TP. Hồ Chí Minh (từ 1/7/2025)",
        attribution: "sapnhap.bando.com.vn",
    },
    DemoLayer {
        slug: "wards_2019",
        path: "hcmc-wards-2019-cityscope/Population_Ward_Level.shp",
        title: "Phường, xã (2019)",
        attribution: "CityScope HCMC",
    },
    DemoLayer {
        slug: "districts_2019",
        path: "hcmc-wards-2019-cityscope/Population_District_Level.shp",
        title: "Quận, huyện (2019)",
        attribution: "CityScope HCMC",
    },
    DemoLayer {
        slug: "historic_sites",
        path: "hcmgis-vn2000/DiTich.shp",
        title: "Di tích lịch sử",
        attribution: "HCMGIS",
    },
    DemoLayer {
        slug: "religious_sites",
        path: "hcmgis-vn2000/Coso_Tongiao_07252017.shp",
        title: "Cơ sở tôn giáo",
        attribution: "HCMGIS",
    },
    DemoLayer {
        slug: "bridges",
        path: "hcmgis-vn2000/Cau.shp",
        title: "Cầu",
        attribution: "HCMGIS",
    },
    DemoLayer {
        slug: "osm_places",
        path: "hcmc-osm-ohsome/ohsome_buildings.geojson",
        title: "OSM: quán, chợ, công trình",
        attribution: OSM,
    },
    DemoLayer {
        slug: "osm_shops",
        path: "hcmc-osm-ohsome/ohsome_shopsl_archive.geojson",
        title: "OSM: cửa hàng, tiện ích",
        attribution: OSM,
    },
    DemoLayer {
        slug: "d7_roads",
        path: "saigon-peninsula-cityscope/roads/RoadNetwork_WGS84.shp",
        title: "Quận 7: đường",
        attribution: "CityScope HCMC",
    },
    DemoLayer {
        slug: "d7_buildings",
        path: "saigon-peninsula-cityscope/buildings/Building_full.shp",
        title: "Quận 7: công trình",
        attribution: "CityScope HCMC",
    },
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
            lines.push(import_one(pool, layer.slug, path, layer.title, layer.attribution).await?);
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
    let outcome = bando_importers::import(pool, &request, std::sync::Arc::new(|_, _| {}))
        .await
        .with_context(|| format!("importing {slug}"))?;
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
