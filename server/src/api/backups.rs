//! Backups: back a host's database up now, list the catalog (by cursor),
//! read one backup.

use axum::http::StatusCode;
use axum::Json;
use domain::accounts::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use super::jobs::{StartAnswers, Started};
use super::rfc3339;

/// Why the backup is taken (kept in the catalog and the audit log).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackUpNow {
    pub reason: Option<String>,
}

/// A backup of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupState {
    pub id: i64,
    pub host_id: i64,
    pub host_name: String,
    /// The job that took it.
    pub job_id: Option<i64>,
    pub database_name: String,
    /// `manual`, `scheduled` or `before_deploy`.
    pub trigger: String,
    pub actor: String,
    pub reason: Option<String>,
    /// `running`, `succeeded`, `failed`, `deleted`…
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// pg_dump's output, in bytes.
    pub raw_bytes: Option<i64>,
    /// The stored object (compressed, encrypted), in bytes.
    pub stored_bytes: Option<i64>,
    /// SHA-256 of the stored object, hex.
    pub sha256: Option<String>,
    /// Why it failed: a stable code.
    pub failure: Option<String>,
}

impl From<domain::backups::Backup> for BackupState {
    fn from(b: domain::backups::Backup) -> Self {
        Self {
            id: b.id,
            host_id: b.host_id,
            host_name: b.host_name,
            job_id: b.job_id,
            database_name: b.database_name,
            trigger: b.trigger.as_str().to_owned(),
            actor: b.actor,
            reason: b.reason,
            status: b.status.as_str().to_owned(),
            started_at: rfc3339(b.started_at),
            finished_at: b.finished_at.map(rfc3339),
            raw_bytes: b.raw_bytes,
            stored_bytes: b.stored_bytes,
            sha256: b.sha256,
            failure: b.failure,
        }
    }
}

/// Which backups, from where.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogPage {
    /// One host's backups only.
    pub host_id: Option<i64>,
    /// The cursor: the `next` of the previous page (absent: the newest).
    pub before: Option<i64>,
    /// How many at most (1 to 500, 50 by default).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A page of the catalog, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Backups {
    pub backups: Vec<BackupState>,
    /// The cursor of the next (older) page, if there is one.
    pub next: Option<i64>,
}

/// Backs a host's database up now (operate scope): the backup job's
/// number; the backup is in the catalog under that `job_id`.
#[utoipa::path(
    post,
    path = "/api/v1/hosts/{host_id}/backups",
    tag = "backups",
    security(("token" = [])),
    params(("host_id" = i64, Path, description = "The host")),
    request_body = BackUpNow,
    responses(
        (status = 400, description = "Malformed body", body = ErrorBody),
        StartAnswers,
    )
)]
pub async fn back_up_now(
    caller: ApiCaller,
    ApiPath(host_id): ApiPath<i64>,
    ApiJson(body): ApiJson<BackUpNow>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let caller = caller.at_least(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    let job_id = caller
        .console
        .backups
        .back_up_now(by, from, host_id, reason)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(Started::accepted(job_id))
}

/// The catalog, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/backups",
    tag = "backups",
    security(("token" = [])),
    params(CatalogPage),
    responses(
        (status = 200, description = "A page of backups", body = Backups),
        (status = 400, description = "Malformed filter or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn list_backups(caller: ApiCaller, ApiQuery(page): ApiQuery<CatalogPage>) -> Result<Json<Backups>, ApiError> {
    let caller = caller.at_least(Role::Viewer).await?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "api-error-limit"));
    }
    let filter = domain::backups::CatalogFilter {
        host_id: page.host_id,
        before: page.before,
        ..Default::default()
    };
    let mut backups = caller
        .console
        .backups
        .list_filtered(&filter, limit + 1)
        .await
        .map_err(|e| caller.fail(e))?;
    let more = backups.len() as i64 > limit;
    backups.truncate(limit as usize);
    Ok(Json(Backups {
        next: more.then(|| backups.last().map(|b| b.id)).flatten(),
        backups: backups.into_iter().map(BackupState::from).collect(),
    }))
}

/// One backup of the catalog.
#[utoipa::path(
    get,
    path = "/api/v1/backups/{backup_id}",
    tag = "backups",
    security(("token" = [])),
    params(("backup_id" = i64, Path, description = "The backup")),
    responses(
        (status = 200, description = "The backup", body = BackupState),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such backup", body = ErrorBody),
    )
)]
pub async fn backup(caller: ApiCaller, ApiPath(backup_id): ApiPath<i64>) -> Result<Json<BackupState>, ApiError> {
    let caller = caller.at_least(Role::Viewer).await?;
    let backup = caller
        .console
        .backups
        .get(backup_id)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(Json(backup.into()))
}
