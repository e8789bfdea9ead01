//! The hosts the console manages (manual §4.1.2): where to reach them over
//! SSH, the console's key for them (sealed in the secret store), the host key
//! an admin confirmed and pinned, the app directory, the services and how to
//! control them, the site's URL. Every change is audited.
//!
//! - [`names`]: the validated values that reach a command line (host and
//!   unit names, remote paths) and the site's URL;
//! - [`directory`]: the hosts table, read back into [`Host`];
//! - [`registration`]: registering a host (the console's key pasted or
//!   generated, the host key confirmed by an admin);
//! - [`host_key`]: reading and re-pinning a host's key, and connecting with
//!   the pinned key (a changed key is refused, recorded and audited);
//! - [`services`]: how a host's services are controlled, and their state;
//! - [`required_versions`]: what the prerequisites check compares with.

use std::sync::Arc;

use sqlx::PgPool;
use time::OffsetDateTime;

use crate::remembered::{ReadEvery, Remembered};
use crate::secrets::{SecretId, SecretStore};
use crate::ssh::{HostKey, SshSettings, SshTarget, WarmSessions};

pub mod directory;
pub mod host_key;
pub mod names;
pub mod registration;
pub mod required_versions;
pub mod services;

pub use names::{HostName, RemotePath, UnitName};
pub use registration::{HostRegistration, KeyChoice};
pub use required_versions::RequiredVersions;
pub use services::{ServiceControl, ServiceState, ServiceVerb};

/// A registered host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: i64,
    pub name: HostName,
    pub target: SshTarget,
    pub private_key: SecretId,
    pub public_key: String,
    pub host_key: HostKey,
    /// The key the host presented instead of the pinned one, and when.
    pub key_alert: Option<(String, OffsetDateTime)>,
    pub app_dir: RemotePath,
    pub web_service: UnitName,
    pub wsgi_service: UnitName,
    pub control: ServiceControl,
    pub site_url: String,
}

/// The registered hosts and what is done with them.
#[derive(Clone, Debug)]
pub struct HostDirectory {
    pool: PgPool,
    secrets: SecretStore,
    ssh: SshSettings,
    /// Sessions done with, waiting a minute for their next user.
    warm: WarmSessions,
    /// Each host's services as last read over SSH, kept
    /// [`services::SERVICES_FRESH`] (a job on the host forgets them).
    service_states: Arc<ReadEvery<i64, services::ServiceReading>>,
    /// Every host, kept from one change to the next (the hosts table
    /// announces its changes; see [`Remembered`]).
    listed: Arc<Remembered<Vec<Host>>>,
}

impl HostDirectory {
    pub fn new(pool: PgPool, secrets: SecretStore, ssh: SshSettings) -> Self {
        Self {
            pool,
            secrets,
            ssh,
            warm: WarmSessions::default(),
            service_states: Arc::new(ReadEvery::new(services::SERVICES_FRESH)),
            listed: Arc::default(),
        }
    }

    pub fn ssh_settings(&self) -> SshSettings {
        self.ssh
    }

    /// Whether the hosts table's announcements are heard (see
    /// [`Remembered::hearing`]): while they are not, the list is read at
    /// each request.
    pub fn hearing(&self, heard: bool) {
        self.listed.hearing(heard);
    }

    /// A change of the hosts table was announced: the list is read again.
    pub fn forget_list(&self) {
        self.listed.changed();
    }
}
