//! The backup scheduler: each console process looks at the schedules when
//! the next one is due (at most `CONSOLE_SCHEDULER_SECONDS` apart) and
//! starts what is due; the database makes sure each slot runs once across
//! every process (see `domain::backups::schedule`).

use std::time::Duration;

use domain::backups::Backups;

/// Runs the scheduler until the console's database closes.
pub fn spawn(backups: Backups, longest_sleep: Duration) -> tokio::task::JoinHandle<()> {
    let stopped = backups.stopped();
    crate::scheduled::every_due("backup scheduler", stopped, longest_sleep, move || {
        let backups = backups.clone();
        async move { backups.run_due_schedules().await }
    })
}

/// The scratch server from `CONSOLE_VERIFY_DATABASE_URL` (its password
/// taken apart, for pg_restore's environment).
pub fn scratch_server_from_url(
    url: &str,
    pg_bin_dir: std::path::PathBuf,
) -> anyhow::Result<domain::backups::ScratchServer> {
    use anyhow::Context;
    let password = crate::config::url_password(url, "CONSOLE_VERIFY_DATABASE_URL")?;
    let options: sqlx::postgres::PgConnectOptions = url
        .parse()
        .context("CONSOLE_VERIFY_DATABASE_URL is not a valid PostgreSQL URL")?;
    Ok(domain::backups::ScratchServer::new(options, password, pg_bin_dir))
}
