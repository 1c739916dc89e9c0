//! OGC API – Features Part 3 over real HTTP on the real data: CQL2 text and CQL2-JSON filters, queryables,
//! `datetime` against a layout's validity. Expected answers come from PostGIS (or an independent
//! folding) on the same tables, never from the filter code under test.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use bando_core::testing::shared_data;
use bando_e2e::RunningServer;
use bando_importers::ImportRequest;
use serde_json::Value;

async fn import(server: &RunningServer, request: ImportRequest) {
    let request = ImportRequest {
        path: shared_data().join(&request.path),
        ..request
    };
    bando_importers::import(&server.db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

/// The server follows the catalog by NOTIFY: wait (bounded) until it lists `count` collections.
async fn wait_for_collections(server: &RunningServer, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let collections: Value = server.get("/ogc/collections").await.json().await.unwrap();
        if collections["collections"].as_array().unwrap().len() == count {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{collections}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Every feature id the items route answers with `extra` parameters, following `next` links.
async fn filtered_ids(
    server: &RunningServer,
    collection: &str,
    extra: &[(&str, &str)],
) -> BTreeSet<i64> {
    let mut url = reqwest::Url::parse(&format!(
        "{}/ogc/collections/{collection}/items",
        server.base
    ))
    .unwrap();
    url.query_pairs_mut()
        .extend_pairs(extra)
        .append_pair("limit", "50");
    let mut ids = BTreeSet::new();
    let mut next = Some(url.to_string());
    while let Some(url) = next.take() {
        let response = server.get(&url).await;
        assert_eq!(response.status(), 200, "{url}");
        let page: Value = response.json().await.unwrap();
        for feature in page["features"].as_array().unwrap() {
            assert!(
                ids.insert(feature["id"].as_i64().unwrap()),
                "no feature twice"
            );
        }
        next = page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_owned());
    }
    ids
}

async fn sql_ids(server: &RunningServer, table: &str, condition: &str) -> BTreeSet<i64> {
    sqlx::query_scalar::<_, i64>(&format!("SELECT fid FROM layers.{table} WHERE {condition}"))
        .fetch_all(&server.db.pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn problem(server: &RunningServer, collection: &str, params: &[(&str, &str)]) -> Value {
    let mut url = reqwest::Url::parse(&format!(
        "{}/ogc/collections/{collection}/items",
        server.base
    ))
    .unwrap();
    url.query_pairs_mut().extend_pairs(params);
    let response = server.get(url.as_str()).await;
    assert_eq!(response.status(), 400, "{params:?}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn cql2_filters_queryables_and_datetime_on_real_layers() {
    let server = RunningServer::start_fresh().await;
    import(
        &server,
        ImportRequest {
            path: "hcmc-wards-2019-cityscope/Population_District_Level.shp".into(),
            layer: "districts_2019".into(),
            layout: Some("2019".into()),
            admin_level: Some("district".into()),
            valid_to: chrono::NaiveDate::from_ymd_opt(2025, 7, 1),
            ..ImportRequest::default()
        },
    )
    .await;
    import(
        &server,
        ImportRequest {
            path: "hcmgis-vn2000/DiTich.shp".into(),
            layer: "historic_sites".into(),
            ..ImportRequest::default()
        },
    )
    .await;
    wait_for_collections(&server, 2).await;

    // Conformance and queryables advertise what the filter may use.
    let conformance: Value = server.get("/ogc/conformance").await.json().await.unwrap();
    let classes = conformance["conformsTo"].to_string();
    for class in [
        "ogcapi-features-3/1.0/conf/filter",
        "ogcapi-features-3/1.0/conf/queryables",
        "cql2/1.0/conf/cql2-text",
        "cql2/1.0/conf/cql2-json",
        "cql2/1.0/conf/accent-insensitive-comparison",
        "cql2/1.0/conf/spatial-functions",
    ] {
        assert!(classes.contains(class), "{class}");
    }
    let response = server
        .get("/ogc/collections/districts_2019/queryables")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/schema+json"
    );
    let queryables: Value = response.json().await.unwrap();
    assert_eq!(queryables["properties"]["dist_name"]["type"], "string");
    assert_eq!(queryables["properties"]["dist_name"]["title"], "Dist_Name");
    assert_eq!(queryables["properties"]["pop_2019"]["type"], "number");
    assert_eq!(
        queryables["properties"]["geometry"]["format"],
        "geometry-polygon"
    );

    // Comparison, LIKE, BETWEEN, IN, NOT, OR: the same answer as the predicate in SQL.
    for (filter, condition) in [
        (
            "pop_2019 > 300000 AND dist_name LIKE 'District%'",
            "pop_2019 > 300000 AND dist_name LIKE 'District%'",
        ),
        (
            "pop_2019 BETWEEN 100000 AND 250000 OR dist_name IN ('Binh Thanh', 'Go Vap')",
            "pop_2019 BETWEEN 100000 AND 250000 OR dist_name IN ('Binh Thanh', 'Go Vap')",
        ),
        (
            "NOT (den_2019 >= 20000) and dist_name <> 'Can Gio'",
            "NOT (den_2019 >= 20000) AND dist_name <> 'Can Gio'",
        ),
        (
            "CASEI(dist_name) = 'district 1'",
            "lower(dist_name) = 'district 1'",
        ),
        ("pop_2019 > den_2019", "pop_2019 > den_2019"),
    ] {
        let expected = sql_ids(&server, "districts_2019", condition).await;
        assert!(!expected.is_empty(), "{condition} selects something");
        assert_eq!(
            filtered_ids(&server, "districts_2019", &[("filter", filter)]).await,
            expected,
            "{filter}"
        );
    }

    // CQL2-JSON in the query string: the same answers as the predicate in SQL.
    for (filter, condition) in [
        (
            r#"{"op": "and", "args": [{"op": ">", "args": [{"property": "pop_2019"}, 300000]},
                {"op": "like", "args": [{"property": "dist_name"}, "District%"]}]}"#,
            "pop_2019 > 300000 AND dist_name LIKE 'District%'",
        ),
        (
            r#"{"op": "not", "args": [{"op": "in", "args": [{"property": "dist_name"}, ["Binh Thanh", "Go Vap"]]}]}"#,
            "dist_name NOT IN ('Binh Thanh', 'Go Vap')",
        ),
        (
            r#"{"op": "s_intersects", "args": [{"property": "geometry"},
                {"type": "Point", "coordinates": [106.6990, 10.7798]}]}"#,
            "dist_name = 'District 1'",
        ),
    ] {
        let expected = sql_ids(&server, "districts_2019", condition).await;
        assert!(!expected.is_empty(), "{condition} selects something");
        let params = [("filter", filter), ("filter-lang", "cql2-json")];
        assert_eq!(
            filtered_ids(&server, "districts_2019", &params).await,
            expected,
            "{filter}"
        );
    }

    // Spatial: Notre-Dame cathedral lies in District 1; S_WITHIN a bbox matches PostGIS.
    let at_cathedral = filtered_ids(
        &server,
        "districts_2019",
        &[("filter", "S_INTERSECTS(geometry, POINT(106.6990 10.7798))")],
    )
    .await;
    assert_eq!(
        at_cathedral,
        sql_ids(&server, "districts_2019", "dist_name = 'District 1'").await
    );
    let bbox = "106.68, 10.76, 106.71, 10.79";
    let within = filtered_ids(
        &server,
        "historic_sites",
        &[("filter", &format!("S_WITHIN(geometry, BBOX({bbox}))"))],
    )
    .await;
    let expected = sql_ids(
        &server,
        "historic_sites",
        &format!("ST_Within(geom, ST_MakeEnvelope({bbox}, 4326))"),
    )
    .await;
    assert!(expected.len() > 10);
    assert_eq!(within, expected);
    // Combined with bbox and a property parameter, every condition applies.
    let combined = filtered_ids(
        &server,
        "historic_sites",
        &[
            ("filter", "S_INTERSECTS(geometry, POLYGON((106.68 10.76, 106.71 10.76, 106.71 10.79, 106.68 10.79, 106.68 10.76)))"),
            ("bbox", "106.60,10.70,106.70,10.80"),
        ],
    )
    .await;
    let expected = sql_ids(
        &server,
        "historic_sites",
        "ST_Intersects(geom, ST_MakeEnvelope(106.68, 10.76, 106.70, 10.79, 4326))",
    )
    .await;
    assert_eq!(combined, expected);

    // Vietnamese without diacritics, any case: ACCENTI + CASEI find "Phường Bến Nghé".
    let folded = filtered_ids(
        &server,
        "historic_sites",
        &[(
            "filter",
            "CASEI(ACCENTI(phuong)) = CASEI(ACCENTI('PHUONG BEN NGHE'))",
        )],
    )
    .await;
    let exact = sql_ids(&server, "historic_sites", "phuong = 'Phường Bến Nghé'").await;
    assert!(!exact.is_empty());
    assert!(folded.is_superset(&exact));
    for fid in &folded {
        let feature: Value = server
            .get(&format!("/ogc/collections/historic_sites/items/{fid}"))
            .await
            .json()
            .await
            .unwrap();
        let name = feature["properties"]["phuong"].as_str().unwrap();
        assert_eq!(
            tile_server::query::search_index::fold(name),
            "phuong ben nghe"
        );
    }

    // datetime against the 2019 layout's validity (until 2025-07-01).
    let collection: Value = server
        .get("/ogc/collections/districts_2019")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        collection["extent"]["temporal"]["interval"],
        serde_json::json!([[null, "2025-06-30"]])
    );
    let all = sql_ids(&server, "districts_2019", "true").await;
    for (datetime, expected) in [
        ("2024-01-01", all.clone()),
        ("2025-06-01/..", all.clone()),
        ("2025-07-01T00:00:00Z", BTreeSet::new()),
        ("2026-01-01/2026-12-31", BTreeSet::new()),
    ] {
        assert_eq!(
            filtered_ids(&server, "districts_2019", &[("datetime", datetime)]).await,
            expected,
            "{datetime}"
        );
    }

    // Refusals name the parameter and say why; nothing is harmed.
    for (params, why) in [
        (vec![("filter", "pop_2019 >")], "not valid CQL2 text"),
        (vec![("filter", "colour = 'red'")], "unknown property"),
        (vec![("filter", "dist_name = 1")], "cannot compare"),
        (
            vec![("filter", "S_INTERSECTS(geometry, POINT(10.77 106.70))")],
            "outside lon",
        ),
        (
            vec![("filter", "dist_name = 'x'"), ("filter-lang", "cql2-json")],
            "not valid JSON",
        ),
        (
            vec![
                (
                    "filter",
                    r#"{"op": "=", "args": [{"property": "colour"}, "red"]}"#,
                ),
                ("filter-lang", "cql2-json"),
            ],
            "unknown property",
        ),
        (
            vec![("filter", "dist_name = 'x'"), ("filter-lang", "cql2-xml")],
            "cql2-json",
        ),
        (vec![("filter-crs", "EPSG:3857")], "CRS84"),
        (vec![("datetime", "last year")], "RFC 3339"),
        (
            vec![("datetime", "2025-01-01/2024-01-01")],
            "before it starts",
        ),
    ] {
        let body = problem(&server, "districts_2019", &params).await;
        let name = params.last().unwrap().0;
        let name = if (name == "filter-lang" && params[1].1 == "cql2-xml")
            || name == "filter-crs"
            || name == "datetime"
        {
            name
        } else {
            "filter"
        };
        assert_eq!(body["invalid-params"][0]["name"], name, "{body}");
        assert!(
            body["invalid-params"][0]["reason"]
                .as_str()
                .unwrap()
                .contains(why),
            "{params:?}: {body}"
        );
    }
    let injection = "dist_name = 'x'') OR true; DROP TABLE layers.districts_2019; --'";
    assert!(
        filtered_ids(&server, "districts_2019", &[("filter", injection)])
            .await
            .is_empty()
    );
    assert_eq!(sql_ids(&server, "districts_2019", "true").await, all);
}
