//! Where notifications go: a webhook (its URL carries its token, so it is
//! sealed in the secret store and the page shows only its scheme, host and
//! port) or an e-mail through an SMTP server (STARTTLS required, or TLS
//! from the first byte; its password sealed). Admins add and remove them;
//! anyone who may see them can ask for a test message. All audited.

use time::OffsetDateTime;
use vocabulary::locale::Locale;

use super::{Alerts, ChannelKind, DeliveryFailure, SmtpSecurity};
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::secrets::SecretId;

/// What the secret store's rows of channels are sealed for.
pub(super) const WEBHOOK_PURPOSE: &str = "alert-webhook-url";
pub(super) const SMTP_PURPOSE: &str = "alert-smtp-password";

/// How a channel's e-mails are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub security: SmtpSecurity,
    /// `None`: the server takes mail without a login.
    pub username: Option<String>,
    pub from: String,
    /// One address or several, separated by commas.
    pub to: String,
}

/// A new channel's settings, as an admin enters them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelSettings {
    Webhook {
        url: String,
    },
    Email {
        email: EmailSettings,
        password: Option<String>,
    },
}

/// A channel as the page shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    pub language: Locale,
    /// A webhook's scheme, host and port; an e-mail's server and port.
    pub shown_address: String,
    pub email: Option<EmailSettings>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    /// The newest notification sent or tried: when, and why it failed.
    pub last: Option<(OffsetDateTime, Option<DeliveryFailure>)>,
    /// Notifications not sent yet (failed, to be retried).
    pub pending: i64,
}

const NAME_CHARS: usize = 60;

fn checked_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::invalid("name", "error-alert-channel-name"));
    }
    Ok(name.to_owned())
}

/// A webhook URL: https, or http to this machine only (a local relay).
/// Returns what the page may show of it (scheme, host, port).
pub fn checked_webhook(raw: &str) -> Result<(String, String)> {
    let invalid = || DomainError::invalid("url", "error-alert-webhook-url");
    let url = url::Url::parse(raw.trim()).map_err(|_| invalid())?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid()),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(invalid()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid());
    }
    let shown = match url.port() {
        Some(port) => format!("{}://{}:{port}", url.scheme(), url.host_str().unwrap_or_default()),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
    };
    Ok((url.to_string(), shown))
}

impl EmailSettings {
    fn checked(self) -> Result<Self> {
        let host = self.smtp_host.trim();
        if host.is_empty() || host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/')
        {
            return Err(DomainError::invalid("smtp_host", "error-alert-smtp-host"));
        }
        if self.smtp_port == 0 {
            return Err(DomainError::invalid("smtp_port", "error-alert-smtp-port"));
        }
        let address = |raw: &str, field| {
            raw.trim()
                .parse::<lettre::Address>()
                .map(|a| a.to_string())
                .map_err(|_| DomainError::invalid(field, "error-alert-email-address"))
        };
        let from = address(&self.from, "from")?;
        let to = self
            .to
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(|part| address(part, "to"))
            .collect::<Result<Vec<_>>>()?;
        if to.is_empty() {
            return Err(DomainError::invalid("to", "error-alert-email-address"));
        }
        let username = self.username.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        if username
            .as_ref()
            .is_some_and(|u| u.len() > 200 || u.chars().any(char::is_control))
        {
            return Err(DomainError::invalid("username", "error-alert-smtp-username"));
        }
        Ok(Self {
            smtp_host: host.to_owned(),
            from,
            to: to.join(", "),
            username,
            ..self
        })
    }

    /// The server as the page shows it.
    pub fn server(&self) -> String {
        format!("{}:{}", self.smtp_host, self.smtp_port)
    }
}

impl Alerts {
    /// Every channel, by name.
    pub async fn channels(&self) -> Result<Vec<Channel>> {
        let rows = sqlx::query!(
            r#"SELECT c.id, c.name, c.kind, c.language, c.shown_address, c.smtp_host, c.smtp_port, c.smtp_security,
                      c.smtp_username, c.mail_from, c.mail_to, c.created_by, c.created_at,
                      l.at AS "last_at?", l.failure AS "last_failure?",
                      (SELECT count(*) FROM alert_notifications p
                       WHERE p.channel_id = c.id AND p.sent_at IS NULL AND NOT p.given_up) AS "pending!"
               FROM alert_channels c LEFT JOIN LATERAL (
                   SELECT tried_at AS at, failure FROM alert_notifications n
                   WHERE n.channel_id = c.id AND n.tried_at IS NOT NULL ORDER BY n.tried_at DESC LIMIT 1) l ON true
               ORDER BY c.name"#
        )
        .fetch_all(&self.pool)
        .await?;
        let word = |e: vocabulary::UnknownWord| DomainError::Internal(format!("alert channel: {e}"));
        let mut channels = Vec::with_capacity(rows.len());
        for row in rows {
            let email = match (
                row.smtp_host,
                row.smtp_port,
                row.smtp_security,
                row.mail_from,
                row.mail_to,
            ) {
                (Some(smtp_host), Some(port), Some(security), Some(from), Some(to)) => Some(EmailSettings {
                    smtp_host,
                    smtp_port: u16::try_from(port).unwrap_or(587),
                    security: security.parse().map_err(word)?,
                    username: row.smtp_username,
                    from,
                    to,
                }),
                _ => None,
            };
            let failure = row.last_failure.map(|f| f.parse()).transpose().map_err(word)?;
            channels.push(Channel {
                id: row.id,
                name: row.name,
                kind: row.kind.parse().map_err(word)?,
                language: row.language.parse().map_err(word)?,
                shown_address: row.shown_address,
                email,
                created_by: row.created_by,
                created_at: row.created_at,
                last: row.last_at.map(|at| (at, failure)),
                pending: row.pending,
            });
        }
        Ok(channels)
    }

    /// Adds a channel (admins): its secret sealed, its settings checked.
    /// Audited with what the page shows (never the URL's token nor the
    /// password).
    #[tracing::instrument(skip(self, by, provenance, settings), fields(by = %by.username))]
    pub async fn add_channel(
        &self,
        by: &Operator,
        provenance: &Provenance,
        name: &str,
        language: Locale,
        settings: ChannelSettings,
    ) -> Result<i64> {
        require_role(
            &self.pool,
            by,
            Role::Admin,
            AuditAction::AlertChannelAdd,
            name,
            provenance,
        )
        .await?;
        let name = checked_name(name)?;
        let mut tx = self.pool.begin().await?;
        let (kind, secret, shown, email) = match settings {
            ChannelSettings::Webhook { url } => {
                let (url, shown) = checked_webhook(&url)?;
                let secret = self.secrets.put(&mut tx, WEBHOOK_PURPOSE, url.as_bytes()).await?;
                (ChannelKind::Webhook, Some(secret), shown, None)
            }
            ChannelSettings::Email { email, password } => {
                let email = email.checked()?;
                let secret = match password.filter(|p| !p.is_empty()) {
                    Some(_) if email.username.is_none() => {
                        return Err(DomainError::invalid("username", "error-alert-smtp-username"));
                    }
                    Some(password) => Some(self.secrets.put(&mut tx, SMTP_PURPOSE, password.as_bytes()).await?),
                    None => None,
                };
                (ChannelKind::Email, secret, email.server(), Some(email))
            }
        };
        let id = sqlx::query_scalar!(
            "INSERT INTO alert_channels (name, kind, language, secret_id, shown_address, smtp_host, smtp_port,
                                         smtp_security, smtp_username, mail_from, mail_to, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            name,
            kind.as_str(),
            language.as_str(),
            secret.map(|s| s.0),
            shown,
            email.as_ref().map(|e| e.smtp_host.as_str()),
            email.as_ref().map(|e| i32::from(e.smtp_port)),
            email.as_ref().map(|e| e.security.as_str()),
            email.as_ref().and_then(|e| e.username.as_deref()),
            email.as_ref().map(|e| e.from.as_str()),
            email.as_ref().map(|e| e.to.as_str()),
            by.username.as_str(),
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| DomainError::on_constraint(e, "alert_channels_name_key", "name", "error-alert-channel-taken"))?;
        let mut entry = AuditEntry::new(by.actor(), AuditAction::AlertChannelAdd, &name, Outcome::Success)
            .detail("kind", kind.as_str())
            .detail("address", shown.as_str())
            .detail("language", language.as_str());
        if let Some(email) = &email {
            entry = entry
                .detail("to", email.to.as_str())
                .detail("security", email.security.as_str());
        }
        entry.from(provenance).record(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes a channel (admins), its notifications and its secret.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn remove_channel(&self, by: &Operator, provenance: &Provenance, channel_id: i64) -> Result<()> {
        let channel = self.channel(channel_id).await?;
        let action = AuditAction::AlertChannelRemove;
        require_role(&self.pool, by, Role::Admin, action, &channel.name, provenance).await?;
        let mut tx = self.pool.begin().await?;
        let secret = sqlx::query_scalar!(
            "DELETE FROM alert_channels WHERE id = $1 RETURNING secret_id",
            channel_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound("alert channel"))?;
        if let Some(secret) = secret {
            sqlx::query!("DELETE FROM secrets WHERE id = $1", secret)
                .execute(&mut *tx)
                .await?;
        }
        AuditEntry::new(by.actor(), action, &channel.name, Outcome::Success)
            .detail("kind", channel.kind.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends a test message to a channel now (operators and up), and says
    /// whether it went (a refused password, an unreachable server: the
    /// failure's code). Audited with the outcome.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn send_test(
        &self,
        by: &Operator,
        provenance: &Provenance,
        channel_id: i64,
    ) -> Result<std::result::Result<(), DeliveryFailure>> {
        let channel = self.channel(channel_id).await?;
        let action = AuditAction::AlertChannelTest;
        require_role(&self.pool, by, Role::Operator, action, &channel.name, provenance).await?;
        let text = super::message::test_message(channel.language, by.username.as_str());
        let sent = self.send(channel_id, &text).await;
        let entry = match sent {
            Ok(()) => AuditEntry::new(by.actor(), action, &channel.name, Outcome::Success),
            Err(failure) => {
                AuditEntry::new(by.actor(), action, &channel.name, Outcome::Failure).detail("failure", failure.as_str())
            }
        };
        entry.from(provenance).record_alone(&self.pool).await?;
        Ok(sent)
    }

    /// One channel.
    pub async fn channel(&self, channel_id: i64) -> Result<Channel> {
        self.channels()
            .await?
            .into_iter()
            .find(|c| c.id == channel_id)
            .ok_or(DomainError::NotFound("alert channel"))
    }

    /// A channel's secret, opened (a webhook's URL, an SMTP password).
    pub(super) async fn channel_secret(&self, secret: i64, kind: ChannelKind) -> Result<zeroize::Zeroizing<String>> {
        let purpose = match kind {
            ChannelKind::Webhook => WEBHOOK_PURPOSE,
            ChannelKind::Email => SMTP_PURPOSE,
        };
        let bytes = self.secrets.get_for(SecretId(secret), purpose).await?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| DomainError::Internal("a channel's secret".into()))?;
        Ok(zeroize::Zeroizing::new(text))
    }
}
