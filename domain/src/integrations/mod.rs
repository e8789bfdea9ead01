//! Where the console reads the app's CI state and its errors (manual §8.1:
//! "every deployed change must pass CI; Sentry reports errors"): one CI
//! provider (GitHub Actions or Travis CI) and one Sentry project, each
//! with its API's address and an optional token sealed in the secret store.
//!
//! - [`settings`]: what an admin saves (checked against the API first:
//!   refused, nothing stored) or removes, audited, the token never shown;
//! - [`api`]: the one HTTP client and what an API's failures mean;
//! - [`ci`]: the CI state of the commit each host runs (its newest
//!   deploy), from [`github`] or [`travis`];
//! - [`sentry`]: the project's link and its latest unresolved issues.
//!
//! Answers are kept a minute: however many pages show them, each API is
//! read at most once a minute per commit.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::deploys::Deploys;
use crate::remembered::{ReadEvery, Remembered};
use crate::secrets::SecretStore;

pub mod api;
pub mod ci;
pub mod github;
pub mod sentry;
pub mod settings;
pub mod travis;

pub use ci::{CiBuild, CiReport, HostCi};
pub use sentry::{SentryIssue, SentryReport};
pub use settings::{IntegrationInput, IntegrationSettings, Purpose, TokenChange};
pub use vocabulary::supervision::{CiState, IntegrationFailure, IntegrationProvider};

/// What an API said, or why it could not be read (kept alike).
pub type Answer<T> = Arc<Result<T, IntegrationFailure>>;

/// How long an API's answer is kept.
const FRESH: Duration = Duration::from_secs(60);

/// The CI provider and Sentry: their settings and what they report.
#[derive(Clone, Debug)]
pub struct Integrations {
    pool: PgPool,
    secrets: SecretStore,
    deploys: Deploys,
    client: reqwest::Client,
    /// Each commit's CI report (or why it could not be read).
    ci_reports: Arc<ReadEvery<String, Answer<CiReport>>>,
    /// The latest unresolved issues (or why they could not be read).
    issues: Arc<ReadEvery<(), Answer<Vec<SentryIssue>>>>,
    /// The saved settings, kept from one change to the next (the table
    /// announces its changes; see [`Remembered`]).
    saved: Arc<Remembered<Vec<settings::Row>>>,
}

impl Integrations {
    /// The integrations, trusting the system's authorities and those of
    /// `extra_roots` (an internal CI or Sentry server's).
    pub fn new(pool: PgPool, secrets: SecretStore, deploys: Deploys, extra_roots: &[reqwest::Certificate]) -> Self {
        Self {
            pool,
            secrets,
            deploys,
            client: api::client(extra_roots),
            ci_reports: Arc::new(ReadEvery::new(FRESH)),
            issues: Arc::new(ReadEvery::new(FRESH)),
            saved: Arc::default(),
        }
    }

    /// Whether the settings' announcements are heard (see
    /// [`Remembered::hearing`]): while they are not, they are read at each
    /// request.
    pub fn hearing(&self, heard: bool) {
        self.saved.hearing(heard);
    }

    /// The settings changed (announced, or changed by this process): they
    /// and what was read with them are read again at the next request.
    pub fn settings_changed(&self) {
        self.saved.changed();
        self.ci_reports.forget_all();
        self.issues.forget_all();
    }
}
