//! Server functions for the Supervision area (manual §8): each host's site
//! as the probes see it (viewers and up), a probe now (operators), how a
//! host's site is probed (admins). Each checks the caller, calls the
//! domain, converts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
use crate::charts::LineChart;
use crate::errors::AppError;
use vocabulary::supervision::ProbeFailure;

/// Up, down, or not probed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SiteState {
    Up,
    Down,
    Unknown,
}

impl SiteState {
    /// What the newest probe found (none: not probed yet).
    #[cfg(feature = "ssr")]
    fn of(health: &domain::probes::SiteHealth) -> Self {
        match &health.last {
            Some(last) if last.up => SiteState::Up,
            Some(_) => SiteState::Down,
            None => SiteState::Unknown,
        }
    }

    /// Its class and its label's translation key.
    pub fn word(self) -> &'static str {
        match self {
            SiteState::Up => "up",
            SiteState::Down => "down",
            SiteState::Unknown => "unknown",
        }
    }
}

/// How a host's site is probed, as the form shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSettingsView {
    /// Empty: the host's site URL.
    pub url: String,
    pub expected_status: u16,
    pub expected_text: String,
    pub timeout_ms: u32,
    pub interval_s: u32,
    pub enabled: bool,
    /// Who changed them last and when; `None`: the defaults.
    pub changed: Option<(String, String)>,
}

/// A host's site, as the Supervision page and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteView {
    pub host_id: i64,
    pub host_name: String,
    /// The URL probed.
    pub url: String,
    pub state: SiteState,
    /// When the newest probe ran (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub checked_at: Option<String>,
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub failure: Option<ProbeFailure>,
    pub down_in_a_row: i64,
    /// Percent of probes up over 24 hours, 7 and 30 days.
    pub uptime: [Option<f64>; 3],
    pub cert_days_left: Option<i64>,
    /// The latency over the last 24 hours.
    pub chart: LineChart,
    pub settings: ProbeSettingsView,
}

#[cfg(feature = "ssr")]
impl SiteView {
    fn of(
        host: &domain::hosts::Host,
        settings: &domain::probes::ProbeSettings,
        health: domain::probes::SiteHealth,
    ) -> Self {
        use crate::charts::{ChartUnit, Series};
        let now = time::OffsetDateTime::now_utc();
        let samples: Vec<(i64, f64)> = health
            .history
            .iter()
            .map(|p| {
                (
                    (p.at.unix_timestamp_nanos() / 1_000_000) as i64,
                    f64::from(p.latency_ms),
                )
            })
            .collect();
        let chart = LineChart::of(
            &format!("latency-{}", host.id),
            "monitoring-latency-chart",
            ChartUnit::Milliseconds,
            &[Series {
                name: "monitoring-latency",
                samples: &samples,
            }],
            (now.unix_timestamp_nanos() / 1_000_000) as i64,
        );
        let last = health.last.as_ref();
        SiteView {
            host_id: host.id,
            host_name: host.name.as_str().to_owned(),
            url: settings.url_on(host).to_owned(),
            state: SiteState::of(&health),
            checked_at: last.map(|l| utc(l.at)),
            status: last.and_then(|l| l.status),
            latency_ms: last.map(|l| l.latency.as_millis() as u64),
            failure: last.and_then(|l| l.failure),
            down_in_a_row: health.down_in_a_row,
            uptime: [health.uptime.day, health.uptime.week, health.uptime.month],
            cert_days_left: health.cert_days_left(now),
            chart,
            settings: ProbeSettingsView {
                url: settings.url.as_ref().map(|u| u.as_str().to_owned()).unwrap_or_default(),
                expected_status: settings.expected_status,
                expected_text: settings.expected_text.clone().unwrap_or_default(),
                timeout_ms: settings.timeout.as_millis() as u32,
                interval_s: settings.interval.as_secs() as u32,
                enabled: settings.enabled,
                changed: settings.changed.as_ref().map(|(by, at)| (utc(*at), by.clone())),
            },
        }
    }
}

/// A host's site in a line of the home page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteLine {
    pub host_id: i64,
    pub host_name: String,
    pub state: SiteState,
    pub latency_ms: Option<u64>,
    pub cert_days_left: Option<i64>,
    /// The latency over 24 hours as SVG points in a 120 × 24 box (empty:
    /// no probe yet).
    pub sparkline: String,
}

/// The sparkline's box.
pub const SPARK_WIDTH: f64 = 120.0;
pub const SPARK_HEIGHT: f64 = 24.0;

/// The latency over 24 hours as a polyline's points: one per pixel column
/// of the box at most (the column's slowest probe, so a spike stays
/// visible), whatever the number of probes — a minute's probes over a day
/// are 1,440 points, which the page would carry for every host.
#[cfg(feature = "ssr")]
fn sparkline(history: &[domain::probes::LatencyPoint], now: time::OffsetDateTime) -> String {
    let highest = history.iter().map(|p| p.latency_ms).max().unwrap_or(0).max(1);
    let day = 86_400.0;
    let columns = SPARK_WIDTH as usize;
    let mut slowest: Vec<Option<i32>> = vec![None; columns + 1];
    for point in history {
        let age = (now - point.at).as_seconds_f64().clamp(0.0, day);
        let column = ((1.0 - age / day) * SPARK_WIDTH).round() as usize;
        let kept = &mut slowest[column.min(columns)];
        *kept = Some(kept.map_or(point.latency_ms, |k| k.max(point.latency_ms)));
    }
    slowest
        .iter()
        .enumerate()
        .filter_map(|(x, latency)| {
            let y = SPARK_HEIGHT * (1.0 - f64::from((*latency)?) / f64::from(highest));
            Some(format!("{x},{y:.1}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every host's site in a line (the home page; read at most every few
/// seconds). The lines are drawn once per reading of the sites, not at
/// every visit: a day of probes is a thousand points per host.
#[cfg(feature = "ssr")]
pub(crate) async fn site_lines(console: &domain::Console) -> domain::error::Result<Vec<SiteLine>> {
    use std::sync::{Arc, Mutex, PoisonError};
    /// The last reading and its lines.
    static DRAWN: Mutex<Option<(domain::probes::EverySite, Arc<Vec<SiteLine>>)>> = Mutex::new(None);
    let sites = console.probes.every_site().await?;
    let drawn = DRAWN.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some((_, lines)) = drawn.filter(|(read, _)| Arc::ptr_eq(read, &sites)) {
        return Ok(lines.as_ref().clone());
    }
    let now = time::OffsetDateTime::now_utc();
    let lines: Vec<SiteLine> = sites
        .iter()
        .map(|(host, health)| SiteLine {
            host_id: host.id,
            host_name: host.name.as_str().to_owned(),
            state: SiteState::of(health),
            latency_ms: health.last.as_ref().map(|l| l.latency.as_millis() as u64),
            cert_days_left: health.cert_days_left(now),
            sparkline: sparkline(&health.history, now),
        })
        .collect();
    *DRAWN.lock().unwrap_or_else(PoisonError::into_inner) = Some((sites, Arc::new(lines.clone())));
    Ok(lines)
}

/// Every host's site as the probes see it.
#[server(endpoint = "monitoring/sites")]
pub async fn sites() -> Result<Vec<SiteView>, AppError> {
    let caller = require(Role::Viewer).await?;
    let (hosts, probes) = (&caller.console.hosts, &caller.console.probes);
    let mut views = Vec::new();
    for host in hosts.list().await? {
        let settings = probes.settings(host.id).await?;
        let health = probes.health(host.id).await?;
        views.push(SiteView::of(&host, &settings, health));
    }
    Ok(views)
}

/// Probes a host's site now (operators): whether it answered as expected.
#[server(endpoint = "monitoring/probe")]
pub async fn probe_now(host_id: i64) -> Result<bool, AppError> {
    let caller = require(Role::Operator).await?;
    Ok(caller.console.probes.probe_now(host_id).await?.up)
}

/// The settings' form as it arrives (fields `settings[url]` …): a
/// checkbox arrives only when ticked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeSettingsForm {
    /// Empty: the host's site URL.
    pub url: String,
    pub expected_status: u16,
    pub expected_text: String,
    pub timeout_ms: u32,
    pub interval_s: u32,
    pub enabled: Option<String>,
}

#[cfg(feature = "ssr")]
impl TryFrom<ProbeSettingsForm> for domain::probes::ProbeSettings {
    type Error = domain::DomainError;

    fn try_from(form: ProbeSettingsForm) -> Result<Self, Self::Error> {
        let url = match form.url.trim() {
            "" => None,
            url => Some(domain::probes::ProbeUrl::parse(url)?),
        };
        Ok(Self {
            url,
            expected_status: form.expected_status,
            expected_text: Some(form.expected_text),
            timeout: std::time::Duration::from_millis(form.timeout_ms.into()),
            interval: std::time::Duration::from_secs(form.interval_s.into()),
            enabled: form.enabled.is_some(),
            changed: None,
        })
    }
}

/// Changes how a host's site is probed (admins).
#[server(endpoint = "monitoring/settings")]
pub async fn save_probe_settings(host_id: i64, settings: ProbeSettingsForm) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let settings = settings.try_into()?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.probes.save_settings(by, from, host_id, settings).await?)
}

/// A web service's newest check from one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebServiceCheckView {
    /// The host it was checked from (`None`: the console).
    pub host: Option<(i64, String)>,
    pub at: String,
    pub reachable: bool,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub failure: Option<ProbeFailure>,
    /// The newest failure and when.
    pub last_failure: Option<(ProbeFailure, String)>,
}

/// A web service the app needs, with its checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebServiceView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub checks: Vec<WebServiceCheckView>,
}

/// The web services the app needs (manual §3.3), each with its newest
/// checks from the console and from each host.
#[server(endpoint = "monitoring/web-services")]
pub async fn web_services() -> Result<Vec<WebServiceView>, AppError> {
    let caller = require(Role::Viewer).await?;
    let hosts = caller.console.hosts.list().await?;
    let host_name = |id: i64| {
        hosts
            .iter()
            .find(|h| h.id == id)
            .map(|h| h.name.as_str().to_owned())
            .unwrap_or_default()
    };
    Ok(caller
        .console
        .probes
        .web_services()
        .await?
        .into_iter()
        .map(|(service, checks)| WebServiceView {
            id: service.id,
            name: service.name,
            url: service.url.as_str().to_owned(),
            enabled: service.enabled,
            checks: checks
                .into_iter()
                .map(|c| WebServiceCheckView {
                    host: c.host_id.map(|id| (id, host_name(id))),
                    at: utc(c.at),
                    reachable: c.reachable,
                    status: c.status,
                    latency_ms: c.latency.as_millis() as u64,
                    failure: c.failure,
                    last_failure: c.last_failure.map(|(failure, at)| (failure, utc(at))),
                })
                .collect(),
        })
        .collect())
}

/// Checks every web service that is on, now (operators).
#[server(endpoint = "monitoring/check-web-services")]
pub async fn check_web_services() -> Result<(), AppError> {
    let caller = require(Role::Operator).await?;
    Ok(caller.console.probes.check_web_services_now(&caller.operator).await?)
}

/// A web service added (admins).
#[server(endpoint = "monitoring/add-web-service")]
pub async fn add_web_service(name: String, url: String) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    caller.console.probes.add_web_service(by, from, &name, &url).await?;
    Ok(())
}

/// A web service's checks turned on or off (admins).
#[server(endpoint = "monitoring/switch-web-service")]
pub async fn switch_web_service(id: i64, enabled: bool) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.probes.switch_web_service(by, from, id, enabled).await?)
}

/// A web service removed (admins).
#[server(endpoint = "monitoring/remove-web-service")]
pub async fn remove_web_service(id: i64) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.probes.remove_web_service(by, from, id).await?)
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_has_a_point_per_column_at_most_and_keeps_a_spike() {
        let now = time::OffsetDateTime::now_utc();
        let history: Vec<domain::probes::LatencyPoint> = (0..2880)
            .map(|minute| domain::probes::LatencyPoint {
                at: now - time::Duration::minutes(minute),
                latency_ms: if minute == 600 { 900 } else { 30 },
                up: true,
            })
            .collect();
        let line = sparkline(&history, now);
        let points: Vec<&str> = line.split(' ').collect();
        assert!(points.len() <= SPARK_WIDTH as usize + 1, "{}", points.len());
        assert!(points.len() > 100, "a day of minutes fills the box");
        // The spike is the highest point (y = 0), ten hours back.
        let spike: Vec<&&str> = points.iter().filter(|p| p.ends_with(",0.0")).collect();
        assert_eq!(spike.len(), 1, "{points:?}");
        assert_eq!(spike[0].split(',').next(), Some("70"));
        assert_eq!(sparkline(&[], now), "");
    }
}
