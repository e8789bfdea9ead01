//! Backups' figures (a bench harness: it reports, it asserts nothing),
//! against the staging host (`scripts/bench` starts one and exports
//! STAGING_*): the app's database is filled to about BENCH_BACKUP_MB
//! (default 1024) MiB, half of it random bytes (compression cannot flatter
//! the figures), then in one run:
//! - the console's "Back up now" (pg_dump over SSH → zstd → age → SHA-256 →
//!   storage) against `ssh host pg_dump -Fc | zstd > file` over OpenSSH;
//! - the console's restore (its pg_restore phase, after the safety copy it
//!   always takes) against `zstd -dc file | ssh host pg_restore`;
//!
//! each with its wall time and the console's peak resident memory (goals:
//! ≤ 1.10× OpenSSH's time, ≤ 64 MiB).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{staging, BenchDatabase, RunningConsole};

/// The app's credentials, read from its `.env` into libpq's variables on
/// the host, as the console's own scripts do (no password on a line).
const FROM_APP_ENV: &str = "set -a; . ./.env; set +a; export PGHOST=$POSTGRES_HOST PGPORT=$POSTGRES_PORT \
     PGUSER=$POSTGRES_USER PGPASSWORD=$POSTGRES_PASSWORD PGDATABASE=$POSTGRES_DATABASE;";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let megabytes: i64 = std::env::var("BENCH_BACKUP_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start(&database.url).await?;
    running.sign_in(&database.pool).await?;
    let host = running
        .register_staging(&database.pool, "staging", staging("STAGING_SERVICE_COMMAND"))
        .await?;

    println!("== filling the app's database with about {megabytes} MiB (half random bytes)");
    let started = Instant::now();
    let app = ssh(&format!(
        "{FROM_APP_ENV} psql -q -v ON_ERROR_STOP=1 -c 'DROP TABLE IF EXISTS bench_orders' \
         -c 'CREATE TABLE bench_orders (id int PRIMARY KEY, random bytea NOT NULL, note text NOT NULL)' \
         -c \"INSERT INTO bench_orders SELECT i, \
              (SELECT string_agg(decode(md5(random()::text || i || k), 'hex'), ''::bytea) FROM generate_series(1, 32) k), \
              repeat('pizza margherita ', 30) FROM generate_series(1, {rows}) i\" \
         -c 'ANALYZE bench_orders' -At -c \"SELECT pg_size_pretty(pg_database_size(current_database()))\"",
        rows = megabytes * 1024,
    ))?;
    println!(
        "database size {}, filled in {:.0} s",
        app.trim(),
        started.elapsed().as_secs_f64()
    );

    let dump = std::env::temp_dir().join(format!("ocpizza-bench-{}.dump.zst", uuid::Uuid::new_v4().simple()));
    println!("== backup: OpenSSH pipe, then the console");
    let started = Instant::now();
    pipe(&format!(
        "ssh {} '{FROM_APP_ENV} pg_dump -Fc --no-password' | zstd -q -o {}",
        ssh_args(),
        dump.display()
    ))?;
    let ssh_backup = started.elapsed();
    let size = std::fs::metadata(&dump)?.len();
    println!(
        "openssh: {:.1} s ({} MiB stored)",
        ssh_backup.as_secs_f64(),
        size / 1048576
    );

    let rss_before = running.memory("VmRSS");
    let started = Instant::now();
    let job = post_job(
        &running,
        "/api/backups/now",
        &[("host_id", host.to_string()), ("reason", String::new())],
    )
    .await?;
    let (peak, _) = follow(&running, &database, job, None).await?;
    let console_backup = started.elapsed();
    println!(
        "console: {:.1} s ({:.2}× OpenSSH; goal ≤ 1.10), console RSS {:.1} MiB before, peak {:.1} MiB (goal ≤ 64)",
        console_backup.as_secs_f64(),
        console_backup.as_secs_f64() / ssh_backup.as_secs_f64(),
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0
    );

    println!("== restore: OpenSSH pipe, then the console (its pg_restore phase, after its safety copy)");
    let started = Instant::now();
    pipe(&format!(
        "zstd -dc {} | ssh {} '{FROM_APP_ENV} pg_restore --clean --if-exists --single-transaction --exit-on-error \
         --no-owner --no-password --dbname=\"$PGDATABASE\"'",
        dump.display(),
        ssh_args()
    ))?;
    let ssh_restore = started.elapsed();
    println!("openssh: {:.1} s", ssh_restore.as_secs_f64());
    let backup: i64 = sqlx::query_scalar("SELECT id FROM backups WHERE job_id = $1")
        .bind(job)
        .fetch_one(&database.pool)
        .await?;
    let started = Instant::now();
    let job = post_job(
        &running,
        "/api/backups/restore",
        &[
            ("backup_id", backup.to_string()),
            ("database_confirmation", "ocpizza_db".into()),
        ],
    )
    .await?;
    let (peak, phase) = follow(&running, &database, job, Some("restoring backup")).await?;
    let whole = started.elapsed();
    let phase = phase.unwrap_or(whole);
    println!(
        "console: restore phase {:.1} s ({:.2}× OpenSSH; goal ≤ 1.10); the whole job with its safety copy {:.1} s; \
         console RSS peak {:.1} MiB (goal ≤ 64)",
        phase.as_secs_f64(),
        phase.as_secs_f64() / ssh_restore.as_secs_f64(),
        whole.as_secs_f64(),
        peak as f64 / 1024.0
    );

    let _ = std::fs::remove_file(&dump);
    ssh(&format!(
        "{FROM_APP_ENV} psql -q -c 'DROP TABLE IF EXISTS bench_orders'"
    ))?;
    running.stop();
    database.drop_it().await
}

/// OpenSSH's options for the staging host: its key, port and user; the
/// host's key checked against the staging host's own.
fn ssh_args() -> String {
    let known = std::env::temp_dir().join("ocpizza-bench-known-hosts");
    let key = std::fs::read_to_string(staging("STAGING_HOST_KEY")).unwrap_or_default();
    let _ = std::fs::write(
        &known,
        format!("[127.0.0.1]:{} {}", staging("STAGING_SSH_PORT"), key.trim()),
    );
    format!(
        "-q -i {} -p {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes {}@127.0.0.1 cd {} \\&\\&",
        staging("STAGING_SSH_KEY"),
        staging("STAGING_SSH_PORT"),
        known.display(),
        staging("STAGING_SSH_USER"),
        staging("STAGING_APP_DIR"),
    )
}

/// Runs `command` on the staging host in its app directory; its output.
fn ssh(command: &str) -> anyhow::Result<String> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("ssh {} \"$0\"", ssh_args()))
        .arg(command)
        .stderr(Stdio::inherit())
        .output()?;
    anyhow::ensure!(output.status.success(), "ssh: {}", output.status);
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn pipe(line: &str) -> anyhow::Result<()> {
    let status = Command::new("bash").args(["-o", "pipefail", "-c", line]).status()?;
    anyhow::ensure!(status.success(), "{line}: {status}");
    Ok(())
}

/// Calls a server function as the page's form does; returns the job id.
async fn post_job(running: &RunningConsole, path: &str, form: &[(&str, String)]) -> anyhow::Result<i64> {
    let response = running
        .client
        .post(format!("{}{path}", running.base))
        .header("origin", &running.base)
        .header("accept", "application/json")
        .form(form)
        .send()
        .await?;
    // The job's page is where the server function sends the browser.
    let location = response
        .headers()
        .get("location")
        .or_else(|| response.headers().get("serverfnredirect"))
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_prefix("/jobs/"))
        .and_then(|id| id.parse().ok());
    let text = response.text().await?;
    location
        .or_else(|| text.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{path} answered {text}"))
}

/// Waits for the job to end, sampling the console's memory; returns the
/// peak RSS (KiB) and, when `from` is given, the time from the first output
/// line containing it to the job's end.
async fn follow(
    running: &RunningConsole,
    database: &BenchDatabase,
    job: i64,
    from: Option<&str>,
) -> anyhow::Result<(u64, Option<Duration>)> {
    let (mut peak, mut phase_start) = (0, None);
    loop {
        peak = peak.max(running.memory("VmRSS"));
        if let (Some(text), None) = (from, phase_start) {
            let seen: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM job_output_chunks WHERE job_id = $1 AND lines LIKE '%' || $2 || '%')",
            )
            .bind(job)
            .bind(text)
            .fetch_one(&database.pool)
            .await?;
            if seen {
                phase_start = Some(Instant::now());
            }
        }
        let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_one(&database.pool)
            .await?;
        if !matches!(status.as_str(), "queued" | "running") {
            anyhow::ensure!(status == "succeeded", "job {job} ended {status}");
            return Ok((peak, phase_start.map(|at| at.elapsed())));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
