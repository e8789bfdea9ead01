//! The hosts and their state: each registered host's site as the probes
//! last saw it.

use axum::Json;
use domain::accounts::Role;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::ApiCaller;
use super::error::{ApiError, ErrorBody};
use super::rfc3339;

/// A registered host and its site's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostState {
    pub id: i64,
    pub name: String,
    /// The SSH address the console reaches it at.
    pub address: String,
    pub site_url: String,
    pub site: SiteState,
}

/// A host's site as the newest probe found it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteState {
    /// `up`, `down`, or `unknown` (not probed yet).
    pub state: &'static str,
    /// When it was probed (RFC 3339), if it was.
    pub checked_at: Option<String>,
    pub latency_ms: Option<u64>,
    /// How many probes in a row found it down.
    pub down_in_a_row: i64,
    /// Whole days left on its certificate (negative: expired).
    pub cert_days_left: Option<i64>,
}

/// Every registered host, with its site's state.
#[utoipa::path(
    get,
    path = "/api/v1/hosts",
    tag = "hosts",
    security(("token" = [])),
    responses(
        (status = 200, description = "Every host", body = [HostState]),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn list_hosts(caller: ApiCaller) -> Result<Json<Vec<HostState>>, ApiError> {
    let caller = caller.at_least(Role::Viewer).await?;
    let sites = caller.console.probes.every_site().await.map_err(|e| caller.fail(e))?;
    let now = time::OffsetDateTime::now_utc();
    Ok(Json(
        sites
            .iter()
            .map(|(host, health)| HostState {
                id: host.id,
                name: host.name.as_str().to_owned(),
                address: host.target.address.as_str().to_owned(),
                site_url: host.site_url.clone(),
                site: SiteState {
                    state: match &health.last {
                        Some(last) if last.up => "up",
                        Some(_) => "down",
                        None => "unknown",
                    },
                    checked_at: health.last.as_ref().map(|last| rfc3339(last.at)),
                    latency_ms: health.last.as_ref().map(|last| last.latency.as_millis() as u64),
                    down_in_a_row: health.down_in_a_row,
                    cert_days_left: health.cert_days_left(now),
                },
            })
            .collect(),
    ))
}
