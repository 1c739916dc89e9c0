//! API keys: `bando_<prefix>_<secret>`, 12 hex digits of public prefix (finds the row) and 64 hex
//! digits (256 bits) of secret. Only the SHA-256 of the whole key is stored; a key is shown once,
//! when it is created.
//!
//! A fast hash is the right one here: the secret is random and 256 bits long, so there is nothing
//! to brute-force offline, and every tile request with a key pays for the hash.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{CoreError, CoreResult};

/// What a key may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// See the agency's own and granted layers.
    Read,
    /// Publish, roll back, change visibility and grants of the agency's layers.
    Publish,
    /// Manage agencies and keys, read every layer and the whole audit log.
    Admin,
}

impl Scope {
    /// Name as stored and as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Publish => "publish",
            Self::Admin => "admin",
        }
    }

    /// Parses a scope name.
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name {
            "read" => Ok(Self::Read),
            "publish" => Ok(Self::Publish),
            "admin" => Ok(Self::Admin),
            other => Err(CoreError::InvalidKey(format!(
                "unknown scope {other:?} (read, publish or admin)"
            ))),
        }
    }
}

const KEY_TAG: &str = "bando_";
const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 64;

/// A freshly generated key: the text to hand out once, and what is stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The whole key, shown to its holder once.
    pub token: String,
    /// Public part, stored in clear to find the row.
    pub prefix: String,
    /// SHA-256 of `token`.
    pub hash: [u8; 32],
}

/// Generates a key from the operating system's random source.
pub fn generate() -> CoreResult<NewKey> {
    let mut bytes = [0u8; PREFIX_LEN / 2 + SECRET_LEN / 2];
    getrandom::fill(&mut bytes)
        .map_err(|e| CoreError::InvalidKey(format!("no random source: {e}")))?;
    let (prefix, secret) = bytes.split_at(PREFIX_LEN / 2);
    let prefix = hex::encode(prefix);
    let token = format!("{KEY_TAG}{prefix}_{}", hex::encode(secret));
    let hash = hash(&token);
    Ok(NewKey {
        token,
        prefix,
        hash,
    })
}

/// The prefix of a well-formed key (`None` when it cannot be a bando key).
pub fn prefix_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(KEY_TAG)?;
    let (prefix, secret) = rest.split_once('_')?;
    let hex_of = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (hex_of(prefix, PREFIX_LEN) && hex_of(secret, SECRET_LEN)).then_some(prefix)
}

/// SHA-256 of a key.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `token` hashes to `stored`, in time independent of where they differ.
pub fn verify(token: &str, stored: &[u8]) -> bool {
    bool::from(hash(token).as_slice().ct_eq(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let key = generate().unwrap();
        assert_eq!(prefix_of(&key.token), Some(key.prefix.as_str()));
        assert!(verify(&key.token, &key.hash));
        let other = generate().unwrap();
        assert_ne!(key.token, other.token);
        assert!(!verify(&other.token, &key.hash));
    }

    #[test]
    fn malformed_keys_have_no_prefix() {
        let key = generate().unwrap();
        for bad in [
            "",
            "bando_",
            &key.token[..key.token.len() - 1],
            &key.token.replace("bando_", "bando-"),
            &key.token.to_uppercase(),
            &format!("{}0", key.token),
        ] {
            assert_eq!(prefix_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scopes_round_trip() {
        for s in [Scope::Read, Scope::Publish, Scope::Admin] {
            assert_eq!(Scope::parse(s.as_str()).unwrap(), s);
        }
        assert!(Scope::parse("root").is_err());
    }
}

/// A key as listed (never with its secret).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct KeyInfo {
    /// Key id.
    pub id: i64,
    /// Owning agency.
    pub agency: String,
    /// Label.
    pub name: String,
    /// Public prefix (`bando_<prefix>_…`), to recognise a key.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Expiry, if any.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Revocation, if revoked.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Checks a new agency slug: lower-case letters and digits, a letter first, at most 31, so that
/// `<agency>_<name>` layer slugs stay readable and unambiguous.
pub fn validate_agency_slug(slug: &str) -> CoreResult<()> {
    let ok = slug.len() <= 31
        && slug.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidKey(format!(
            "agency {slug:?}: use 1–31 lower-case letters and digits, a letter first"
        )))
    }
}

/// Whether an agency with this slug exists.
pub async fn agency_exists<'c, E>(executor: E, slug: &str) -> CoreResult<bool>
where
    E: sqlx::PgExecutor<'c>,
{
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bando.agencies WHERE slug = $1)")
            .bind(slug)
            .fetch_one(executor)
            .await?,
    )
}

/// Creates an agency, recorded in the audit log.
pub async fn create_agency(
    conn: &mut sqlx::PgConnection,
    slug: &str,
    name: &str,
    actor: &crate::audit::Actor,
) -> CoreResult<bool> {
    validate_agency_slug(slug)?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let created = sqlx::query(
        "INSERT INTO bando.agencies (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(slug)
    .bind(name)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if created {
        crate::audit::record(
            &mut *tx,
            actor,
            crate::audit::AuditEntry {
                action: "create_agency",
                agency: Some(slug),
                target: slug,
                details: serde_json::json!({ "name": name }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// Creates a key for `agency`; returns its row and the key text (shown once).
pub async fn create_key(
    conn: &mut sqlx::PgConnection,
    agency: &str,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    actor: &crate::audit::Actor,
) -> CoreResult<(KeyInfo, String)> {
    if scopes.is_empty() {
        return Err(CoreError::InvalidKey("give at least one scope".to_owned()));
    }
    let mut scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    scope_names.sort_unstable();
    scope_names.dedup();
    let key = generate()?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    if !agency_exists(&mut *tx, agency).await? {
        return Err(CoreError::InvalidKey(format!("no agency {agency:?}")));
    }
    let info: KeyInfo = sqlx::query_as(
        "INSERT INTO bando.api_keys (agency, name, prefix, hash, scopes, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, agency, name, prefix, scopes, created_at, expires_at, revoked_at",
    )
    .bind(agency)
    .bind(name)
    .bind(&key.prefix)
    .bind(key.hash.as_slice())
    .bind(&scope_names)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    crate::audit::record(
        &mut *tx,
        actor,
        crate::audit::AuditEntry {
            action: "create_key",
            agency: Some(agency),
            target: &info.id.to_string(),
            details: serde_json::json!({ "name": name, "scopes": scope_names, "expires_at": expires_at }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((info, key.token))
}

/// Revokes key `id` (of `agency` only, when given); returns the revoked key, `None` when there
/// is no such key (or it is another agency's).
pub async fn revoke_key(
    conn: &mut sqlx::PgConnection,
    id: i64,
    agency: Option<&str>,
    actor: &crate::audit::Actor,
) -> CoreResult<Option<KeyInfo>> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let info: Option<KeyInfo> = sqlx::query_as(
        "UPDATE bando.api_keys SET revoked_at = coalesce(revoked_at, now()) \
         WHERE id = $1 AND ($2::text IS NULL OR agency = $2) \
         RETURNING id, agency, name, prefix, scopes, created_at, expires_at, revoked_at",
    )
    .bind(id)
    .bind(agency)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(info) = &info {
        crate::audit::record(
            &mut *tx,
            actor,
            crate::audit::AuditEntry {
                action: "revoke_key",
                agency: Some(&info.agency),
                target: &id.to_string(),
                details: serde_json::json!({ "name": info.name }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(info)
}

/// The keys of `agency` (all agencies when `None`), newest first.
pub async fn list_keys(
    db: impl sqlx::PgExecutor<'_>,
    agency: Option<&str>,
) -> CoreResult<Vec<KeyInfo>> {
    Ok(sqlx::query_as(
        "SELECT id, agency, name, prefix, scopes, created_at, expires_at, revoked_at \
         FROM bando.api_keys WHERE $1::text IS NULL OR agency = $1 ORDER BY id DESC",
    )
    .bind(agency)
    .fetch_all(db)
    .await?)
}
