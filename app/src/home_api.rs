//! The home page's one read: every card's facts in one server function —
//! one request, one check of who is calling — the cards read at once. A
//! card whose read fails is left out (logged with the request id) and the
//! others are shown.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use vocabulary::supervision::CiState;

use crate::api::AuditRow;
use crate::backups_api::BackupHealthRow;
use crate::deploys_api::DeployRow;
use crate::errors::AppError;
use crate::hosts_api::HostServicesLine;
use crate::linode_api::HostLinodeRow;
use crate::monitoring_api::SiteLine;

/// Everything the home page shows. An empty list leaves its card out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HomeCards {
    /// How many alerts are open (`None`: could not be read).
    pub open_alerts: Option<i64>,
    pub sites: Vec<SiteLine>,
    pub services: Vec<HostServicesLine>,
    pub linodes: Vec<HostLinodeRow>,
    /// Each host's id, name and newest deploy.
    pub deploys: Vec<(i64, String, Option<DeployRow>)>,
    /// Each host's CI state (empty: no CI provider saved).
    pub ci: Vec<(i64, Option<CiState>)>,
    pub backups: Vec<BackupHealthRow>,
    /// The newest audit records (`None` for a viewer, who does not read the
    /// audit log).
    pub recent: Option<Vec<AuditRow>>,
}

#[server(endpoint = "home/page")]
pub async fn home_page() -> Result<HomeCards, AppError> {
    use vocabulary::accounts::Role;
    let caller = crate::api::require(Role::Viewer).await?;
    let console = &caller.console;
    let reads_log = caller.operator.require(Role::Operator).is_ok();
    let recent = async {
        match reads_log {
            true => crate::api::newest_audit_rows(console).await.map(Some),
            false => Ok(None),
        }
    };
    let (open_alerts, sites, services, linodes, deploys, ci, backups, recent) = futures::join!(
        console.alerts.open_count(),
        crate::monitoring_api::site_lines(console),
        crate::hosts_api::services_of_every_host(&caller),
        crate::linode_api::linode_of_every_host(console),
        crate::deploys_api::newest_deploys(console),
        crate::integrations_api::ci_states(console),
        crate::backups_api::backup_health(console),
        recent,
    );
    Ok(HomeCards {
        open_alerts: card(open_alerts),
        sites: card(sites).unwrap_or_default(),
        services: card(services).unwrap_or_default(),
        linodes: card(linodes).unwrap_or_default(),
        deploys: card(deploys).unwrap_or_default(),
        ci: card(ci).flatten().unwrap_or_default(),
        backups: card(backups).unwrap_or_default(),
        recent: card(recent).flatten(),
    })
}

/// A card's facts, or `None` when they could not be read (logged, with
/// the request id, as every failure is).
#[cfg(feature = "ssr")]
fn card<T>(read: domain::error::Result<T>) -> Option<T> {
    read.map_err(|error| {
        // Only on failure: the request's context is read (and cloned) for its id.
        let request_id = crate::context::request_context().and_then(|c| c.provenance.request_id);
        AppError::from_domain(error, request_id.as_deref())
    })
    .ok()
}
