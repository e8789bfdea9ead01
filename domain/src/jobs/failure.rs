//! Why a job failed, as staff read it: a [`JobFailure`] code with safe
//! parameters, stored with the job and translated by the interface. What the
//! libraries said (SSH, the secret store, the database) is logged here, in
//! the job's span (job number, host, action, request id), and goes nowhere
//! else.

use super::JobFailure;
use crate::error::DomainError;
use crate::hosts::{Host, ServiceVerb};
use crate::ssh::SshError;

/// The failure staff see for an error that ended a job; the error itself
/// goes to the log.
pub(crate) fn of_ssh(error: &SshError) -> JobFailure {
    tracing::warn!(%error, "the job failed on the host");
    match error {
        SshError::Unreachable(_) => JobFailure::HostUnreachable,
        SshError::TimedOut(_) => JobFailure::HostTimedOut,
        SshError::HostKeyChanged { .. } => JobFailure::HostKeyChanged,
        SshError::AuthenticationRefused => JobFailure::KeyRefused,
        SshError::Lost(_) => JobFailure::ConnectionLost,
        SshError::BadPrivateKey => JobFailure::PrivateKeyUnusable,
    }
}

/// The console itself failed while running the job (its output could not be
/// stored): staff see that the log says why.
pub(crate) fn of_console(error: &DomainError) -> JobFailure {
    tracing::error!(%error, "the job's output could not be stored");
    JobFailure::Internal
}

/// `sudo` wanted a password: the sudoers line that lets the console control
/// this host's services (its SSH user and its `systemctl` commands, no secret).
pub(super) fn sudo_wants_password(host: &Host) -> JobFailure {
    let units = [&host.web_service, &host.wsgi_service];
    let commands: Vec<String> = units
        .iter()
        .flat_map(|unit| {
            [ServiceVerb::Stop, ServiceVerb::Restart, ServiceVerb::IsActive]
                .map(|verb| format!("/usr/bin/systemctl {} {}", verb.as_str(), unit.as_str()))
        })
        .collect();
    JobFailure::SudoWantsPassword {
        line: format!(
            "{} ALL=(root) NOPASSWD: {}",
            host.target.user.as_str(),
            commands.join(", ")
        ),
    }
}
