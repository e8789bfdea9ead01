//! The foundation's figures (a bench harness: it reports, it asserts
//! nothing). Needs DATABASE_URL (a PostgreSQL where it may create a
//! database); `scripts/bench` starts one and runs this.
//!
//! - the audit log filled with BENCH_AUDIT_ROWS rows (default 10 million):
//!   p50/p95 of a filtered page query by operator, by action, by time range,
//!   and a free-text search. With BENCH_AUDIT_KEEP=1 the filled log is kept
//!   in the PostgreSQL (a database named after the row count and the fill)
//!   and later runs start from a copy of it;
//! - the CSV export's rate and the process's peak memory during it;
//! - the server's time from start to a ready `/healthz` with an external
//!   database, and its resident memory when idle;
//! - requests per second on the signed-in home page under `wrk` (loopback).

use std::process::Command;
use std::time::{Duration, Instant};

use domain::audit::{AuditAction, AuditFilter, AuditLog};
use futures::StreamExt;
use sqlx::PgPool;
use time::OffsetDateTime;

const OPERATORS: i64 = 50;
const ACTIONS: &[AuditAction] = &[
    AuditAction::SessionSignIn,
    AuditAction::SessionSignOut,
    AuditAction::AccountCreate,
    AuditAction::AccountDisable,
    AuditAction::AccountEnable,
    AuditAction::AccountPasswordReset,
    AuditAction::RequestForbidden,
    AuditAction::AuditExport,
];

/// Makes a query's filter from a random number.
type FilterMaker = Box<dyn Fn(u64) -> AuditFilter>;

mod support;

use support::{ms, status_field, BenchDatabase, RunningConsole};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: i64 = std::env::var("BENCH_AUDIT_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000_000);
    println!("== audit log: {rows} rows");
    let started = Instant::now();
    let database = if std::env::var_os("BENCH_AUDIT_KEEP").is_some() {
        copy_of_a_kept_fill(rows).await?
    } else {
        let database = BenchDatabase::create().await?;
        fill(&database.pool, rows).await?;
        database
    };
    println!("filled and indexed in {:.1} s", started.elapsed().as_secs_f64());
    let pool = database.pool.clone();
    let audit = AuditLog::new(pool.clone());
    let newest: OffsetDateTime = sqlx::query_scalar("SELECT max(at) FROM audit_log")
        .fetch_one(&pool)
        .await?;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let queries: [(&str, FilterMaker); 4] = [
        (
            "by operator",
            Box::new(|r| AuditFilter {
                actor: Some(format!("operator{:02}", r % OPERATORS as u64)),
                ..Default::default()
            }),
        ),
        (
            "by action",
            Box::new(|r| AuditFilter {
                action: Some(ACTIONS[(r % ACTIONS.len() as u64) as usize]),
                ..Default::default()
            }),
        ),
        (
            "by time range (1 h)",
            Box::new(move |r| {
                let until = newest - time::Duration::minutes((r % (365 * 24 * 60 - 60)) as i64);
                AuditFilter {
                    from: Some(until - time::Duration::hours(1)),
                    until: Some(until),
                    ..Default::default()
                }
            }),
        ),
        (
            "free text in details",
            Box::new(|r| AuditFilter {
                text: Some(format!("host-{:03}", r % 500)),
                ..Default::default()
            }),
        ),
    ];
    for (label, filter) in queries {
        let mut timings = Vec::new();
        for i in 0..220 {
            let filter = filter(next());
            let started = Instant::now();
            let page = audit.page(&filter, None, 50).await?;
            let elapsed = started.elapsed();
            if i >= 20 {
                timings.push(elapsed);
            }
            std::hint::black_box(page);
        }
        timings.sort();
        println!(
            "page query {label:<22} p50 {:>7.2} ms   p95 {:>7.2} ms",
            ms(timings[timings.len() / 2]),
            ms(timings[timings.len() * 95 / 100])
        );
    }

    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_field("self", "VmRSS");
    let started = Instant::now();
    let mut exported = 0_usize;
    let mut bytes = 0_usize;
    let mut stream = Box::pin(audit.export_csv(AuditFilter::default()));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        exported += chunk.iter().filter(|b| **b == b'\n').count();
        bytes += chunk.len();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "CSV export: {} rows, {:.0} MiB in {elapsed:.1} s = {:.0} rows/s; RSS before {} KiB, peak during {} KiB",
        exported - 1,
        bytes as f64 / 1048576.0,
        (exported - 1) as f64 / elapsed,
        rss_before,
        status_field("self", "VmHWM"),
    );

    println!("== server");
    server_figures(&database.url, &pool).await?;
    database.drop_it().await
}

/// A copy of the log filled once and kept under a name that says how
/// (rows and fill statement): filling 10 M rows takes minutes, copying
/// them seconds.
async fn copy_of_a_kept_fill(rows: i64) -> anyhow::Result<BenchDatabase> {
    use std::hash::{Hash, Hasher};
    let mut fill_hash = std::collections::hash_map::DefaultHasher::new();
    fill_statement(rows).hash(&mut fill_hash);
    let kept = format!("bench_audit_{rows}_{:016x}", fill_hash.finish());
    eprintln!("  the kept fill: {kept}");
    if !BenchDatabase::exists(&kept).await? {
        let filling = format!("{kept}_filling");
        BenchDatabase::drop_if_exists(&filling).await?;
        let database = BenchDatabase::create_as(&filling, None).await?;
        fill(&database.pool, rows).await?;
        database.keep_as(&kept).await?;
    }
    BenchDatabase::create_as(&format!("bench_{}", std::process::id()), Some(&kept)).await
}

/// Rows spread over a year, 50 operators, 8 actions, details with a
/// searchable host name; `g` runs from $1 to $2. Inserted in SQL (the hash
/// chain is not what is measured here: its hashes are filler).
fn fill_statement(rows: i64) -> String {
    let actions = format!(
        "ARRAY[{}]",
        ACTIONS.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(",")
    );
    format!(
        "INSERT INTO audit_log (at, actor, action, target, outcome, details, client_address, request_id, previous_hash, row_hash)
         SELECT now() - make_interval(secs => ({rows} - g) * 3.1536e7 / {rows}),
                'operator' || lpad((g % {OPERATORS})::text, 2, '0'),
                ({actions})[1 + g % {}],
                'target-' || (g % 1000),
                CASE WHEN g % 17 = 0 THEN 'failure' WHEN g % 31 = 0 THEN 'denied' ELSE 'success' END,
                jsonb_build_object('host', 'host-' || lpad((g % 500)::text, 3, '0'), 'role', 'operator', 'n', g),
                '127.0.0.1', md5(g::text), '\\x00'::bytea, '\\x00'::bytea
         FROM generate_series($1::bigint, $2::bigint) AS g",
        ACTIONS.len()
    )
}

/// Fills the log: its indexes (but the primary key) dropped, the rows
/// inserted by two connections at once in batches, the indexes built again
/// from their definitions, all at once (building is much faster than
/// keeping them up to date row by row).
async fn fill(pool: &PgPool, rows: i64) -> anyhow::Result<()> {
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
         WHERE indrelid = 'audit_log'::regclass AND NOT indisprimary",
    )
    .fetch_all(pool)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(&format!("DROP INDEX {name}")).execute(pool).await?;
    }
    let statement = fill_statement(rows);
    let batch = 500_000_i64;
    let done = std::sync::atomic::AtomicI64::new(0);
    let inserter = || async {
        loop {
            let first = done.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
            if first >= rows {
                return anyhow::Ok(());
            }
            let last = (first + batch).min(rows);
            sqlx::query(&statement).bind(first + 1).bind(last).execute(pool).await?;
            eprintln!("  {last} rows");
        }
    };
    futures::try_join!(inserter(), inserter())?;
    futures::future::try_join_all(indexes.iter().map(|(_, definition)| async move {
        let mut connection = pool.acquire().await?;
        sqlx::query("SET maintenance_work_mem = '512MB'")
            .execute(&mut *connection)
            .await?;
        sqlx::query(definition).execute(&mut *connection).await?;
        anyhow::Ok(())
    }))
    .await?;
    sqlx::query("VACUUM ANALYZE audit_log").execute(pool).await?;
    Ok(())
}

async fn server_figures(url: &str, pool: &PgPool) -> anyhow::Result<()> {
    let running = RunningConsole::start(url).await?;
    println!(
        "start to ready /healthz (external database): {:.0} ms",
        ms(running.ready_after)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "resident memory when idle: {:.1} MiB",
        running.memory("VmRSS") as f64 / 1024.0
    );
    let cookie = running.sign_in(pool).await?;
    match Command::new("wrk")
        .args([
            "-t2",
            "-c16",
            "-d10s",
            "-H",
            &format!("Cookie: {cookie}"),
            &format!("{}/", running.base),
        ])
        .output()
    {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout);
            let rps = text
                .lines()
                .find(|l| l.starts_with("Requests/sec"))
                .unwrap_or("Requests/sec: ?");
            let latency = text
                .lines()
                .find(|l| l.trim_start().starts_with("Latency"))
                .unwrap_or("")
                .trim();
            println!("signed-in home page under wrk (2 threads, 16 connections, 10 s): {rps}; {latency}");
        }
        Err(error) => println!("wrk not available: {error}"),
    }
    println!(
        "resident memory after the load: {:.1} MiB",
        running.memory("VmRSS") as f64 / 1024.0
    );
    running.stop();
    Ok(())
}
