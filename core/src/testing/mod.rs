//! Test support (feature `testing`): a fresh, migrated database per test, created in seconds
//! from a migrated template.
//!
//! The server comes from `$BANDO_TEST_DATABASE_URL` (any PostGIS-enabled PostgreSQL; its role
//! must be allowed to create databases) or, by default, from a private test cluster under
//! `.bando/test-pg` of the checkout on port 55433 with fsync off, separate from the demo data.

pub mod mvt;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnection;
use sqlx::{Connection, PgPool};
use tokio::sync::OnceCell;

use crate::db::{MIGRATOR, PoolSettings};
use crate::embedded::EmbeddedCluster;
use crate::layer::quote_ident;

/// Port of the default test cluster.
pub const TEST_PORT: u16 = 55433;

static SERVER: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database made for one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    /// A pool on it.
    pub pool: PgPool,
}

/// Creates a new database with every migration applied.
///
/// # Panics
/// When no test server can be started or reached: a test cannot run without one.
pub async fn fresh_database() -> TestDatabase {
    let admin_url = SERVER
        .get_or_init(|| async { start_server().await })
        .await
        .clone();
    let template = template_name();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("connect to the test server");
    ensure_template(&mut admin, &admin_url, &template).await;
    let name = format!(
        "bando_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)))
        .execute(&mut admin)
        .await
        .expect("drop stale test database");
    sqlx::query(&format!(
        "CREATE DATABASE {} TEMPLATE {}",
        quote_ident(&name),
        quote_ident(&template)
    ))
    .execute(&mut admin)
    .await
    .expect("create test database from template");
    let _ = admin.close().await;
    let url = with_database(&admin_url, &name);
    let settings = PoolSettings {
        max_connections: 8,
        application_name: "bando-test".to_owned(),
        ..PoolSettings::default()
    };
    let pool = crate::db::connect(&url, &settings)
        .await
        .expect("connect to the test database");
    TestDatabase { url, pool }
}

async fn start_server() -> String {
    if let Ok(url) = std::env::var("BANDO_TEST_DATABASE_URL") {
        return url;
    }
    let port = std::env::var("BANDO_TEST_PG_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(TEST_PORT);
    // One test cluster per checkout, whichever package's tests start it.
    let home = std::env::var_os("BANDO_HOME").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.bando"),
        PathBuf::from,
    );
    let root = crate::embedded::cluster_root(&home, "test-pg");
    let cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = EmbeddedCluster::new(root, port, false);
        cluster.ensure_running().map(|()| cluster)
    })
    .await
    .expect("cluster start task")
    .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL cluster: {e}"));
    cluster
        .ensure_database("postgres")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.url("postgres")
}

/// Template name: changes whenever a migration does.
fn template_name() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for migration in MIGRATOR.iter() {
        for b in migration.checksum.iter() {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("bando_template_{hash:016x}")
}

async fn ensure_template(admin: &mut PgConnection, admin_url: &str, template: &str) {
    // One process at a time builds it; the others wait and then find it.
    sqlx::query("SELECT pg_advisory_lock(7263542)")
        .execute(&mut *admin)
        .await
        .expect("template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(template)
            .fetch_one(&mut *admin)
            .await
            .expect("look up template");
    if !exists {
        let building = format!("{template}_building");
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {}",
            quote_ident(&building)
        ))
        .execute(&mut *admin)
        .await
        .expect("drop half-built template");
        sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&building)))
            .execute(&mut *admin)
            .await
            .expect("create template");
        let mut conn = PgConnection::connect(&with_database(admin_url, &building))
            .await
            .expect("connect to template");
        sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
            .execute(&mut conn)
            .await
            .expect("PostGIS must be installed on the test server");
        MIGRATOR.run(&mut conn).await.expect("migrate template");
        conn.close().await.expect("close template");
        sqlx::query(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&building),
            quote_ident(template)
        ))
        .execute(&mut *admin)
        .await
        .expect("publish template");
        drop_stale_test_databases(admin).await;
    }
    sqlx::query("SELECT pg_advisory_unlock(7263542)")
        .execute(&mut *admin)
        .await
        .expect("template unlock");
}

/// Drops test databases left by processes that are gone, and old templates.
async fn drop_stale_test_databases(admin: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'bando\\_test\\_%' OR datname LIKE 'bando\\_template\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    let current = template_name();
    for name in names {
        let stale = match name.strip_prefix("bando_test_") {
            Some(rest) => rest
                .split('_')
                .next()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != std::process::id()
                        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                }),
            None => name != current && !name.ends_with("_building"),
        };
        if stale {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            ))
            .execute(&mut *admin)
            .await;
        }
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("test server URL");
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

/// The shared real HCMC data set: `$BANDO_DATA_DIR`, else `../shared/data` beside the checkout.
///
/// # Panics
/// When it is missing: the tests that use it assert facts about real data.
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("BANDO_DATA_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
        PathBuf::from,
    );
    assert!(
        dir.join("README.md").exists(),
        "the HCMC data set is not at {} (set BANDO_DATA_DIR)",
        dir.display()
    );
    dir
}

/// Creates agency `slug` called `name` (nothing if it exists) and a key of it with `scopes`;
/// returns the key (the secret a client presents).
///
/// # Panics
/// When the database refuses: a test cannot go on without its key.
pub async fn agency_key(
    pool: &PgPool,
    slug: &str,
    name: &str,
    scopes: &[crate::api_key::Scope],
) -> String {
    let actor = crate::audit::Actor::command_line();
    let mut conn = pool.acquire().await.expect("a connection");
    crate::api_key::create_agency(&mut conn, slug, name, &actor)
        .await
        .expect("agency created");
    let (_, key) = crate::api_key::create_key(&mut conn, slug, "", scopes, None, &actor)
        .await
        .expect("key created");
    key
}
