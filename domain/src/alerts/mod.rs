//! Alerts (manual §8): rules that watch what the console already records
//! (the site probes, the web services' checks, the backups, the hosts'
//! keys), an alert opened when a
//! rule starts to hold for a host and resolved when it stops, and each of
//! those two changes notified once to every channel (a webhook, an
//! e-mail), retried with backoff when a channel fails.
//!
//! - [`rules`]: each rule on or off, with its threshold (admins);
//! - [`evaluate`]: what holds now, alerts opened and resolved, their
//!   notifications written in the same transaction — one process at a
//!   time, whatever their number, so a change is notified once;
//! - [`channels`]: where notifications go (admins), "send a test";
//! - [`deliver`]: the notifications due, sent, retried, given up;
//! - [`message`]: what a notification says, in the channel's language;
//! - [`history`]: the alerts as the page lists them, acknowledged by
//!   operators, and on `/metrics`.

use std::sync::Arc;

use sqlx::PgPool;

use crate::secrets::SecretStore;

pub mod channels;
pub mod deliver;
pub mod evaluate;
pub mod history;
pub mod message;
pub mod rules;

pub use channels::{Channel, ChannelSettings, EmailSettings};
pub use evaluate::Changes;
pub use history::{AlertRecord, Delivery};
pub use rules::AlertRule;
pub use vocabulary::supervision::{AlertEvent, AlertKind, ChannelKind, DeliveryFailure, SmtpSecurity};

/// The alerts: rules, alerts, channels, notifications.
#[derive(Clone, Debug)]
pub struct Alerts {
    pool: PgPool,
    secrets: SecretStore,
    /// Webhooks are posted with it (no proxy, no redirects followed).
    client: reqwest::Client,
    /// Authorities trusted besides the system's (PEM), for SMTP servers.
    extra_roots: Arc<Vec<u8>>,
    /// How many alerts are open, for the home page (every signed-in visit
    /// shows it): read at most every few seconds, at once after this
    /// process opened or resolved one.
    open: Arc<crate::remembered::ReadEvery<(), i64>>,
}

/// How long the home page's count of open alerts is kept.
const OPEN_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

impl Alerts {
    /// The alerts, trusting the system's authorities and those of `pem`
    /// (empty: none more) for webhooks and SMTP servers.
    pub fn new(pool: PgPool, secrets: SecretStore, extra_roots: &[reqwest::Certificate], pem: &[u8]) -> Self {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(deliver::SEND_TIMEOUT);
        for root in extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        Self {
            pool,
            secrets,
            client: builder.build().expect("a client with fixed settings builds"),
            extra_roots: Arc::new(pem.to_vec()),
            open: Arc::new(crate::remembered::ReadEvery::new(OPEN_FRESH)),
        }
    }

    /// The open alerts are counted again at the next request (another
    /// console process changed one: PostgreSQL announced it).
    pub fn forget_open_count(&self) {
        self.open.forget_all();
    }

    /// Resolves once the console's database closes (the console stops).
    pub fn stopped(&self) -> sqlx::pool::CloseEvent {
        self.pool.close_event()
    }

    /// One pass of the background work: the rules evaluated, then the
    /// notifications due sent. Returns when the next pass is due.
    pub async fn run_due(&self) -> crate::error::Result<Option<time::OffsetDateTime>> {
        self.evaluate().await?;
        let next_delivery = self.deliver_due().await?;
        let next_evaluation = time::OffsetDateTime::now_utc() + evaluate::EVALUATED_EVERY;
        Ok(Some(
            next_delivery.map_or(next_evaluation, |next| next.min(next_evaluation)),
        ))
    }
}
