//! The runbook: the actions a staff member can run on a host, their names in
//! the audit log and the jobs table, and the exact command each one runs.

use serde::{Deserialize, Serialize};

use crate::audit::AuditAction;
use crate::error::{DomainError, Result};
use crate::hosts::{Host, ServiceVerb};
use crate::ssh::RemoteCommand;

/// The actions of the runbook (manual §3.1-3.2 and §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Runbook {
    /// `systemctl stop` the web server: the site goes offline.
    StopWebServer,
    RestartWebServer,
    RestartWsgiServer,
    /// Reads the versions of NGINX, Gunicorn and PostgreSQL, free disk and uptime.
    CheckPrerequisites,
}

impl Runbook {
    pub const ALL: [Runbook; 4] = [
        Runbook::StopWebServer,
        Runbook::RestartWebServer,
        Runbook::RestartWsgiServer,
        Runbook::CheckPrerequisites,
    ];

    /// The action's name in the audit log and the jobs table.
    pub fn action(self) -> AuditAction {
        match self {
            Runbook::StopWebServer => AuditAction::WebappStopWebServer,
            Runbook::RestartWebServer => AuditAction::WebappRestartWebServer,
            Runbook::RestartWsgiServer => AuditAction::WebappRestartWsgiServer,
            Runbook::CheckPrerequisites => AuditAction::HostCheckPrerequisites,
        }
    }

    pub fn parse(action: &str) -> Result<Self> {
        Runbook::ALL
            .into_iter()
            .find(|r| r.action().as_str() == action)
            .ok_or_else(|| DomainError::invalid("action", "error-action-unknown"))
    }

    /// Whether it changes the host (and so takes the host's lock).
    pub fn mutating(self) -> bool {
        !matches!(self, Runbook::CheckPrerequisites)
    }

    pub fn command(self, host: &Host) -> RemoteCommand {
        match self {
            Runbook::StopWebServer => host.control.command(&host.web_service, ServiceVerb::Stop),
            Runbook::RestartWebServer => host.control.command(&host.web_service, ServiceVerb::Restart),
            Runbook::RestartWsgiServer => host.control.command(&host.wsgi_service, ServiceVerb::Restart),
            Runbook::CheckPrerequisites => super::prerequisites::command(host),
        }
    }
}
