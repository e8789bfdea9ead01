//! A deploy or a rollback, as a job made of steps, run in the app
//! directory over one SSH session:
//!
//! 1. `git fetch --prune origin` (a deploy);
//! 2. whether the move brings migrations (`git diff` of `*/migrations/*.py`
//!    between the commit running and the one to run), and if so (or
//!    always, as configured) a backup of the database, before anything
//!    changes;
//! 3. `git checkout <branch>` then `git pull --ff-only origin <branch>`, or
//!    `git checkout --detach <commit>` (a rollback); the record then knows
//!    the commit it moved to;
//! 4. the follow-up steps configured: `pip install -r requirements.txt`
//!    when that file changed, `manage.py migrate`, `manage.py
//!    collectstatic`, Gunicorn restarted;
//! 5. the health gate.
//!
//! A step that fails stops the rest. A deploy that failed after the
//! checkout returns at once to the commit it started from when the host is
//! configured to (recorded as a rollback, in the same job); otherwise the
//! rollback is offered.

use std::time::Duration;

use super::git::{self, CommitId, Revision, MIGRATIONS, REQUIREMENTS};
use super::health::{self, Gate};
use super::{BranchName, Commit, DeploySettings, Deploys};
use crate::backups::{BackupRequest, BackupTrigger};
use crate::hosts::{Host, ServiceVerb};
use crate::jobs::{failure, JobContext, JobFailure, StepName, StepStatus, Steps, WorkOutcome};
use crate::ssh::{Ended, RemoteCommand, SshSession};
use vocabulary::deploys::{BackupBefore, DeployKind};

/// Where a deploy moves the app.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// A branch's newest commit.
    Branch(BranchName),
    /// An earlier deploy's commit.
    Commit { id: CommitId, rollback_of: i64 },
}

impl Target {
    pub(super) fn kind(&self) -> DeployKind {
        match self {
            Target::Branch(_) => DeployKind::Deploy,
            Target::Commit { .. } => DeployKind::Rollback,
        }
    }

    fn revision(&self) -> Revision {
        match self {
            Target::Branch(branch) => Revision::of_branch(branch),
            Target::Commit { id, .. } => Revision::of_commit(id),
        }
    }
}

/// Runs `sh -c` in the app directory (`$1`) with the rest as the command:
/// the app's own `.env` is read by the app (python-dotenv), not here.
const IN_APP_DIRECTORY: &str = "cd \"$1\" && shift && exec \"$@\"";

/// The steps a move to `target` plans, given the host's settings.
pub(super) fn planned(target: &Target, settings: &DeploySettings) -> Vec<StepName> {
    let mut steps = Vec::new();
    if matches!(target, Target::Branch(_)) {
        steps.push(StepName::Fetch);
    }
    if settings.backup_before == BackupBefore::WhenMigrationsPending {
        steps.push(StepName::PendingMigrations);
    }
    if settings.backup_before != BackupBefore::Never {
        steps.push(StepName::Backup);
    }
    steps.push(StepName::Checkout);
    if matches!(target, Target::Branch(_)) {
        steps.push(StepName::Pull);
    }
    steps.extend(follow_up(settings));
    steps
}

/// The steps after the checkout.
fn follow_up(settings: &DeploySettings) -> Vec<StepName> {
    let mut steps = Vec::new();
    if settings.install_requirements {
        steps.push(StepName::Requirements);
    }
    if settings.migrate {
        steps.push(StepName::Migrate);
    }
    if settings.collect_static {
        steps.push(StepName::CollectStatic);
    }
    if settings.restart_wsgi {
        steps.push(StepName::RestartWsgi);
    }
    steps.push(StepName::HealthGate);
    steps
}

/// The command line the job's page shows: the commands of its steps.
pub(super) fn summary(host: &Host, target: &Target, settings: &DeploySettings) -> String {
    let mut lines = Vec::new();
    let git = || RemoteCommand::program("git").fixed("-C").arg(&host.app_dir);
    for step in planned(target, settings) {
        let line = match (step, target) {
            (StepName::Fetch, _) => git().fixed("fetch").fixed("--prune").fixed("origin").line(),
            (StepName::Checkout, Target::Branch(branch)) => git().fixed("checkout").arg(branch).line(),
            (StepName::Checkout, Target::Commit { id, .. }) => git().fixed("checkout").fixed("--detach").arg(id).line(),
            (StepName::Pull, Target::Branch(branch)) => git()
                .fixed("pull")
                .fixed("--ff-only")
                .fixed("origin")
                .arg(branch)
                .line(),
            (StepName::Migrate, _) => django(host, settings, &["migrate", "--no-input"]).line(),
            (StepName::CollectStatic, _) => django(host, settings, &["collectstatic", "--no-input"]).line(),
            (StepName::RestartWsgi, _) => host.control.command(&host.wsgi_service, ServiceVerb::Restart).line(),
            (StepName::HealthGate, _) => format!("GET {} → {}", settings.health_url_on(host), settings.health_status),
            _ => continue,
        };
        lines.push(line);
    }
    lines.join(" && ")
}

/// `<python> manage.py <words…>` in the app directory.
fn django(host: &Host, settings: &DeploySettings, words: &[&'static str]) -> RemoteCommand {
    let mut command = RemoteCommand::program("sh")
        .fixed("-c")
        .fixed(IN_APP_DIRECTORY)
        .fixed("sh")
        .arg(&host.app_dir)
        .arg(&settings.python)
        .fixed("manage.py");
    for word in words {
        command = command.fixed(word);
    }
    command
}

/// A move in progress: the job, its session, its steps.
struct Move<'a> {
    deploys: &'a Deploys,
    job: &'a JobContext,
    session: &'a SshSession,
    steps: Steps<'a>,
    settings: &'a DeploySettings,
}

/// What ends a move early: the job's outcome.
type Stop = WorkOutcome;

impl Deploys {
    /// A deploy's or a rollback's work.
    pub(super) async fn work(self, job: JobContext, target: Target, settings: DeploySettings) -> WorkOutcome {
        let Some(session) = job.connect().await? else {
            return Ok(Ended::Cancelled);
        };
        let outcome = async {
            let steps = Steps::plan(&job, &planned(&target, &settings)).await?;
            let mut moving = Move {
                deploys: &self,
                job: &job,
                session: &session,
                steps,
                settings: &settings,
            };
            moving.run(target).await
        }
        .await;
        session.close().await;
        outcome
    }
}

impl Move<'_> {
    /// Moves the app to `target`; a failed deploy returns to where it
    /// started when the host is configured to.
    async fn run(&mut self, target: Target) -> WorkOutcome {
        // Reading the commit it starts from is the first step's work.
        self.steps.start(self.steps.first()).await?;
        let from = self.head_in_step().await?;
        let deploy_id = self.deploys.record_start(self.job, &target, from.as_ref()).await?;
        let mut checked_out = false;
        let moved = self.move_to(&target, from.as_ref(), deploy_id, &mut checked_out).await;
        let failure = match moved {
            Ok(()) => return Ok(Ended::Exited(Some(0))),
            Err(Ok(ended)) => return Ok(ended),
            Err(Err(failure)) => failure,
        };
        let back_to = from.as_ref().and_then(|c| CommitId::parse(&c.id).ok());
        let (Target::Branch(_), true, true, Some(back_to)) =
            (&target, checked_out, self.settings.rollback_on_failure, back_to)
        else {
            return Err(failure);
        };
        self.job
            .say(format!("the deploy failed: returning to {}", &back_to.as_str()[..7]))
            .await;
        let rollback = Target::Commit {
            id: back_to,
            rollback_of: deploy_id,
        };
        let mut steps = vec![StepName::Checkout];
        steps.extend(follow_up(self.settings));
        self.steps.add(&steps).await?;
        self.steps.start(StepName::Checkout).await?;
        let now = self.head_in_step().await?;
        let rollback_id = self.deploys.record_start(self.job, &rollback, now.as_ref()).await?;
        let mut again = false;
        match self.move_to(&rollback, now.as_ref(), rollback_id, &mut again).await {
            Ok(()) => {
                self.job
                    .say("returned to the commit the deploy started from".into())
                    .await
            }
            Err(_) => self.job.say("the return failed too: see the steps above".into()).await,
        }
        // The job tells of the deploy's failure, whatever the return did.
        Err(failure)
    }

    /// The steps of one move; `Err` ends the job with that outcome.
    async fn move_to(
        &mut self,
        target: &Target,
        from: Option<&Commit>,
        deploy_id: i64,
        checked_out: &mut bool,
    ) -> Result<(), Stop> {
        let host = &self.job.host;
        let git = || RemoteCommand::program("git").fixed("-C").arg(&host.app_dir);
        let revision = target.revision();
        if let Target::Branch(_) = target {
            self.step(StepName::Fetch, git().fixed("fetch").fixed("--prune").fixed("origin"))
                .await?;
        }
        let backup = match self.settings.backup_before {
            BackupBefore::Never => false,
            BackupBefore::Always => true,
            BackupBefore::WhenMigrationsPending => {
                self.steps.start(StepName::PendingMigrations).await.map_err(Err)?;
                let diff = git()
                    .fixed("diff")
                    .fixed("--name-only")
                    .fixed("HEAD")
                    .arg(&revision)
                    .fixed("--")
                    .fixed(MIGRATIONS);
                let changed = self.answer(&diff).await?;
                for file in &changed {
                    self.job.say(format!("migration: {file}")).await;
                }
                if changed.is_empty() {
                    self.job.say("no migration to apply".into()).await;
                }
                !changed.is_empty()
            }
        };
        if backup {
            self.backup(target).await?;
        } else {
            self.steps.skip(StepName::Backup).await.map_err(Err)?;
        }
        match target {
            Target::Branch(branch) => {
                *checked_out = true;
                self.step(StepName::Checkout, git().fixed("checkout").arg(branch))
                    .await?;
                self.run_step(
                    StepName::Pull,
                    git().fixed("pull").fixed("--ff-only").fixed("origin").arg(branch),
                )
                .await?;
            }
            Target::Commit { id, .. } => {
                *checked_out = true;
                self.run_step(StepName::Checkout, git().fixed("checkout").fixed("--detach").arg(id))
                    .await?;
            }
        }
        // Still in the step that moved the app: the commit it moved to and
        // whether the requirements changed, two reads at once, each on a
        // channel of the session.
        let (to, requirements_changed) = tokio::join!(self.head(), self.requirements_changed(from));
        let (to, requirements_changed) = match (to, requirements_changed) {
            (Ok(to), Ok(changed)) => (to, changed),
            (Err(failure), _) | (_, Err(failure)) => {
                self.steps.stop().await.map_err(Err)?;
                return Err(Err(failure));
            }
        };
        self.deploys.record_end(deploy_id, to.as_ref()).await.map_err(Err)?;
        self.follow_up(requirements_changed).await
    }

    /// Whether `requirements.txt` differs between `from` and the commit
    /// checked out (always, when `from` is unknown; never asked when the
    /// requirements are not installed).
    async fn requirements_changed(&self, from: Option<&Commit>) -> Result<bool, JobFailure> {
        if !self.settings.install_requirements {
            return Ok(false);
        }
        let Some(from) = from.and_then(|c| CommitId::parse(&c.id).ok()) else {
            return Ok(true);
        };
        let diff = RemoteCommand::program("git")
            .fixed("-C")
            .arg(&self.job.host.app_dir)
            .fixed("diff")
            .fixed("--quiet")
            .arg(&from)
            .fixed("HEAD")
            .fixed("--")
            .fixed(REQUIREMENTS);
        let (status, _) = self.session.answer(&diff).await.map_err(|e| failure::of_ssh(&e))?;
        Ok(status != Some(0))
    }

    /// Requirements (when `requirements_changed`), migrations, static
    /// files, Gunicorn, the health gate.
    async fn follow_up(&mut self, requirements_changed: bool) -> Result<(), Stop> {
        let host = &self.job.host;
        let settings = self.settings;
        if settings.install_requirements {
            if requirements_changed {
                let install = RemoteCommand::program("sh")
                    .fixed("-c")
                    .fixed(IN_APP_DIRECTORY)
                    .fixed("sh")
                    .arg(&host.app_dir)
                    .arg(&settings.python)
                    .fixed("-m")
                    .fixed("pip")
                    .fixed("install")
                    .fixed("-r")
                    .fixed(REQUIREMENTS);
                self.step(StepName::Requirements, install).await?;
            } else {
                self.steps.skip(StepName::Requirements).await.map_err(Err)?;
                self.job.say(format!("{REQUIREMENTS} unchanged")).await;
            }
        }
        if settings.migrate {
            self.step(StepName::Migrate, django(host, settings, &["migrate", "--no-input"]))
                .await?;
        }
        if settings.collect_static {
            self.step(
                StepName::CollectStatic,
                django(host, settings, &["collectstatic", "--no-input"]),
            )
            .await?;
        }
        if settings.restart_wsgi {
            let restart = host.control.command(&host.wsgi_service, ServiceVerb::Restart);
            self.step(StepName::RestartWsgi, restart).await?;
        }
        self.steps.start(StepName::HealthGate).await.map_err(Err)?;
        let url = settings.health_url_on(host);
        let limit = Duration::from_secs(settings.health_seconds.into());
        match health::wait_for(&self.deploys.health, self.job, url, settings.health_status, limit).await {
            Gate::Passed => {
                self.steps.end(StepStatus::Succeeded).await.map_err(Err)?;
                Ok(())
            }
            Gate::Cancelled => {
                self.steps.stop().await.map_err(Err)?;
                Err(Ok(Ended::Cancelled))
            }
            Gate::Failed => {
                self.steps.stop().await.map_err(Err)?;
                Err(Err(JobFailure::HealthGateFailed { url: url.to_owned() }))
            }
        }
    }

    /// Runs `command` as step `name`, its output the job's.
    async fn step(&mut self, name: StepName, command: RemoteCommand) -> Result<(), Stop> {
        self.run_step(name, command).await?;
        self.steps.end(StepStatus::Succeeded).await.map_err(Err)
    }

    /// Runs `command` in step `name` (started unless it runs already),
    /// which goes on running when the command succeeds: the next step
    /// started ends it.
    async fn run_step(&mut self, name: StepName, command: RemoteCommand) -> Result<(), Stop> {
        self.steps.start(name).await.map_err(Err)?;
        self.job.say(format!("$ {}", command.line())).await;
        match self.job.run_on(self.session, &command).await {
            Ok(Ended::Exited(Some(0))) => Ok(()),
            Ok(Ended::Cancelled) => {
                self.steps.stop().await.map_err(Err)?;
                Err(Ok(Ended::Cancelled))
            }
            Ok(Ended::Exited(_)) => Err(Err(self.steps.fail().await)),
            Err(failure) => {
                self.steps.stop().await.map_err(Err)?;
                Err(Err(failure))
            }
        }
    }

    /// A short read within the running step (its lines are not output);
    /// a non-zero status fails the step.
    async fn answer(&mut self, command: &RemoteCommand) -> Result<Vec<String>, Stop> {
        match self.session.answer(command).await {
            Ok((Some(0), lines)) => Ok(lines),
            Ok(_) => {
                self.job.say(format!("$ {}: refused", command.line())).await;
                Err(Err(self.steps.fail().await))
            }
            Err(error) => {
                self.steps.stop().await.map_err(Err)?;
                Err(Err(failure::of_ssh(&error)))
            }
        }
    }

    /// [`Move::head`] within the running step, which fails with it.
    async fn head_in_step(&mut self) -> Result<Option<Commit>, JobFailure> {
        match self.head().await {
            Ok(commit) => Ok(commit),
            Err(failure) => {
                self.steps.stop().await?;
                Err(failure)
            }
        }
    }

    /// The commit checked out now (`None`: none could be read).
    async fn head(&self) -> Result<Option<Commit>, JobFailure> {
        let log = RemoteCommand::program("git")
            .fixed("-C")
            .arg(&self.job.host.app_dir)
            .fixed("log")
            .fixed("-1")
            .fixed(git::COMMIT_FORMAT);
        let (status, lines) = self.session.answer(&log).await.map_err(|e| failure::of_ssh(&e))?;
        Ok(match status {
            Some(0) => lines.first().and_then(|line| git::commit(line)),
            _ => None,
        })
    }

    /// The database backed up before anything changes.
    async fn backup(&mut self, target: &Target) -> Result<(), Stop> {
        self.steps.start(StepName::Backup).await.map_err(Err)?;
        let reason = match target {
            Target::Branch(branch) => format!("before deploying {}", branch.as_str()),
            Target::Commit { id, .. } => format!("before returning to {}", &id.as_str()[..7]),
        };
        let request = BackupRequest {
            trigger: BackupTrigger::PreDeploy,
            reason: Some(reason),
            safety_for_job: None,
            expect_database: None,
        };
        match self.deploys.backups.take(self.job, self.session, request).await {
            Ok((_, Some(backup))) => {
                self.job.say(format!("backup {backup} taken")).await;
                self.steps.end(StepStatus::Succeeded).await.map_err(Err)?;
                Ok(())
            }
            Ok((Ended::Cancelled, None)) => {
                self.steps.stop().await.map_err(Err)?;
                Err(Ok(Ended::Cancelled))
            }
            Ok((_, None)) => Err(Err(self.steps.fail().await)),
            Err(failure) => {
                self.steps.stop().await.map_err(Err)?;
                Err(Err(failure))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploy_plans_fetch_and_pull_a_rollback_neither_and_turned_off_steps_are_not_planned() {
        use StepName::*;
        let branch = Target::Branch(BranchName::parse("main").unwrap());
        let defaults = DeploySettings::default();
        assert_eq!(
            planned(&branch, &defaults),
            [
                Fetch,
                PendingMigrations,
                Backup,
                Checkout,
                Pull,
                Requirements,
                Migrate,
                CollectStatic,
                RestartWsgi,
                HealthGate
            ]
        );
        let commit = Target::Commit {
            id: CommitId::parse(&"a".repeat(40)).unwrap(),
            rollback_of: 1,
        };
        let lean = DeploySettings {
            backup_before: BackupBefore::Never,
            install_requirements: false,
            collect_static: false,
            ..DeploySettings::default()
        };
        assert_eq!(planned(&commit, &lean), [Checkout, Migrate, RestartWsgi, HealthGate]);
        let always = DeploySettings {
            backup_before: BackupBefore::Always,
            ..lean
        };
        assert_eq!(
            planned(&commit, &always),
            [Backup, Checkout, Migrate, RestartWsgi, HealthGate]
        );
    }
}
