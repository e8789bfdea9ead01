//! The audit chain's key: rows are chained with HMAC-SHA256 under a random
//! key kept in the secret store, sealed under the master key, which the
//! database never sees. Whoever can write to the database can still delete
//! or rewrite rows, but cannot compute the hashes that would hide it.
//!
//! The first console that starts on a database creates the key and writes
//! the first keyed row (`audit.chain_keyed`); every console then opens the
//! key once at start-up ([`super::AuditLog::unlock`]). The opened keys of a
//! process are held here by chain id, so that any code holding a transaction
//! can append a row ([`super::AuditEntry::record`]) without carrying the key.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use sqlx::PgPool;
use zeroize::Zeroizing;

use crate::error::{DomainError, Result};
use crate::secrets::{SecretId, SecretStore};

type HmacSha256 = Hmac<Sha256>;

const KEY_LEN: usize = 32;
const CHAIN_ID_LEN: usize = 16;

/// A point of the chain: a row's id and hash, and how many rows lead to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPoint {
    pub id: i64,
    pub hash: Vec<u8>,
    pub rows: u64,
    /// Whether the row is keyed (version 2): no plain row may follow it.
    pub keyed: bool,
}

/// The opened key of one chain, and how far this process has verified it.
pub struct ChainKey {
    pub(crate) chain_id: Vec<u8>,
    key: Zeroizing<[u8; KEY_LEN]>,
    /// The newest point this process found intact: the audit page walks
    /// only the rows after it.
    pub(crate) verified: Mutex<Option<ChainPoint>>,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainKey(chain {})", hex::encode(&self.chain_id))
    }
}

impl ChainKey {
    fn new(chain_id: Vec<u8>, key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self {
            chain_id,
            key,
            verified: Mutex::new(None),
        }
    }

    /// A key of its own, for tests.
    #[cfg(test)]
    pub(crate) fn random() -> Self {
        let mut chain_id = vec![0u8; CHAIN_ID_LEN];
        rand::rngs::OsRng.fill_bytes(&mut chain_id);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self::new(chain_id, key)
    }

    fn hmac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(self.key.as_ref()).expect("HMAC takes a key of any length")
    }

    /// HMAC-SHA256 over the parts, in order.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.hmac();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC of the parts (compared in constant time).
    pub(crate) fn verifies(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut mac = self.hmac();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(tag).is_ok()
    }

    pub(crate) fn remember_verified(&self, point: &ChainPoint) {
        let mut verified = self
            .verified
            .lock()
            .expect("the verified point's lock is never poisoned");
        if verified.as_ref().is_none_or(|v| v.id <= point.id) {
            *verified = Some(point.clone());
        }
    }

    pub(crate) fn last_verified(&self) -> Option<ChainPoint> {
        self.verified
            .lock()
            .expect("the verified point's lock is never poisoned")
            .clone()
    }
}

static UNLOCKED: LazyLock<RwLock<HashMap<Vec<u8>, Arc<ChainKey>>>> = LazyLock::new(Default::default);

/// The key of chain `chain_id`, if this process has opened it.
pub(crate) fn unlocked(chain_id: &[u8]) -> Option<Arc<ChainKey>> {
    UNLOCKED
        .read()
        .expect("the key registry's lock is never poisoned")
        .get(chain_id)
        .cloned()
}

fn register(key: ChainKey) -> Arc<ChainKey> {
    let mut keys = UNLOCKED.write().expect("the key registry's lock is never poisoned");
    keys.entry(key.chain_id.clone())
        .or_insert_with(|| Arc::new(key))
        .clone()
}

/// What the key is sealed for: its chain, so the sealed value of another
/// chain (or another secret) pointed at from `audit_chain` does not open.
fn purpose(chain_id: &[u8]) -> String {
    format!("audit.chain_key:{}", hex::encode(chain_id))
}

/// The chain id of the database, if its chain is keyed.
pub(crate) async fn chain_id(executor: impl sqlx::PgExecutor<'_>) -> Result<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar!("SELECT chain_id FROM audit_chain")
        .fetch_optional(executor)
        .await?)
}

/// Opens the chain's key, creating it (and the first keyed row) when the
/// database has none yet.
pub(crate) async fn unlock(pool: &PgPool, secrets: &SecretStore) -> Result<Arc<ChainKey>> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", crate::advisory_locks::AUDIT_CHAIN)
        .execute(&mut *tx)
        .await?;
    let existing = sqlx::query!("SELECT chain_id, key_secret FROM audit_chain")
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| (row.chain_id, row.key_secret));
    if let Some((chain_id, secret)) = existing {
        tx.rollback().await?;
        if let Some(key) = unlocked(&chain_id) {
            return Ok(key);
        }
        // The row `audit_chain` points at must be this chain's key, not
        // another secret (its purpose is sealed with it).
        let stored = sqlx::query_scalar!("SELECT purpose FROM secrets WHERE id = $1", secret)
            .fetch_optional(pool)
            .await?;
        if stored.as_deref() != Some(purpose(&chain_id).as_str()) {
            return Err(DomainError::Internal(
                "the audit chain names a secret that is not its key: restore the database from a backup".into(),
            ));
        }
        let opened = secrets.get(SecretId(secret)).await.map_err(|error| {
            DomainError::Internal(format!(
                "the audit chain's key cannot be opened ({error}): start the console with the master key it was created under"
            ))
        })?;
        let key: [u8; KEY_LEN] = opened
            .as_slice()
            .try_into()
            .map_err(|_| DomainError::Internal("the audit chain's key has the wrong length".into()))?;
        return Ok(register(ChainKey::new(chain_id, Zeroizing::new(key))));
    }
    let mut chain_id = vec![0u8; CHAIN_ID_LEN];
    rand::rngs::OsRng.fill_bytes(&mut chain_id);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    let secret = secrets.put(&mut tx, &purpose(&chain_id), key.as_ref()).await?;
    sqlx::query!(
        "INSERT INTO audit_chain (chain_id, key_secret) VALUES ($1, $2)",
        chain_id,
        secret.0
    )
    .execute(&mut *tx)
    .await?;
    let legacy_rows = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM audit_log"#)
        .fetch_one(&mut *tx)
        .await?;
    let key = register(ChainKey::new(chain_id.clone(), key));
    super::AuditEntry::new(
        super::Actor::System,
        super::AuditAction::AuditChainKeyed,
        "audit_log",
        super::Outcome::Success,
    )
    .detail("chain", hex::encode(&chain_id))
    .detail("unkeyed_rows_before", legacy_rows)
    .record(&mut tx)
    .await?;
    tx.commit().await?;
    tracing::info!(chain = %hex::encode(&chain_id), "the audit chain is keyed from now on");
    Ok(key)
}
