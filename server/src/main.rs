//! `ocpizza-console`: serves the OC Pizza operations console, and the
//! sub-commands an operator runs by hand (migrate, create-admin,
//! verify-audit, doctor…).

use std::io::Read;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use domain::audit::ChainStatus;
use server::config::{Command, Config, LogFormat};
use server::startup::{Application, Database};

/// mimalloc rather than glibc's malloc: the home page is allocation-heavy
/// (server-side rendering), and glibc's malloc and free were a fifth of its
/// CPU. `server/benches/home_page.rs`, same machine: 3,816–4,419 req/s with
/// glibc, 4,966–5,598 with mimalloc as tuned below.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    return_freed_memory_at_once();
    // The installed service's settings (`CONSOLE_ENV_FILE=/etc/ocpizza-console/console.env`
    // for a command run by hand beside it), then a `.env` in the working
    // directory; neither overrides a variable already set.
    if let Some(path) = std::env::var_os("CONSOLE_ENV_FILE") {
        if let Err(error) = dotenvy::from_path(&path) {
            eprintln!(
                "ocpizza-console: CONSOLE_ENV_FILE {}: {error}",
                std::path::Path::new(&path).display()
            );
            return ExitCode::FAILURE;
        }
    }
    let _ = dotenvy::dotenv();
    let config = Config::parsed();
    let reports = match server::error_reports::start(&config) {
        Ok(reports) => reports,
        Err(error) => {
            eprintln!("ocpizza-console: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(&config, reports.is_some());
    match &reports {
        Some(_) => tracing::info!("errors are reported to Sentry (CONSOLE_SENTRY_DSN)"),
        None => tracing::info!("errors are reported to nobody (no CONSOLE_SENTRY_DSN)"),
    }
    match run(config).await {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("ocpizza-console: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Freed memory goes back to the system at once. By default mimalloc
/// waits 10 ms before it does and, when the console then goes quiet, keeps
/// it: after 100 sign-ins at once (argon2 fills 19 MiB per password check)
/// 53 MiB was still resident a minute later, and streaming a job's 100 MB of
/// output peaked at 100 MiB (`server/benches/sign_in.rs`, `jobs.rs`). With
/// no delay: 34 MiB a minute later, 63 MiB at the peak (57 MiB once the
/// live output's buffers were halved, `domain::jobs::output`).
fn return_freed_memory_at_once() {
    // SAFETY: setting an option only tunes the allocator; any value is
    // accepted.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (v2), which
/// libmimalloc-sys does not name.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Reads a `NAME=value` settings file (the staging host's host.env).
fn read_host_env(path: &std::path::Path) -> Result<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// The log on stderr (text or JSON), and the error reports' layer when
/// they are on.
fn init_tracing(config: &Config, reporting: bool) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let log = match config.log_format {
        LogFormat::Json => log.json().boxed(),
        LogFormat::Text => log.boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(log)
        .with(reporting.then(server::error_reports::layer))
        .init();
}

async fn run(config: Config) -> Result<ExitCode> {
    match config.command.clone().unwrap_or(Command::Serve) {
        Command::Serve => {
            let mut leptos = leptos::config::get_configuration(None).context("reading the Leptos configuration")?;
            // A cargo-leptos build names the site's files by content: use those names.
            leptos.leptos_options.hash_files |= server::assets::hashed_build(&leptos.leptos_options);
            let application = Application::build(config, leptos.leptos_options).await?;
            application.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => {
            let lines = server::doctor::examine(&config).await;
            for line in &lines {
                println!("{line}");
            }
            let failed = lines.iter().filter(|line| line.failed()).count();
            if failed == 0 {
                println!("every check passed");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("{failed} check(s) failed");
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Migrate => {
            let database = Database::open(&config).await?;
            database.migrate().await?;
            println!("migrations applied");
            database.close().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CreateAdmin { username } => {
            let password = match std::env::var("CONSOLE_ADMIN_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_to_string(&mut line)?;
                    line.trim_end_matches(['\n', '\r']).to_owned()
                }
            };
            let database = Database::open(&config).await?;
            database.migrate().await?;
            let result = config
                .console(database.pool.clone())
                .await?
                .setup
                .create_admin_from_cli(&username, &password)
                .await;
            database.close().await?;
            match result {
                Ok(account) => {
                    println!("admin '{}' created", account.username);
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => bail!("could not create the admin: {error}"),
            }
        }
        Command::RotateMasterKey => {
            let database = Database::open(&config).await?;
            database.migrate().await?;
            // Whatever happens (a lost key refused), the database is closed
            // and the embedded cluster stopped before the answer.
            let result = async {
                let console = config.console(database.pool.clone()).await?;
                server::master_key::rotate(&config, &console.secrets).await
            }
            .await;
            database.close().await?;
            println!("master key rotated: {} secrets re-sealed", result?);
            Ok(ExitCode::SUCCESS)
        }
        Command::BackupSelf { output, key_output } => {
            let manifest = server::self_backup::backup(&config, &output, key_output.as_deref()).await?;
            println!(
                "console backed up to {} (schema {}, database dump of {} bytes, master key {})",
                output.display(),
                manifest.schema,
                manifest.dump_bytes,
                manifest.master_key_id
            );
            println!("it holds the accounts' password hashes and the audit log: keep it where only admins read it");
            match key_output {
                Some(path) => println!(
                    "WARNING: the master key is in {}: keep it apart from the archive (together they open every secret)",
                    path.display()
                ),
                None => println!(
                    "the master key is not in the archive: a restore needs it too (write it once with --key-output)"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::RestoreSelf { input, key } => {
            let restored = server::self_backup::restore(&config, &input, key.as_deref()).await?;
            println!(
                "console restored from {} (written {} by console {}, schema {})",
                input.display(),
                restored.manifest.written_at,
                restored.manifest.console_version,
                restored.manifest.schema
            );
            println!(
                "{} accounts, {} hosts, {} secrets open with the key, audit log intact: {} rows verified",
                restored.accounts, restored.hosts, restored.secrets, restored.audit_rows
            );
            println!("staff sign in again (sessions are not kept); start the console");
            Ok(ExitCode::SUCCESS)
        }
        Command::RegisterDemoHost { host_env } => {
            let settings = read_host_env(&host_env)?;
            let get = |name: &str| {
                settings
                    .get(name)
                    .cloned()
                    .with_context(|| format!("{name} missing from {}", host_env.display()))
            };
            let registration = domain::hosts::HostRegistration {
                name: "staging".into(),
                ssh_address: get("STAGING_SSH_ADDRESS")?,
                ssh_port: get("STAGING_SSH_PORT")?.parse()?,
                ssh_user: get("STAGING_SSH_USER")?,
                key: domain::hosts::KeyChoice::paste(std::fs::read_to_string(get("STAGING_SSH_KEY")?)?),
                app_dir: get("STAGING_APP_DIR")?,
                web_service: "nginx".into(),
                wsgi_service: "gunicorn".into(),
                service_command: get("STAGING_SERVICE_COMMAND")?,
                site_url: get("STAGING_SITE_URL")?,
            };
            let host_key = std::fs::read_to_string(get("STAGING_HOST_KEY")?)?;
            let database = Database::open(&config).await?;
            database.migrate().await?;
            let result = config
                .console(database.pool.clone())
                .await?
                .hosts
                .register_demo_host(registration, &host_key)
                .await;
            database.close().await?;
            match result? {
                Some(host) => println!(
                    "demo host '{}' registered ({})",
                    host.name.as_str(),
                    host.host_key.fingerprint
                ),
                None => println!("hosts are registered already: no demo host added"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::LinodeDouble { listen, token_file } => {
            anyhow::ensure!(listen.ip().is_loopback(), "the Linode double listens on loopback only");
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let base = server::linode_double::serve_alone(listener, &token_file).await?;
            tracing::info!(%base, "the Linode double is listening");
            tokio::signal::ctrl_c().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyAudit => {
            let database = Database::open(&config).await?;
            let status = config.console(database.pool.clone()).await?.audit.verify().await;
            database.close().await?;
            match status? {
                ChainStatus::Intact { rows } => {
                    println!("audit log intact: {rows} rows verified");
                    Ok(ExitCode::SUCCESS)
                }
                ChainStatus::Broken { id, reason } => {
                    println!("audit log BROKEN at row {id}: {reason:?} ({})", reason.explain());
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option's number is the purge delay's: its default, 10 ms, unless
    /// this run sets it, then 0 once set.
    #[test]
    fn the_purge_delay_is_the_option_set() {
        // SAFETY: reading and setting an option only tunes the allocator.
        let before = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(before, 10, "mimalloc's default purge delay");
        }
        return_freed_memory_at_once();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, 0);
    }
}
