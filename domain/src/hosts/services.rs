//! A host's services (the web server and the WSGI server): how they are
//! controlled (systemd through sudo, or the host's own program) and what
//! state they are in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Host, HostDirectory, RemotePath, UnitName};
use crate::accounts::Operator;
use crate::audit::Provenance;
use crate::ssh::{RemoteCommand, SshError};

/// What a service-control command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceVerb {
    Stop,
    Restart,
    IsActive,
}

impl ServiceVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceVerb::Stop => "stop",
            ServiceVerb::Restart => "restart",
            ServiceVerb::IsActive => "is-active",
        }
    }
}

/// How a host's services are controlled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceControl {
    /// `sudo -n systemctl <verb> <unit>` (the default).
    Systemd,
    /// `<program> <unit> <verb>`, for hosts without systemd.
    Command(RemotePath),
}

impl ServiceControl {
    pub fn command(&self, unit: &UnitName, verb: ServiceVerb) -> RemoteCommand {
        match self {
            ServiceControl::Systemd => RemoteCommand::program("sudo")
                .fixed("-n")
                .fixed("systemctl")
                .fixed(verb.as_str())
                .arg(unit),
            ServiceControl::Command(program) => {
                RemoteCommand::validated_program(program).arg(unit).fixed(verb.as_str())
            }
        }
    }
}

/// A service's state as `systemctl is-active` says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub unit: String,
    /// `active`, `inactive`, `failed`… as printed, or empty when unknown.
    pub state: String,
}

/// How long a host's service states are shown without asking the host
/// again (a job on the host forgets them at once).
pub const SERVICES_FRESH: Duration = Duration::from_secs(10);

/// A host's services as last read, or why they could not be.
pub(super) type ServiceReading = Result<Vec<ServiceState>, SshError>;

impl HostDirectory {
    /// The state of the host's web and WSGI servers (a read: no job, no
    /// lock), asked over SSH at most every [`SERVICES_FRESH`] however many
    /// pages show it.
    #[tracing::instrument(skip_all, fields(host = host.name.as_str(), by = %by.username))]
    pub async fn service_states(
        &self,
        host: &Host,
        by: &Operator,
        provenance: &Provenance,
    ) -> Result<Vec<ServiceState>, SshError> {
        let read = self.read_service_states(host, by, provenance);
        let states = self
            .service_states
            .get(host.id, || async { Ok::<_, std::convert::Infallible>(read.await) })
            .await;
        match states {
            Ok(reading) => reading,
            Err(never) => match never {},
        }
    }

    /// The state of the host's services without waiting for the host when
    /// it was read a few seconds ago: that reading is returned and a new
    /// one starts behind it (the home page, which every visit shows, never
    /// waits for SSH but the first time).
    pub async fn recent_service_states(
        &self,
        host: &Host,
        by: &Operator,
        provenance: &Provenance,
    ) -> Result<Vec<ServiceState>, SshError> {
        if let Some(fresh) = self.service_states.fresh(&host.id) {
            return fresh;
        }
        match self.service_states.recent(&host.id) {
            Some(recent) => {
                let (this, host, by, provenance) = (self.clone(), host.clone(), by.clone(), provenance.clone());
                tokio::spawn(async move {
                    let _ = this.service_states(&host, &by, &provenance).await;
                });
                recent
            }
            None => self.service_states(host, by, provenance).await,
        }
    }

    /// What the host's services say now is read again at the next request
    /// (a job on the host may have changed it).
    pub fn forget_service_states(&self, host_id: i64) {
        self.service_states.forget(&host_id);
    }

    async fn read_service_states(&self, host: &Host, by: &Operator, provenance: &Provenance) -> ServiceReading {
        let session = self.connect(host, &by.actor(), provenance).await?;
        let mut states = Vec::new();
        for unit in [&host.web_service, &host.wsgi_service] {
            let (_, lines) = session
                .answer(&host.control.command(unit, ServiceVerb::IsActive))
                .await?;
            states.push(ServiceState {
                unit: unit.as_str().to_owned(),
                state: lines.first().map(|line| line.trim().to_owned()).unwrap_or_default(),
            });
        }
        session.close().await;
        Ok(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_commands_are_systemctl_through_sudo_or_the_hosts_own_program() {
        let unit = UnitName::parse("nginx", "web_service").unwrap();
        assert_eq!(
            ServiceControl::Systemd.command(&unit, ServiceVerb::Stop).line(),
            "sudo -n systemctl stop nginx"
        );
        let program = RemotePath::parse("/opt/staging/bin/service", "service_command").unwrap();
        assert_eq!(
            ServiceControl::Command(program)
                .command(&unit, ServiceVerb::IsActive)
                .line(),
            "/opt/staging/bin/service nginx is-active"
        );
    }
}
