//! Deploys: deploy a branch on a host, read a host's deploys.

use axum::http::StatusCode;
use axum::Json;
use domain::accounts::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use super::jobs::{StartAnswers, Started};
use super::rfc3339;

/// The branch to deploy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub branch: String,
}

/// A deploy or a rollback, and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeployState {
    pub id: i64,
    pub host_id: i64,
    pub job_id: i64,
    /// `deploy` or `rollback`.
    pub kind: String,
    pub branch: Option<String>,
    /// The commit the app ran before, and the one it was moved to.
    pub from_commit: Option<String>,
    pub to_commit: Option<String>,
    pub actor: String,
    pub at: String,
    /// Its job's status (`queued`, `running`, `succeeded`, `failed`…).
    pub status: String,
    pub failure: Option<String>,
}

impl From<domain::deploys::DeployRecord> for DeployState {
    fn from(d: domain::deploys::DeployRecord) -> Self {
        Self {
            id: d.id,
            host_id: d.host_id,
            job_id: d.job_id,
            kind: d.kind.as_str().to_owned(),
            branch: d.branch,
            from_commit: d.from.map(|c| c.id),
            to_commit: d.to.map(|c| c.id),
            actor: d.actor,
            at: rfc3339(d.at),
            status: d.status.as_str().to_owned(),
            failure: d.failure.map(|f| f.code().to_owned()),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryPage {
    /// How many, newest first (1 to 200, 20 by default).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Deploys a branch on a host (operate scope), as the console's page
/// does: a backup first, then the checkout; follow the job.
#[utoipa::path(
    post,
    path = "/api/v1/hosts/{host_id}/deploys",
    tag = "deploys",
    security(("token" = [])),
    params(("host_id" = i64, Path, description = "The host")),
    request_body = Deploy,
    responses(
        (status = 400, description = "Invalid branch or malformed body", body = ErrorBody),
        StartAnswers,
    )
)]
pub async fn deploy(
    caller: ApiCaller,
    ApiPath(host_id): ApiPath<i64>,
    ApiJson(body): ApiJson<Deploy>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let caller = caller.at_least(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let job_id = caller
        .console
        .deploys
        .deploy(by, from, host_id, &body.branch)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(Started::accepted(job_id))
}

/// A host's deploys and rollbacks, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{host_id}/deploys",
    tag = "deploys",
    security(("token" = [])),
    params(("host_id" = i64, Path, description = "The host"), HistoryPage),
    responses(
        (status = 200, description = "The deploys", body = [DeployState]),
        (status = 400, description = "Malformed id or limit", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such host", body = ErrorBody),
    )
)]
pub async fn deploys(
    caller: ApiCaller,
    ApiPath(host_id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<HistoryPage>,
) -> Result<Json<Vec<DeployState>>, ApiError> {
    let caller = caller.at_least(Role::Viewer).await?;
    let limit = page.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "api-error-limit"));
    }
    let console = &caller.console;
    console.hosts.get(host_id).await.map_err(|e| caller.fail(e))?;
    let history = console
        .deploys
        .history(host_id, limit)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(Json(history.into_iter().map(DeployState::from).collect()))
}
