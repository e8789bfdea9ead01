//! The console's own errors, reported to Sentry when `CONSOLE_SENTRY_DSN`
//! is set and to nobody otherwise: each error-level log event becomes a
//! Sentry event (its fields, the request id among them), the info and
//! warning events before it its breadcrumbs, and a panic an event too. No
//! personal data is attached (no addresses, no cookies, no bodies); the
//! log's own rule (never a secret in it) is what keeps secrets out.

use std::str::FromStr;

use anyhow::{Context, Result};
use tracing_subscriber::Layer;

use crate::config::Config;

/// Reporting, while the returned guard lives (it sends what is queued
/// when dropped, for at most 2 s); `None` without a DSN.
pub fn start(config: &Config) -> Result<Option<sentry::ClientInitGuard>> {
    let Some(dsn) = config.sentry_dsn.as_deref().map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let dsn = sentry::types::Dsn::from_str(dsn)
        .map_err(|_| anyhow::anyhow!("CONSOLE_SENTRY_DSN is not a Sentry DSN (https://<key>@<host>/<project>)"))?;
    let mut client = reqwest::Client::builder().no_proxy();
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).with_context(|| format!("CONSOLE_CA_FILE: {}", path.display()))?;
        for root in reqwest::Certificate::from_pem_bundle(&pem).context("CONSOLE_CA_FILE")? {
            client = client.add_root_certificate(root);
        }
    }
    let client = client.build().context("the error reports' HTTP client")?;
    let options = sentry::ClientOptions {
        dsn: Some(dsn),
        release: sentry::release_name!(),
        send_default_pii: false,
        shutdown_timeout: std::time::Duration::from_secs(2),
        transport: Some(std::sync::Arc::new(move |options: &sentry::ClientOptions| {
            std::sync::Arc::new(sentry::transports::ReqwestHttpTransport::with_client(
                options,
                client.clone(),
            )) as std::sync::Arc<dyn sentry::Transport>
        })),
        ..Default::default()
    };
    Ok(Some(sentry::init(options)))
}

/// The log layer that turns error events into reports (and info and
/// warnings into their breadcrumbs).
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    sentry::integrations::tracing::layer()
}
