//! Who is asking: turns the session cookie into the signed-in operator,
//! enforces the idle and absolute timeouts and the account's current state
//! (a disabled account's sessions stop at their next request), keeps an
//! active session's idle deadline moving, picks the interface language,
//! sends anyone not signed in to the sign-in page (and an account that
//! must enrol a second factor to its enrolment), and keeps what a
//! signed-in operator sees out of every cache.

use app::context::{RequestContext, SignedIn, SAVED_AT, SIGNED_IN};
use app::i18n::Locale;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use domain::accounts::Operator;
use domain::audit::{Actor, Provenance};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;
use tower_sessions::{Session, SessionStore};
use tower_sessions_sqlx_store::PostgresStore;

use crate::security::CspNonce;
use crate::startup::AppState;

/// The cookie that remembers the language before sign-in.
pub const LANGUAGE_COOKIE: &str = "lang";

pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let session = request.extensions().get::<Session>().cloned();
    let provenance = request.extensions().get::<Provenance>().cloned().unwrap_or_default();
    let operator = match &session {
        Some(session) => signed_in_operator(&state, session, &provenance).await,
        None => None,
    };
    if let (Some(session), Some(_)) = (&session, &operator) {
        keep_alive(&state, session).await;
    }
    let no_store = operator.is_some() && !is_static_file(request.uri().path());
    let locale = operator
        .as_ref()
        .map(|op| op.language)
        .or_else(|| cookie(&request, LANGUAGE_COOKIE).and_then(|word| word.parse::<Locale>().ok()))
        .unwrap_or_default();
    if operator.is_none() && needs_sign_in(&request) {
        let here = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = format!(
            "/sign-in?next={}",
            url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        );
        return Redirect::to(&target).into_response();
    }
    if let Some(operator) = &operator {
        let page = is_page(&request);
        let path = request.uri().path().to_owned();
        if let Some(elsewhere) = sent_to_enrol(&state, operator, &path, page).await {
            return elsewhere;
        }
    }
    let csp_nonce = request
        .extensions()
        .get::<CspNonce>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    request.extensions_mut().insert(RequestContext {
        operator,
        provenance,
        locale,
        csp_nonce,
        origin: state.site.origin().to_owned(),
    });
    let mut response = next.run(request).await;
    if no_store {
        response
            .headers_mut()
            .insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    }
    response
}

/// Pushes an active session's idle deadline back. Saving a session sets its
/// row's expiry, and its cookie's Max-Age, to now plus the idle timeout; the
/// session layer saves only a session that changed, so it is marked changed
/// here, once per refresh interval rather than at every request (a page
/// and its server functions would otherwise write the row at each click).
async fn keep_alive(state: &AppState, session: &Session) {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let saved_at = session.get::<i64>(SAVED_AT).await.ok().flatten().unwrap_or(0);
    if now - saved_at < i64::from(state.config.session_refresh_seconds) {
        return;
    }
    if let Err(error) = session.insert(SAVED_AT, now).await {
        tracing::warn!(%error, "could not refresh a session");
    }
    // Marks the session changed even when the second has not moved on.
    session.set_expiry(session.expiry());
}

/// An account the admins require a second factor of and that has none yet
/// is sent to enrol before anything else: only its enrolment (the page and
/// its own server functions), signing out, the language, the static files
/// and the probes answer it. A page sends it to the enrolment page, any
/// other request is refused (403). The answer to the request for `path`
/// (a `page` or not), or `None` to go on.
async fn sent_to_enrol(state: &AppState, operator: &Operator, path: &str, page: bool) -> Option<Response> {
    let open = path == ENROLMENT_PAGE
        || path.starts_with(app::second_factor_api::OWN_ENDPOINTS)
        || ["/sign-out", "/language", "/healthz", "/metrics"].contains(&path)
        || is_static_file(path);
    if open {
        return None;
    }
    match state.console.second_factors.must_enrol(operator).await {
        Ok(false) => None,
        Ok(true) if page => Some(Redirect::to(ENROLMENT_PAGE).into_response()),
        Ok(true) => Some(app::context::Refusal::Forbidden.into_response()),
        Err(error) => {
            // Closed, not open: who must enrol cannot be told.
            tracing::error!(%error, "could not tell whether the account must enrol a second factor");
            Some(http::StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

/// Where an account that must enrol a second factor is sent.
const ENROLMENT_PAGE: &str = "/second-factor";

/// A page asked by the browser (not a server function, not a form post).
fn is_page(request: &Request) -> bool {
    let read = request.method() == http::Method::GET || request.method() == http::Method::HEAD;
    read && !request.uri().path().starts_with("/api/")
}

/// The built stylesheet, script and wasm: the same for everyone, cacheable.
fn is_static_file(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.ico"
}

/// The sessions' rows: tower-sessions' PostgreSQL store, except that saving
/// a session already stored only updates its row, never re-creates it. A
/// request still in flight when its session is signed out, or replaced,
/// would otherwise write the session back, signed in, as it ends (and now
/// that an active session is saved about once a minute, one often is).
///
/// A signed-in session's creation and saves are told to the console's
/// [`domain::sessions::OpenSessions`], which "Mes sessions" lists.
#[derive(Clone, Debug)]
pub struct SessionRows {
    store: PostgresStore,
    pool: sqlx::PgPool,
    open: domain::sessions::OpenSessions,
}

impl SessionRows {
    /// Rows in `store`'s table (tower-sessions' default), reached by `pool`,
    /// described in `open`.
    pub fn new(store: PostgresStore, pool: sqlx::PgPool, open: domain::sessions::OpenSessions) -> Self {
        Self { store, pool, open }
    }
}

/// What a stored session says of its sign-in, if it is signed in.
fn signed_in(record: &Record) -> Option<SignedIn> {
    serde_json::from_value(record.data.get(SIGNED_IN)?.clone()).ok()
}

#[async_trait::async_trait]
impl SessionStore for SessionRows {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.store.create(record).await?;
        // A sign-in (or a password change) stores the session under a new
        // id: it is described for "Mes sessions". Not listed is all a
        // failure here costs.
        if let Some(signed_in) = signed_in(record) {
            let started = OffsetDateTime::from_unix_timestamp(signed_in.signed_in_at)
                .unwrap_or_else(|_| OffsetDateTime::now_utc());
            if let Err(error) = self
                .open
                .opened(
                    &record.id.to_string(),
                    signed_in.account_id,
                    started,
                    signed_in.from.as_deref(),
                    signed_in.agent.as_deref(),
                )
                .await
            {
                tracing::warn!(%error, "could not describe a new session");
            }
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // Same encoding as the store's own save (MessagePack of the record).
        let data = rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        // A runtime string, not a checked `query!`: the table is the session
        // store's, created by the library at start-up, not by our migrations.
        sqlx::query(r#"UPDATE "tower_sessions"."session" SET data = $2, expiry_date = $3 WHERE id = $1"#)
            .bind(record.id.to_string())
            .bind(data)
            .bind(record.expiry_date)
            .execute(&self.pool)
            .await
            .map_err(|e| session_store::Error::Backend(e.to_string()))?;
        if signed_in(record).is_some() {
            if let Err(error) = self.open.seen(&record.id.to_string()).await {
                tracing::warn!(%error, "could not note a session's use");
            }
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.store.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete(id).await
    }
}

/// A signed-in session as a long response (the live job stream) found it,
/// to ask again later whether it still holds: signed out, expired, replaced
/// (sign-in again, password change), the account disabled or past the
/// absolute lifetime all end it.
#[derive(Clone, Debug)]
pub struct SessionCheck {
    id: Id,
    signed_in: SignedIn,
}

impl SessionCheck {
    /// The session of a request whose operator the middleware recognised.
    pub async fn of(session: &Session) -> Option<Self> {
        let signed_in = session.get::<SignedIn>(SIGNED_IN).await.ok().flatten()?;
        Some(Self {
            id: session.id()?,
            signed_in,
        })
    }

    /// Whether the session is still signed in as it was, read afresh from
    /// the store and the account.
    pub async fn still_holds(&self, state: &AppState) -> bool {
        let stored = match state.sessions.load(&self.id).await {
            Ok(Some(record)) => record
                .data
                .get(SIGNED_IN)
                .and_then(|value| serde_json::from_value::<SignedIn>(value.clone()).ok()),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "could not re-read a session");
                None
            }
        };
        let Some(stored) = stored else {
            return false;
        };
        let age = OffsetDateTime::now_utc().unix_timestamp() - stored.signed_in_at;
        if stored.account_id != self.signed_in.account_id
            || stored.epoch != self.signed_in.epoch
            || age > i64::from(state.config.session_absolute_hours) * 3600
        {
            return false;
        }
        matches!(
            state
                .console
                .accounts
                .operator_for_session(stored.account_id, stored.epoch)
                .await,
            Ok(Some(_))
        )
    }
}

async fn signed_in_operator(state: &AppState, session: &Session, provenance: &Provenance) -> Option<Operator> {
    let signed_in = match session.get::<SignedIn>(SIGNED_IN).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%error, "unreadable session; treating the request as signed out");
            return None;
        }
    };
    let age = OffsetDateTime::now_utc().unix_timestamp() - signed_in.signed_in_at;
    let too_old = age > i64::from(state.config.session_absolute_hours) * 3600;
    let accounts = &state.console.accounts;
    let (account_id, epoch) = (signed_in.account_id, signed_in.epoch);
    let operator = match state
        .session_cache
        .operator(account_id, epoch, accounts.operator_for_session(account_id, epoch))
        .await
    {
        Ok(operator) => operator,
        Err(error) => {
            tracing::error!(%error, "could not load the session's account");
            return None;
        }
    };
    let reason = match (&operator, too_old) {
        (Some(_), false) => return operator,
        (Some(_), true) => "absolute session lifetime reached",
        (None, _) => "account disabled or its password changed",
    };
    if let Err(error) = session.flush().await {
        tracing::error!(%error, "could not end a session");
    }
    let username = state
        .console
        .accounts
        .username_of(signed_in.account_id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let actor = Actor::Operator {
        id: signed_in.account_id,
        username,
    };
    if let Err(error) = state
        .console
        .record_session_end(
            actor,
            provenance,
            domain::audit::AuditAction::SessionExpired,
            Some(reason),
        )
        .await
    {
        tracing::error!(%error, "could not audit a session's end");
    }
    None
}

/// Pages need a signed-in operator; the sign-in and setup pages, static
/// files, probes, and server functions (which answer for themselves) do not.
fn needs_sign_in(request: &Request) -> bool {
    let path = request.uri().path();
    let public = [
        "/sign-in",
        "/sign-in/code",
        "/setup",
        "/healthz",
        "/metrics",
        "/favicon.ico",
        "/language",
    ];
    is_page(request) && !public.contains(&path) && !path.starts_with("/pkg/")
}

pub fn cookie(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
