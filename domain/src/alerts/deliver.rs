//! The notifications due, sent: a pass claims them (`FOR UPDATE SKIP
//! LOCKED`, moved on by a lease before sending, so two processes never
//! send the same one), sends each channel's in order (an alert's
//! resolution waits for its opening to be sent or given up), and marks
//! each sent, or due again after a backoff with why it failed, until it
//! gives up.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use super::message::Message;
use super::{AlertEvent, Alerts, ChannelKind, DeliveryFailure, SmtpSecurity};
use crate::error::{DomainError, Result};

/// How long one sending may take (a webhook's answer, an SMTP dialogue).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// A notification claimed is not claimed again before this (longer than
/// any sending).
const LEASE_SECONDS: f64 = 120.0;
/// How many notifications one pass claims at most.
const CLAIMED_AT_MOST: i64 = 50;
/// Tries before a notification is given up (over about three hours).
pub const TRIES: i32 = 10;

/// How long to wait after the `attempts`-th failed try: 30 s, doubled
/// each time, at most an hour.
pub fn backoff(attempts: i32) -> time::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(7);
    (time::Duration::seconds(30) * 2_i32.pow(doublings)).min(time::Duration::hours(1))
}

impl Alerts {
    /// Sends the notifications due; returns when the next one is due.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn deliver_due(&self) -> Result<Option<OffsetDateTime>> {
        let claimed = sqlx::query!(
            "UPDATE alert_notifications SET attempts = attempts + 1, next_at = now() + $2 * interval '1 second'
             WHERE id IN (SELECT id FROM alert_notifications n
                          WHERE sent_at IS NULL AND NOT given_up AND next_at <= now()
                            AND NOT EXISTS (SELECT 1 FROM alert_notifications e
                                            WHERE e.alert_id = n.alert_id AND e.channel_id = n.channel_id AND e.id < n.id
                                              AND e.sent_at IS NULL AND NOT e.given_up)
                          ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING id, alert_id, channel_id, event, attempts",
            CLAIMED_AT_MOST,
            LEASE_SECONDS,
        )
        .fetch_all(&self.pool)
        .await?;
        // Each channel's in the order written (an alert's opening before
        // its resolution); the channels at once.
        let mut by_channel: BTreeMap<i64, Vec<_>> = BTreeMap::new();
        for row in claimed {
            by_channel.entry(row.channel_id).or_default().push(row);
        }
        let channels = by_channel.into_values().map(|mut rows| async move {
            rows.sort_by_key(|row| row.id);
            for row in rows {
                let event = match row.event.parse::<AlertEvent>() {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::error!(%error, "a stored notification's event is not a known word");
                        continue;
                    }
                };
                if let Err(error) = self
                    .deliver_one(row.id, row.alert_id, row.channel_id, event, row.attempts)
                    .await
                {
                    tracing::error!(%error, notification = row.id, "a notification's sending could not be recorded");
                }
            }
        });
        futures::future::join_all(channels).await;
        Ok(
            sqlx::query_scalar!("SELECT min(next_at) FROM alert_notifications WHERE sent_at IS NULL AND NOT given_up")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn deliver_one(
        &self,
        id: i64,
        alert_id: i64,
        channel_id: i64,
        event: AlertEvent,
        attempts: i32,
    ) -> Result<()> {
        let language = self.channel(channel_id).await?.language;
        let message = self.message_of(alert_id, event, language).await?;
        match self.send(channel_id, &message).await {
            Ok(()) => {
                sqlx::query!(
                    "UPDATE alert_notifications SET sent_at = now(), tried_at = now(), failure = NULL WHERE id = $1",
                    id
                )
                .execute(&self.pool)
                .await?;
            }
            Err(failure) => {
                let given_up = attempts >= TRIES;
                tracing::warn!(notification = id, channel_id, %failure, attempts, given_up, "a notification could not be sent");
                sqlx::query!(
                    "UPDATE alert_notifications SET failure = $2, given_up = $3, tried_at = now(),
                         next_at = now() + $4 * interval '1 second' WHERE id = $1",
                    id,
                    failure.as_str(),
                    given_up,
                    backoff(attempts).as_seconds_f64(),
                )
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Sends `message` through a channel now.
    pub(super) async fn send(&self, channel_id: i64, message: &Message) -> std::result::Result<(), DeliveryFailure> {
        let row = sqlx::query!(
            "SELECT kind, secret_id, smtp_host, smtp_port, smtp_security, smtp_username, mail_from, mail_to
             FROM alert_channels WHERE id = $1",
            channel_id
        )
        .fetch_optional(&self.pool)
        .await;
        let row = match row {
            Ok(Some(row)) => row,
            Ok(None) => return Err(DeliveryFailure::Secret),
            Err(error) => {
                tracing::error!(%error, channel_id, "a channel could not be read");
                return Err(DeliveryFailure::Secret);
            }
        };
        let kind: ChannelKind = row.kind.parse().map_err(|_| DeliveryFailure::Secret)?;
        let secret = match row.secret_id {
            Some(secret) => Some(self.channel_secret(secret, kind).await.map_err(|error| {
                tracing::error!(%error, channel_id, "a channel's secret could not be opened");
                DeliveryFailure::Secret
            })?),
            None => None,
        };
        match kind {
            ChannelKind::Webhook => {
                let url = secret.ok_or(DeliveryFailure::Secret)?;
                self.post_webhook(&url, message).await
            }
            ChannelKind::Email => {
                let (Some(host), Some(port), Some(security), Some(from), Some(to)) = (
                    row.smtp_host,
                    row.smtp_port,
                    row.smtp_security,
                    row.mail_from,
                    row.mail_to,
                ) else {
                    return Err(DeliveryFailure::Secret);
                };
                let security: SmtpSecurity = security.parse().map_err(|_| DeliveryFailure::Secret)?;
                let login = row
                    .smtp_username
                    .map(|user| (user, secret.map(|s| s.to_string()).unwrap_or_default()));
                let port = u16::try_from(port).map_err(|_| DeliveryFailure::Secret)?;
                self.send_email(&host, port, security, login, &from, &to, message).await
            }
        }
    }

    /// A Slack/Mattermost-compatible POST: `{"text": …}`.
    async fn post_webhook(&self, url: &str, message: &Message) -> std::result::Result<(), DeliveryFailure> {
        let body = serde_json::json!({ "text": format!("{}\n{}", message.subject, message.body) });
        match self.client.post(url).json(&body).send().await {
            Ok(answer) if answer.status().is_success() => Ok(()),
            Ok(answer) => {
                tracing::info!(status = %answer.status(), "a webhook refused a notification");
                Err(DeliveryFailure::Refused)
            }
            Err(error) => {
                // The URL (its token) stays out of the log.
                let error = error.without_url();
                tracing::info!(%error, "a webhook could not be reached");
                Err(if error.is_timeout() {
                    DeliveryFailure::Timeout
                } else if crate::probes::check::refused_certificate(&error) {
                    DeliveryFailure::Tls
                } else {
                    DeliveryFailure::NoConnection
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_email(
        &self,
        host: &str,
        port: u16,
        security: SmtpSecurity,
        login: Option<(String, String)>,
        from: &str,
        to: &str,
        message: &Message,
    ) -> std::result::Result<(), DeliveryFailure> {
        use lettre::message::header::ContentType;
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

        let built = (|| -> std::result::Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let mut tls = TlsParameters::builder(host.to_owned());
            if !self.extra_roots.is_empty() {
                tls = tls.add_root_certificate(Certificate::from_pem(&self.extra_roots)?);
            }
            let tls = tls.build()?;
            let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .timeout(Some(SEND_TIMEOUT))
                .tls(match security {
                    SmtpSecurity::Starttls => Tls::Required(tls),
                    SmtpSecurity::Tls => Tls::Wrapper(tls),
                });
            if let Some((user, password)) = login {
                transport = transport.credentials(Credentials::new(user, password));
            }
            let mut email = lettre::Message::builder()
                .from(from.parse()?)
                .subject(message.subject.clone())
                .header(ContentType::TEXT_PLAIN);
            for address in to.split(',') {
                email = email.to(address.trim().parse()?);
            }
            Ok((transport.build(), email.body(message.body.clone())?))
        })();
        let (transport, email) = built.map_err(|error| {
            tracing::error!(%error, "an e-mail could not be prepared");
            DeliveryFailure::Rejected
        })?;
        let sending = tokio::time::timeout(SEND_TIMEOUT * 2, transport.send(email)).await;
        match sending {
            Err(_) => Err(DeliveryFailure::Timeout),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                tracing::info!(%error, "an SMTP server did not take a notification");
                let code = error.status().map(|code| code.to_string());
                Err(match code.as_deref() {
                    Some("530" | "534" | "535" | "538") => DeliveryFailure::Credentials,
                    Some(_) => DeliveryFailure::Rejected,
                    None if error.is_timeout() => DeliveryFailure::Timeout,
                    None if error.is_tls() || error.is_client() => DeliveryFailure::Tls,
                    None => DeliveryFailure::NoConnection,
                })
            }
        }
    }
}

impl From<DeliveryFailure> for DomainError {
    fn from(failure: DeliveryFailure) -> Self {
        DomainError::invalid("channel", failure.message_key())
    }
}
