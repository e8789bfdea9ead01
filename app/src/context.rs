//! What the server knows about the request a page or server function runs
//! for. The server's middleware puts one [`RequestContext`] in the request's
//! extensions; pages and server functions read it from there.

use domain::accounts::Operator;
use domain::audit::Provenance;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::Session;

use crate::i18n::Locale;

#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The signed-in staff member, if any.
    pub operator: Option<Operator>,
    pub provenance: Provenance,
    pub locale: Locale,
    /// The nonce the response's Content-Security-Policy allows.
    pub csp_nonce: String,
}

/// The current request's context. Absent only outside a request (which is
/// a bug), reported as an internal error.
pub fn request_context() -> Option<RequestContext> {
    use_context::<http::request::Parts>()?
        .extensions
        .get::<RequestContext>()
        .cloned()
}

/// The session key under which a signed-in session keeps its [`SignedIn`].
pub const SIGNED_IN: &str = "signed_in";

/// The session key holding when the session was last saved (Unix seconds):
/// each save pushes its idle deadline back, so an active session is saved
/// again once this is old enough.
pub const SAVED_AT: &str = "saved_at";

/// What a signed-in session holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedIn {
    pub account_id: i64,
    pub epoch: i32,
    pub signed_in_at: i64,
}

/// Marks the session as signed in for `operator`, under a new session id.
pub async fn start_session(session: &Session, operator: &Operator) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    session.insert(SAVED_AT, now).await?;
    session
        .insert(
            SIGNED_IN,
            SignedIn {
                account_id: operator.id,
                epoch: operator.session_epoch,
                signed_in_at: now,
            },
        )
        .await
}

/// Keeps the session signed in under a new credentials epoch (after the
/// operator changed their own password).
pub async fn renew_epoch(session: &Session, epoch: i32) -> Result<(), tower_sessions::session::Error> {
    if let Some(mut signed_in) = session.get::<SignedIn>(SIGNED_IN).await? {
        signed_in.epoch = epoch;
        session.cycle_id().await?;
        session.insert(SIGNED_IN, signed_in).await?;
    }
    Ok(())
}
