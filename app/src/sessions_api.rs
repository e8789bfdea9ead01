//! "Mes sessions": the signed-in account's open sessions, each ended in a
//! click; an admin ends all of an account's.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
use crate::errors::AppError;

/// An open session as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    pub id: i64,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub started: String,
    pub last_seen: String,
    pub address: Option<String>,
    pub agent: Option<String>,
    /// The session this page was asked from.
    pub current: bool,
}

#[cfg(feature = "ssr")]
impl From<domain::sessions::OpenSession> for SessionRow {
    fn from(s: domain::sessions::OpenSession) -> Self {
        Self {
            id: s.id,
            started: utc(s.started_at),
            last_seen: utc(s.last_seen_at),
            address: s.client_address,
            agent: s.user_agent,
            current: s.current,
        }
    }
}

/// The id of the session the current request came with.
#[cfg(feature = "ssr")]
fn current_session_id() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    let session = parts.extensions.get::<tower_sessions::Session>()?;
    session.id().map(|id| id.to_string())
}

/// The signed-in account's open sessions, most recently seen first.
#[server(endpoint = "sessions/mine")]
pub async fn my_sessions() -> Result<Vec<SessionRow>, AppError> {
    let caller = require(Role::Viewer).await?;
    let current = current_session_id();
    let sessions = caller
        .console
        .sessions
        .of_account(&caller.operator, caller.operator.id, current.as_deref())
        .await?;
    Ok(sessions.into_iter().map(SessionRow::from).collect())
}

/// Ends one of the account's sessions (an admin: anyone's).
#[server(endpoint = "sessions/end")]
pub async fn end_session(session_id: i64) -> Result<(), AppError> {
    let caller = require(Role::Viewer).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.sessions.end(by, from, session_id).await?)
}

/// Ends every session of an account (admins): how many there were.
#[server(endpoint = "sessions/end-all")]
pub async fn end_all_sessions(account_id: i64) -> Result<usize, AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.sessions.end_all(by, from, account_id).await?)
}
