//! A job's output for the browser: `GET /jobs/{id}/events` streams new lines
//! and the job's status as Server-Sent Events while it runs (from the
//! database, woken by the job feed, so it follows a job run by any console
//! process), for as long
//! as the session that opened it holds; `GET /jobs/{id}/output.txt`
//! downloads the whole output, in constant memory.

use std::convert::Infallible;
use std::time::Duration;

use app::context::Caller;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::jobs::{JobChange, JobChanges, JobEvent, JobStep};
use futures::{Stream, TryStreamExt};
use http::{header, StatusCode};
use serde::Deserialize;
use tower_sessions::Session;

use crate::session::SessionCheck;
use crate::startup::AppState;

/// How often a quiet stream asks whether its session still holds (it asks
/// before each event it sends in any case).
const SESSION_RECHECK: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
pub struct After {
    #[serde(default)]
    after: i64,
}

/// Every role may watch a job (viewers see); only a signed-in one: the
/// [`Caller`] guard answers 401 otherwise.
pub async fn events(
    _caller: Caller,
    State(state): State<AppState>,
    session: Session,
    Path(job_id): Path<i64>,
    Query(After { after }): Query<After>,
) -> Response {
    let Some(watcher) = SessionCheck::of(&session).await else {
        return (StatusCode::UNAUTHORIZED, "Connexion requise / Sign-in required").into_response();
    };
    if state.console.jobs.job(job_id).await.is_err() {
        return StatusCode::NOT_FOUND.into_response();
    }
    Sse::new(follow(state, watcher, job_id, after))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Events: [`JobEvent`]s as JSON, `lines` (a batch of new lines), `steps`
/// (a job made of steps: each time one starts or ends) then `status`
/// whenever it changes; the stream ends after the final status, or
/// as soon as the watcher's session no longer holds (signed out, expired,
/// account disabled): it is asked before every event and every few seconds
/// while the job is quiet.
///
/// It reads the database only when the job feed says the job changed (a
/// line stored or a status set, by any console process) or asks for a
/// resync, always from the last line sent: nothing is read while nothing
/// happens, and nothing is lost when the feed reconnects.
fn follow(
    state: AppState,
    watcher: SessionCheck,
    job_id: i64,
    after: i64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    // Subscribed before the first read, so no change falls in between.
    let changes = state.console.jobs.changes();
    let following = Following {
        state,
        watcher,
        job_id,
        after,
        changes,
        last_status: None,
        last_steps: Vec::new(),
        lines_pending: true,
        status_pending: true,
        done: false,
    };
    futures::stream::unfold(following, |mut following| async move {
        let event = following.next_event().await?;
        Some((sse(&event), following))
    })
}

/// One viewer's place in a job's events.
struct Following {
    state: AppState,
    watcher: SessionCheck,
    job_id: i64,
    /// The last line sent.
    after: i64,
    changes: JobChanges,
    last_status: Option<JobEvent>,
    /// The steps last sent (a job made of steps).
    last_steps: Vec<JobStep>,
    /// Whether new lines or a new status (and steps) may be waiting in the database.
    lines_pending: bool,
    status_pending: bool,
    done: bool,
}

impl Following {
    async fn next_event(&mut self) -> Option<JobEvent> {
        if self.done {
            return None;
        }
        let jobs = &self.state.console.jobs;
        loop {
            if self.lines_pending {
                let lines = jobs.live_batch(self.job_id, self.after).await.ok()?;
                if let Some(last) = lines.last().map(|l| l.seq) {
                    if !self.watcher.still_holds(&self.state).await {
                        return None;
                    }
                    self.after = last;
                    // One event per batch: the page updates once per batch,
                    // not once per line, however fast the output comes.
                    return Some(JobEvent::Lines {
                        lines: lines.into_iter().map(Into::into).collect(),
                    });
                }
                self.lines_pending = false;
            }
            if self.status_pending {
                self.status_pending = false;
                // Steps before the status: a job's last step ends before it does.
                let steps = jobs.steps(self.job_id).await.ok()?;
                if steps != self.last_steps {
                    if !self.watcher.still_holds(&self.state).await {
                        return None;
                    }
                    self.last_steps = steps.clone();
                    self.status_pending = true;
                    return Some(JobEvent::Steps { steps });
                }
                let job = jobs.job(self.job_id).await.ok()?;
                let status = JobEvent::Status {
                    status: job.status,
                    exit_status: job.exit_status,
                    failure: job.failure,
                };
                if self.last_status.as_ref() != Some(&status) {
                    if !self.watcher.still_holds(&self.state).await {
                        return None;
                    }
                    // A finished job's lines were all stored before its
                    // status was set, and all sent above.
                    self.done = job.status.finished();
                    self.last_status = Some(status.clone());
                    return Some(status);
                }
            }
            tokio::select! {
                change = self.changes.next_for(self.job_id) => match change? {
                    JobChange::Lines { seq, .. } => self.lines_pending |= seq > self.after,
                    JobChange::Job { .. } | JobChange::Resync => {
                        self.lines_pending = true;
                        self.status_pending = true;
                    }
                },
                () = tokio::time::sleep(SESSION_RECHECK) => {
                    if !self.watcher.still_holds(&self.state).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// A job event as a Server-Sent Event: named after its kind, its data JSON
/// (which never holds a raw line break or carriage return).
fn sse(event: &JobEvent) -> Result<Event, Infallible> {
    Ok(Event::default().event(event.name()).data(event.to_json()))
}

pub async fn output(_caller: Caller, State(state): State<AppState>, Path(job_id): Path<i64>) -> Response {
    if state.console.jobs.job(job_id).await.is_err() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let stream = state.console.jobs.output_text(job_id).map_err(|error| {
        tracing::error!(%error, "job output download interrupted");
        std::io::Error::other("output download interrupted")
    });
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"job-{job_id}.txt\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
