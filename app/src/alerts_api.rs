//! Server functions for the alerts (manual §8): the alerts, the rules and
//! the channels (viewers and up), an alert acknowledged and a channel sent
//! a test (operators), rules and channels changed (admins). Each checks
//! the caller, calls the domain, converts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
use crate::errors::AppError;
use vocabulary::locale::Locale;
use vocabulary::supervision::{AlertEvent, AlertKind, ChannelKind, DeliveryFailure, SmtpSecurity};

/// How one notification of an alert went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub channel: String,
    pub event: AlertEvent,
    /// When it was sent (`None`: not yet).
    pub sent_at: Option<String>,
    pub attempts: i32,
    pub failure: Option<DeliveryFailure>,
    pub given_up: bool,
}

/// One alert as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertView {
    pub id: i64,
    pub host_id: i64,
    pub host_name: String,
    pub kind: AlertKind,
    /// What holds (or held), in the caller's language.
    pub what: String,
    pub opened_at: String,
    pub resolved_at: Option<String>,
    /// (when, who).
    pub acknowledged: Option<(String, String)>,
    pub deliveries: Vec<DeliveryView>,
}

/// A rule as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    pub kind: AlertKind,
    pub enabled: bool,
    pub threshold: i32,
    /// The threshold's bounds; `None`: the rule has no threshold.
    pub bounds: Option<(i32, i32)>,
    /// (when, who) it was changed last.
    pub changed: Option<(String, String)>,
}

/// A channel as the page shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    pub language: Locale,
    /// A webhook's scheme, host and port; an e-mail's server.
    pub address: String,
    /// An e-mail's recipients and security.
    pub mail_to: Option<String>,
    pub security: Option<SmtpSecurity>,
    /// The newest try: when, and why it failed (`None`: it went).
    pub last: Option<(String, Option<DeliveryFailure>)>,
    pub pending: i64,
}

/// Everything the Alerts page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsView {
    pub alerts: Vec<AlertView>,
    pub rules: Vec<RuleView>,
    pub channels: Vec<ChannelView>,
}

#[cfg(feature = "ssr")]
impl AlertView {
    fn of(record: domain::alerts::AlertRecord, locale: Locale) -> Self {
        Self {
            id: record.id,
            host_id: record.host_id,
            host_name: record.host_name,
            kind: record.kind,
            what: domain::alerts::message::what(record.kind, &record.details, locale),
            opened_at: utc(record.opened_at),
            resolved_at: record.resolved_at.map(utc),
            acknowledged: record.acknowledged.map(|(by, at)| (utc(at), by)),
            deliveries: record
                .deliveries
                .into_iter()
                .map(|d| DeliveryView {
                    channel: d.channel,
                    event: d.event,
                    sent_at: d.sent_at.map(utc),
                    attempts: d.attempts,
                    failure: d.failure,
                    given_up: d.given_up,
                })
                .collect(),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::alerts::AlertRule> for RuleView {
    fn from(rule: domain::alerts::AlertRule) -> Self {
        use vocabulary::supervision::ThresholdUnit;
        let unit = rule.kind.threshold_unit();
        let bounds = domain::alerts::rules::threshold_bounds(unit);
        Self {
            kind: rule.kind,
            enabled: rule.enabled,
            threshold: rule.threshold,
            bounds: (unit != ThresholdUnit::None).then(|| (*bounds.start(), *bounds.end())),
            changed: rule.changed.map(|(by, at)| (utc(at), by)),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::alerts::Channel> for ChannelView {
    fn from(channel: domain::alerts::Channel) -> Self {
        Self {
            id: channel.id,
            name: channel.name,
            kind: channel.kind,
            language: channel.language,
            address: channel.shown_address,
            mail_to: channel.email.as_ref().map(|e| e.to.clone()),
            security: channel.email.as_ref().map(|e| e.security),
            last: channel.last.map(|(at, failure)| (utc(at), failure)),
            pending: channel.pending,
        }
    }
}

/// The alerts, the rules and the channels.
#[server(endpoint = "alerts/all")]
pub async fn all_alerts() -> Result<AlertsView, AppError> {
    let caller = require(Role::Viewer).await?;
    let alerts = &caller.console.alerts;
    let locale = caller.operator.language;
    Ok(AlertsView {
        alerts: alerts
            .history()
            .await?
            .into_iter()
            .map(|record| AlertView::of(record, locale))
            .collect(),
        rules: alerts.rules().await?.into_iter().map(RuleView::from).collect(),
        channels: alerts.channels().await?.into_iter().map(ChannelView::from).collect(),
    })
}

/// An operator acknowledges an open alert.
#[server(endpoint = "alerts/acknowledge")]
pub async fn acknowledge_alert(alert_id: i64) -> Result<(), AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.alerts.acknowledge(by, from, alert_id).await?)
}

/// A rule turned on or off, its threshold set (admins). The checkbox
/// arrives only when ticked.
#[server(endpoint = "alerts/rule")]
pub async fn save_alert_rule(kind: AlertKind, enabled: Option<String>, threshold: i32) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller
        .console
        .alerts
        .save_rule(by, from, kind, enabled.is_some(), threshold)
        .await?)
}

/// A webhook channel added (admins). Its URL carries its token: the field
/// is named as a secret, so a refused form never brings it back.
#[server(endpoint = "alerts/add-webhook")]
pub async fn add_webhook_channel(name: String, language: Locale, secret_url: String) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let settings = domain::alerts::ChannelSettings::Webhook { url: secret_url };
    caller
        .console
        .alerts
        .add_channel(by, from, &name, language, settings)
        .await?;
    Ok(())
}

/// The e-mail channel's form as it arrives (fields `email[smtp_host]` …).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailChannelForm {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub security: SmtpSecurity,
    pub username: String,
    pub password: String,
    pub from: String,
    pub to: String,
}

/// An e-mail channel added (admins).
#[server(endpoint = "alerts/add-email")]
pub async fn add_email_channel(name: String, language: Locale, email: EmailChannelForm) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let settings = domain::alerts::ChannelSettings::Email {
        email: domain::alerts::EmailSettings {
            smtp_host: email.smtp_host,
            smtp_port: email.smtp_port,
            security: email.security,
            username: Some(email.username),
            from: email.from,
            to: email.to,
        },
        password: Some(email.password),
    };
    caller
        .console
        .alerts
        .add_channel(by, from, &name, language, settings)
        .await?;
    Ok(())
}

/// A channel removed (admins).
#[server(endpoint = "alerts/remove-channel")]
pub async fn remove_alert_channel(channel_id: i64) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller.console.alerts.remove_channel(by, from, channel_id).await?)
}

/// A test message sent to a channel now (operators): an error says why
/// it did not go.
#[server(endpoint = "alerts/test-channel")]
pub async fn test_alert_channel(channel_id: i64) -> Result<(), AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    match caller.console.alerts.send_test(by, from, channel_id).await? {
        Ok(()) => Ok(()),
        Err(failure) => Err(domain::DomainError::from(failure).into()),
    }
}
