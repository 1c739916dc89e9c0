//! `bando agencies` and `bando keys`: bootstrap and manage access from the machine itself (the
//! first admin key comes from here; later ones may come from the admin endpoints).

use anyhow::Context;
use bando_core::api_key::{self, Scope};
use bando_core::audit::Actor;
use sqlx::PgPool;

/// `bando agencies …`.
#[derive(Debug, clap::Subcommand)]
pub enum AgenciesAction {
    /// Create an agency (its slug is the namespace of its layers).
    Add {
        /// Slug: lower-case letters and digits, e.g. `health`.
        slug: String,
        /// Name, e.g. "Sở Y tế".
        name: String,
    },
    /// List the agencies.
    List,
}

/// `bando keys …`.
#[derive(Debug, clap::Subcommand)]
pub enum KeysAction {
    /// Create an API key and print it (the only time it is shown).
    Create {
        /// Agency the key acts for.
        #[arg(long, default_value = "hcmc")]
        agency: String,
        /// Scopes, comma-separated: read, publish, admin.
        #[arg(long, value_delimiter = ',', default_value = "read")]
        scopes: Vec<String>,
        /// A label for the key.
        #[arg(long, default_value = "")]
        name: String,
        /// Expiry, RFC 3339 (e.g. 2027-01-01T00:00:00Z).
        #[arg(long)]
        expires: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// List keys (never their secrets).
    List {
        /// Only this agency's.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Revoke a key: refused from the next request on.
    Revoke {
        /// Key id (from `keys list`).
        id: i64,
    },
}

/// Runs an `agencies` action; returns what to print.
pub async fn agencies(pool: &PgPool, action: AgenciesAction) -> anyhow::Result<String> {
    match action {
        AgenciesAction::Add { slug, name } => {
            let mut conn = pool.acquire().await?;
            let created =
                api_key::create_agency(&mut conn, &slug, &name, &Actor::command_line()).await?;
            anyhow::ensure!(created, "agency {slug:?} exists already");
            Ok(format!("agency {slug} created"))
        }
        AgenciesAction::List => {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT slug, name FROM bando.agencies ORDER BY slug")
                    .fetch_all(pool)
                    .await?;
            Ok(rows
                .iter()
                .map(|(slug, name)| format!("{slug:<16} {name}"))
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }
}

/// Runs a `keys` action; returns what to print.
pub async fn keys(pool: &PgPool, action: KeysAction) -> anyhow::Result<String> {
    match action {
        KeysAction::Create {
            agency,
            scopes,
            name,
            expires,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| Scope::parse(s.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            let mut conn = pool.acquire().await?;
            let (info, key) = api_key::create_key(
                &mut conn,
                &agency,
                &name,
                &scopes,
                expires,
                &Actor::command_line(),
            )
            .await
            .context("creating the key")?;
            Ok(format!(
                "{key}\n(key {} of {}, scopes {}: shown once, store it now)",
                info.id,
                info.agency,
                info.scopes.join(",")
            ))
        }
        KeysAction::List { agency } => {
            let keys = api_key::list_keys(pool, agency.as_deref()).await?;
            Ok(keys
                .iter()
                .map(|k| {
                    let state = match (k.revoked_at, k.expires_at) {
                        (Some(t), _) => format!("revoked {}", t.format("%Y-%m-%d")),
                        (None, Some(t)) if t <= chrono::Utc::now() => {
                            format!("expired {}", t.format("%Y-%m-%d"))
                        }
                        (None, Some(t)) => format!("expires {}", t.format("%Y-%m-%d")),
                        (None, None) => "active".to_owned(),
                    };
                    format!(
                        "{:>5}  {:<12} bando_{}_…  {:<20} {:<18} {}",
                        k.id,
                        k.agency,
                        k.prefix,
                        k.scopes.join(","),
                        state,
                        k.name
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        KeysAction::Revoke { id } => {
            let mut conn = pool.acquire().await?;
            let revoked = api_key::revoke_key(&mut conn, id, None, &Actor::command_line()).await?;
            anyhow::ensure!(revoked.is_some(), "no key {id}");
            Ok(format!("key {id} revoked"))
        }
    }
}
