//! Supervision's cost (a bench harness: it reports, it asserts nothing).
//! Issue 12's figures: 100 hosts' sites probed every 10 s against local
//! endpoints — the console's CPU (share of one core) and memory while it
//! probes; then the home page under `wrk` with 30 days of probe history for
//! 10 hosts (goals: probing < 2 % of one core; the home page ≥ 1,000 req/s
//! with p99 ≤ 50 ms). The release binary on fresh databases; the hosts are
//! the staging host registered under 100 names (its sshd answers their
//! web and WSGI servers' states on the home page), their sites a local
//! HTTP endpoint of this process, one path per host. BENCH_SECONDS (default
//! 10) sets the measures' length: probing is measured over six times it.
//! Needs DATABASE_URL and the staging host's settings (scripts/bench).

mod support;

use std::time::{Duration, Instant};

use axum::routing::get;
use support::{wrk, BenchDatabase, RunningConsole};

/// The console's CPU time so far (user + system), from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's name (in parentheses): utime and stime are the
    // 12th and 13th fields.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / per_second)
}

/// A site for every host: `/site/<n>` answers 200 with a short page.
async fn local_sites() -> anyhow::Result<String> {
    let router = axum::Router::new().route(
        "/site/{n}",
        get(|| async { "<html><body>OC Pizza — commande en ligne</body></html>" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{address}"))
}

/// Registers `count` hosts (the staging host under as many names), each
/// site at its own path of `sites`, probed every 10 s.
async fn hosts(
    running: &RunningConsole,
    database: &BenchDatabase,
    count: usize,
    sites: &str,
) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let id = running
            .register_staging(
                &database.pool,
                &format!("site-{n:03}"),
                support::staging("STAGING_SERVICE_COMMAND"),
            )
            .await?;
        sqlx::query("UPDATE hosts SET site_url = $2 WHERE id = $1")
            .bind(id)
            .bind(format!("{sites}/site/{n}"))
            .execute(&database.pool)
            .await?;
        ids.push(id);
    }
    sqlx::query(
        "INSERT INTO site_probes (host_id, interval_s) SELECT id, 10 FROM hosts
         ON CONFLICT (host_id) DO UPDATE SET interval_s = 10, next_at = now()",
    )
    .execute(&database.pool)
    .await?;
    Ok(ids)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = support::bench_seconds();
    let sites = local_sites().await?;

    // 1. 100 hosts probed every 10 s.
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start_with(&database.url, &[("CONSOLE_SCHEDULER_SECONDS", "5")]).await?;
    running.sign_in(&database.pool).await?;
    let registering = Instant::now();
    hosts(&running, &database, 100, &sites).await?;
    let registered = registering.elapsed();
    // A first round, then the measure over whole rounds.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let pid = running.child_id();
    let window = Duration::from_secs(u64::from(seconds) * 6);
    let (cpu_before, wall_before) = (cpu_time(pid), Instant::now());
    let probes_before: i64 = sqlx::query_scalar("SELECT count(*) FROM probe_results")
        .fetch_one(&database.pool)
        .await?;
    let mut rss_peak = 0;
    while wall_before.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_peak = rss_peak.max(running.memory("VmRSS:"));
    }
    let (cpu, wall) = (cpu_time(pid) - cpu_before, wall_before.elapsed());
    let probes: i64 = sqlx::query_scalar("SELECT count(*) FROM probe_results")
        .fetch_one(&database.pool)
        .await?;
    let down: i64 = sqlx::query_scalar("SELECT count(*) FROM probe_results WHERE NOT up")
        .fetch_one(&database.pool)
        .await?;
    println!(
        "== 100 hosts' sites probed every 10 s (registered in {:.1} s)",
        registered.as_secs_f64()
    );
    println!(
        "probes: {} in {:.0} s ({:.1}/s, {down} found down)",
        probes - probes_before,
        wall.as_secs_f64(),
        (probes - probes_before) as f64 / wall.as_secs_f64()
    );
    println!(
        "console CPU: {:.2} s over {:.0} s = {:.2} % of one core (everything it does meanwhile: probes, alert rules, schedules)",
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
    println!(
        "console RSS: {} KiB at the peak, {} KiB now",
        rss_peak,
        running.memory("VmRSS:")
    );
    running.stop();
    database.drop_it().await?;

    // 2. The home page with 30 days of history for 10 hosts.
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start(&database.url).await?;
    let cookie = running.sign_in(&database.pool).await?;
    let ids = hosts(&running, &database, 10, &sites).await?;
    for id in &ids {
        // Raw results every minute for 48 hours, hourly ones for 30 days.
        sqlx::query(
            "INSERT INTO probe_results (host_id, at, up, status, latency_ms)
             SELECT $1, now() - m * interval '1 minute', m % 97 <> 0, 200, 20 + (m * 7) % 180
             FROM generate_series(1, 2880) m",
        )
        .bind(id)
        .execute(&database.pool)
        .await?;
        sqlx::query(
            "INSERT INTO probe_hours (host_id, hour, probes, up, latency_sum_ms, latency_max_ms)
             SELECT $1, date_trunc('hour', now()) - h * interval '1 hour', 60, 59, 60 * 80, 240
             FROM generate_series(1, 720) h",
        )
        .bind(id)
        .execute(&database.pool)
        .await?;
    }
    let home = format!("{}/", running.base);
    let page = running.client.get(&home).header("cookie", &cookie).send().await?;
    anyhow::ensure!(page.status() == 200, "the home page answered {}", page.status());
    let size = page.bytes().await?.len();
    wrk(&home, &cookie, 2)?;
    let text = wrk(&home, &cookie, seconds)?;
    println!(
        "== home page, 10 hosts with 30 days of history, wrk 2 threads, 16 connections, {seconds} s ({size} bytes)"
    );
    support::print_wrk_figures(&text);
    running.stop();
    database.drop_it().await?;
    Ok(())
}
