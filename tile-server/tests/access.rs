//! Per-agency access, endpoint by endpoint: every endpoint family × {anonymous, other agency,
//! granted agency, owner, revoked key, expired key} × {public, restricted, private} layer gets
//! the right status and no data of a layer the caller may not see — including through tiles the
//! owner warmed in the cache and through composites. Then: revoking a grant or a key applies on
//! the next request, keys are stored hashed, guessing keys is rate-limited, and names made to
//! inject SQL are refused without harm.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use bando_core::api_key::{self, Scope};
use bando_core::audit::Actor;
use bando_core::layer::Visibility;
use bando_core::testing::{TestDatabase, fresh_database, mvt, shared_data};
use bando_importers::ImportRequest;
use http_body_util::BodyExt;
use serde_json::Value;
use tile_server::tiles::composite::CompositeConfig;
use tile_server::{AppState, Config, app, publish_listener};
use tower::ServiceExt;

/// Bến Thành market, WGS84, and the z14 tile holding it.
const MARKET: (f64, f64) = (106.6981, 10.7725);
const TILE: &str = "14/13047/7698.mvt";

/// The three layers of agency `construction`, each with a name found nowhere else.
const LAYERS: [(&str, Visibility, &str, &str); 3] = [
    (
        "construction_works",
        Visibility::Public,
        "Trạm cấp nước Bến Thành",
        "tram cap nuoc",
    ),
    (
        "construction_plans",
        Visibility::Restricted,
        "Quy hoạch ga ngầm Bến Thành",
        "quy hoach ga ngam",
    ),
    (
        "construction_drafts",
        Visibility::Private,
        "Dự thảo cải tạo chợ Bến Thành",
        "du thao cai tao",
    ),
];

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    Granted,
    Other,
    Anonymous,
    Revoked,
    Expired,
}

const EVERYONE: [Who; 6] = [
    // The owner first: its requests warm the cache the others must not read from.
    Who::Owner,
    Who::Granted,
    Who::Other,
    Who::Anonymous,
    Who::Revoked,
    Who::Expired,
];

fn may_see(who: Who, visibility: Visibility) -> bool {
    match (who, visibility) {
        (Who::Revoked | Who::Expired, _) => false,
        (_, Visibility::Public) | (Who::Owner, _) => true,
        (Who::Granted, Visibility::Restricted) => true,
        _ => false,
    }
}

struct World {
    _db: TestDatabase,
    state: AppState,
    keys: Vec<(Who, Option<String>)>,
    _dir: tempfile::TempDir,
}

impl World {
    fn key(&self, who: Who) -> Option<&str> {
        self.keys
            .iter()
            .find(|(w, _)| *w == who)
            .and_then(|(_, k)| k.as_deref())
    }

    /// A request through the router, from a client address, with `who`'s key as a bearer token.
    async fn call(
        &self,
        method: &str,
        uri: &str,
        who: Who,
        body: Option<Value>,
    ) -> (StatusCode, Vec<u8>) {
        self.call_from(method, uri, self.key(who), body, [127, 0, 0, 1])
            .await
    }

    async fn call_from(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
        ip: [u8; 4],
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let mut request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    async fn json(&self, uri: &str, who: Who) -> (StatusCode, Value) {
        let (status, body) = self.call("GET", uri, who, None).await;
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        (status, value)
    }
}

/// Points around the market named `name`, as GeoJSON.
fn points(dir: &std::path::Path, slug: &str, name: &str) -> std::path::PathBuf {
    let features: Vec<Value> = (0..3)
        .map(|i| {
            let offset = f64::from(i) * 0.0003;
            serde_json::json!({
                "type": "Feature",
                "properties": { "name": format!("{name} {}", i + 1), "kind": "site" },
                "geometry": { "type": "Point", "coordinates": [MARKET.0 + offset, MARKET.1 + offset] }
            })
        })
        .collect();
    let path = dir.join(format!("{slug}.geojson"));
    std::fs::write(
        &path,
        serde_json::json!({ "type": "FeatureCollection", "features": features }).to_string(),
    )
    .unwrap();
    path
}

async fn import(
    db: &TestDatabase,
    path: std::path::PathBuf,
    slug: &str,
    visibility: Visibility,
    extra: impl FnOnce(&mut ImportRequest),
) {
    let mut request = ImportRequest {
        path,
        layer: slug.to_owned(),
        agency: Some("construction".to_owned()),
        visibility: Some(visibility),
        force: true,
        ..ImportRequest::default()
    };
    extra(&mut request);
    bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

async fn world() -> World {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let actor = Actor::command_line();
    let mut conn = db.pool.acquire().await.unwrap();
    for (slug, name) in [
        ("construction", "Sở Xây dựng"),
        ("district7", "UBND Quận 7"),
        ("health", "Sở Y tế"),
    ] {
        assert!(
            api_key::create_agency(&mut conn, slug, name, &actor)
                .await
                .unwrap()
        );
    }
    for (slug, visibility, name, _) in LAYERS {
        import(
            &db,
            points(dir.path(), slug, name),
            slug,
            visibility,
            |_| {},
        )
        .await;
    }
    // A restricted boundary layer: the ward lookup must not answer from it for outsiders.
    import(
        &db,
        shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards/26743_ben_thanh.geojson"),
        "construction_wards",
        Visibility::Restricted,
        |r| {
            r.admin_level = Some("ward".to_owned());
            r.layout = Some("2025".to_owned());
        },
    )
    .await;
    let plans: i64 =
        sqlx::query_scalar("SELECT id FROM bando.layers WHERE slug = 'construction_plans'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    sqlx::query("INSERT INTO bando.layer_grants (layer_id, agency) VALUES ($1, 'district7')")
        .bind(plans)
        .execute(&db.pool)
        .await
        .unwrap();

    let mut keys = vec![(Who::Anonymous, None)];
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    for (who, agency, scopes, expires) in [
        (
            Who::Owner,
            "construction",
            vec![Scope::Read, Scope::Publish],
            None,
        ),
        (Who::Granted, "district7", vec![Scope::Read], None),
        (
            Who::Other,
            "health",
            vec![Scope::Read, Scope::Publish],
            None,
        ),
        (
            Who::Revoked,
            "construction",
            vec![Scope::Read, Scope::Publish],
            None,
        ),
        (
            Who::Expired,
            "construction",
            vec![Scope::Read],
            Some(yesterday),
        ),
    ] {
        let (info, key) = api_key::create_key(&mut conn, agency, "", &scopes, expires, &actor)
            .await
            .unwrap();
        if who == Who::Revoked {
            api_key::revoke_key(&mut conn, info.id, None, &actor)
                .await
                .unwrap();
        }
        keys.push((who, Some(key)));
    }
    drop(conn);

    // A composite drawing all three layers in one MVT layer each.
    let composite = CompositeConfig::parse(
        r#"
id = "sites"
title = "Construction sites"
[[layer]]
name = "works"
  [[layer.input]]
  source = "construction_works"
  properties = { name = "name" }
[[layer]]
name = "plans"
  [[layer.input]]
  source = "construction_plans"
  properties = { name = "name" }
[[layer]]
name = "drafts"
  [[layer.input]]
  source = "construction_drafts"
  properties = { name = "name" }
"#,
        std::path::Path::new("sites.toml"),
    )
    .unwrap();
    let mut config = Config::default();
    config.composites.push(composite);
    let state = AppState::new(db.pool.clone(), config);
    publish_listener::refresh(&state).await;
    World {
        _db: db,
        state,
        keys,
        _dir: dir,
    }
}

/// Names of the features a tile answer draws, by MVT layer (none for an error answer).
fn tile_names(status: StatusCode, body: &[u8]) -> Vec<(String, String)> {
    if status != StatusCode::OK {
        return Vec::new();
    }
    mvt::decode(body)
        .into_iter()
        .flat_map(|layer| {
            layer
                .features
                .iter()
                .filter_map(|f| {
                    f.properties
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .map(|n| (layer.name.clone(), n))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn expected_status(who: Who, visible: bool) -> StatusCode {
    match (who, visible) {
        (Who::Revoked | Who::Expired, _) => StatusCode::UNAUTHORIZED,
        (_, true) => StatusCode::OK,
        (_, false) => StatusCode::NOT_FOUND,
    }
}

#[tokio::test]
async fn every_endpoint_shows_a_layer_only_to_those_who_may_see_it() {
    let w = world().await;
    for who in EVERYONE {
        for (slug, visibility, name, folded) in LAYERS {
            let visible = may_see(who, visibility);
            let expected = expected_status(who, visible);
            let case = format!("{who:?} × {slug} ({visibility:?})");

            // Tiles: a single layer, an ad-hoc composite with a public layer, OGC API – Tiles.
            let mut tile_uris = vec![
                format!("/tiles/{slug}/{TILE}"),
                format!("/ogc/collections/{slug}/tiles/WebMercatorQuad/14/7698/13047"),
            ];
            if slug != "construction_works" {
                tile_uris.push(format!("/tiles/construction_works,{slug}/{TILE}"));
            }
            for uri in tile_uris {
                let (status, body) = w.call("GET", &uri, who, None).await;
                assert_eq!(status, expected, "{case}: {uri}");
                let drawn = tile_names(status, &body);
                assert_eq!(
                    drawn.iter().any(|(_, n)| n.starts_with(name)),
                    visible && expected == StatusCode::OK,
                    "{case}: {uri} draws {drawn:?}"
                );
            }

            // TileJSON (keyed clients get their key on the tile URLs), OGC metadata and items.
            let (status, tilejson) = w.json(&format!("/tiles/{slug}.json"), who).await;
            assert_eq!(status, expected, "{case}: TileJSON");
            if status == StatusCode::OK {
                let url = tilejson["tiles"][0].as_str().unwrap();
                assert_eq!(
                    url.contains("key=bando_"),
                    who != Who::Anonymous,
                    "{case}: {url}"
                );
            }
            for uri in [
                format!("/ogc/collections/{slug}"),
                format!("/ogc/collections/{slug}/tiles"),
            ] {
                assert_eq!(
                    w.call("GET", &uri, who, None).await.0,
                    expected,
                    "{case}: {uri}"
                );
            }
            // Features: their names appear exactly when the caller may see them.
            for uri in [
                format!("/ogc/collections/{slug}/items"),
                format!("/ogc/collections/{slug}/items/1"),
                format!(
                    "/v1/layers/{slug}/nearest?lon={}&lat={}",
                    MARKET.0, MARKET.1
                ),
                format!(
                    "/v1/layers/{slug}/within?lon={}&lat={}&radius=500",
                    MARKET.0, MARKET.1
                ),
            ] {
                let (status, body) = w.call("GET", &uri, who, None).await;
                assert_eq!(status, expected, "{case}: {uri}");
                assert_eq!(
                    String::from_utf8_lossy(&body).contains(name),
                    expected == StatusCode::OK,
                    "{case}: {uri} body"
                );
            }

            // Lists: the catalog (the viewer's layer list) and OGC collections.
            for (uri, pointer) in [("/catalog", ""), ("/ogc/collections", "/collections")] {
                let (status, list) = w.json(uri, who).await;
                let listed = status == StatusCode::OK
                    && list
                        .pointer(pointer)
                        .and_then(Value::as_array)
                        .unwrap()
                        .iter()
                        .any(|l| l["id"] == slug);
                assert_eq!(status, expected_status(who, true), "{case}: {uri}");
                assert_eq!(listed, visible, "{case}: {uri} lists it");
            }

            // Search across layers.
            let (status, hits) = w
                .json(&format!("/v1/search?q={}", folded.replace(' ', "+")), who)
                .await;
            assert_eq!(status, expected_status(who, true), "{case}: search");
            let found = status == StatusCode::OK
                && hits.as_array().unwrap().iter().any(|h| h["layer"] == slug);
            assert_eq!(found, visible, "{case}: search finds it: {hits}");
            let (_, hits) = w
                .json(
                    &format!("/v1/search?q={}&engine=postgis", folded.replace(' ', "+")),
                    who,
                )
                .await;
            let found = hits
                .as_array()
                .is_some_and(|h| h.iter().any(|h| h["layer"] == slug));
            assert_eq!(found, visible, "{case}: PostGIS search finds it");
        }

        // The configured composite omits what the caller may not see, whoever warmed the cache.
        let (status, body) = w
            .call("GET", &format!("/tiles/sites/{TILE}"), who, None)
            .await;
        assert_eq!(status, expected_status(who, true), "{who:?}: composite");
        let drawn = tile_names(status, &body);
        for (slug, visibility, name, _) in LAYERS {
            assert_eq!(
                drawn.iter().any(|(_, n)| n.starts_with(name)),
                status == StatusCode::OK && may_see(who, visibility),
                "{who:?}: composite draws {slug}: {drawn:?}"
            );
        }

        // Ward lookup answers from the restricted boundary layer only for those who may see it.
        let (status, ward) = w
            .json(&format!("/v1/wards?lon={}&lat={}", MARKET.0, MARKET.1), who)
            .await;
        // (It is restricted and granted to nobody: its owner alone may use it.)
        assert_eq!(
            status,
            expected_status(who, who == Who::Owner),
            "{who:?}: ward lookup {ward}"
        );
        if status == StatusCode::OK {
            assert_eq!(ward["ward"]["code"], "26743", "{who:?}");
        }
    }
}

#[tokio::test]
async fn revoking_a_grant_or_a_key_applies_on_the_next_request() {
    let w = world().await;
    let tile = format!("/tiles/construction_plans/{TILE}");
    assert_eq!(
        w.call("GET", &tile, Who::Granted, None).await.0,
        StatusCode::OK
    );

    // Only the owner's publish key may change grants; others see 404 (hidden) or 403 (visible).
    let grant = "/v1/layers/construction_plans/grants/district7";
    assert_eq!(
        w.call("DELETE", grant, Who::Other, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.call("DELETE", grant, Who::Granted, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.call("DELETE", grant, Who::Owner, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        w.call("GET", &tile, Who::Granted, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.call("PUT", grant, Who::Owner, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        w.call("GET", &tile, Who::Granted, None).await.0,
        StatusCode::OK
    );

    // Visibility: private hides it from the grantee at once, public shows it to everyone.
    let layer = "/v1/layers/construction_plans";
    let private = serde_json::json!({ "visibility": "private" });
    assert_eq!(
        w.call("PATCH", layer, Who::Owner, Some(private)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        w.call("GET", &tile, Who::Granted, None).await.0,
        StatusCode::NOT_FOUND
    );
    let public = serde_json::json!({ "visibility": "public" });
    assert_eq!(
        w.call("PATCH", layer, Who::Owner, Some(public)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        w.call("GET", &tile, Who::Anonymous, None).await.0,
        StatusCode::OK
    );
    let bad = serde_json::json!({ "visibility": "everyone" });
    let (status, body) = w.call("PATCH", layer, Who::Owner, Some(bad)).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&body)
    );

    // An admin revokes the owner's key: the next request with it is refused.
    let mut conn = w.state.pool.acquire().await.unwrap();
    let (_, admin) = api_key::create_key(
        &mut conn,
        "hcmc",
        "admin",
        &[Scope::Admin],
        None,
        &Actor::command_line(),
    )
    .await
    .unwrap();
    drop(conn);
    // Made outside this server: it learns of it as from the database's notification.
    publish_listener::reload_access(&w.state).await;
    let (status, keys) = w
        .call_from(
            "GET",
            "/v1/agencies/construction/keys",
            Some(&admin),
            None,
            [10, 0, 0, 1],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let keys: Value = serde_json::from_slice(&keys).unwrap();
    let owner_prefix = &w.key(Who::Owner).unwrap()[6..18];
    let owner_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"] == owner_prefix)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, _) = w
        .call_from(
            "DELETE",
            &format!("/v1/keys/{owner_id}"),
            Some(&admin),
            None,
            [10, 0, 0, 1],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        w.call("GET", "/catalog", Who::Owner, None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Every change is in the audit log, readable by the owning agency and by admins only.
    let (status, rows) = w
        .call_from(
            "GET",
            "/v1/audit?agency=construction",
            Some(&admin),
            None,
            [10, 0, 0, 1],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rows: Value = serde_json::from_slice(&rows).unwrap();
    let actions: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for action in [
        "publish",
        "revoke_grant",
        "grant",
        "visibility",
        "create_key",
        "revoke_key",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["agency"] == "construction")
    );
    let (status, rows) = w.json("/v1/audit", Who::Other).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["agency"] == "health" || r["actor_agency"] == "health"),
        "another agency reads only its own rows: {rows}"
    );
    assert_eq!(
        w.json("/v1/audit?agency=construction", Who::Other).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn keys_are_hashed_at_rest_and_guessing_is_rate_limited() {
    let w = world().await;
    let rows: Vec<String> = sqlx::query_scalar("SELECT to_jsonb(k)::text FROM bando.api_keys k")
        .fetch_all(&w.state.pool)
        .await
        .unwrap();
    for (_, key) in &w.keys {
        let Some(key) = key else { continue };
        let secret = &key[19..];
        assert!(
            rows.iter().all(|r| !r.contains(secret)),
            "a key's secret is stored"
        );
    }

    // Ten wrong keys from one address, then even a right one is refused for a while; other
    // addresses are unaffected.
    let owner = w.key(Who::Owner).unwrap().to_owned();
    let mut wrong = owner.clone();
    wrong.replace_range(owner.len() - 4.., "0000");
    for _ in 0..tile_server::access::MAX_FAILED_ATTEMPTS {
        let (status, _) = w
            .call_from("GET", "/catalog", Some(&wrong), None, [192, 0, 2, 7])
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = w
        .call_from("GET", "/catalog", Some(&owner), None, [192, 0, 2, 7])
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = w
        .call_from("GET", "/catalog", Some(&owner), None, [192, 0, 2, 8])
        .await;
    assert_eq!(status, StatusCode::OK);
    // A malformed Authorization header is a clear 401, not a silent anonymous answer.
    let (status, body) = common::get_json(&w.state, "/catalog").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let raw = common::get_raw(
        &w.state,
        "/catalog",
        &[("authorization", "Basic dXNlcjpwdw==")],
    )
    .await;
    assert_eq!(raw.status, StatusCode::UNAUTHORIZED);
    assert_eq!(raw.header("content-type"), "application/problem+json");
}

#[tokio::test]
async fn names_made_to_inject_sql_are_refused_without_harm() {
    let w = world().await;
    for name in [
        "construction_plans\"; DROP TABLE bando.layers; --",
        "x' OR '1'='1",
        "construction_works,construction_plans' --",
        "layers.construction_drafts",
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        for uri in [
            format!("/tiles/{encoded}/{TILE}"),
            format!("/tiles/{encoded}.json"),
            format!("/ogc/collections/{encoded}/items"),
            format!("/v1/layers/{encoded}/nearest?lon=106.7&lat=10.77"),
        ] {
            let (status, _) = w.call("GET", &uri, Who::Owner, None).await;
            assert!(
                matches!(status, StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST),
                "{uri}: {status}"
            );
        }
        let (status, _) = w
            .call(
                "DELETE",
                &format!("/v1/layers/{encoded}/grants/district7"),
                Who::Owner,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        let (status, _) = w
            .call(
                "PUT",
                &format!("/v1/layers/construction_plans/grants/{encoded}"),
                Who::Owner,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
    }
    let layers: i64 = sqlx::query_scalar("SELECT count(*) FROM bando.layers")
        .fetch_one(&w.state.pool)
        .await
        .unwrap();
    assert_eq!(layers, 4, "every layer is still there");
    let (status, body) = w
        .call(
            "GET",
            &format!("/tiles/construction_drafts/{TILE}"),
            Who::Owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!tile_names(status, &body).is_empty());
}
