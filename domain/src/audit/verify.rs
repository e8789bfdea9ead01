//! Checking the chain: every row's hash against its content and its
//! predecessor, and the newest signed checkpoint against the database; and
//! signing new checkpoints when the head moved.

use serde::{Deserialize, Serialize};

use super::chain::{self, ChainPoint};
use super::checkpoint::Checkpoint;
use super::row_hash::{RecordContent, GENESIS, KEYED, PLAIN};
use super::AuditLog;
use crate::error::{DomainError, Result};

/// What walking the chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainStatus {
    /// Every row's hash matches its content and its predecessor, and the
    /// newest checkpoint's row is there with the hash it signed.
    Intact { rows: u64 },
    /// The first row whose content or link does not match.
    Broken { id: i64, reason: BrokenLink },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrokenLink {
    /// The row's content no longer hashes to its stored hash.
    ContentAltered,
    /// The row does not point at the row before it (a row was removed or
    /// inserted out of band).
    ChainMismatch,
    /// A signed checkpoint names this row, and it is gone from the database
    /// (the newest rows were removed).
    RowsMissing,
    /// This row no longer has the hash a signed checkpoint recorded (rows
    /// up to it were rewritten).
    CheckpointMismatch,
    /// A plain SHA-256 row where only keyed rows can be: written by someone
    /// without the chain's key.
    NotKeyed,
    /// A keyed row in a database that no longer names its chain's key.
    KeyUnavailable,
}

impl BrokenLink {
    /// What the break means, in a sentence (for `verify-audit`).
    pub fn explain(self) -> &'static str {
        match self {
            BrokenLink::ContentAltered => "the row was altered after it was written",
            BrokenLink::ChainMismatch => "a row before it was removed, or it was inserted out of band",
            BrokenLink::RowsMissing => {
                "a signed checkpoint names this row and it is gone: the newest rows were removed"
            }
            BrokenLink::CheckpointMismatch => {
                "the row no longer has the hash a signed checkpoint recorded: rows were rewritten"
            }
            BrokenLink::NotKeyed => {
                "a row hashed without the chain's key where only keyed rows can be: rows were rewritten"
            }
            BrokenLink::KeyUnavailable => "a keyed row, and the database no longer names the chain's key",
        }
    }
}

impl AuditLog {
    /// Walks the whole chain in id order and names the first broken link;
    /// then compares with the newest signed checkpoint. What `verify-audit`
    /// runs.
    #[tracing::instrument(skip(self))]
    pub async fn verify(&self) -> Result<ChainStatus> {
        let key = self.key().await?;
        let checkpoint = self.newest_checkpoint(key.as_ref()).await?;
        let walked = self.walk_from(None, key).await?;
        if let ChainStatus::Broken { .. } = walked {
            return Ok(walked);
        }
        if let Some(broken) = self.compare(checkpoint.as_ref()).await? {
            return Ok(broken);
        }
        Ok(walked)
    }

    /// Compares with the newest signed checkpoint, then walks only the rows
    /// after the newest point known intact (verified earlier by this
    /// process, or signed in a checkpoint): what the audit page shows, in
    /// the time of the rows added since, not of the whole log.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn verify_recent(&self) -> Result<ChainStatus> {
        let key = self.key().await?;
        let checkpoint = self.newest_checkpoint(key.as_ref()).await?;
        if let Some(broken) = self.compare(checkpoint.as_ref()).await? {
            return Ok(broken);
        }
        let mut start = checkpoint.map(|c| c.point);
        if let Some(verified) = key.as_ref().and_then(|k| k.last_verified()) {
            if start.as_ref().is_none_or(|s| s.id <= verified.id) {
                let still = sqlx::query_scalar!("SELECT row_hash FROM audit_log WHERE id = $1", verified.id)
                    .fetch_optional(&self.pool)
                    .await?;
                match still {
                    None => {
                        return Ok(ChainStatus::Broken {
                            id: verified.id,
                            reason: BrokenLink::RowsMissing,
                        })
                    }
                    Some(hash) if hash != verified.hash => {
                        return Ok(ChainStatus::Broken {
                            id: verified.id,
                            reason: BrokenLink::CheckpointMismatch,
                        })
                    }
                    Some(_) => start = Some(verified),
                }
            }
        }
        self.walk_from(start, key).await
    }

    /// Verifies the recent rows and, when they are intact and the head moved
    /// since the newest checkpoint, signs a checkpoint of the head into the
    /// checkpoint file and the console's log. Returns what was verified.
    #[tracing::instrument(skip(self))]
    pub async fn checkpoint(&self) -> Result<ChainStatus> {
        let status = self.verify_recent().await?;
        let (Some(file), ChainStatus::Intact { .. }) = (&self.checkpoints, &status) else {
            return Ok(status);
        };
        let Some(key) = self.key().await? else {
            return Ok(status);
        };
        let Some(head) = key.last_verified().filter(|h| h.id > 0) else {
            return Ok(status);
        };
        let file = file.clone();
        let line = tokio::task::spawn_blocking(move || -> std::io::Result<Option<String>> {
            if file.newest(&key)?.is_some_and(|c| c.point.id == head.id) {
                return Ok(None);
            }
            file.append(&key, &head).map(Some)
        })
        .await
        .map_err(|e| DomainError::Internal(format!("checkpoint task: {e}")))?
        .map_err(|e| DomainError::Internal(format!("writing the audit checkpoint: {e}")))?;
        if let Some(line) = line {
            tracing::info!(checkpoint = %line, "audit checkpoint signed");
        }
        Ok(status)
    }

    /// The chain's key, when the chain is keyed.
    async fn key(&self) -> Result<Option<std::sync::Arc<chain::ChainKey>>> {
        match chain::chain_id(&self.pool).await? {
            None => Ok(None),
            Some(id) => chain::unlocked(&id).map(Some).ok_or_else(|| {
                DomainError::Internal("the audit chain's key was not opened in this process (AuditLog::unlock)".into())
            }),
        }
    }

    async fn newest_checkpoint(&self, key: Option<&std::sync::Arc<chain::ChainKey>>) -> Result<Option<Checkpoint>> {
        let (Some(file), Some(key)) = (self.checkpoints.clone(), key.cloned()) else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || file.newest(&key))
            .await
            .map_err(|e| DomainError::Internal(format!("checkpoint task: {e}")))?
            .map_err(|e| DomainError::Internal(format!("reading the audit checkpoints: {e}")))
    }

    /// Whether the row a checkpoint signed is still there with its hash.
    async fn compare(&self, checkpoint: Option<&Checkpoint>) -> Result<Option<ChainStatus>> {
        let Some(checkpoint) = checkpoint else {
            return Ok(None);
        };
        let id = checkpoint.point.id;
        let stored = sqlx::query_scalar!("SELECT row_hash FROM audit_log WHERE id = $1", id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match stored {
            None => Some(ChainStatus::Broken {
                id,
                reason: BrokenLink::RowsMissing,
            }),
            Some(hash) if hash != checkpoint.point.hash => Some(ChainStatus::Broken {
                id,
                reason: BrokenLink::CheckpointMismatch,
            }),
            Some(_) => None,
        })
    }

    /// Walks the rows after `start` (from the first row without it).
    async fn walk_from(
        &self,
        start: Option<ChainPoint>,
        key: Option<std::sync::Arc<chain::ChainKey>>,
    ) -> Result<ChainStatus> {
        const CHUNK: i64 = 10_000;
        let mut point = start.unwrap_or(ChainPoint {
            id: 0,
            hash: GENESIS.to_vec(),
            rows: 0,
            keyed: false,
        });
        loop {
            let chunk: Vec<ChainRow> = sqlx::query!(
                "SELECT id, at, actor_id, actor, action, target, outcome, details, client_address, request_id,
                        previous_hash, row_hash, chain_version
                 FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                point.id,
                CHUNK
            )
            .map(|row| ChainRow {
                id: row.id,
                content: RecordContent {
                    at: row.at,
                    actor_id: row.actor_id,
                    actor: row.actor,
                    action: row.action,
                    target: row.target,
                    outcome: row.outcome,
                    details: row.details,
                    client_address: row.client_address,
                    request_id: row.request_id,
                },
                previous_hash: row.previous_hash,
                row_hash: row.row_hash,
                chain_version: row.chain_version,
            })
            .fetch_all(&self.pool)
            .await?;
            if chunk.is_empty() {
                break;
            }
            let chunk_key = key.clone();
            point = match tokio::task::spawn_blocking(move || check_chain(point, chunk_key.as_deref(), &chunk))
                .await
                .map_err(|e| DomainError::Internal(format!("verify task: {e}")))?
            {
                Ok(point) => point,
                Err(broken) => return Ok(broken),
            };
        }
        if let Some(key) = key {
            if point.rows > 0 && !point.keyed {
                return Ok(ChainStatus::Broken {
                    id: point.id,
                    reason: BrokenLink::NotKeyed,
                });
            }
            key.remember_verified(&point);
        }
        Ok(ChainStatus::Intact { rows: point.rows })
    }
}

struct ChainRow {
    id: i64,
    content: RecordContent,
    previous_hash: Vec<u8>,
    row_hash: Vec<u8>,
    chain_version: i16,
}

/// Checks `rows` (in id order) after `point`; returns the new head, or the
/// first break.
fn check_chain(
    mut point: ChainPoint,
    key: Option<&chain::ChainKey>,
    rows: &[ChainRow],
) -> std::result::Result<ChainPoint, ChainStatus> {
    for row in rows {
        let broken = |reason| ChainStatus::Broken { id: row.id, reason };
        if row.previous_hash != point.hash {
            return Err(broken(BrokenLink::ChainMismatch));
        }
        let expected = match (row.chain_version, key) {
            (PLAIN, _) if point.keyed => return Err(broken(BrokenLink::NotKeyed)),
            (PLAIN, _) => row.content.chained_hash(&point.hash),
            (KEYED, Some(key)) => row.content.keyed_hash(&point.hash, key),
            (KEYED, None) => return Err(broken(BrokenLink::KeyUnavailable)),
            _ => return Err(broken(BrokenLink::ContentAltered)),
        };
        if expected.as_slice() != row.row_hash.as_slice() {
            return Err(broken(BrokenLink::ContentAltered));
        }
        point = ChainPoint {
            id: row.id,
            hash: row.row_hash.clone(),
            rows: point.rows + 1,
            keyed: row.chain_version == KEYED,
        };
    }
    Ok(point)
}
