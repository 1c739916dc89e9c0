//! Where reads go: the primary, or a streaming replica that has replayed every change this
//! instance knows of.
//!
//! PostgreSQL does not deliver `NOTIFY` to standbys, and standbys lag. When this instance hears
//! of a change (on the primary), it notes the primary's WAL position then ([`ReadPools::require`]):
//! the change committed at or before it. A replica is in rotation while it answers and has
//! replayed up to that position (polled every [`POLL`]); otherwise reads go elsewhere, and it is
//! put back by itself once it has caught up. A tile built on a replica is also stamped with the
//! revisions it read (`tiles::change_log`), so even a replica that fell behind between two polls
//! can never have its tile taken for current.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::PgPool;

use crate::metrics::{Metrics, ReplicaLabels};

/// How often each replica's replay position is read.
pub const POLL: Duration = Duration::from_millis(100);

/// Which databases a read may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// A replica in rotation, else the primary.
    AnyCurrent,
    /// The primary (a replica's answer was found older than a known change).
    Primary,
}

#[derive(Debug)]
struct Replica {
    label: String,
    pool: PgPool,
    /// Last replay position read (0 before the first).
    replayed: AtomicU64,
    /// Answered its last poll.
    up: AtomicBool,
}

/// The primary and the replicas.
#[derive(Debug, Clone)]
pub struct ReadPools {
    primary: PgPool,
    replicas: Arc<[Replica]>,
    next: Arc<AtomicUsize>,
    /// WAL position every change this instance knows of committed by.
    required: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

/// A WAL position (`X/Y` as PostgreSQL prints a `pg_lsn`) as a number.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

impl ReadPools {
    /// Reads from `primary` only.
    pub fn primary_only(primary: PgPool, metrics: Arc<Metrics>) -> Self {
        Self::new(primary, Vec::new(), metrics)
    }

    /// Reads spread over `replicas` (pools in `--replica-url` order), `primary` as the fallback.
    pub fn new(primary: PgPool, replicas: Vec<PgPool>, metrics: Arc<Metrics>) -> Self {
        let replicas = replicas
            .into_iter()
            .enumerate()
            .map(|(i, pool)| Replica {
                label: format!("replica{i}"),
                pool,
                replayed: AtomicU64::new(0),
                up: AtomicBool::new(false),
            })
            .collect();
        Self {
            primary,
            replicas,
            next: Arc::default(),
            required: Arc::default(),
            metrics,
        }
    }

    /// The primary.
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// Whether any replica is configured.
    pub fn has_replicas(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// Whether a replica is in rotation now: reads may go on while the primary is down.
    pub fn replica_in_rotation(&self) -> bool {
        let required = self.required.load(Ordering::Acquire);
        self.replicas.iter().any(|r| r.in_rotation(required))
    }

    /// The pool a read should use: round-robin over the replicas in rotation, else the primary.
    pub fn pick(&self, from: ReadFrom) -> &PgPool {
        if self.replicas.is_empty() {
            return &self.primary;
        }
        let (pool, label) = self.choose(from);
        self.metrics
            .tiers
            .reads
            .get_or_create(&ReplicaLabels {
                target: label.to_owned(),
            })
            .inc();
        pool
    }

    fn choose(&self, from: ReadFrom) -> (&PgPool, &str) {
        if from == ReadFrom::AnyCurrent {
            let required = self.required.load(Ordering::Acquire);
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            for i in 0..self.replicas.len() {
                let replica = &self.replicas[(start + i) % self.replicas.len()];
                if replica.in_rotation(required) {
                    return (&replica.pool, &replica.label);
                }
            }
        }
        (&self.primary, "primary")
    }

    /// Notes that a change committed before now on the primary: replicas must replay up to the
    /// primary's present WAL position before they serve reads again.
    pub async fn require_current(&self) {
        if self.replicas.is_empty() {
            return;
        }
        // The insert position, not the write position: with `synchronous_commit = off` a commit
        // record may not be written out yet, and the replica must replay it too.
        match sqlx::query_scalar::<_, String>("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&self.primary)
            .await
        {
            Ok(lsn) => {
                if let Some(lsn) = parse_lsn(&lsn) {
                    self.required.fetch_max(lsn, Ordering::AcqRel);
                }
            }
            // The primary is unreachable: no change can commit that this instance could hear
            // of, so the requirement stands as it is, and current replicas keep serving reads.
            Err(e) => {
                tracing::debug!(error = %e, "primary WAL position unknown; replica requirement unchanged");
            }
        }
    }

    /// Polls every replica's replay position until the task is aborted; logs when one leaves or
    /// rejoins the rotation.
    pub async fn watch(self) {
        if self.replicas.is_empty() {
            return;
        }
        let metrics = self.metrics.clone();
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_in: Vec<Option<bool>> = vec![None; self.replicas.len()];
        loop {
            ticker.tick().await;
            let required = self.required.load(Ordering::Acquire);
            for (replica, was_in) in self.replicas.iter().zip(&mut was_in) {
                let replayed = tokio::time::timeout(
                    POLL * 5,
                    sqlx::query_scalar::<_, Option<String>>(
                        "SELECT pg_last_wal_replay_lsn()::text",
                    )
                    .fetch_one(&replica.pool),
                )
                .await;
                match replayed {
                    Ok(Ok(Some(lsn))) => {
                        replica
                            .replayed
                            .store(parse_lsn(&lsn).unwrap_or(0), Ordering::Release);
                        replica.up.store(true, Ordering::Release);
                    }
                    // Not a standby (no replay position), an error or no answer in time.
                    _ => replica.up.store(false, Ordering::Release),
                }
                let now_in = replica.in_rotation(required);
                if *was_in != Some(now_in) {
                    if now_in {
                        tracing::info!(replica = %replica.label, "replica in rotation");
                    } else {
                        tracing::warn!(replica = %replica.label,
                            up = replica.up.load(Ordering::Acquire),
                            "replica out of rotation (down, not a standby, or behind a known change)");
                    }
                    *was_in = Some(now_in);
                }
                metrics
                    .tiers
                    .replica_in_rotation
                    .get_or_create(&ReplicaLabels {
                        target: replica.label.clone(),
                    })
                    .set(i64::from(now_in));
            }
        }
    }
}

impl Replica {
    fn in_rotation(&self, required: u64) -> bool {
        self.up.load(Ordering::Acquire) && self.replayed.load(Ordering::Acquire) >= required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_orders_as_numbers() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B_3748));
        assert!(parse_lsn("1/0").unwrap() > parse_lsn("0/FFFFFFFF").unwrap());
        assert_eq!(parse_lsn("nonsense"), None);
    }
}
