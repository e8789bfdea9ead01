//! Start-up: the database (external, or the embedded default), migrations,
//! the router with its layers, and a server that stops in order: stop
//! accepting, finish the requests in flight, then stop the embedded cluster.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use app::{shell, App};
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{middleware, Router};
use domain::Console;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::{ExpiredDeletion, Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use crate::config::Config;
use crate::embedded_postgres::EmbeddedPostgres;
use crate::session_cache::{self, CachedSessions, HomePageMemory, SessionCache};
use crate::{
    audit_export, audit_upkeep, auth, backup_download, backup_scheduler, database_role, health, home_page_stream,
    job_stream, observe, scheduled, security, service_manager, session, tls, typed_values,
};

/// What the routes and layers share. Each layer gets its own copy at each
/// request: one shared pointer, so that a copy costs one counter increment
/// rather than one per field (measured on the home page: five percent of
/// its time went to copying and dropping the fields).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// Leptos' handlers read the options from the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The [`app::context::Caller`] extractor reads the console from the state.
impl FromRef<AppState> for Console {
    fn from_ref(state: &AppState) -> Self {
        state.console.clone()
    }
}

pub struct SharedState {
    pub leptos_options: LeptosOptions,
    pub console: Console,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    /// The origin and host names requests must use (see `security`).
    pub site: Arc<security::Site>,
    /// The session store, for checks outside the request that loaded a
    /// session (the live job stream).
    pub sessions: session::SessionRows,
    /// What this process remembers of sessions and their operators.
    pub session_cache: Arc<SessionCache>,
}

/// The database the console runs on, and the embedded cluster when it owns one.
pub struct Database {
    /// The console's role: it may read and insert the audit log, never
    /// rewrite it (see `database_role`).
    pub pool: PgPool,
    /// The tables' owner, which applies the migrations and grants `pool`'s
    /// role its rights. `None`: `pool` migrates itself (and keeps the
    /// owner's powers: a warning says so).
    pub owner: Option<PgPool>,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to DATABASE_URL, or starts the embedded cluster.
    pub async fn open(config: &Config) -> Result<Self> {
        match &config.database_url {
            Some(url) => {
                let options: PgConnectOptions = url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
                let owner = match &config.migration_database_url {
                    Some(url) => Some(
                        owner_pool(
                            url.parse()
                                .context("CONSOLE_MIGRATION_DATABASE_URL is not a valid PostgreSQL URL")?,
                        )
                        .await?,
                    ),
                    None => None,
                };
                Ok(Self {
                    pool: pool(options).await?,
                    owner,
                    embedded: None,
                })
            }
            None => {
                let data_dir = config.data_dir.clone();
                let embedded = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&data_dir)).await??;
                let admin = pool(embedded.admin_options()).await?;
                // Before the console's database exists (runtime strings: a
                // database name cannot be bound).
                let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(EmbeddedPostgres::DATABASE)
                    .fetch_one(&admin)
                    .await?;
                if !exists {
                    sqlx::query(&format!("CREATE DATABASE {}", EmbeddedPostgres::DATABASE))
                        .execute(&admin)
                        .await?;
                }
                admin.close().await;
                let owner = owner_pool(embedded.console_options()).await?;
                database_role::create_login_role(&owner, EmbeddedPostgres::APP_ROLE).await?;
                Ok(Self {
                    pool: pool(embedded.app_options()).await?,
                    owner: Some(owner),
                    embedded: Some(embedded),
                })
            }
        }
    }

    /// Applies the migrations as the owner, grants the console's role its
    /// rights, and warns when that role could rewrite the audit log. One
    /// console process at a time (two started at once: the second waits,
    /// then finds nothing left to do); an upgrade that fails leaves the
    /// schema as it was ([`domain::schema::upgrade`]).
    pub async fn migrate(&self) -> Result<()> {
        let owner = self.owner.as_ref().unwrap_or(&self.pool);
        let mut held = owner.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(START_UP_LOCK)
            .execute(&mut *held)
            .await?;
        let outcome = self.migrate_alone(owner).await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(START_UP_LOCK)
            .execute(&mut *held)
            .await?;
        outcome
    }

    async fn migrate_alone(&self, owner: &PgPool) -> Result<()> {
        let upgrade = domain::schema::upgrade(owner, &domain::MIGRATOR)
            .await
            .context("applying migrations")?;
        if !upgrade.applied.is_empty() {
            tracing::info!(
                from = upgrade.from,
                to = upgrade.to,
                migrations = upgrade.applied.len(),
                "the database's schema was upgraded"
            );
        }
        PostgresStore::new(owner.clone())
            .migrate()
            .await
            .context("creating the session table")?;
        session_cache::announce_session_changes(owner)
            .await
            .context("announcing session changes")?;
        let role = database_role::current_role(&self.pool).await?;
        if let Some(owner) = &self.owner {
            if database_role::current_role(owner).await? != role {
                database_role::grant_console_role(owner, &role).await?;
            }
        }
        if database_role::can_rewrite_the_audit_log(&self.pool).await? {
            tracing::warn!(
                role,
                "the console's database role can rewrite the audit log (superuser, owner, or granted UPDATE or \
                 DELETE): give it a role of its own in DATABASE_URL and the owner in CONSOLE_MIGRATION_DATABASE_URL"
            );
        }
        Ok(())
    }

    /// Where backups are verified: `CONSOLE_VERIFY_DATABASE_URL`, else the
    /// embedded cluster (its superuser, over its socket), else nowhere.
    pub fn scratch_server(&self, config: &Config) -> Result<Option<domain::backups::ScratchServer>> {
        match (&config.verify_database_url, &self.embedded) {
            (Some(url), embedded) => {
                let bin_dir = match embedded {
                    Some(embedded) => embedded.bin_dir().to_owned(),
                    None => crate::embedded_postgres::find_bin_dir()?,
                };
                Ok(Some(backup_scheduler::scratch_server_from_url(url, bin_dir)?))
            }
            (None, Some(embedded)) => Ok(Some(domain::backups::ScratchServer::new(
                embedded.admin_options(),
                None,
                embedded.bin_dir().to_owned(),
            ))),
            (None, None) => Ok(None),
        }
    }

    /// Closes the pool, then stops the embedded cluster if there is one.
    pub async fn close(self) -> Result<()> {
        self.pool.close().await;
        if let Some(owner) = &self.owner {
            owner.close().await;
        }
        if let Some(embedded) = self.embedded {
            tokio::task::spawn_blocking(move || embedded.stop()).await??;
        }
        Ok(())
    }
}

async fn pool(options: PgConnectOptions) -> Result<PgPool> {
    pool_options(16)
        .connect_with(options.log_statements(tracing::log::LevelFilter::Trace))
        .await
        .context("connecting to PostgreSQL")
}

/// How long a pooled connection may have been idle and still be handed out
/// without asking PostgreSQL first whether it is alive.
const TRUSTED_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// A pool of at most `max` connections. sqlx asks PostgreSQL whether a
/// connection is alive as it returns to the pool, and by default again
/// as it is taken: the second question (a round trip per query) is asked
/// only of a connection idle for more than [`TRUSTED_IDLE`] (one unused
/// since PostgreSQL may have restarted).
fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > TRUSTED_IDLE {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
}

/// Held by the console process that migrates and grants at start (across
/// processes: a PostgreSQL advisory lock).
const START_UP_LOCK: i64 = 0x0c0d_0a0d_0100;

/// A small pool for the owner: migrations and grants only.
async fn owner_pool(options: PgConnectOptions) -> Result<PgPool> {
    pool_options(2)
        .connect_with(options.log_statements(tracing::log::LevelFilter::Trace))
        .await
        .context("connecting to PostgreSQL as the tables' owner")
}

/// One Prometheus recorder per process (tests build many applications).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// A console bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    /// The certificate served when the console terminates TLS itself.
    tls: Option<Arc<tls::Certificates>>,
    router: Router,
    database: Database,
    audit: domain::audit::AuditLog,
}

impl Application {
    /// Opens the database, applies migrations, prints the setup link when no
    /// account exists, and binds the listening socket.
    pub async fn build(config: Config, leptos_options: LeptosOptions) -> Result<Self> {
        // Both checks before a cluster is started.
        config.check_serving()?;
        let tls = certificates(&config)?;
        let database = Database::open(&config).await?;
        Self::build_with(config, leptos_options, database, tls).await
    }

    /// Like [`Application::build`], on a database already open (tests).
    /// Refused, the caller's database is left open.
    pub async fn build_on(config: Config, leptos_options: LeptosOptions, database: Database) -> Result<Self> {
        config.check_serving()?;
        let tls = certificates(&config)?;
        Self::build_with(config, leptos_options, database, tls).await
    }

    /// The console on `database`, serving HTTPS with `tls` when given.
    async fn build_with(
        config: Config,
        leptos_options: LeptosOptions,
        database: Database,
        tls: Option<Arc<tls::Certificates>>,
    ) -> Result<Self> {
        database.migrate().await?;
        let built = async {
            let scratch = database.scratch_server(&config)?;
            let mut console = config.console(database.pool.clone()).await?;
            console.backups = console.backups.clone().with_scratch_server(scratch);
            anyhow::Ok(console)
        };
        let console = match built.await {
            Ok(console) => console,
            Err(error) => {
                // Refusing to start (a lost master key): stop the embedded
                // cluster too, so nothing is left running.
                let _ = database.close().await;
                return Err(error);
            }
        };
        let upgraded = console.secrets.upgrade_format().await?;
        if upgraded > 0 {
            tracing::info!(upgraded, "secrets re-sealed bound to their rows");
        }
        let audit = console.audit.clone();
        audit_upkeep::spawn(
            audit.clone(),
            std::time::Duration::from_secs(config.audit_checkpoint_seconds.max(1)),
        );
        let interrupted = console.jobs.start().await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "jobs left running by a stopped console were marked interrupted"
            );
        }
        let abandoned = console.backups.recover_interrupted().await?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "backups left running by a stopped console were marked failed"
            );
        }
        backup_scheduler::spawn(
            console.backups.clone(),
            std::time::Duration::from_secs(config.scheduler_seconds.max(1)),
        );
        let probes = console.probes.clone();
        scheduled::every_due(
            "site probes",
            probes.stopped(),
            std::time::Duration::from_secs(config.scheduler_seconds.max(1)),
            move || {
                let probes = probes.clone();
                async move { probes.run_due().await }
            },
        );
        let web_services = console.probes.clone();
        scheduled::every_due(
            "web services",
            web_services.stopped(),
            std::time::Duration::from_secs(config.scheduler_seconds.max(1)),
            move || {
                let web_services = web_services.clone();
                async move { web_services.run_due_web_services().await }
            },
        );
        scheduled::probe_after_jobs(console.probes.clone(), &console.jobs);
        let linode = console.linode.clone();
        scheduled::every_due(
            "Linode states",
            linode.stopped(),
            std::time::Duration::from_secs(config.scheduler_seconds.max(1)),
            move || {
                let linode = linode.clone();
                async move { linode.watch_due().await }
            },
        );
        let alerts = console.alerts.clone();
        scheduled::every_due(
            "alerts",
            alerts.stopped(),
            std::time::Duration::from_secs(config.scheduler_seconds.max(1)),
            move || {
                let alerts = alerts.clone();
                async move { alerts.run_due().await }
            },
        );
        let listener = TcpListener::bind(config.listen_address())
            .await
            .with_context(|| format!("listening on {}", config.listen_address()))?;
        let address = listener.local_addr()?;
        if let Some(token) = console.setup.issue_token_if_needed().await? {
            let base = config
                .public_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_else(|| format!("{}://{address}", config.scheme()));
            tracing::warn!("no account exists yet: create the first admin at {base}/setup?token={token}");
        }
        let store = PostgresStore::new(database.pool.clone());
        tokio::spawn(
            store
                .clone()
                .continuously_delete_expired(tokio::time::Duration::from_secs(300)),
        );
        let session_cache = SessionCache::listen(
            database.pool.clone(),
            HomePageMemory::of(&console),
            console.tokens.clone(),
            console.second_factors.clone(),
        );
        console.accounts.on_change({
            let session_cache = session_cache.clone();
            Arc::new(move |account| session_cache.account_changed(account))
        });
        console.sessions.on_end({
            let session_cache = session_cache.clone();
            Arc::new(move |digest: String| {
                let session_cache = session_cache.clone();
                Box::pin(async move { session_cache.session_ended(&digest).await })
            })
        });
        let open_sessions = console.sessions.clone();
        let state = AppState::new(SharedState {
            leptos_options,
            console,
            site: Arc::new(security::Site::new(
                config.public_url.as_ref(),
                address,
                config.scheme(),
            )),
            config: Arc::new(config),
            metrics: metrics_handle(),
            sessions: session::SessionRows::new(store.clone(), database.pool.clone(), open_sessions),
            session_cache,
        });
        let router = router(state, store);
        Ok(Self {
            listener,
            tls,
            router,
            database,
            audit,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until SIGINT or SIGTERM, then shuts down in order.
    pub async fn run_until_stopped(self) -> Result<()> {
        // Handlers first: a signal sent as soon as "listening" shows must be
        // caught, not kill the process with its cluster still running.
        let stop = shutdown_signal()?;
        // Requests in flight get DRAIN to finish after the signal; live
        // pages (their event streams) and clients that keep a connection
        // would otherwise hold the stop until the service manager kills
        // every process, the embedded cluster with them.
        let (stopped, drain) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            stop.await;
            let _ = stopped.send(());
        };
        let address = self.address();
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let served = async move {
            match self.tls {
                Some(certificates) => {
                    certificates.reload_on_hangup()?;
                    // `tap_io` only to carry the peer's address to the handlers
                    // (axum gives any listener's tapped form its `ConnectInfo`).
                    let listener = tls::TlsListener::new(self.listener, certificates.acceptor()?)?.tap_io(|_| {});
                    tracing::info!(expires = ?certificates.not_after(), "listening on https://{address}");
                    service_manager::ready();
                    axum::serve(listener, service).with_graceful_shutdown(stop).await?;
                }
                None => {
                    tracing::info!("listening on http://{address}");
                    service_manager::ready();
                    axum::serve(self.listener, service).with_graceful_shutdown(stop).await?;
                }
            }
            anyhow::Ok(())
        };
        let drained = async {
            if drain.await.is_ok() {
                tokio::time::sleep(DRAIN).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = served => {
                served?;
                tracing::info!("requests drained; stopping");
            }
            () = drained => tracing::warn!(
                "connections still open {} s after the signal (live pages): closed; stopping",
                DRAIN.as_secs()
            ),
        }
        audit_upkeep::at_shutdown(&self.audit).await;
        self.database.close().await
    }
}

/// How long requests in flight may take to finish once the console is
/// told to stop.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The certificate to serve HTTPS with, when one is configured: read now,
/// so a wrong file stops the start with its reason.
fn certificates(config: &Config) -> Result<Option<Arc<tls::Certificates>>> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(tls::Certificates::load(cert, key)?)),
        _ => Ok(None),
    }
}

/// Installs the SIGINT and SIGTERM handlers now; the future resolves at the
/// first of them.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
        service_manager::stopping();
    })
}

pub fn router(state: AppState, store: PostgresStore) -> Router {
    let config = state.config.clone();
    let rows = session::SessionRows::new(store, state.console.pool().clone(), state.console.sessions.clone());
    let sessions = SessionManagerLayer::new(CachedSessions::new(rows, state.session_cache.clone()))
        .with_name(config.session_cookie_name())
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(config.secure())
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(i64::from(
            config.session_idle_minutes,
        ))));
    let routes = generate_route_list(App);
    let leptos_context = {
        let console = state.console.clone();
        move || {
            provide_context(console.clone());
            if let Some(context) = app::context::request_context() {
                provide_context(context.locale);
                provide_context(leptos::nonce::Nonce::from_value(context.csp_nonce.clone()));
                provide_context(context);
            }
        }
    };
    let shell_options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/sign-in", post(auth::sign_in))
        .route("/sign-in/code", post(auth::sign_in_code))
        .route("/sign-out", post(auth::sign_out))
        .route("/setup", post(auth::setup))
        .route("/language", post(auth::language))
        .route("/audit/export.csv", get(audit_export::export))
        .route("/backups/{id}/download", get(backup_download::download))
        .route("/backups/key.txt", get(backup_download::export_key))
        .route("/jobs/{id}/events", get(job_stream::events))
        .route("/jobs/{id}/output.txt", get(job_stream::output))
        .route("/events/home", get(home_page_stream::events))
        .leptos_routes_with_context(&state, routes, leptos_context.clone(), {
            let options = shell_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            leptos_context,
            shell,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            typed_values::keep_typed_values,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), session::resolve))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(state.clone(), security::protect))
        .layer(middleware::from_fn_with_state(state.clone(), observe::observe))
        // After the layers: the site's files need no session nor page headers,
        // the API reads no cookie (bearer tokens only).
        .merge(crate::assets::router(&state.leptos_options))
        .merge(crate::api::router(&state))
        .with_state(state)
}
