//! Jobs' figures (a bench harness: it reports, it asserts nothing), against
//! the staging host (`scripts/bench` starts one and exports STAGING_*):
//! - the time from "run" (the server function call) to the first output line
//!   at a Server-Sent-Events client, as the job page gets it;
//! - a 100 MB output streamed through a job to that client, with the
//!   console's peak resident memory while it flows (goal ≤ 64 MiB).

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use support::{ms, staging, BenchDatabase, RunningConsole};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start(&database.url).await?;
    running.sign_in(&database.pool).await?;

    // A program of the host's own that prints 100 MB, as its "service control".
    let bulk = format!("{}/bin/bulk-output", staging("STAGING_DIR"));
    std::fs::write(
        &bulk,
        "#!/bin/sh\nyes 'OC Pizza bench line: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXY' | head -c 104857600\n",
    )?;
    std::process::Command::new("chmod").args(["+x", &bulk]).status()?;
    let hosts = [
        running
            .register_staging(&database.pool, "staging", staging("STAGING_SERVICE_COMMAND"))
            .await?,
        running.register_staging(&database.pool, "bulk", bulk).await?,
    ];

    println!("== run to first output line (prerequisites check on the staging host, SSE client)");
    let mut timings = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let job = running.start_job(hosts[0], "host.check_prerequisites").await?;
        let mut events = follow(&running, job).await?;
        while let Some(chunk) = events.next().await {
            if String::from_utf8_lossy(&chunk?).contains("event: line") {
                break;
            }
        }
        timings.push(started.elapsed());
        drop(events);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    timings.sort();
    println!(
        "first line: min {:.0} ms, median {:.0} ms, max {:.0} ms",
        ms(timings[0]),
        ms(timings[5]),
        ms(timings[9])
    );

    println!("== 100 MB of output through one job");
    let _ = std::fs::write(format!("/proc/{}/clear_refs", running.child.id()), "5");
    let before = running.memory("VmRSS");
    let started = Instant::now();
    let job = running.start_job(hosts[1], "webapp.restart_web_server").await?;
    let mut events = follow(&running, job).await?;
    let (mut bytes, mut peak) = (0_usize, 0_u64);
    while let Some(chunk) = events.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        peak = peak.max(running.memory("VmRSS"));
        if String::from_utf8_lossy(&chunk).contains(r#""status":"succeeded""#) {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (lines, chunks): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(line_count), 0)::bigint, count(*) FROM job_output_chunks WHERE job_id = $1",
    )
    .bind(job)
    .fetch_one(&database.pool)
    .await?;
    let stored: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM finished_at - started_at)::float8 FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_one(&database.pool)
            .await?;
    println!(
        "the job itself (command run, output stored) took {stored:.1} s ({:.1} MiB/s)",
        100.0 / stored
    );
    println!(
        "{lines} lines in {chunks} chunks: 100 MiB of output stored and streamed in {elapsed:.1} s ({:.1} MiB/s of output; goal ≥ 40); \
         {:.0} MiB of events (JSON) to the client ({:.1} MiB/s); console RSS before {:.1} MiB, \
         peak while streaming {:.1} MiB (VmHWM {:.1} MiB; goal ≤ 64)",
        100.0 / elapsed,
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / elapsed,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        running.memory("VmHWM") as f64 / 1024.0,
    );
    running.stop();
    database.drop_it().await
}

async fn follow(
    running: &RunningConsole,
    job: i64,
) -> anyhow::Result<impl futures::Stream<Item = reqwest::Result<bytes::Bytes>>> {
    Ok(running
        .client
        .get(format!("{}/jobs/{job}/events", running.base))
        .send()
        .await?
        .bytes_stream())
}
