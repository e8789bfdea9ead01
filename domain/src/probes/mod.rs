//! Supervision of each host's site (manual §8, "the site answers"): a
//! probe from the console on a schedule, its results kept (raw for 48
//! hours, by the hour for 30 days), the site's health read from them
//! (up or down, latency, uptime over 24 hours, 7 and 30 days, the
//! certificate's days left).
//!
//! - [`check`]: one probe (a GET, timed; the status, the text, the
//!   certificate);
//! - [`settings`]: how a host's site is probed (admins change it);
//! - [`store`]: results in, the site's health and history out;
//! - [`schedule`]: the probes due, each slot run by one console process
//!   whatever their number;
//! - [`web_services`]: the web services the app needs (manual §3.3),
//!   checked from each host over SSH and from the console.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::error::Result;
use crate::hosts::{Host, HostDirectory};
use crate::remembered::ReadEvery;

pub mod check;
pub mod schedule;
pub mod settings;
pub mod store;
pub mod web_services;

pub use check::{certificate_not_after, ProbeOutcome};
pub use settings::{ProbeSettings, ProbeUrl};
pub use store::{LatencyPoint, SiteHealth, Uptime};
pub use vocabulary::supervision::ProbeFailure;
pub use web_services::{WebService, WebServiceCheck};

/// How long every site's health is kept for the home page (a probe
/// comes once a minute by default).
const SITES_FRESH: Duration = Duration::from_secs(5);

/// Every host with its site's health.
pub type EverySite = Arc<Vec<(Host, SiteHealth)>>;

/// The site probes and their results.
#[derive(Clone, Debug)]
pub struct SiteProbes {
    pool: PgPool,
    hosts: HostDirectory,
    client: reqwest::Client,
    /// Every site's health as last read, for the home page.
    every_site: Arc<ReadEvery<(), EverySite>>,
}

impl SiteProbes {
    /// Probes trusting the system's authorities and `extra_roots` (an
    /// internal authority a site's certificate comes from).
    pub fn new(pool: PgPool, hosts: HostDirectory, extra_roots: &[reqwest::Certificate]) -> Self {
        Self {
            pool,
            hosts,
            client: check::client(extra_roots),
            every_site: Arc::new(ReadEvery::new(SITES_FRESH)),
        }
    }

    /// Every site is read again at the next request (another console
    /// process recorded a result: PostgreSQL announced it).
    pub fn forget_sites(&self) {
        self.every_site.forget_all();
    }

    /// Every host with its site's health, read at most every few seconds
    /// (the home page, which every signed-in visit shows), and again at
    /// once after this process recorded a result.
    pub async fn every_site(&self) -> Result<EverySite> {
        self.every_site
            .get((), || async {
                let mut sites = Vec::new();
                for host in self.hosts.list().await? {
                    let health = self.health(host.id).await?;
                    sites.push((host, health));
                }
                Ok(Arc::new(sites))
            })
            .await
    }
}
