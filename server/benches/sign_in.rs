//! Sign-in under a burst (a bench harness: it reports, it asserts nothing).
//! Needs DATABASE_URL (a PostgreSQL where it may create a database);
//! `scripts/bench` starts one and runs this, against the release binary.
//!
//! - 100 sign-ins sent at once, each for another (unknown) name from another
//!   address (`X-Forwarded-For`, trusted for the bench), so the throttle
//!   holds none back and each costs an argon2 verification (19 MiB): the
//!   console's resident memory before, at its peak (sampled every 5 ms, and
//!   the kernel's high-water mark), when the last answer is in, and one
//!   minute later; goals: peak ≤ 100 MiB, under 40 MiB a minute later;
//! - 100 wrong passwords sent at once for one account from one address: how
//!   many reached the password check (goal: 5) and how many were throttled.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{ms, BenchDatabase, RunningConsole, ADMIN, PASSWORD};

const BURST: usize = 100;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = BenchDatabase::create().await?;
    let running = RunningConsole::start_with(&database.url, &[("CONSOLE_TRUST_FORWARDED_FOR", "true")]).await?;
    let console = running.console(&database.pool);
    // The console keyed the audit chain: open the key to write rows too.
    console.audit.unlock(&console.secrets).await?;
    console.setup.create_admin_from_cli(ADMIN, PASSWORD).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = running.child.id().to_string();
    println!("== {BURST} parallel sign-ins, each a different unknown name from a different address");
    println!("resident memory before: {:.1} MiB", mib(running.memory("VmRSS")));

    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, peak, pid) = (sampling.clone(), peak.clone(), pid.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(support::status_field(&pid, "VmRSS"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(BURST)
        .build()?;
    let started = Instant::now();
    let answers = futures::future::join_all((0..BURST).map(|i| {
        let client = client.clone();
        let base = running.base.clone();
        async move {
            client
                .post(format!("{base}/sign-in"))
                .header("origin", &base)
                .header("x-forwarded-for", format!("10.1.{}.{}", i / 250, i % 250 + 1))
                .form(&[
                    ("username", format!("nobody{i}").as_str()),
                    ("password", "not a password anyone has"),
                    ("next", "/"),
                ])
                .send()
                .await
                .map(|r| {
                    r.headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                })
        }
    }))
    .await;
    let answered = started.elapsed();
    let after = running.memory("VmRSS");
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    let refused_wrong = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|l| l.starts_with("/sign-in?error=credentials")))
        .count();
    println!(
        "answered in {:.0} ms: {refused_wrong} \"wrong name or password\", {} other",
        ms(answered),
        BURST - refused_wrong
    );
    println!(
        "resident memory: peak {:.1} MiB sampled, {:.1} MiB high-water mark (goal ≤ 100 MiB); {:.1} MiB when answered",
        mib(peak.load(Ordering::Relaxed)),
        mib(running.memory("VmHWM")),
        mib(after),
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    println!(
        "resident memory one minute later: {:.1} MiB (goal < 40 MiB)",
        mib(running.memory("VmRSS"))
    );

    println!("== {BURST} parallel wrong passwords for one account from one address");
    let started = Instant::now();
    let answers = futures::future::join_all((0..BURST).map(|i| {
        let client = client.clone();
        let base = running.base.clone();
        async move {
            client
                .post(format!("{base}/sign-in"))
                .header("origin", &base)
                .header("x-forwarded-for", "10.2.0.1")
                .form(&[
                    ("username", ADMIN),
                    ("password", format!("wrong guess {i}").as_str()),
                    ("next", "/"),
                ])
                .send()
                .await
                .map(|r| {
                    r.headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                })
        }
    }))
    .await;
    let answered = started.elapsed();
    let throttled = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|l| l.starts_with("/sign-in?error=throttled")))
        .count();
    let checked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'session.sign_in' AND target = $1 AND outcome = 'failure'",
    )
    .bind(ADMIN)
    .fetch_one(&database.pool)
    .await?;
    println!(
        "answered in {:.0} ms: {checked} reached the password check (goal: 5), {throttled} throttled",
        ms(answered)
    );
    running.stop();
    database.drop_it().await
}
