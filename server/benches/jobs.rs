//! Jobs' figures (a bench harness: it reports, it asserts nothing), against
//! the staging host (`scripts/bench` starts one and exports STAGING_*):
//! - the time from "run" (the server function call) to the first output line
//!   at a Server-Sent-Events client, as the job page gets it;
//! - a 100 MB output streamed through a job to that client, with the
//!   console's peak resident memory while it flows (goal ≤ 64 MiB).

mod support;

use std::time::{Duration, Instant};

use domain::hosts::{HostRegistration, KeyChoice};
use futures::StreamExt;
use support::{ms, BenchDatabase, RunningConsole, ADMIN};

fn staging(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start(&database.url).await?;
    running.sign_in(&database.pool).await?;
    let console = running.console(&database.pool);
    let (id, epoch): (i64, i32) = sqlx::query_as("SELECT id, session_epoch FROM accounts WHERE username = $1")
        .bind(ADMIN)
        .fetch_one(&database.pool)
        .await?;
    let admin = console
        .accounts
        .operator_for_session(id, epoch)
        .await?
        .expect("the bench admin");
    let port: u16 = staging("STAGING_SSH_PORT").parse()?;
    let fingerprint = console
        .hosts
        .read_host_key(&admin, "127.0.0.1", port)
        .await?
        .fingerprint;

    // A program of the host's own that prints 100 MB, as its "service control".
    let bulk = format!("{}/bin/bulk-output", staging("STAGING_DIR"));
    std::fs::write(
        &bulk,
        "#!/bin/sh\nyes 'OC Pizza bench line: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXY' | head -c 104857600\n",
    )?;
    std::process::Command::new("chmod").args(["+x", &bulk]).status()?;
    let mut hosts = Vec::new();
    for (name, command) in [("staging", staging("STAGING_SERVICE_COMMAND")), ("bulk", bulk)] {
        let registration = HostRegistration {
            name: name.into(),
            ssh_address: staging("STAGING_SSH_ADDRESS"),
            ssh_port: port,
            ssh_user: staging("STAGING_SSH_USER"),
            key: KeyChoice::Paste(std::fs::read_to_string(staging("STAGING_SSH_KEY"))?),
            app_dir: staging("STAGING_APP_DIR"),
            web_service: "nginx".into(),
            wsgi_service: "gunicorn".into(),
            service_command: command,
            site_url: staging("STAGING_SITE_URL"),
        };
        hosts.push(
            console
                .hosts
                .register(&admin, &Default::default(), registration, &fingerprint)
                .await?
                .id,
        );
    }

    println!("== run to first output line (prerequisites check on the staging host, SSE client)");
    let mut timings = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let job = start(&running, hosts[0], "host.check_prerequisites").await?;
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
    let job = start(&running, hosts[1], "webapp.restart_web_server").await?;
    let mut events = follow(&running, job).await?;
    let (mut bytes, mut peak) = (0_usize, 0_u64);
    while let Some(chunk) = events.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        peak = peak.max(running.memory("VmRSS"));
        if String::from_utf8_lossy(&chunk).contains("event: status\ndata: succeeded") {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM job_output WHERE job_id = $1")
        .bind(job)
        .fetch_one(&database.pool)
        .await?;
    println!(
        "{lines} lines, {:.0} MiB of events to the client in {elapsed:.1} s ({:.1} MiB/s); console RSS before {:.1} MiB, \
         peak while streaming {:.1} MiB (VmHWM {:.1} MiB)",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / elapsed,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        running.memory("VmHWM") as f64 / 1024.0,
    );
    running.stop();
    database.drop_it().await
}

/// Calls the `start_job` server function as the page does; returns the job id.
async fn start(running: &RunningConsole, host_id: i64, action: &str) -> anyhow::Result<i64> {
    let response = running
        .client
        .post(format!("{}/api/jobs/start", running.base))
        .header("origin", &running.base)
        .form(&[("host_id", host_id.to_string().as_str()), ("action", action)])
        .send()
        .await?;
    Ok(response.text().await?.trim().parse()?)
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
