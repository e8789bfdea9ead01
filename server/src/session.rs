//! Who is asking: turns the session cookie into the signed-in operator,
//! enforces the idle and absolute timeouts and the account's current state
//! (a disabled account's sessions stop at their next request), picks the
//! interface language, and sends anyone not signed in to the sign-in page.

use app::context::{RequestContext, SignedIn, SIGNED_IN};
use app::i18n::Locale;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use domain::accounts::{Language, Operator};
use domain::audit::{Actor, Provenance};
use time::OffsetDateTime;
use tower_sessions::Session;

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
    let locale = operator
        .as_ref()
        .map(|op| match op.language {
            Language::Fr => Locale::Fr,
            Language::En => Locale::En,
        })
        .or_else(|| cookie(&request, LANGUAGE_COOKIE).and_then(|code| Locale::from_code(&code)))
        .unwrap_or_default();
    if operator.is_none() && needs_sign_in(&request) {
        let here = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = format!(
            "/sign-in?next={}",
            url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        );
        return Redirect::to(&target).into_response();
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
    });
    next.run(request).await
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
    let operator = match state
        .console
        .accounts
        .operator_for_session(signed_in.account_id, signed_in.epoch)
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
        .record_session_end(actor, provenance, "session.expired", Some(reason))
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
        "/setup",
        "/healthz",
        "/metrics",
        "/favicon.ico",
        "/language",
    ];
    let is_page_request = request.method() == http::Method::GET || request.method() == http::Method::HEAD;
    is_page_request && !public.contains(&path) && !path.starts_with("/pkg/") && !path.starts_with("/api/")
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
