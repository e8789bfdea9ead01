//! A job's output for the browser: `GET /jobs/{id}/events` streams new lines
//! and the job's status as Server-Sent Events while it runs (from the
//! database, so it follows a job run by any console process), for as long
//! as the session that opened it holds; `GET /jobs/{id}/output.txt`
//! downloads the whole output, in constant memory.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use app::context::RequestContext;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::jobs::JobEvent;
use futures::{Stream, TryStreamExt};
use http::{header, StatusCode};
use serde::Deserialize;
use tower_sessions::Session;

use crate::session::SessionCheck;
use crate::startup::AppState;

/// How often a running job's new lines are looked for.
const POLL: Duration = Duration::from_millis(150);
/// How often a quiet stream asks whether its session still holds (it asks
/// before each event it sends in any case).
const SESSION_RECHECK: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
pub struct After {
    #[serde(default)]
    after: i64,
}

/// Every role may watch a job (viewers see); only a signed-in one.
fn refuse(context: &RequestContext) -> Option<Response> {
    context
        .operator
        .is_none()
        .then(|| (StatusCode::UNAUTHORIZED, "Connexion requise / Sign-in required").into_response())
}

pub async fn events(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    session: Session,
    Path(job_id): Path<i64>,
    Query(After { after }): Query<After>,
) -> Response {
    if let Some(refusal) = refuse(&context) {
        return refusal;
    }
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

/// Events: [`JobEvent`]s as JSON, `lines` (a batch of new lines) then
/// `status` whenever it changes; the stream ends after the final status, or
/// as soon as the watcher's session no longer holds (signed out, expired,
/// account disabled): it is asked before every event and every few seconds
/// while the job is quiet.
fn follow(
    state: AppState,
    watcher: SessionCheck,
    job_id: i64,
    after: i64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((after, None, false), move |(after, last_status, done)| {
        let state = state.clone();
        let watcher = watcher.clone();
        async move {
            if done {
                return None;
            }
            let mut checked = Instant::now();
            loop {
                if checked.elapsed() >= SESSION_RECHECK {
                    if !watcher.still_holds(&state).await {
                        return None;
                    }
                    checked = Instant::now();
                }
                let lines = state
                    .console
                    .jobs
                    .output_after(job_id, after, 200)
                    .await
                    .unwrap_or_default();
                if let Some(last) = lines.last().map(|l| l.seq) {
                    if !watcher.still_holds(&state).await {
                        return None;
                    }
                    // One event per batch: the page updates once per batch,
                    // not once per line, however fast the output comes.
                    let event = JobEvent::Lines {
                        lines: lines.into_iter().map(Into::into).collect(),
                    };
                    return Some((sse(&event), (last, last_status, false)));
                }
                let Ok(job) = state.console.jobs.job(job_id).await else {
                    return None;
                };
                let status = JobEvent::Status {
                    status: job.status,
                    exit_status: job.exit_status,
                    failure: job.failure,
                };
                if last_status.as_ref() != Some(&status) {
                    if !watcher.still_holds(&state).await {
                        return None;
                    }
                    let finished = job.status.finished();
                    return Some((sse(&status), (after, Some(status), finished)));
                }
                tokio::time::sleep(POLL).await;
            }
        }
    })
}

/// A job event as a Server-Sent Event: named after its kind, its data JSON
/// (which never holds a raw line break or carriage return).
fn sse(event: &JobEvent) -> Result<Event, Infallible> {
    Ok(Event::default().event(event.name()).data(event.to_json()))
}

pub async fn output(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    Path(job_id): Path<i64>,
) -> Response {
    if let Some(refusal) = refuse(&context) {
        return refusal;
    }
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
