//! Agencies publish through the HTTP API of a real server: real HCMC files uploaded as GeoJSON, a
//! zipped VN-2000 Shapefile, a GeoPackage and a CSV become import jobs and layers in the caller's
//! namespace, private until made otherwise. Refused: a file over the limit, a corrupt zip, another
//! agency's namespace, a read-only key, a name outside the namespace — each with a problem naming
//! what is wrong, and nothing published.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bando_core::api_key::Scope;
use bando_core::testing::{agency_key, fresh_database, shared_data};
use bando_e2e::RunningServer;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tile_server::Config;

/// Upload limit of the server under test.
const LIMIT_BYTES: u64 = 3 * 1024 * 1024;

struct Agencies {
    server: RunningServer,
    publisher: String,
    reader: String,
    health: String,
}

async fn start() -> Agencies {
    let db = fresh_database().await;
    let publisher = agency_key(
        &db.pool,
        "construction",
        "Sở Xây dựng",
        &[Scope::Read, Scope::Publish],
    )
    .await;
    let reader = agency_key(&db.pool, "construction", "Sở Xây dựng", &[Scope::Read]).await;
    let health = agency_key(
        &db.pool,
        "health",
        "Sở Y tế",
        &[Scope::Read, Scope::Publish],
    )
    .await;
    let config = Config {
        upload_max_bytes: LIMIT_BYTES,
        ..Config::default()
    };
    Agencies {
        server: RunningServer::start_with(db, config).await,
        publisher,
        reader,
        health,
    }
}

impl Agencies {
    async fn upload(&self, key: &str, path: &str, file: &Path, query: &str) -> (StatusCode, Value) {
        let bytes = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let form = Form::new().part("file", Part::bytes(bytes).file_name(name));
        let response = self
            .server
            .client
            .post(format!("{}{path}?{query}", self.server.base))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, key: Option<&str>, path: &str) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.server.base)
        };
        let mut request = self.server.client.get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Follows a job until it ends (the import runs in the background).
    async fn finished_job(&self, key: &str, url: &str) -> Value {
        for _ in 0..600 {
            let (status, job) = self.get(Some(key), url).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if job["status"] != "running" && job["status"] != "queued" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("job {url} did not end");
    }

    /// Uploads with the publisher's key and follows the job to a success; returns the job.
    async fn publish(&self, layer: &str, file: &Path, query: &str) -> Value {
        let path = format!("/v1/agencies/construction/layers/{layer}/uploads");
        let (status, accepted) = self.upload(&self.publisher, &path, file, query).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        let job = self
            .finished_job(&self.publisher, accepted["url"].as_str().unwrap())
            .await;
        assert_eq!(job["status"], "succeeded", "{job}");
        job
    }

    async fn layer_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM bando.layers")
            .fetch_one(&self.server.db.pool)
            .await
            .unwrap()
    }
}

fn zip_files(into: &Path, files: &[PathBuf]) -> PathBuf {
    let path = into.join("upload.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for file in files {
        let name = format!("DiTich/{}", file.file_name().unwrap().to_string_lossy());
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&std::fs::read(file).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    path
}

#[tokio::test]
async fn real_files_uploaded_by_an_agency_become_its_layers() {
    let a = start().await;
    let dir = tempfile::tempdir().unwrap();

    // GeoJSON: the 2025 Bến Thành ward.
    let ward = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards/26743_ben_thanh.geojson");
    let job = a
        .publish(
            "construction_ward",
            &ward,
            "title=Ph%C6%B0%E1%BB%9Dng+B%E1%BA%BFn+Th%C3%A0nh",
        )
        .await;
    assert_eq!(job["features_written"], 1);
    assert_eq!(job["agency"], "construction");

    // A zipped Shapefile in VN-2000 (HCMGIS historic sites), in a folder inside the zip.
    let sidecars: Vec<PathBuf> = ["shp", "shx", "dbf", "prj", "CPG"]
        .iter()
        .map(|e| shared_data().join(format!("hcmgis-vn2000/DiTich.{e}")))
        .collect();
    let zip = zip_files(dir.path(), &sidecars);
    let job = a
        .publish("construction_heritage", &zip, "visibility=restricted")
        .await;
    assert_eq!(job["features_written"], 167);
    assert!(
        job["source_crs"].as_str().unwrap().contains("2000"),
        "{job}"
    );

    // A GeoPackage made by GDAL from the same ward.
    let gpkg = dir.path().join("ward.gpkg");
    let made = std::process::Command::new("ogr2ogr")
        .args(["-f", "GPKG"])
        .arg(&gpkg)
        .arg(&ward)
        .status()
        .unwrap();
    assert!(made.success());
    let job = a
        .publish("construction_ward_gpkg", &gpkg, "visibility=public")
        .await;
    assert_eq!(job["source_format"], "GPKG", "{job}");

    // A CSV of real bus stops (lon/lat columns found by name).
    let stops = std::fs::read_to_string(shared_data().join("hcmc-bus/stops.json")).unwrap();
    let first: Value = serde_json::from_str(stops.lines().next().unwrap()).unwrap();
    let mut csv = String::from("code,name,lng,lat\n");
    let listed = first["Stops"].as_array().unwrap();
    for stop in listed {
        csv.push_str(&format!(
            "{},\"{}\",{},{}\n",
            stop["Code"].as_str().unwrap_or(""),
            stop["Name"].as_str().unwrap().replace('"', "'"),
            stop["Lng"],
            stop["Lat"]
        ));
    }
    let csv_path = dir.path().join("stops.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let job = a.publish("construction_stops", &csv_path, "").await;
    assert_eq!(job["features_written"], listed.len());

    // New layers are private unless said otherwise: the owner sees all four, others the public one.
    let (_, mine) = a.get(Some(&a.reader), "/catalog").await;
    let (_, anonymous) = a.get(None, "/catalog").await;
    let (_, health) = a.get(Some(&a.health), "/catalog").await;
    let slugs = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        slugs(&mine),
        [
            "construction_heritage",
            "construction_stops",
            "construction_ward",
            "construction_ward_gpkg"
        ]
    );
    assert_eq!(slugs(&anonymous), ["construction_ward_gpkg"]);
    assert_eq!(slugs(&health), ["construction_ward_gpkg"]);
    let ward_entry = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "construction_ward")
        .unwrap();
    assert_eq!(ward_entry["title"], "Phường Bến Thành");
    assert_eq!(ward_entry["visibility"], "private");

    // Jobs are the agency's own business.
    let url = format!("/v1/jobs/{}", job["id"]);
    let url = url.as_str();
    assert_eq!(a.get(Some(&a.health), url).await.0, StatusCode::NOT_FOUND);
    assert_eq!(a.get(None, url).await.0, StatusCode::UNAUTHORIZED);

    // Every publish is in the audit log, with the key that made it and where from.
    let (_, audit) = a.get(Some(&a.reader), "/v1/audit").await;
    let publishes: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "publish")
        .collect();
    assert_eq!(publishes.len(), 4, "{audit}");
    assert!(
        publishes
            .iter()
            .all(|r| r["actor_agency"] == "construction" && r["origin"] == "127.0.0.1")
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_and_publish_nothing() {
    let a = start().await;
    let dir = tempfile::tempdir().unwrap();
    let ward = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards/26743_ben_thanh.geojson");
    let into = |layer: &str| format!("/v1/agencies/construction/layers/{layer}/uploads");
    let before = a.layer_count().await;

    let problem_names = |p: &Value| -> Vec<String> {
        p["invalid-params"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| i["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    // Over the limit (the whole city's wards, 3.6 MB > 3 MiB).
    let city = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/79_ho_chi_minh.geojson");
    let big = dir.path().join("big.geojson");
    let mut text = std::fs::read_to_string(&city).unwrap();
    while (text.len() as u64) <= LIMIT_BYTES {
        text.push(' ');
        text = text.repeat(2);
    }
    std::fs::write(&big, &text).unwrap();
    let (status, problem) = a
        .upload(&a.publisher, &into("construction_big"), &big, "")
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(problem_names(&problem), ["file"]);

    // A corrupt zip: a real zip cut in half.
    let zip = zip_files(
        dir.path(),
        &[
            shared_data().join("hcmgis-vn2000/DiTich.shp"),
            shared_data().join("hcmgis-vn2000/DiTich.dbf"),
        ],
    );
    let bytes = std::fs::read(&zip).unwrap();
    let corrupt = dir.path().join("corrupt.zip");
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    let (status, problem) = a
        .upload(&a.publisher, &into("construction_zip"), &corrupt, "")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem_names(&problem), ["file"]);
    assert!(
        problem["detail"].as_str().unwrap().contains("zip"),
        "{problem}"
    );

    // Another agency's namespace, a read-only key, a name outside the namespace, a bad option.
    for (key, layer, query, status, says) in [
        (
            &a.health,
            "construction_ward",
            "",
            StatusCode::FORBIDDEN,
            "health",
        ),
        (
            &a.reader,
            "construction_ward",
            "",
            StatusCode::FORBIDDEN,
            "publish",
        ),
        (&a.publisher, "wards", "", StatusCode::BAD_REQUEST, "layer"),
        (
            &a.publisher,
            "construction_ward",
            "mode=merge",
            StatusCode::BAD_REQUEST,
            "mode",
        ),
    ] {
        let (got, problem) = a.upload(key, &into(layer), &ward, query).await;
        assert_eq!(got, status, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    let (status, _) = a
        .upload(
            "bando_000000000000_00",
            &into("construction_ward"),
            &ward,
            "",
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A file that is not GIS data is accepted as a job that fails with its reason.
    let junk = dir.path().join("junk.geojson");
    std::fs::write(&junk, "{ this is not json").unwrap();
    let (status, accepted) = a
        .upload(&a.publisher, &into("construction_junk"), &junk, "")
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let job = a
        .finished_job(&a.publisher, accepted["url"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(!job["error"].as_str().unwrap().is_empty());

    assert_eq!(a.layer_count().await, before, "nothing was published");
}
