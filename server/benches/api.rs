//! Issue 13's figure: an authenticated API read (the host list) under
//! `wrk` on loopback (a bench harness: it reports, it asserts nothing). The
//! release binary on a fresh database, 10 hosts (the staging host under as
//! many names), a read token; `wrk` with 2 threads and 16 connections for
//! BENCH_SECONDS (default 10) after a 2 s warm-up. Goal: ≥ 5,000 req/s on 2
//! cores (a token check costs a hash and a lookup in memory, never a
//! password hash). Needs DATABASE_URL and the staging host (scripts/bench).

mod support;

use support::{wrk_with, BenchDatabase, RunningConsole};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = support::bench_seconds();
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start(&database.url).await?;
    running.sign_in(&database.pool).await?;
    for n in 0..10 {
        running
            .register_staging(
                &database.pool,
                &format!("site-{n:02}"),
                support::staging("STAGING_SERVICE_COMMAND"),
            )
            .await?;
    }
    let admin = running.admin(&database.pool).await?;
    let issued = running
        .console(&database.pool)
        .tokens
        .issue(
            &admin,
            &Default::default(),
            "bench",
            domain::tokens::TokenScope::Read,
            1,
        )
        .await?;
    let header = format!("Authorization: Bearer {}", issued.secret.expose());
    let url = format!("{}/api/v1/hosts", running.base);
    let first = running
        .client
        .get(&url)
        .header("authorization", format!("Bearer {}", issued.secret.expose()))
        .send()
        .await?;
    anyhow::ensure!(first.status() == 200, "the API answered {}", first.status());
    let size = first.bytes().await?.len();
    wrk_with(&url, &header, 2)?;
    let text = wrk_with(&url, &header, seconds)?;
    println!(
        "== GET /api/v1/hosts with a read token, 10 hosts ({size} bytes), wrk 2 threads, 16 connections, {seconds} s"
    );
    support::print_wrk_figures(&text);
    running.stop();
    database.drop_it().await?;
    Ok(())
}
