//! The audit log (`bando.audit_log`): one row for every publish, rollback, visibility change,
//! grant, agency, key creation and revocation, written in the same transaction as the change.

use sqlx::PgExecutor;

use crate::CoreResult;

/// Who made a change and from where.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    /// Agency of the key used (`None` from the command line).
    pub agency: Option<String>,
    /// Key used.
    pub key_id: Option<i64>,
    /// Readable name: `key 12 of health`, `cli:alice`.
    pub name: String,
    /// Client address, or host name for the command line.
    pub origin: String,
}

impl Actor {
    /// The operator running a command on this machine.
    pub fn command_line() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_owned());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        Self {
            agency: None,
            key_id: None,
            name: format!("cli:{user}"),
            origin: host,
        }
    }
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// `publish`, `rollback`, `visibility`, `grant`, `revoke_grant`, `create_agency`,
    /// `create_key`, `revoke_key`.
    pub action: &'a str,
    /// The agency the change concerns (layer owner, key agency).
    pub agency: Option<&'a str>,
    /// Layer slug, key id or agency slug.
    pub target: &'a str,
    /// Anything else worth keeping (versions, scopes, …).
    pub details: serde_json::Value,
}

/// Appends `entry` made by `actor`.
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    entry: AuditEntry<'_>,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO bando.audit_log (actor_agency, actor_key_id, actor, origin, action, agency, target, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&actor.agency)
    .bind(actor.key_id)
    .bind(&actor.name)
    .bind(&actor.origin)
    .bind(entry.action)
    .bind(entry.agency)
    .bind(entry.target)
    .bind(entry.details)
    .execute(db)
    .await?;
    Ok(())
}
