//! Runbook actions on a host, as jobs: start one, follow its status and
//! its output.

use axum::http::StatusCode;
use axum::Json;
use domain::accounts::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use super::rfc3339;

/// The action to run, as the audit log names it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartJob {
    /// `webapp.stop_web_server`, `webapp.restart_web_server`,
    /// `webapp.restart_wsgi_server`, `host.check_prerequisites`…
    pub action: String,
}

/// A job just started: follow it at `/api/v1/jobs/{job_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    pub job_id: i64,
}

impl Started {
    /// 202 with the job's number.
    pub fn accepted(job_id: i64) -> (StatusCode, Json<Self>) {
        (StatusCode::ACCEPTED, Json(Self { job_id }))
    }
}

/// What an endpoint that starts an action on a host answers, beside its
/// own 400: the job started, or why not. For the document only (the
/// handlers answer [`Started`] or an [`ApiError`]), so never built.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum StartAnswers {
    #[response(status = 202, description = "Started")]
    Started(Started),
    #[response(status = 401, description = "No valid token")]
    NoToken(ErrorBody),
    #[response(status = 403, description = "The token's scope is read")]
    ReadScope(ErrorBody),
    #[response(status = 404, description = "No such host")]
    NoHost(ErrorBody),
    #[response(status = 409, description = "Another action runs on the host")]
    Busy(ErrorBody),
    #[response(status = 413, description = "Body too large")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Body not JSON")]
    NotJson(ErrorBody),
    #[response(status = 502, description = "The host could not be reached")]
    Unreachable(ErrorBody),
}

/// A job and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobState {
    pub id: i64,
    pub host_id: i64,
    pub host_name: String,
    pub action: String,
    pub actor: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`,
    /// `interrupted`.
    pub status: String,
    /// Whether it is over (whatever its outcome).
    pub finished: bool,
    pub exit_status: Option<i32>,
    /// Why it did not succeed: a stable code.
    pub failure: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub output_lines: i64,
}

impl From<domain::jobs::Job> for JobState {
    fn from(job: domain::jobs::Job) -> Self {
        Self {
            id: job.id,
            host_id: job.host_id,
            host_name: job.host_name,
            action: job.action,
            actor: job.actor,
            status: job.status.as_str().to_owned(),
            finished: job.status.finished(),
            exit_status: job.exit_status,
            failure: job.failure.map(|f| f.code().to_owned()),
            created_at: rfc3339(job.created_at),
            started_at: job.started_at.map(rfc3339),
            finished_at: job.finished_at.map(rfc3339),
            output_lines: job.output_lines,
        }
    }
}

/// Where to read a job's output from.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutputPage {
    /// The cursor: the `next` of the previous page (0, or absent, from the
    /// first line).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// How many lines at most (1 to 5000, 1000 by default).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<i64>,
}

/// A page of a job's output.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputLines {
    pub lines: Vec<OutputLine>,
    /// The cursor of the next page: absent when this page holds the last
    /// line stored so far (a running job may add more).
    pub next: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutputLine {
    pub seq: i64,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    pub text: String,
}

/// Starts a runbook action on a host (operate scope), audited as from the
/// console's page.
#[utoipa::path(
    post,
    path = "/api/v1/hosts/{host_id}/jobs",
    tag = "jobs",
    security(("token" = [])),
    params(("host_id" = i64, Path, description = "The host")),
    request_body = StartJob,
    responses(
        (status = 400, description = "Unknown action or malformed body", body = ErrorBody),
        StartAnswers,
    )
)]
pub async fn start_job(
    caller: ApiCaller,
    ApiPath(host_id): ApiPath<i64>,
    ApiJson(body): ApiJson<StartJob>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let caller = caller.at_least(Role::Operator).await?;
    let runbook = domain::jobs::Runbook::parse(&body.action).map_err(|e| caller.fail(e))?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let job_id = caller
        .console
        .jobs
        .start_job(by, from, host_id, runbook)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(Started::accepted(job_id))
}

/// A job's status.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{job_id}",
    tag = "jobs",
    security(("token" = [])),
    params(("job_id" = i64, Path, description = "The job")),
    responses(
        (status = 200, description = "The job", body = JobState),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
pub async fn job(caller: ApiCaller, ApiPath(job_id): ApiPath<i64>) -> Result<Json<JobState>, ApiError> {
    let caller = caller.at_least(Role::Viewer).await?;
    let job = caller.console.jobs.job(job_id).await.map_err(|e| caller.fail(e))?;
    Ok(Json(job.into()))
}

/// A page of a job's output, from a cursor.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{job_id}/output",
    tag = "jobs",
    security(("token" = [])),
    params(("job_id" = i64, Path, description = "The job"), OutputPage),
    responses(
        (status = 200, description = "Lines after the cursor", body = OutputLines),
        (status = 400, description = "Malformed id or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
pub async fn job_output(
    caller: ApiCaller,
    ApiPath(job_id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<OutputPage>,
) -> Result<Json<OutputLines>, ApiError> {
    let caller = caller.at_least(Role::Viewer).await?;
    let after = page.after.unwrap_or(0);
    let limit = page.limit.unwrap_or(1000);
    if after < 0 {
        return Err(ApiError::invalid("after", "api-error-cursor"));
    }
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::invalid("limit", "api-error-limit"));
    }
    let jobs = &caller.console.jobs;
    // Unknown job: 404 rather than an empty page.
    jobs.job(job_id).await.map_err(|e| caller.fail(e))?;
    let lines = jobs
        .output_after(job_id, after, limit)
        .await
        .map_err(|e| caller.fail(e))?;
    let next = (lines.len() as i64 == limit)
        .then(|| lines.last().map(|l| l.seq))
        .flatten();
    Ok(Json(OutputLines {
        next,
        lines: lines
            .into_iter()
            .map(|l| OutputLine {
                seq: l.seq,
                stream: if l.stderr { "stderr" } else { "stdout" },
                text: l.line,
            })
            .collect(),
    }))
}
