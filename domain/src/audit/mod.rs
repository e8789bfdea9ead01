//! The audit log: one append-only table (the database refuses UPDATE, DELETE
//! and TRUNCATE on it, and the console's own role may only read and insert)
//! whose rows are chained by HMAC-SHA256 under a key kept out of the
//! database ([`chain`]), with the head signed into checkpoints outside the
//! database ([`checkpoint`]), so that a row altered, added or removed behind
//! the console's back is found by [`AuditLog::verify`] ([`verify`]).
//!
//! A change and its audit record are written in the same transaction: use
//! [`AuditEntry::record`] ([`entry`]) inside the change's transaction, and
//! [`AuditEntry::record_alone`] only for events that change nothing else
//! (a failed sign-in, a denial). Staff read the log through [`search`]
//! (the audit page's filters) and [`export`] (the same rows as CSV), the
//! dashboard through [`newest`] (the newest rows, kept in memory between
//! appends); how a row is hashed is in [`row_hash`], repeated refusals in
//! [`repeats`].

use sqlx::PgPool;

use crate::error::Result;

pub mod chain;
pub mod checkpoint;
pub mod entry;
pub mod export;
pub mod newest;
pub mod repeats;
pub mod row_hash;
pub mod search;
pub mod verify;

pub use chain::ChainPoint;
pub use checkpoint::{Checkpoint, CheckpointFile};
pub use entry::{require_role, AuditEntry};
pub use newest::NewestRecords;
pub use row_hash::RecordContent;
pub use search::{AuditCursor, AuditFilter, AuditPage, AuditRecord};
pub use verify::{BrokenLink, ChainStatus};
/// The words of the log, shared with the browser.
pub use vocabulary::audit::{AuditAction, Outcome};

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Operator {
        id: i64,
        username: String,
    },
    /// The console itself (start-up, scheduled work).
    System,
    /// Nobody signed in (a failed sign-in, a refused request).
    Anonymous,
}

impl Actor {
    pub(crate) fn id(&self) -> Option<i64> {
        match self {
            Actor::Operator { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Actor::Operator { username, .. } => username,
            Actor::System => "system",
            Actor::Anonymous => "anonymous",
        }
    }
}

/// Where a request came from: recorded with every audit row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    pub client_address: Option<String>,
    pub request_id: Option<String>,
    /// The name of the API token the request was made with, if it was:
    /// every record it leads to names it (`token` in the details).
    pub token: Option<String>,
}

/// The audit log as staff and the console's own checks read it.
#[derive(Clone, Debug)]
pub struct AuditLog {
    pool: PgPool,
    checkpoints: Option<CheckpointFile>,
    newest: std::sync::Arc<NewestRecords>,
}

impl AuditLog {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            checkpoints: None,
            newest: Default::default(),
        }
    }

    /// The newest records, newest first, as the dashboard lists them
    /// (remembered between appends: see [`newest`]).
    pub async fn newest(&self) -> Result<std::sync::Arc<Vec<AuditRecord>>> {
        newest::read(&self.newest, &self.pool).await
    }

    /// What this process remembers of the newest records, for whoever hears
    /// the database's announcements of appends.
    pub fn newest_records(&self) -> std::sync::Arc<NewestRecords> {
        self.newest.clone()
    }

    /// Compares the chain with the checkpoints in `file`, and signs new ones
    /// into it ([`AuditLog::checkpoint`]).
    pub fn with_checkpoints(mut self, file: CheckpointFile) -> Self {
        self.checkpoints = Some(file);
        self
    }

    /// Opens the chain's key from the secret store (creating it, and the
    /// first keyed row, on a database that has none): every console does
    /// this at start-up, before it writes to the log.
    #[tracing::instrument(skip_all)]
    pub async fn unlock(&self, secrets: &crate::secrets::SecretStore) -> Result<()> {
        chain::unlock(&self.pool, secrets).await.map(|_| ())
    }

    /// Writes the summaries of repeated refusals counted for longer than
    /// `older_than` (every pending one with zero). Returns how many.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn flush_repeats(&self, older_than: std::time::Duration) -> Result<u64> {
        repeats::flush(&self.pool, older_than).await
    }
}
