//! The soak (a bench harness: it reports, it asserts nothing): at least
//! 100,000 mixed requests under `wrk` against the release binary — pages
//! (home, audit log, hosts, a host, a job, own account), the job's event stream and output,
//! and a sign-in every fiftieth request — with the console's resident
//! memory read after a warm-up and after each round. Reported: requests,
//! errors (non-2xx/3xx answers and socket errors), and the memory growth
//! after the warm-up (goal ≤ 10 %).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{staging, BenchDatabase, RunningConsole, ADMIN, PASSWORD};

/// Requests the soak must reach, after the warm-up.
const REQUESTS: u64 = 100_000;

/// What one `wrk` round printed that the soak needs.
#[derive(Default, Debug)]
struct Round {
    requests: u64,
    non_success: u64,
    socket_errors: u64,
    rate: String,
}

fn wrk(script: &std::path::Path, base: &str, cookie: &str, seconds: u32) -> anyhow::Result<Round> {
    let output = Command::new("wrk")
        .args(["-t2", "-c16", &format!("-d{seconds}s"), "--timeout", "10s", "-s"])
        .arg(script)
        .args(["-H", &format!("Cookie: {cookie}"), base])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let number_after = |prefix: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next()?.trim_end_matches(',').parse().ok())
            .unwrap_or(0)
    };
    let socket_errors = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map(|rest| {
            rest.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Ok(Round {
        requests: text
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0),
        non_success: number_after("Non-2xx or 3xx responses:"),
        socket_errors,
        rate: text
            .lines()
            .find(|l| l.starts_with("Requests/sec"))
            .unwrap_or("Requests/sec: ?")
            .to_owned(),
    })
}

/// The `wrk` script: a round robin over the pages, the job's stream and
/// output, and a sign-in (a form post from the console's own origin).
fn script(base: &str, host: i64, job: i64) -> String {
    let form = format!("username={ADMIN}&password={}&next=%2F", PASSWORD.replace(' ', "+"));
    format!(
        r#"local paths = {{ "/", "/audit", "/server", "/server/{host}", "/jobs/{job}", "/jobs/{job}/events", "/jobs/{job}/output.txt", "/account" }}
local n = 0
request = function()
  n = n + 1
  if n % 50 == 0 then
    return wrk.format("POST", "/sign-in", {{ ["Origin"] = "{base}", ["Content-Type"] = "application/x-www-form-urlencoded" }}, "{form}")
  end
  return wrk.format("GET", paths[(n % #paths) + 1])
end
"#
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start(&database.url).await?;
    let cookie = running.sign_in(&database.pool).await?;
    let host = running
        .register_staging(&database.pool, "staging", staging("STAGING_SERVICE_COMMAND"))
        .await?;
    let job = running.start_job(host, "host.check_prerequisites").await?;
    let finished = Instant::now();
    while sqlx::query_scalar::<_, String>("SELECT status FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_one(&database.pool)
        .await?
        != "succeeded"
    {
        anyhow::ensure!(
            finished.elapsed() < Duration::from_secs(60),
            "the prerequisites check did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let script_path = running.data_dir.join("soak.lua");
    std::fs::write(&script_path, script(&running.base, host, job))?;

    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("== soak: mixed requests under wrk (2 threads, 16 connections)");
    println!("resident memory at start: {:.1} MiB", mib(running.memory("VmRSS")));
    let warm = wrk(&script_path, &running.base, &cookie, 10)?;
    let after_warm_up = running.memory("VmRSS");
    println!(
        "warm-up: {} requests, {} errors; resident memory {:.1} MiB",
        warm.requests,
        warm.non_success + warm.socket_errors,
        mib(after_warm_up)
    );
    let (mut requests, mut errors, mut highest) = (0, 0, after_warm_up);
    let mut round = 0;
    while requests < REQUESTS {
        round += 1;
        let result = wrk(&script_path, &running.base, &cookie, 15)?;
        requests += result.requests;
        errors += result.non_success + result.socket_errors;
        let rss = running.memory("VmRSS");
        highest = highest.max(rss);
        println!(
            "round {round}: {} requests ({}), {} non-2xx/3xx, {} socket errors; resident memory {:.1} MiB",
            result.requests,
            result.rate,
            result.non_success,
            result.socket_errors,
            mib(rss)
        );
    }
    let last = running.memory("VmRSS");
    println!(
        "soak: {requests} requests after the warm-up, {errors} errors; resident memory {:.1} MiB after the warm-up, \
         {:.1} MiB at the end ({:+.1} %), highest {:.1} MiB (goal: no error, growth ≤ 10 %)",
        mib(after_warm_up),
        mib(last),
        (last as f64 / after_warm_up as f64 - 1.0) * 100.0,
        mib(highest)
    );
    running.stop();
    database.drop_it().await
}
