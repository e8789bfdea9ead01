//! The audit log: one append-only table (the database refuses UPDATE, DELETE
//! and TRUNCATE on it, and the console's own role may only read and insert)
//! whose rows are chained by HMAC-SHA256 under a key kept out of the
//! database ([`chain`]), with the head signed into checkpoints outside the
//! database ([`checkpoint`]), so that a row altered, added or removed behind
//! the console's back is found by [`AuditLog::verify`].
//!
//! A change and its audit record are written in the same transaction: use
//! [`AuditEntry::record`] inside the change's transaction, and
//! [`AuditEntry::record_alone`] only for events that change nothing else
//! (a failed sign-in, a denial).

use std::fmt::Write as _;

use futures::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::error::{DomainError, Result};

pub mod chain;
pub mod checkpoint;
pub mod repeats;

pub use chain::ChainPoint;
pub use checkpoint::{Checkpoint, CheckpointFile};

/// Rows chained with plain SHA-256, before the chain had a key.
const PLAIN: i16 = 1;
/// Rows chained with HMAC-SHA256 under the chain's key.
const KEYED: i16 = 2;

/// Details strings longer than this are cut: the log records what happened,
/// not whatever an attacker pasted into a form.
const MAX_DETAIL_CHARS: usize = 200;

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
    fn id(&self) -> Option<i64> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Denied];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    pub fn parse(raw: &str) -> Result<Self> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("outcome", "error-outcome-unknown"))
    }
}

/// Where a request came from: recorded with every audit row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    pub client_address: Option<String>,
    pub request_id: Option<String>,
}

/// One audit record about to be written.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    actor: Actor,
    action: String,
    target: String,
    outcome: Outcome,
    details: Map<String, Value>,
    provenance: Provenance,
}

impl AuditEntry {
    pub fn new(actor: Actor, action: &str, target: &str, outcome: Outcome) -> Self {
        Self {
            actor,
            action: clean(action),
            target: clean(target),
            outcome,
            details: Map::new(),
            provenance: Provenance::default(),
        }
    }

    /// Adds a detail. Never pass a secret: details are shown to every
    /// operator and exported. Strings are cut and stripped of control
    /// characters.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(clean(key), sanitize(value.into()));
        self
    }

    pub fn from(mut self, provenance: &Provenance) -> Self {
        self.provenance = Provenance {
            client_address: provenance.client_address.as_deref().map(clean),
            request_id: provenance.request_id.as_deref().map(clean),
        };
        self
    }

    /// Appends this record inside the caller's transaction, chained to the
    /// previous row.
    pub async fn record(self, tx: &mut PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(crate::advisory_locks::AUDIT_CHAIN)
            .execute(&mut *tx)
            .await?;
        let previous: Option<Vec<u8>> = sqlx::query_scalar("SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let previous = previous.unwrap_or_else(|| GENESIS.to_vec());
        // A keyed chain takes keyed rows only; a database whose chain was
        // never keyed (no console started on it yet) takes plain ones.
        let key = match chain::chain_id(&mut *tx).await? {
            Some(chain_id) => Some(chain::unlocked(&chain_id).ok_or_else(|| {
                DomainError::Internal("the audit chain's key was not opened in this process (AuditLog::unlock)".into())
            })?),
            None => None,
        };
        let content = RecordContent {
            at: now_to_the_microsecond(),
            actor_id: self.actor.id(),
            actor: self.actor.name().to_owned(),
            action: self.action,
            target: self.target,
            outcome: self.outcome.as_str().to_owned(),
            details: Value::Object(self.details),
            client_address: self.provenance.client_address,
            request_id: self.provenance.request_id,
        };
        let (version, hash) = match &key {
            Some(key) => (KEYED, content.keyed_hash(&previous, key)),
            None => (PLAIN, content.chained_hash(&previous)),
        };
        sqlx::query(
            "INSERT INTO audit_log
                (at, actor_id, actor, action, target, outcome, details, client_address, request_id, previous_hash, row_hash,
                 chain_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(content.at)
        .bind(content.actor_id)
        .bind(&content.actor)
        .bind(&content.action)
        .bind(&content.target)
        .bind(&content.outcome)
        .bind(&content.details)
        .bind(&content.client_address)
        .bind(&content.request_id)
        .bind(&previous)
        .bind(hash.as_slice())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Appends this record in a transaction of its own: for events that
    /// change nothing else.
    pub async fn record_alone(self, pool: &PgPool) -> Result<()> {
        let mut tx = pool.begin().await?;
        self.record(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The `previous_hash` of the first row.
const GENESIS: [u8; 32] = [0; 32];

fn now_to_the_microsecond() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .expect("a truncated nanosecond is valid")
}

/// Keeps printable text only (PostgreSQL refuses NUL bytes; control
/// characters have no place in a log) and cuts it to a readable length.
fn clean(raw: &str) -> String {
    let mut cleaned: String = raw.chars().filter(|c| !c.is_control()).take(MAX_DETAIL_CHARS).collect();
    if raw.chars().filter(|c| !c.is_control()).nth(MAX_DETAIL_CHARS).is_some() {
        cleaned.push('…');
    }
    cleaned
}

fn sanitize(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(clean(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitize).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (clean(&k), sanitize(v))).collect()),
        other => other,
    }
}

/// The hashed part of a row: everything but its id and the hashes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordContent {
    pub at: OffsetDateTime,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub details: Value,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
}

impl RecordContent {
    /// Version 1: SHA-256 over the previous hash and the canonical content.
    /// Anyone with the database can compute it (which is why the chain is
    /// now keyed); public so tests can rewrite rows as an attacker would.
    pub fn chained_hash(&self, previous: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(previous);
        hasher.update(self.canonical().as_bytes());
        hasher.finalize().into()
    }

    /// Version 2: HMAC-SHA256 under the chain's key over the previous hash
    /// and the canonical content.
    fn keyed_hash(&self, previous: &[u8], key: &chain::ChainKey) -> [u8; 32] {
        key.mac(&[previous, self.canonical().as_bytes()])
    }

    /// A canonical encoding of the content (JSON with sorted keys, time in
    /// microseconds since the epoch), so the same row always hashes the same
    /// whatever order PostgreSQL's jsonb gives its keys back in.
    fn canonical(&self) -> String {
        let mut canonical = String::with_capacity(256);
        canonical.push('[');
        let micros = self.at.unix_timestamp_nanos() / 1_000;
        let _ = write!(canonical, "{micros},");
        match self.actor_id {
            Some(id) => {
                let _ = write!(canonical, "{id},");
            }
            None => canonical.push_str("null,"),
        }
        for text in [&self.actor, &self.action, &self.target, &self.outcome] {
            write_json_string(&mut canonical, text);
            canonical.push(',');
        }
        write_canonical_json(&mut canonical, &self.details);
        for text in [&self.client_address, &self.request_id] {
            canonical.push(',');
            match text {
                Some(text) => write_json_string(&mut canonical, text),
                None => canonical.push_str("null"),
            }
        }
        canonical.push(']');
        canonical
    }
}

fn write_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).expect("a string serialises"));
}

fn write_canonical_json(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_canonical_json(out, &map[key]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical_json(out, item);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One row of the audit log as staff read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub details: Value,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
}

/// What the audit page and the CSV export select. Empty fields select all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<Outcome>,
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Free text searched for in the details.
    pub text: Option<String>,
}

/// Where the next page starts: the (time, id) of the last row shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: OffsetDateTime,
    pub id: i64,
}

impl AuditCursor {
    /// `"<microseconds since the epoch>.<id>"`, for URLs.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.unix_timestamp_nanos() / 1_000, self.id)
    }

    pub fn decode(raw: &str) -> Result<Self> {
        let invalid = || DomainError::invalid("cursor", "error-cursor");
        let (micros, id) = raw.split_once('.').ok_or_else(invalid)?;
        let micros: i128 = micros.parse().map_err(|_| invalid())?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).map_err(|_| invalid())?;
        Ok(Self {
            at,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Present when older rows match the filter.
    pub next: Option<AuditCursor>,
}

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

#[derive(Clone, Debug)]
pub struct AuditLog {
    pool: PgPool,
    checkpoints: Option<CheckpointFile>,
}

const RECORD_COLUMNS: &str = "id, at, actor, action, target, outcome, details, client_address, request_id";

impl AuditLog {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            checkpoints: None,
        }
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
    pub async fn unlock(&self, secrets: &crate::secrets::SecretStore) -> Result<()> {
        chain::unlock(&self.pool, secrets).await.map(|_| ())
    }

    /// Writes the summaries of repeated refusals counted for longer than
    /// `older_than` (every pending one with zero). Returns how many.
    pub async fn flush_repeats(&self, older_than: std::time::Duration) -> Result<u64> {
        repeats::flush(&self.pool, older_than).await
    }

    /// One page of matching records, newest first, starting after `after`.
    pub async fn page(&self, filter: &AuditFilter, after: Option<AuditCursor>, limit: u32) -> Result<AuditPage> {
        let limit = limit.clamp(1, 500);
        let mut records = fetch_page(&self.pool, filter, after, limit + 1).await?;
        let next = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| AuditCursor { at: r.at, id: r.id })
        } else {
            None
        };
        Ok(AuditPage { records, next })
    }

    /// Every matching record, newest first, as CSV text in chunks: memory
    /// stays constant whatever the size of the log.
    pub fn export_csv(&self, filter: AuditFilter) -> impl Stream<Item = Result<Vec<u8>>> + Send + 'static {
        const CHUNK: u32 = 5_000;
        let pool = self.pool.clone();
        let header = futures::stream::once(async { Ok::<_, DomainError>(csv_header()) });
        let body = futures::stream::try_unfold(Some(None), move |state: Option<Option<AuditCursor>>| {
            let pool = pool.clone();
            let filter = filter.clone();
            async move {
                let Some(after) = state else { return Ok(None) };
                let records = fetch_page(&pool, &filter, after, CHUNK).await?;
                if records.is_empty() {
                    return Ok(None);
                }
                let next = (records.len() == CHUNK as usize)
                    .then(|| records.last().map(|r| AuditCursor { at: r.at, id: r.id }));
                let chunk = tokio::task::spawn_blocking(move || csv_rows(&records))
                    .await
                    .map_err(|e| DomainError::Internal(format!("csv task: {e}")))??;
                Ok(Some((chunk, next)))
            }
        });
        header.chain(body)
    }

    /// Walks the whole chain in id order and names the first broken link;
    /// then compares with the newest signed checkpoint. What `verify-audit`
    /// runs.
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
    pub async fn verify_recent(&self) -> Result<ChainStatus> {
        let key = self.key().await?;
        let checkpoint = self.newest_checkpoint(key.as_ref()).await?;
        if let Some(broken) = self.compare(checkpoint.as_ref()).await? {
            return Ok(broken);
        }
        let mut start = checkpoint.map(|c| c.point);
        if let Some(verified) = key.as_ref().and_then(|k| k.last_verified()) {
            if start.as_ref().is_none_or(|s| s.id <= verified.id) {
                let still: Option<Vec<u8>> = sqlx::query_scalar("SELECT row_hash FROM audit_log WHERE id = $1")
                    .bind(verified.id)
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
        let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT row_hash FROM audit_log WHERE id = $1")
            .bind(id)
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
            let chunk: Vec<ChainRow> = sqlx::query_as(
                "SELECT id, at, actor_id, actor, action, target, outcome, details, client_address, request_id,
                        previous_hash, row_hash, chain_version
                 FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(point.id)
            .bind(CHUNK)
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

#[derive(sqlx::FromRow)]
struct ChainRow {
    id: i64,
    #[sqlx(flatten)]
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

async fn fetch_page(
    pool: &PgPool,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: u32,
) -> Result<Vec<AuditRecord>> {
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE true"));
    if let Some(actor) = &filter.actor {
        query.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(action) = &filter.action {
        query.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(target) = &filter.target {
        query.push(" AND target = ").push_bind(target.clone());
    }
    if let Some(outcome) = filter.outcome {
        query.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if let Some(from) = filter.from {
        query.push(" AND at >= ").push_bind(from);
    }
    if let Some(until) = filter.until {
        query.push(" AND at < ").push_bind(until);
    }
    if let Some(text) = &filter.text {
        query
            .push(" AND details::text ILIKE ")
            .push_bind(format!("%{}%", escape_like(text)));
    }
    if let Some(after) = after {
        query
            .push(" AND (at, id) < (")
            .push_bind(after.at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    query
        .push(" ORDER BY at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit));
    Ok(query.build_query_as::<AuditRecord>().fetch(pool).try_collect().await?)
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

const CSV_COLUMNS: [&str; 9] = [
    "id",
    "at",
    "actor",
    "action",
    "target",
    "outcome",
    "details",
    "client_address",
    "request_id",
];

fn csv_header() -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS).expect("writing to memory");
    writer.into_inner().expect("writing to memory")
}

fn csv_rows(records: &[AuditRecord]) -> Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(records.len() * 160));
    let format = time::format_description::well_known::Rfc3339;
    for r in records {
        let at = r.at.format(&format).map_err(|e| DomainError::Internal(e.to_string()))?;
        writer
            .write_record([
                r.id.to_string().as_str(),
                &at,
                &spreadsheet_safe(&r.actor),
                &spreadsheet_safe(&r.action),
                &spreadsheet_safe(&r.target),
                &r.outcome,
                &spreadsheet_safe(&r.details.to_string()),
                r.client_address.as_deref().unwrap_or(""),
                r.request_id.as_deref().unwrap_or(""),
            ])
            .map_err(|e| DomainError::Internal(e.to_string()))?;
    }
    writer.into_inner().map_err(|e| DomainError::Internal(e.to_string()))
}

/// A cell a spreadsheet would take for a formula gets a leading quote.
fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(details: Value) -> RecordContent {
        RecordContent {
            at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            actor_id: Some(3),
            actor: "marie".into(),
            action: "account.create".into(),
            target: "paul".into(),
            outcome: "success".into(),
            details,
            client_address: Some("127.0.0.1".into()),
            request_id: None,
        }
    }

    #[test]
    fn the_hash_does_not_depend_on_the_order_of_detail_keys() {
        let a = content(serde_json::json!({"role": "operator", "by": "x"}));
        let b = content(serde_json::from_str(r#"{"by":"x","role":"operator"}"#).unwrap());
        assert_eq!(a.chained_hash(&GENESIS), b.chained_hash(&GENESIS));
    }

    #[test]
    fn the_hash_changes_with_the_content_and_with_the_previous_link() {
        let base = content(serde_json::json!({"role": "operator"}));
        let mut altered = base.clone();
        altered.target = "pierre".into();
        assert_ne!(base.chained_hash(&GENESIS), altered.chained_hash(&GENESIS));
        assert_ne!(base.chained_hash(&GENESIS), base.chained_hash(&[1; 32]));
    }

    #[test]
    fn details_lose_nul_bytes_and_are_cut() {
        let entry = AuditEntry::new(Actor::Anonymous, "session.sign_in", "x", Outcome::Failure)
            .detail("username", format!("a\0b{}", "z".repeat(1_000_000)));
        let Value::String(kept) = &entry.details["username"] else {
            panic!()
        };
        assert!(kept.starts_with("abz"));
        assert_eq!(kept.chars().count(), MAX_DETAIL_CHARS + 1);
    }

    #[test]
    fn a_cursor_survives_its_url_form() {
        let cursor = AuditCursor {
            at: now_to_the_microsecond(),
            id: 42,
        };
        assert_eq!(AuditCursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(AuditCursor::decode("x.1").is_err());
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_quoted() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(spreadsheet_safe("marie"), "marie");
    }
}
