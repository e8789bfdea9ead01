//! The app's environment variables (manual §4.1.1), per host: the manual's
//! set and any other, each plain or secret. Secret values are sealed in the
//! secret store and write-only: no page, endpoint, log line, job output or
//! audit record ever holds one. Applying writes the host's `.env` file
//! (over the SSH channel's standard input, never a command line) and
//! restarts Gunicorn, as a job; each apply and import is a version naming
//! what changed; drift is the host's file differing from the last version.
//!
//! - `names`: the name and value rules, the manual's set, public sites;
//! - `file`: the `.env` file written and read;
//! - `store`: the console's values, the overview, set / generate / remove;
//! - `apply`: apply (a job), drift, import.

mod apply;
mod file;
mod names;
mod store;

pub use apply::{Drift, Imported};
pub use names::{generated_secret_key, site_is_public, EnvName, EnvValue, MANUAL_SET, PRODUCTION};
pub use store::{EnvOverview, EnvVariable, EnvVersion};
pub use vocabulary::deploys::EnvVersionKind;

use sqlx::PgPool;

use crate::hosts::HostDirectory;
use crate::jobs::JobRunner;
use crate::secrets::SecretStore;

/// What the secret store seals environment values for.
const SECRET_PURPOSE: &str = "app-env";

/// Each host's environment: its values, versions, apply, drift, import.
#[derive(Clone, Debug)]
pub struct AppEnvironment {
    pool: PgPool,
    secrets: SecretStore,
    hosts: HostDirectory,
    jobs: JobRunner,
}

impl AppEnvironment {
    pub fn new(pool: PgPool, secrets: SecretStore, hosts: HostDirectory, jobs: JobRunner) -> Self {
        Self {
            pool,
            secrets,
            hosts,
            jobs,
        }
    }
}
