//! Linode API v4 (manual §5.1, §7.1, §8.2): the console powers its Linode on
//! and off and follows what the API does, written to
//! `../shared/linode-api/openapi-subset.yaml` and the rules of its README.
//!
//! - [`client`]: bearer token, timeouts, retries (429 and 5xx, honouring
//!   `Retry-After` and the rate-limit headers), the `errors` envelope read
//!   into a clear [`LinodeError`], the token's scopes checked.
//! - [`model`]: what the console reads of instances and events; unknown
//!   fields are ignored and an unknown state is kept by its word.
//! - `token`: the API token, sealed in the secret store, checked when an
//!   admin enters it, never shown again.
//! - `instances`: which instance a host is (picked by an admin from the
//!   account's list) and its live state, remembered a few seconds so page
//!   views do not spend the API's rate limit.
//! - `power`: boot, shut down, reboot — each a job that follows its event.
//! - `backups`: the Backup service, its backups and the snapshot slot;
//!   take a snapshot, restore a backup onto the instance (jobs as well).
//! - `graphs`: CPU, network and disk I/O over the last 24 h, read at most
//!   once per 5-minute average the API computes.
//!
//! With no token stored and a [`Simulator`] given (the demo), the console
//! talks to the local double of the API, and says so ("Linode simulé");
//! once a token is stored it talks to the configured API and never to the
//! simulator.

mod backups;
pub mod client;
mod graphs;
mod instances;
pub mod model;
mod power;
mod token;
pub mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

pub use backups::{BackupsReading, BACKUPS_FRESH, MAX_SNAPSHOT_LABEL};
pub use client::{LinodeApi, LinodeError, LinodeToken, RetryPolicy, TokenCheck};
pub use graphs::{GraphsReading, GRAPHS_FRESH};
pub use instances::{HostLinode, Reading, STATE_FRESH};
pub use model::{
    Event, EventAction, EventStatus, Instance, InstanceStatus, LinodeBackup, LinodeBackups, LinodeStats, Sample,
};
pub use power::PowerAction;
pub use token::TokenState;

use crate::error::{DomainError, Result};
use crate::hosts::HostDirectory;
use crate::jobs::JobRunner;
use crate::remembered::{ReadEvery, Remembered};
use crate::secrets::SecretStore;

/// The local double of the API the demo talks to while no token is stored.
#[derive(Clone, Debug)]
pub struct Simulator {
    pub api: LinodeApi,
    pub token: LinodeToken,
}

/// The console's Linode: its API, its token, the hosts' instances and the
/// power jobs.
#[derive(Clone, Debug)]
pub struct Linode {
    pool: PgPool,
    secrets: SecretStore,
    hosts: HostDirectory,
    jobs: JobRunner,
    api: LinodeApi,
    simulator: Option<Simulator>,
    /// How often a job asks where its event stands.
    poll: Duration,
    /// Each instance's state, read at most every [`STATE_FRESH`].
    states: Arc<ReadEvery<i64, Reading>>,
    /// Each instance's backups, read at most every [`BACKUPS_FRESH`].
    backup_lists: Arc<ReadEvery<i64, BackupsReading>>,
    /// Each instance's graphs, read at most every [`GRAPHS_FRESH`].
    graphs: Arc<ReadEvery<i64, GraphsReading>>,
    /// Which instance each host runs on, and whether the API is simulated,
    /// kept from one change to the next (see [`Remembered`]).
    links: Arc<Remembered<instances::Links>>,
}

/// The API to call and the token to call it with.
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub api: LinodeApi,
    pub token: LinodeToken,
}

impl Linode {
    /// The console's Linode over `api` (the public API unless configured).
    pub fn new(pool: PgPool, secrets: SecretStore, hosts: HostDirectory, jobs: JobRunner, api: LinodeApi) -> Self {
        Self {
            pool,
            secrets,
            hosts,
            jobs,
            api,
            simulator: None,
            poll: Duration::from_secs(2),
            states: Arc::new(ReadEvery::new(STATE_FRESH)),
            backup_lists: Arc::new(ReadEvery::new(BACKUPS_FRESH)),
            graphs: Arc::new(ReadEvery::new(GRAPHS_FRESH)),
            links: Arc::default(),
        }
    }

    /// Talks to `simulator` while no token is stored (the demo).
    pub fn with_simulator(mut self, simulator: Option<Simulator>) -> Self {
        self.simulator = simulator;
        self
    }

    /// How often a job asks where its event stands (2 s by default).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Where the console's API calls go, as the page may show it.
    pub fn api_url(&self) -> &str {
        self.api.base_url()
    }

    /// The API and token to use: the stored token with the configured API,
    /// else the simulator, else a refusal that says a token is needed.
    pub(crate) async fn connection(&self) -> Result<(Connection, bool)> {
        if let Some(token) = self.stored_token().await? {
            return Ok((
                Connection {
                    api: self.api.clone(),
                    token,
                },
                false,
            ));
        }
        match &self.simulator {
            Some(simulator) => Ok((
                Connection {
                    api: simulator.api.clone(),
                    token: simulator.token.clone(),
                },
                true,
            )),
            None => Err(LinodeError::NoToken.into()),
        }
    }

    /// Whether the console talks to the simulator (no token stored and a
    /// simulator given): every place that shows Linode says so.
    pub async fn simulated(&self) -> Result<bool> {
        Ok(self.simulator.is_some() && self.token_state().await?.is_none())
    }
    /// Reads `what` of instance `linode` from the API: its answer, or the
    /// API's refusal kept to be shown (and logged); only the console's own
    /// failures (its database) are an `Err`.
    async fn read<T, F, Fut>(
        &self,
        linode: i64,
        what: &'static str,
        call: F,
    ) -> Result<std::result::Result<T, LinodeError>>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = std::result::Result<T, LinodeError>>,
    {
        let answer = match self.connection().await {
            Ok((connection, _)) => call(connection).await,
            Err(DomainError::Linode(error)) => Err(error),
            Err(other) => return Err(other),
        };
        if let Err(error) = &answer {
            tracing::warn!(linode, what, %error, "the Linode API did not answer a reading");
        }
        Ok(answer)
    }
}
