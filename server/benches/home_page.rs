//! The signed-in home page under load (a bench harness: it reports, it
//! asserts nothing): the release binary on a fresh database, one signed-in
//! session, `wrk` with 2 threads and 16 connections for BENCH_SECONDS
//! (default 10) after a 2 s warm-up. Reported: requests per second and the
//! latency percentiles (goal: ≥ 5,000 req/s, p99 ≤ 20 ms on 2 cores).
//! Needs DATABASE_URL (a PostgreSQL where it may create a database).

mod support;

use support::{wrk, BenchDatabase, RunningConsole};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = support::bench_seconds();
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start(&database.url).await?;
    let cookie = running.sign_in(&database.pool).await?;
    let home = running
        .client
        .get(format!("{}/", running.base))
        .header("cookie", &cookie)
        .send()
        .await?;
    anyhow::ensure!(home.status() == 200, "the home page answered {}", home.status());
    let home = format!("{}/", running.base);
    wrk(&home, &cookie, 2)?;
    let text = wrk(&home, &cookie, seconds)?;
    println!("== signed-in home page, wrk 2 threads, 16 connections, {seconds} s");
    support::print_wrk_figures(&text);
    running.stop();
    database.drop_it().await?;
    Ok(())
}
