//! A short in-process memory of sessions and of the operators behind them,
//! so that a signed-in page does not read its session row and its account
//! row from PostgreSQL at every request.
//!
//! Several console processes may share one database: what one of them
//! changes must end what the others remember, at once. PostgreSQL says so on
//! the `console_sessions` channel: a trigger on the session table announces
//! every update or deletion of a session (sign-out, a replaced id, an
//! expired row deleted, an idle deadline moved), and one on `accounts`
//! every change to an account (disabled, password changed or reset,
//! language). Each process listens; a notification drops the entry it
//! names. While the listening connection is down nothing is remembered, and
//! everything is forgotten when it comes back (notifications may have been
//! missed meanwhile).
//!
//! tower-sessions' own `CachingSessionStore` is not used: it caches what it
//! read from the database after the read, so a sign-out announced between
//! the read and the caching would be missed, and the session kept alive in
//! this process. Here an entry read is kept only if no announcement arrived
//! while it was being read. Sessions are remembered by a SHA-256 digest of
//! their id, which is also what the announcements carry: a session id (the
//! cookie's bearer secret) is never sent over a channel other database
//! users may listen to.
//!
//! The same connection hears, for the home page's memories
//! ([`HomePageMemory`]), the audit log's appends (on
//! [`domain::audit::newest::CHANNEL`]: the newest records) and the changes
//! of backups, verifications and hosts (on
//! [`domain::backups::HEALTH_CHANNEL`]: each host's backup health), under
//! the same rule: nothing is remembered while the announcements are not
//! heard. It also hears the supervision's changes (on
//! [`domain::SUPERVISION_CHANNEL`]: probe results, alerts, web services'
//! checks), and tells every live home page of each change it hears
//! ([`SessionCache::home_page_changes`]). The API tokens' memory
//! ([`domain::tokens::ApiTokens`]) is told of every token issued or revoked
//! (`tokens` on [`CHANNEL`]) and of every account change; the second
//! factors' ([`domain::totp::SecondFactors`]: who has one, who must) of
//! each enrolment and policy change (`second_factor`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use domain::accounts::Operator;
use domain::audit::NewestRecords;
use domain::backups::BackupHealth;
use domain::remembered::Remembered;
use moka::future::Cache;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;
use tower_sessions::SessionStore;

use crate::session::SessionRows;

/// The channel the announcements come on.
pub const CHANNEL: &str = "console_sessions";

/// How long an entry is kept at most, announced or not (a bound on what a
/// missed announcement could cost, should PostgreSQL lose one).
const KEPT_AT_MOST: Duration = Duration::from_secs(60);

/// How many sessions and accounts are remembered at most.
const CAPACITY: u64 = 10_000;

/// A session's id as remembered and announced: its SHA-256, in hex.
fn digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The memory itself, shared by the session store and the middleware.
#[derive(Debug)]
pub struct SessionCache {
    sessions: Cache<String, Record>,
    operators: Cache<i64, Operator>,
    /// Bumped at every announcement: an entry read from the database while
    /// it moved may be stale, and is not kept.
    generation: AtomicU64,
    /// Whether this process hears the announcements right now.
    listening: AtomicBool,
    /// Accounts this process changed whose announcement may not have been
    /// heard yet: read from the database until then.
    changed_here: std::sync::Mutex<std::collections::HashSet<i64>>,
    /// The home page's memories, told of their tables' changes.
    home_page: HomePageMemory,
    /// The live API tokens, forgotten at every token or account change.
    tokens: domain::tokens::ApiTokens,
    /// Who has a second factor and who must.
    second_factors: domain::totp::SecondFactors,
}

/// What the home page keeps in memory between changes, and who follows
/// them live.
#[derive(Debug, Clone)]
pub struct HomePageMemory {
    pub newest_records: Arc<NewestRecords>,
    pub backup_health: Arc<Remembered<Vec<BackupHealth>>>,
    probes: domain::probes::SiteProbes,
    alerts: domain::alerts::Alerts,
    /// The settings the home page reads at every visit: the hosts, their
    /// Linodes, the CI provider's.
    hosts: domain::hosts::HostDirectory,
    deploys: domain::deploys::Deploys,
    linode: domain::linode::Linode,
    integrations: domain::integrations::Integrations,
    /// What changed (`audit`, `backups`, `sites`, `alerts`, `web-services`,
    /// `hosts`, `linodes`, `integrations`), once this process's memories of
    /// it are forgotten.
    changes: tokio::sync::broadcast::Sender<&'static str>,
}

/// Changes kept for a slow live home page (one that falls further behind
/// reads itself again anyway).
const HOME_PAGE_BACKLOG: usize = 64;

impl HomePageMemory {
    /// The memories of `console`'s home page.
    pub fn of(console: &domain::Console) -> Self {
        Self {
            newest_records: console.audit.newest_records(),
            backup_health: console.backups.health_records(),
            probes: console.probes.clone(),
            alerts: console.alerts.clone(),
            hosts: console.hosts.clone(),
            deploys: console.deploys.clone(),
            linode: console.linode.clone(),
            integrations: console.integrations.clone(),
            changes: tokio::sync::broadcast::channel(HOME_PAGE_BACKLOG).0,
        }
    }

    fn hearing(&self, heard: bool) {
        self.newest_records.hearing(heard);
        self.backup_health.hearing(heard);
        self.hosts.hearing(heard);
        self.linode.hearing(heard);
        self.integrations.hearing(heard);
    }

    /// A change was announced on `channel`: what this process remembers of
    /// it is forgotten, then the live home pages are told.
    fn changed(&self, channel: &str, payload: &str) {
        let what = if channel == domain::audit::newest::CHANNEL {
            self.newest_records.changed();
            "audit"
        } else if channel == domain::backups::HEALTH_CHANNEL {
            self.backup_health.changed();
            "backups"
        } else if channel == domain::SUPERVISION_CHANNEL {
            match payload {
                "sites" => {
                    self.probes.forget_sites();
                    "sites"
                }
                "alerts" => {
                    self.alerts.forget_open_count();
                    "alerts"
                }
                "hosts" => {
                    // And the lists made of it, kept a few seconds.
                    self.hosts.forget_list();
                    self.probes.forget_sites();
                    self.deploys.forget_newest();
                    "hosts"
                }
                "linodes" => {
                    self.linode.forget_links();
                    "linodes"
                }
                "integrations" => {
                    self.integrations.settings_changed();
                    "integrations"
                }
                _ => "web-services",
            }
        } else {
            return;
        };
        // No live home page: nobody to tell.
        let _ = self.changes.send(what);
    }
}

impl SessionCache {
    fn new(
        home_page: HomePageMemory,
        tokens: domain::tokens::ApiTokens,
        second_factors: domain::totp::SecondFactors,
    ) -> Self {
        Self {
            sessions: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(KEPT_AT_MOST)
                .build(),
            operators: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(KEPT_AT_MOST)
                .build(),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            changed_here: Default::default(),
            home_page,
            tokens,
            second_factors,
        }
    }

    /// Starts listening on `pool`'s database and returns the memory, empty
    /// and unused until the first connection is established; the changes
    /// the home page's memories depend on are passed on to `home_page`,
    /// the tokens' and accounts' to `tokens`, the second factors' to
    /// `second_factors`.
    pub fn listen(
        pool: PgPool,
        home_page: HomePageMemory,
        tokens: domain::tokens::ApiTokens,
        second_factors: domain::totp::SecondFactors,
    ) -> Arc<Self> {
        let cache = Arc::new(Self::new(home_page, tokens, second_factors));
        tokio::spawn(cache.clone().hear(pool));
        cache
    }

    /// What the home page shows changed, from now on (see
    /// [`HomePageMemory::changed`]).
    pub fn home_page_changes(&self) -> tokio::sync::broadcast::Receiver<&'static str> {
        self.home_page.changes.subscribe()
    }

    /// An account changed in this process: its operator is read again from
    /// now on, without waiting for the database's announcement (a disabled
    /// account is refused at its very next request). Synchronous, so the
    /// change's own request cannot race it.
    pub fn account_changed(&self, account_id: i64) {
        self.tokens.changed();
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.changed_here
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account_id);
    }

    /// A session this process ended (from "Mes sessions"): forgotten now,
    /// without waiting for the database's announcement.
    pub async fn session_ended(&self, digest: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.sessions.invalidate(digest).await;
    }

    /// Listens until the pool closes (the console stops), connecting again
    /// whenever the connection drops.
    async fn hear(self: Arc<Self>, pool: PgPool) {
        let closed = pool.close_event();
        tokio::select! {
            () = closed => {}
            () = self.hear_while_open(&pool) => {}
        }
        self.stop_remembering();
    }

    async fn hear_while_open(&self, pool: &PgPool) {
        loop {
            let mut listener = match PgListener::connect_with(pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "the session cache cannot listen; sessions are read from the database");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(error) = listener
                .listen_all([
                    CHANNEL,
                    domain::audit::newest::CHANNEL,
                    domain::backups::HEALTH_CHANNEL,
                    domain::SUPERVISION_CHANNEL,
                ])
                .await
            {
                tracing::warn!(%error, "the session cache cannot listen; sessions are read from the database");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            self.forget_all();
            self.listening.store(true, Ordering::SeqCst);
            self.home_page.hearing(true);
            self.tokens.hearing(true);
            self.second_factors.hearing(true);
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) if notification.channel() == CHANNEL => {
                        self.announced(notification.payload()).await
                    }
                    Ok(Some(notification)) => self.home_page.changed(notification.channel(), notification.payload()),
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "the session cache stopped hearing announcements");
                        break;
                    }
                }
            }
            self.stop_remembering();
        }
    }

    fn stop_remembering(&self) {
        self.listening.store(false, Ordering::SeqCst);
        self.home_page.hearing(false);
        self.tokens.hearing(false);
        self.second_factors.hearing(false);
        self.forget_all();
    }

    async fn announced(&self, payload: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(session) = payload.strip_prefix("session:") {
            self.sessions.invalidate(session).await;
        } else if let Some(account) = payload.strip_prefix("account:").and_then(|id| id.parse::<i64>().ok()) {
            self.operators.invalidate(&account).await;
            // A token acts as its account: disabled or its role changed,
            // its tokens are read again.
            self.tokens.changed();
        } else if payload == "tokens" {
            self.tokens.changed();
        } else if payload == "second_factor" {
            self.second_factors.changed();
        } else {
            self.forget_all();
        }
    }

    fn forget_all(&self) {
        self.tokens.changed();
        self.second_factors.changed();
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.sessions.invalidate_all();
        self.operators.invalidate_all();
    }

    fn remembering(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// Reads `key` through `read`, remembering the answer unless the
    /// memory moved meanwhile.
    async fn read_through<K, V, E, F>(&self, cache: &Cache<K, V>, key: K, read: F) -> Result<Option<V>, E>
    where
        K: std::hash::Hash + Eq + Send + Sync + Clone + 'static,
        V: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<Option<V>, E>>,
    {
        if !self.remembering() {
            return read.await;
        }
        if let Some(value) = cache.get(&key).await {
            return Ok(Some(value));
        }
        let before = self.generation.load(Ordering::SeqCst);
        let value = read.await?;
        if let Some(value) = &value {
            cache.insert(key.clone(), value.clone()).await;
            // An announcement that arrived while reading may concern this
            // very entry: drop it rather than keep it stale.
            if self.generation.load(Ordering::SeqCst) != before || !self.remembering() {
                cache.invalidate(&key).await;
            }
        }
        Ok(value)
    }

    /// The operator behind a session: remembered, or read with `read`. A
    /// remembered operator of another credentials epoch is read again.
    pub async fn operator<E>(
        &self,
        account_id: i64,
        epoch: i32,
        read: impl std::future::Future<Output = Result<Option<Operator>, E>>,
    ) -> Result<Option<Operator>, E> {
        let changed_here = self
            .changed_here
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&account_id);
        if changed_here {
            self.operators.invalidate(&account_id).await;
        }
        if let Some(operator) = self.operators.get(&account_id).await {
            if operator.session_epoch == epoch && self.remembering() {
                return Ok(Some(operator));
            }
            self.operators.invalidate(&account_id).await;
        }
        self.read_through(&self.operators, account_id, read).await
    }
}

/// Announces every change to a stored session on [`CHANNEL`] (a trigger on
/// tower-sessions' table, installed by the tables' owner after the table
/// itself), and removes a deleted session's description from
/// `open_sessions`. Repeating it is harmless.
pub async fn announce_session_changes(owner: &PgPool) -> sqlx::Result<()> {
    let mut tx = owner.begin().await?;
    sqlx::query(
        r#"CREATE OR REPLACE FUNCTION tower_sessions.announce_session_change() RETURNS trigger
           LANGUAGE plpgsql AS $$
           BEGIN
               PERFORM pg_notify('console_sessions', 'session:' || encode(sha256(convert_to(OLD.id, 'UTF8')), 'hex'));
               IF TG_OP = 'DELETE' THEN
                   DELETE FROM public.open_sessions
                   WHERE session_digest = encode(sha256(convert_to(OLD.id, 'UTF8')), 'hex');
               END IF;
               RETURN NULL;
           END
           $$"#,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"CREATE OR REPLACE TRIGGER session_announce_change
           AFTER UPDATE OR DELETE ON tower_sessions.session
           FOR EACH ROW EXECUTE FUNCTION tower_sessions.announce_session_change()"#,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The session store the session layer uses: the rows in PostgreSQL, with
/// the [`SessionCache`] in front of them.
#[derive(Clone, Debug)]
pub struct CachedSessions {
    rows: SessionRows,
    cache: Arc<SessionCache>,
}

impl CachedSessions {
    pub fn new(rows: SessionRows, cache: Arc<SessionCache>) -> Self {
        Self { rows, cache }
    }
}

#[async_trait::async_trait]
impl SessionStore for CachedSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new row: nothing to forget, and its first read fills the memory.
        self.rows.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.rows.save(record).await?;
        // The row's trigger announces it to every process; this one forgets
        // it now rather than when the announcement comes back.
        self.cache.sessions.invalidate(&digest(&record.id.to_string())).await;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let key = digest(&id.to_string());
        let record = self
            .cache
            .read_through(&self.cache.sessions, key.clone(), self.rows.load(id))
            .await?;
        match record {
            Some(record) if record.expiry_date <= OffsetDateTime::now_utc() => {
                self.cache.sessions.invalidate(&key).await;
                Ok(None)
            }
            other => Ok(other),
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.rows.delete(id).await?;
        self.cache.sessions.invalidate(&digest(&id.to_string())).await;
        Ok(())
    }
}
