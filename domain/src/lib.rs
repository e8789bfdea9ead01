//! The OC Pizza operations console's domain: everything the console knows and
//! does, with no web framework in it. The UI and the HTTP layer reach it
//! through one [`Console`] handle.
//!
//! Each area is a module with its own tests: [`accounts`] (staff, roles,
//! passwords, sign-in throttling), [`audit`] (the append-only, hash-chained
//! audit log), [`secrets`] (the one encrypted store for secrets), [`ssh`]
//! (pinned-key SSH to the managed hosts), [`hosts`] (registration, pinned
//! keys, service control), [`jobs`] (runbook actions run as audited jobs,
//! their output live to every viewer), [`backups`] (database backups streamed
//! off the host into [`storage`], encrypted and catalogued; restores). The
//! [`linode`] area (the API token, each host's instance, power jobs) is
//! the first to talk to an API rather than a host. [`deploys`] (a branch
//! deployed, a rollback, as jobs made of steps) and [`app_env`] (the app's
//! environment variables, secret ones write-only) follow the same shape;
//! [`probes`], [`alerts`] and [`integrations`] (the CI state and Sentry's
//! issues) — supervision — slot in beside them: a folder per area, its one-command
//! actions in the jobs' runbook (its longer work as a job plan, like
//! `backups` and `deploys`), its words in the `vocabulary` crate. Beside
//! the accounts: [`tokens`] (what scripts present on the JSON API) and
//! [`sessions`] (the signed-in browsers each account sees and ends).

pub mod accounts;
pub mod alerts;
pub mod app_env;
pub mod audit;
pub mod backups;
pub mod deploys;
pub mod error;
pub mod hosts;
pub mod integrations;
pub mod jobs;
pub mod linode;
pub mod passwords;
pub mod probes;
pub mod remembered;
pub mod schema;
pub mod secrets;
pub mod sessions;
pub mod setup;
pub mod ssh;
pub mod storage;
pub mod throttle;
pub mod tokens;
pub mod totp;

pub use error::{DomainError, Invalid};

/// The channel the supervision tables announce their changes on (a probe
/// result stored, an alert changed, a web service checked); the payload
/// names which: `sites`, `alerts`, `web-services`. The home page follows it.
pub const SUPERVISION_CHANNEL: &str = "console_dashboard";

/// PostgreSQL advisory lock keys, all in one place so no two uses collide.
/// Transaction-scoped (`pg_advisory_xact_lock`), so they hold across console
/// processes sharing one database and end with the transaction.
pub(crate) mod advisory_locks {
    /// Appending to the audit chain: each row needs the previous row's hash.
    pub const AUDIT_CHAIN: i64 = 0x0c0d_0a0d_0001;
    /// Creating the first admin with the one-time setup token.
    pub const FIRST_ADMIN_SETUP: i64 = 0x0c0d_0a0d_0002;
    /// Evaluating the alert rules: one process at a time opens and
    /// resolves alerts.
    pub const ALERTS_EVALUATION: i64 = 0x0c0d_0a0d_0003;
    /// Reading the linked Linodes' states: one process at a time.
    pub const LINODE_WATCH: i64 = 0x0c0d_0a0d_0004;
}

use sqlx::PgPool;

/// The migrations every console database carries, applied at start-up and
/// by the `migrate` sub-command.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The one handle the UI and the HTTP layer hold: every area of the console
/// hangs off it ([`Areas`], reached through it as `console.hosts`).
/// Cheap to clone: one shared pointer, whatever the number of areas (each
/// request clones it). Changing an area (`console.audit = …`, while the
/// console is configured) changes this handle's copy only.
#[derive(Clone, Debug)]
pub struct Console(std::sync::Arc<Areas>);

/// Where a right password leads.
#[derive(Debug)]
pub enum SignInStep {
    SignedIn(accounts::Operator),
    /// The account has a second factor: its code is asked next.
    CodeNeeded(PendingSignIn),
}

/// A sign-in whose password was right, waiting for its second factor's
/// code (kept in the browser's session meanwhile).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingSignIn {
    pub account_id: i64,
    pub username: String,
    /// The account's credentials epoch at the password step: a password
    /// changed meanwhile ends the sign-in.
    pub epoch: i32,
}

/// What a sign-in attempt counts against: the account named, and the
/// address it comes from.
fn sign_in_subjects(username: &str, provenance: &Provenance) -> [ThrottleSubject; 2] {
    [
        ThrottleSubject::Account(username.to_owned()),
        ThrottleSubject::Address(provenance.client_address.clone().unwrap_or_else(|| "unknown".into())),
    ]
}

/// The console's areas, each a handle of its own.
#[derive(Clone, Debug)]
pub struct Areas {
    pool: PgPool,
    pub accounts: accounts::AccountDirectory,
    pub audit: audit::AuditLog,
    pub throttle: throttle::SignInThrottle,
    pub setup: setup::FirstAdminSetup,
    pub secrets: secrets::SecretStore,
    pub hosts: hosts::HostDirectory,
    pub jobs: jobs::JobRunner,
    pub backups: backups::Backups,
    /// Deploys and rollbacks (manual §6.1, §7.2), each host's settings.
    pub deploys: deploys::Deploys,
    /// The app's environment variables (manual §4.1.1).
    pub environment: app_env::AppEnvironment,
    /// The Linode API: the token, each host's instance, power.
    pub linode: linode::Linode,
    /// The versions the prerequisites check compares with.
    pub required_versions: hosts::RequiredVersions,
    /// Each host's site probed on a schedule (manual §8).
    pub probes: probes::SiteProbes,
    /// Alert rules, alerts and where they are notified (manual §8).
    pub alerts: alerts::Alerts,
    /// The CI state of what each host runs, and Sentry's issues (§8.1).
    pub integrations: integrations::Integrations,
    /// The API tokens each account issues for its scripts.
    pub tokens: tokens::ApiTokens,
    /// The signed-in browser sessions, listed and ended from "Mes sessions".
    pub sessions: sessions::OpenSessions,
    /// The second factor at sign-in, and who must have one.
    pub second_factors: totp::SecondFactors,
}

impl std::ops::Deref for Console {
    type Target = Areas;

    fn deref(&self) -> &Areas {
        &self.0
    }
}

impl std::ops::DerefMut for Console {
    /// This handle's own copy of the areas, to change one of them.
    fn deref_mut(&mut self) -> &mut Areas {
        std::sync::Arc::make_mut(&mut self.0)
    }
}

impl Console {
    /// The console over `pool`, sealing secrets with `sealer`.
    pub fn new(pool: PgPool, sealer: secrets::SecretBox) -> Self {
        Self::with_ssh(pool, sealer, ssh::SshSettings::default())
    }

    /// The console with SSH timeouts from configuration.
    pub fn with_ssh(pool: PgPool, sealer: secrets::SecretBox, ssh_settings: ssh::SshSettings) -> Self {
        let secrets = secrets::SecretStore::new(pool.clone(), sealer);
        let hosts = hosts::HostDirectory::new(pool.clone(), secrets.clone(), ssh_settings);
        let jobs = jobs::JobRunner::new(pool.clone(), hosts.clone());
        // Until the configuration names the storage (the server always does:
        // `with_backup_storage`), backups go to a directory of the machine's
        // temporary files.
        let storage = storage::BackupStorage::directory(std::env::temp_dir().join("ocpizza-console-backups"));
        // Until the configuration says otherwise (`with_linode`): the public
        // API, with its usual timeouts.
        let api = linode::LinodeApi::new(
            linode::LinodeApi::PUBLIC,
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(30),
        )
        .expect("the public Linode API's address is a URL");
        let backups = backups::Backups::new(pool.clone(), storage, secrets.clone(), hosts.clone(), jobs.clone());
        let deploys = deploys::Deploys::new(pool.clone(), hosts.clone(), jobs.clone(), backups.clone());
        Self(std::sync::Arc::new(Areas {
            linode: linode::Linode::new(pool.clone(), secrets.clone(), hosts.clone(), jobs.clone(), api),
            required_versions: hosts::RequiredVersions::default(),
            integrations: integrations::Integrations::new(pool.clone(), secrets.clone(), deploys.clone(), &[]),
            deploys,
            environment: app_env::AppEnvironment::new(pool.clone(), secrets.clone(), hosts.clone(), jobs.clone()),
            probes: probes::SiteProbes::new(pool.clone(), hosts.clone(), &[]),
            alerts: alerts::Alerts::new(pool.clone(), secrets.clone(), &[], &[]),
            backups,
            jobs,
            hosts,
            second_factors: totp::SecondFactors::new(pool.clone(), secrets.clone()),
            secrets,
            tokens: tokens::ApiTokens::new(pool.clone()),
            sessions: sessions::OpenSessions::new(pool.clone()),
            accounts: accounts::AccountDirectory::new(pool.clone()),
            audit: audit::AuditLog::new(pool.clone()),
            throttle: throttle::SignInThrottle::new(pool.clone()),
            setup: setup::FirstAdminSetup::new(pool.clone()),
            pool,
        }))
    }

    /// The console keeping its backups in `storage`.
    pub fn with_backup_storage(mut self, storage: storage::BackupStorage) -> Self {
        self.backups = backups::Backups::new(
            self.pool.clone(),
            storage,
            self.secrets.clone(),
            self.hosts.clone(),
            self.jobs.clone(),
        );
        // A deploy's backup goes to the same storage.
        self.deploys = deploys::Deploys::new(
            self.pool.clone(),
            self.hosts.clone(),
            self.jobs.clone(),
            self.backups.clone(),
        );
        self.integrations =
            integrations::Integrations::new(self.pool.clone(), self.secrets.clone(), self.deploys.clone(), &[]);
        self
    }

    /// The console's site probes, alert channels (webhooks, SMTP
    /// servers) and integrations (CI, Sentry) also trusting the certificates of `pem` (an internal
    /// authority some site's or server's certificate comes from).
    pub fn with_trusted_roots(mut self, pem: &[u8]) -> Result<Self, error::DomainError> {
        let roots = reqwest::Certificate::from_pem_bundle(pem)
            .ok()
            .filter(|roots| !roots.is_empty())
            .ok_or_else(|| error::DomainError::invalid("ca_file", "error-ca-file"))?;
        self.probes = probes::SiteProbes::new(self.pool.clone(), self.hosts.clone(), &roots);
        self.alerts = alerts::Alerts::new(self.pool.clone(), self.secrets.clone(), &roots, pem);
        self.integrations =
            integrations::Integrations::new(self.pool.clone(), self.secrets.clone(), self.deploys.clone(), &roots);
        Ok(self)
    }

    /// The console calling the Linode API at `api` (and, with no token
    /// stored, the demo's `simulator`).
    pub fn with_linode(mut self, api: linode::LinodeApi, simulator: Option<linode::Simulator>) -> Self {
        self.linode = linode::Linode::new(
            self.pool.clone(),
            self.secrets.clone(),
            self.hosts.clone(),
            self.jobs.clone(),
            api,
        )
        .with_simulator(simulator);
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the database answers: what `/healthz` reports.
    pub async fn database_reachable(&self) -> bool {
        sqlx::query!("SELECT 1 AS answer").fetch_one(&self.pool).await.is_ok()
    }
}

use audit::{Actor, AuditAction, AuditEntry, Outcome, Provenance};
use throttle::ThrottleSubject;

impl Console {
    /// Signs a staff member in: throttle, credentials, audit. The answer to
    /// an unknown name, a wrong password and a disabled account is the same
    /// [`DomainError::BadCredentials`]. An account with a second factor is
    /// not signed in yet: its code is asked next ([`Console::sign_in_code`]).
    pub async fn sign_in(&self, username: &str, password: &str, provenance: &Provenance) -> error::Result<SignInStep> {
        let subjects = sign_in_subjects(username, provenance);
        let attempt =
            |outcome| AuditEntry::new(Actor::Anonymous, AuditAction::SessionSignIn, username, outcome).from(provenance);
        // Counted before the password is checked: parallel guesses cannot
        // all slip in before the first failure is recorded.
        let reservation = self.reserve_attempt(&subjects, attempt(Outcome::Denied)).await?;
        match self.accounts.check_credentials(username, password).await {
            Ok(operator) if self.second_factors.enrolled(operator.id).await? => {
                self.throttle.given_back(reservation).await?;
                Ok(SignInStep::CodeNeeded(PendingSignIn {
                    account_id: operator.id,
                    username: operator.username.to_string(),
                    epoch: operator.session_epoch,
                }))
            }
            Ok(operator) => {
                self.throttle.succeeded(reservation, &subjects[0]).await?;
                AuditEntry::new(
                    operator.actor(),
                    AuditAction::SessionSignIn,
                    operator.username.as_str(),
                    Outcome::Success,
                )
                .from(provenance)
                .record_alone(&self.pool)
                .await?;
                Ok(SignInStep::SignedIn(operator))
            }
            Err(DomainError::BadCredentials) => {
                let failures = self.throttle.failed(reservation).await?;
                attempt(Outcome::Failure)
                    .detail("reason", "wrong username or password")
                    .detail("consecutive_failures", failures)
                    .record_alone(&self.pool)
                    .await?;
                Err(DomainError::BadCredentials)
            }
            Err(other) => Err(other),
        }
    }

    /// Counts an attempt against `subjects`, or refuses it while one of them
    /// waits ([`DomainError::Throttled`]), with `refused` written to the
    /// audit log (coalesced: a loop of guesses writes one row a minute).
    async fn reserve_attempt(
        &self,
        subjects: &[ThrottleSubject],
        refused: AuditEntry,
    ) -> error::Result<throttle::Reservation> {
        match self.throttle.reserve(subjects).await {
            Ok(reservation) => Ok(reservation),
            Err(throttled @ DomainError::Throttled(_)) => {
                refused
                    .detail("reason", "throttled")
                    .record_coalesced(&self.pool, "throttled")
                    .await?;
                Err(throttled)
            }
            Err(other) => Err(other),
        }
    }

    /// The second step of a sign-in: the code from the account's app (or a
    /// recovery code). A code is accepted once; a wrong or reused one is
    /// refused on `code`, audited, and counted by the throttle like a wrong
    /// password. An account disabled (or its password changed) since the
    /// password step gets [`DomainError::BadCredentials`].
    pub async fn sign_in_code(
        &self,
        pending: &PendingSignIn,
        code: &str,
        provenance: &Provenance,
    ) -> error::Result<accounts::Operator> {
        let subjects = sign_in_subjects(&pending.username, provenance);
        let actor = Actor::Operator {
            id: pending.account_id,
            username: pending.username.clone(),
        };
        let refused = |outcome| {
            AuditEntry::new(
                actor.clone(),
                AuditAction::SecondFactorRefused,
                &pending.username,
                outcome,
            )
            .from(provenance)
        };
        let reservation = self.reserve_attempt(&subjects, refused(Outcome::Denied)).await?;
        let Some(operator) = self
            .accounts
            .operator_for_session(pending.account_id, pending.epoch)
            .await?
        else {
            self.throttle.failed(reservation).await?;
            return Err(DomainError::BadCredentials);
        };
        match self.second_factors.use_code(operator.id, code).await {
            Ok(accepted) => {
                self.throttle.succeeded(reservation, &subjects[0]).await?;
                let mut tx = self.pool.begin().await?;
                AuditEntry::new(
                    operator.actor(),
                    AuditAction::SessionSignIn,
                    operator.username.as_str(),
                    Outcome::Success,
                )
                .detail("second_factor", totp::accepted_word(accepted))
                .from(provenance)
                .record(&mut tx)
                .await?;
                if let totp::Accepted::Recovery { left } = accepted {
                    AuditEntry::new(
                        operator.actor(),
                        AuditAction::SecondFactorRecoveryUsed,
                        operator.username.as_str(),
                        Outcome::Success,
                    )
                    .detail("left", left)
                    .from(provenance)
                    .record(&mut tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(operator)
            }
            Err(DomainError::Invalid(invalid)) => {
                let failures = self.throttle.failed(reservation).await?;
                refused(Outcome::Failure)
                    .detail("reason", invalid.message)
                    .detail("consecutive_failures", failures)
                    .record_alone(&self.pool)
                    .await?;
                Err(DomainError::Invalid(invalid))
            }
            Err(other) => Err(other),
        }
    }

    /// Turns `me`'s second factor off: their password and a code (or a
    /// recovery code), both checked and audited.
    pub async fn disable_second_factor(
        &self,
        me: &accounts::Operator,
        provenance: &Provenance,
        password: &str,
        code: &str,
    ) -> error::Result<()> {
        self.accounts
            .confirm_own_password(me, provenance, password, AuditAction::SecondFactorDisable)
            .await?;
        self.second_factors.disable(me, provenance, code).await
    }

    /// Records a sign-out, or a session that ended on its own (`session.expired`).
    pub async fn record_session_end(
        &self,
        actor: Actor,
        provenance: &Provenance,
        action: AuditAction,
        reason: Option<&str>,
    ) -> error::Result<()> {
        let target = actor.name().to_owned();
        let mut entry = AuditEntry::new(actor, action, &target, Outcome::Success).from(provenance);
        if let Some(reason) = reason {
            entry = entry.detail("reason", reason);
        }
        entry.record_alone(&self.pool).await
    }

    /// Records a refused request (wrong role, foreign origin). Refusals of
    /// anonymous requests are coalesced per client address and action (one
    /// row a minute, with the count), so a loop cannot flood the log.
    pub async fn record_refusal(
        &self,
        actor: Actor,
        action: AuditAction,
        target: &str,
        provenance: &Provenance,
        reason: &str,
    ) -> error::Result<()> {
        let anonymous = actor == Actor::Anonymous;
        let entry = AuditEntry::new(actor, action, target, Outcome::Denied)
            .detail("reason", reason)
            .from(provenance);
        if anonymous {
            entry.record_coalesced(&self.pool, "refused").await
        } else {
            entry.record_alone(&self.pool).await
        }
    }
}
