//! Who may see which layer: the API keys and grants in force, loaded from the database as one
//! snapshot, and the [`Viewer`] a request is answered for.
//!
//! Rules: a public layer is seen by everyone; a restricted one by its owning agency and the
//! agencies it is granted to; a private one by its owner only. Keys with the `admin` scope see
//! every layer. Hidden layers are answered exactly like missing ones by every endpoint.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::CoreResult;
use crate::api_key::{self, Scope};
use crate::layer::{Layer, Visibility};

/// PostgreSQL channel notified when keys, grants or agencies change.
pub const ACCESS_CHANNEL: &str = "bando_access";

/// One stored key.
#[derive(Debug, Clone)]
struct KeyRecord {
    id: i64,
    agency: Arc<str>,
    scopes: Vec<Scope>,
    hash: Vec<u8>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
}

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejection {
    /// Not a bando key, or no such key.
    Unknown,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
}

impl KeyRejection {
    /// A sentence for the caller (the same for malformed and unknown keys).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unknown => "the API key is not valid",
            Self::Revoked => "the API key has been revoked",
            Self::Expired => "the API key has expired",
        }
    }
}

/// Keys and grants in force, as of one load.
#[derive(Debug, Default)]
pub struct AccessSnapshot {
    keys: HashMap<String, KeyRecord>,
    /// Layer ids granted, by agency.
    grants: HashMap<Arc<str>, Arc<HashSet<i64>>>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    agency: String,
    prefix: String,
    hash: Vec<u8>,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
}

impl AccessSnapshot {
    /// Reads every key and grant.
    pub async fn load<'c, E>(db: E) -> CoreResult<Self>
    where
        E: PgExecutor<'c> + Copy,
    {
        let key_rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT id, agency, prefix, hash, scopes, expires_at, revoked_at IS NOT NULL AS revoked \
             FROM bando.api_keys",
        )
        .fetch_all(db)
        .await?;
        let grant_rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT agency, layer_id FROM bando.layer_grants")
                .fetch_all(db)
                .await?;
        let mut grants: HashMap<Arc<str>, HashSet<i64>> = HashMap::new();
        for (agency, layer_id) in grant_rows {
            grants
                .entry(Arc::from(agency))
                .or_default()
                .insert(layer_id);
        }
        let keys = key_rows
            .into_iter()
            .map(|r| {
                let record = KeyRecord {
                    id: r.id,
                    agency: Arc::from(r.agency),
                    scopes: r
                        .scopes
                        .iter()
                        .filter_map(|s| Scope::parse(s).ok())
                        .collect(),
                    hash: r.hash,
                    expires_at: r.expires_at,
                    revoked: r.revoked,
                };
                (r.prefix, record)
            })
            .collect();
        Ok(Self {
            keys,
            grants: grants.into_iter().map(|(a, g)| (a, Arc::new(g))).collect(),
        })
    }

    /// The agent holding `token`, if the key is valid at `now`.
    pub fn authenticate(&self, token: &str, now: DateTime<Utc>) -> Result<Agent, KeyRejection> {
        let record = api_key::prefix_of(token)
            .and_then(|prefix| self.keys.get(prefix))
            .filter(|r| api_key::verify(token, &r.hash))
            .ok_or(KeyRejection::Unknown)?;
        if record.revoked {
            return Err(KeyRejection::Revoked);
        }
        if record.expires_at.is_some_and(|t| t <= now) {
            return Err(KeyRejection::Expired);
        }
        Ok(Agent {
            key_id: record.id,
            agency: record.agency.clone(),
            admin: record.scopes.contains(&Scope::Admin),
            publish: record.scopes.contains(&Scope::Publish),
            grants: self.grants.get(&record.agency).cloned().unwrap_or_default(),
            token: Arc::from(token),
        })
    }
}

/// The holder of a valid key.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Key id (for the audit log).
    pub key_id: i64,
    /// The key's agency.
    pub agency: Arc<str>,
    /// Has the `admin` scope.
    pub admin: bool,
    /// Has the `publish` scope.
    pub publish: bool,
    /// Restricted layers granted to the agency.
    grants: Arc<HashSet<i64>>,
    /// The key as presented, to carry on in tile URLs given to this client.
    pub token: Arc<str>,
}

/// Whom a request is answered for.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// `None` for anonymous callers.
    pub agent: Option<Agent>,
}

impl Viewer {
    /// An anonymous caller: public layers only.
    pub const ANONYMOUS: Self = Self { agent: None };

    /// Whether the layer exists for this caller.
    pub fn can_see(&self, layer: &Layer) -> bool {
        self.can_see_parts(layer.id, &layer.agency, layer.visibility)
    }

    /// [`Viewer::can_see`] from the layer's id, owner and visibility.
    pub fn can_see_parts(&self, layer_id: i64, owner: &str, visibility: Visibility) -> bool {
        if visibility == Visibility::Public {
            return true;
        }
        let Some(agent) = &self.agent else {
            return false;
        };
        agent.admin
            || *agent.agency == *owner
            || (visibility == Visibility::Restricted && agent.grants.contains(&layer_id))
    }

    /// Whether the caller may publish into, and manage, layers of `agency`.
    pub fn can_manage(&self, agency: &str) -> bool {
        self.agent
            .as_ref()
            .is_some_and(|a| a.admin || (a.publish && *a.agency == *agency))
    }

    /// Whether the caller holds an admin key.
    pub fn is_admin(&self) -> bool {
        self.agent.as_ref().is_some_and(|a| a.admin)
    }

    /// The key presented, if any.
    pub fn token(&self) -> Option<&str> {
        self.agent.as_ref().map(|a| &*a.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_with(
        key: &api_key::NewKey,
        revoked: bool,
        expires_at: Option<DateTime<Utc>>,
    ) -> AccessSnapshot {
        let agency: Arc<str> = Arc::from("construction");
        AccessSnapshot {
            keys: HashMap::from([(
                key.prefix.clone(),
                KeyRecord {
                    id: 7,
                    agency: agency.clone(),
                    scopes: vec![Scope::Read],
                    hash: key.hash.to_vec(),
                    expires_at,
                    revoked,
                },
            )]),
            grants: HashMap::from([(agency, Arc::new(HashSet::from([42])))]),
        }
    }

    #[test]
    fn keys_are_checked_for_revocation_and_expiry() {
        let key = api_key::generate().unwrap();
        let now = Utc::now();
        let agent = snapshot_with(&key, false, None)
            .authenticate(&key.token, now)
            .unwrap();
        assert_eq!(&*agent.agency, "construction");
        assert!(!agent.admin && !agent.publish);
        let other = api_key::generate().unwrap();
        assert_eq!(
            snapshot_with(&key, false, None)
                .authenticate(&other.token, now)
                .unwrap_err(),
            KeyRejection::Unknown
        );
        assert_eq!(
            snapshot_with(&key, true, None)
                .authenticate(&key.token, now)
                .unwrap_err(),
            KeyRejection::Revoked
        );
        let past = now - chrono::Duration::seconds(1);
        assert_eq!(
            snapshot_with(&key, false, Some(past))
                .authenticate(&key.token, now)
                .unwrap_err(),
            KeyRejection::Expired
        );
    }

    #[test]
    fn visibility_rules() {
        let key = api_key::generate().unwrap();
        let agent = snapshot_with(&key, false, None)
            .authenticate(&key.token, Utc::now())
            .unwrap();
        let viewer = Viewer { agent: Some(agent) };
        let anonymous = Viewer::ANONYMOUS;
        for (id, owner, visibility, anon, keyed) in [
            (1, "hcmc", Visibility::Public, true, true),
            (42, "hcmc", Visibility::Restricted, false, true),
            (43, "hcmc", Visibility::Restricted, false, false),
            (42, "hcmc", Visibility::Private, false, false),
            (44, "construction", Visibility::Private, false, true),
            (45, "construction", Visibility::Restricted, false, true),
        ] {
            assert_eq!(
                anonymous.can_see_parts(id, owner, visibility),
                anon,
                "{id} {owner} anonymous"
            );
            assert_eq!(
                viewer.can_see_parts(id, owner, visibility),
                keyed,
                "{id} {owner} keyed"
            );
        }
        assert!(!viewer.can_manage("construction"), "read-only key");
    }
}
