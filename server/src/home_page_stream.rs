//! The home page, live: `GET /events/home` sends a `changed` Server-Sent
//! Event whenever something the home page shows changed, in this console
//! process or another — a probe result, an alert, a web service's check
//! ([`domain::SUPERVISION_CHANNEL`]), a backup, an audit record, a job's
//! status (a service stopped, a deploy, a power action) — and the page
//! reads itself again. Changes close together make one event (at most one
//! every [`COALESCED`]); nothing is read while nothing happens; the stream
//! ends as soon as the session that opened it no longer holds.

use std::convert::Infallible;
use std::time::Duration;

use app::context::Caller;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::jobs::{JobChange, JobChanges};
use http::StatusCode;
use tokio::sync::broadcast;
use tower_sessions::Session;

use crate::session::SessionCheck;
use crate::startup::AppState;

/// Changes within this time of the first one are sent as one event.
pub const COALESCED: Duration = Duration::from_millis(500);
/// How often a quiet stream asks whether its session still holds.
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// Every role may follow the home page; only a signed-in one (the
/// [`Caller`] guard answers 401 otherwise).
pub async fn events(_caller: Caller, State(state): State<AppState>, session: Session) -> Response {
    let Some(watcher) = SessionCheck::of(&session).await else {
        return (StatusCode::UNAUTHORIZED, "Connexion requise / Sign-in required").into_response();
    };
    let following = Following {
        home_page: state.session_cache.home_page_changes(),
        jobs: state.console.jobs.changes(),
        state,
        watcher,
    };
    Sse::new(futures::stream::unfold(following, |mut following| async move {
        let what = following.next_change().await?;
        Some((
            Ok::<_, Infallible>(Event::default().event("changed").data(what)),
            following,
        ))
    }))
    .keep_alive(KeepAlive::default())
    .into_response()
}

/// One live home page's subscriptions.
struct Following {
    state: AppState,
    watcher: SessionCheck,
    home_page: broadcast::Receiver<&'static str>,
    jobs: JobChanges,
}

impl Following {
    /// Waits for a change (`None`: the session ended, or the console
    /// stops), then for the ones right after it; says what changed first.
    async fn next_change(&mut self) -> Option<&'static str> {
        let first = loop {
            tokio::select! {
                change = self.home_page.recv() => match change {
                    Ok(what) => break what,
                    Err(broadcast::error::RecvError::Lagged(_)) => break "everything",
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                change = self.jobs.next() => match change? {
                    JobChange::Job { .. } | JobChange::Resync => break "jobs",
                    // A job's output is not on the home page.
                    JobChange::Lines { .. } => {}
                },
                () = tokio::time::sleep(SESSION_RECHECK) => {
                    if !self.watcher.still_holds(&self.state).await {
                        return None;
                    }
                }
            }
        };
        // The changes that follow (a job's status and its audit record, a
        // probe and the alert it opens) go with this one.
        tokio::time::sleep(COALESCED).await;
        while !matches!(
            self.home_page.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
        self.jobs.skip_waiting();
        if !self.watcher.still_holds(&self.state).await {
            return None;
        }
        Some(first)
    }
}
