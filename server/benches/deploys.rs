//! A no-op deploy and a rollback on the staging host (a bench harness: it
//! reports, it asserts nothing): the release binary on a fresh database,
//! the staging host registered, one signed-in session. Each run deploys
//! `main` where `main` is deployed (no migration: no backup), as the page's
//! button does, then returns to that deploy's commit from the history.
//! Reported for BENCH_DEPLOYS runs (default 5), median and slowest: the
//! time from the click (the request sent) to the health gate passed (the
//! job finished), the time spent in the steps (every remote command of
//! a move runs within one of its steps, and the health gate's request to
//! the site is a step too), what is left outside the steps, and the
//! console's own share: what is left less, for a deploy, the one read its
//! request makes on the host (the branches, to refuse an unknown one),
//! counted at what that same read takes over a warm session (measured
//! here first, median of 21). Goal: the console's share ≤ 100 ms. Needs
//! DATABASE_URL and the staging host's settings (scripts/bench).

mod support;

use std::time::{Duration, Instant};

use support::{ms, BenchDatabase, RunningConsole};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::var("BENCH_DEPLOYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start(&database.url).await?;
    let cookie = running.sign_in(&database.pool).await?;
    let host_id = running
        .register_staging(&database.pool, "staging", support::staging("STAGING_SERVICE_COMMAND"))
        .await?;
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let request = running
            .client
            .post(format!("{}{path}", running.base))
            .header("origin", &running.base)
            .header("cookie", &cookie)
            .form(&form);
        async move {
            let response = request.send().await?;
            anyhow::ensure!(response.status().is_success(), "refused: {}", response.text().await?);
            Ok::<i64, anyhow::Error>(response.text().await?.trim().parse()?)
        }
    };
    let read = branches_read(&running, &database.pool, host_id).await?;
    println!(
        "the host's branches read over a warm session (median of 21): {:.0} ms",
        ms(read)
    );
    let mut deploys = Vec::new();
    let mut rollbacks = Vec::new();
    for _ in 0..runs {
        let clicked = Instant::now();
        let job = post(
            "/api/deploys/deploy",
            vec![("host_id", host_id.to_string()), ("branch", "main".into())],
        )
        .await?;
        deploys.push(timed(&database.pool, job, clicked).await?);
        let deploy_id: i64 = sqlx::query_scalar("SELECT id FROM deploys WHERE job_id = $1")
            .bind(job)
            .fetch_one(&database.pool)
            .await?;
        let clicked = Instant::now();
        let job = post("/api/deploys/rollback", vec![("deploy_id", deploy_id.to_string())]).await?;
        rollbacks.push(timed(&database.pool, job, clicked).await?);
    }
    report("no-op deploy (main on main)", &mut deploys, read);
    report("rollback to that deploy's commit", &mut rollbacks, Duration::ZERO);
    running.stop();
    database.drop_it().await?;
    Ok(())
}

/// One run's figures: click → finished, time in the steps.
struct Timing {
    total: Duration,
    in_steps: Duration,
}

/// Waits for `job` to succeed; its figures.
async fn timed(pool: &sqlx::PgPool, job: i64, clicked: Instant) -> anyhow::Result<Timing> {
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_one(pool)
            .await?;
        match status.as_str() {
            "succeeded" => break,
            "queued" | "running" => tokio::time::sleep(Duration::from_millis(2)).await,
            other => anyhow::bail!("job {job} ended {other}"),
        }
    }
    let total = clicked.elapsed();
    let in_steps: f64 = sqlx::query_scalar(
        "SELECT coalesce(sum(extract(epoch FROM finished_at - started_at)), 0)::float8
         FROM job_steps WHERE job_id = $1 AND status = 'succeeded'",
    )
    .bind(job)
    .fetch_one(pool)
    .await?;
    Ok(Timing {
        total,
        in_steps: Duration::from_secs_f64(in_steps),
    })
}

/// The median time of the branches read a deploy's request makes, as
/// the console makes it (a warm session, one command).
async fn branches_read(running: &RunningConsole, pool: &sqlx::PgPool, host_id: i64) -> anyhow::Result<Duration> {
    let console = running.console(pool);
    let host = console.hosts.get(host_id).await?;
    let admin = running.admin(pool).await?;
    let mut times = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        console.hosts.app_branches(&host, &admin, &Default::default()).await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Reports a kind of move's figures; `request_read` is what its request's
/// read on the host takes.
fn report(what: &str, timings: &mut [Timing], request_read: Duration) {
    timings.sort_by_key(|t| t.total);
    let median = &timings[timings.len() / 2];
    let slowest = &timings[timings.len() - 1];
    let outside = |t: &Timing| t.total.saturating_sub(t.in_steps);
    let most_outside = timings.iter().map(outside).max().unwrap_or_default();
    let console = |outside: Duration| outside.saturating_sub(request_read);
    println!("{what}, {} runs:", timings.len());
    println!(
        "  click → health gate passed: median {:.0} ms, slowest {:.0} ms",
        ms(median.total),
        ms(slowest.total)
    );
    println!(
        "  in the steps (every remote command of the job, the gate's request): median {:.0} ms",
        ms(median.in_steps)
    );
    println!(
        "  outside the steps: median {:.0} ms, at most {:.0} ms, of which the request's read on the host ≈ {:.0} ms",
        ms(outside(median)),
        ms(most_outside),
        ms(request_read)
    );
    println!(
        "  the console's share: median {:.0} ms, at most {:.0} ms (goal ≤ 100 ms)",
        ms(console(outside(median))),
        ms(console(most_outside))
    );
}
