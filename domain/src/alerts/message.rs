//! What a notification says, in its channel's language: a subject line
//! (the e-mail's subject, the webhook's first line) and a body. Written
//! here rather than in the pages' translations: notifications leave the
//! console, and the domain writes them.

use serde_json::Value;
use vocabulary::locale::Locale;

use super::{AlertEvent, AlertKind, Alerts};
use crate::error::{DomainError, Result};

/// A notification's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
}

/// A moment as notifications write it (UTC).
const UTC_TEXT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// A figure of an alert's details, or a dash.
fn figure(details: &Value, key: &str) -> String {
    details
        .get(key)
        .map_or_else(|| "—".to_owned(), |v| v.to_string().trim_matches('"').to_owned())
}

/// What holds (or held), in a sentence.
pub fn what(kind: AlertKind, details: &Value, locale: Locale) -> String {
    let f = |key| figure(details, key);
    match (locale, kind) {
        (Locale::Fr, AlertKind::SiteDown) => format!("le site est hors ligne ({} sondes de suite)", f("probes")),
        (Locale::En, AlertKind::SiteDown) => format!("the site is down ({} probes in a row)", f("probes")),
        (Locale::Fr, AlertKind::SiteSlow) => {
            format!(
                "le site répond en {} ms (seuil {} ms)",
                f("latency_ms"),
                f("threshold_ms")
            )
        }
        (Locale::En, AlertKind::SiteSlow) => {
            format!(
                "the site answers in {} ms (threshold {} ms)",
                f("latency_ms"),
                f("threshold_ms")
            )
        }
        (Locale::Fr, AlertKind::CertificateExpiring) => {
            format!("le certificat du site expire dans {} jours", f("days"))
        }
        (Locale::En, AlertKind::CertificateExpiring) => format!("the site's certificate expires in {} days", f("days")),
        (Locale::Fr, AlertKind::BackupFailed) => format!("la dernière sauvegarde (n° {}) a échoué", f("backup_id")),
        (Locale::En, AlertKind::BackupFailed) => format!("the newest backup (#{}) failed", f("backup_id")),
        (Locale::Fr, AlertKind::BackupOld) => match details.get("hours").filter(|h| !h.is_null()) {
            Some(hours) => format!("la dernière sauvegarde réussie date de {hours} heures"),
            None => "aucune sauvegarde réussie depuis la mise en place de la planification".to_owned(),
        },
        (Locale::En, AlertKind::BackupOld) => match details.get("hours").filter(|h| !h.is_null()) {
            Some(hours) => format!("the newest good backup is {hours} hours old"),
            None => "no good backup since the schedule was set".to_owned(),
        },
        (Locale::Fr, AlertKind::HostKeyChanged) => {
            format!("l'hôte a présenté une autre clé SSH ({})", f("fingerprint"))
        }
        (Locale::En, AlertKind::HostKeyChanged) => format!("the host showed another SSH key ({})", f("fingerprint")),
        (Locale::Fr, AlertKind::WebServiceUnreachable) => {
            format!("depuis l'hôte, ces services web sont injoignables : {}", f("services"))
        }
        (Locale::En, AlertKind::WebServiceUnreachable) => {
            format!("from the host, these web services cannot be reached: {}", f("services"))
        }
        (Locale::Fr, AlertKind::LinodeNotRunning) => {
            format!("le Linode de l'hôte n'est pas en marche (état : {})", f("status"))
        }
        (Locale::En, AlertKind::LinodeNotRunning) => format!("the host's Linode is not running (state: {})", f("status")),
        (Locale::Fr, AlertKind::DiskNearlyFull) => format!(
            "le disque de l'application est presque plein : {} Mio libres (seuil {} Mio, dernière vérification des prérequis)",
            f("free_mib"),
            f("threshold_mib")
        ),
        (Locale::En, AlertKind::DiskNearlyFull) => format!(
            "the app's disk is nearly full: {} MiB free (threshold {} MiB, newest prerequisites check)",
            f("free_mib"),
            f("threshold_mib")
        ),
    }
}

/// An alert's opening or resolution, for `host`.
pub fn alert_message(
    locale: Locale,
    host: &str,
    kind: AlertKind,
    event: AlertEvent,
    details: &Value,
    opened_at: &str,
) -> Message {
    let what = what(kind, details, locale);
    match (locale, event) {
        (Locale::Fr, AlertEvent::Opened) => Message {
            subject: format!("[OC Pizza] Alerte sur {host} : {what}"),
            body: format!("Alerte ouverte sur l'hôte {host} le {opened_at} (UTC) : {what}.\nLa console d'exploitation le notifiera une seule fois, puis à sa résolution."),
        },
        (Locale::En, AlertEvent::Opened) => Message {
            subject: format!("[OC Pizza] Alert on {host}: {what}"),
            body: format!("Alert opened on host {host} at {opened_at} (UTC): {what}.\nThe operations console notifies it once, then when it is resolved."),
        },
        (Locale::Fr, AlertEvent::Resolved) => Message {
            subject: format!("[OC Pizza] Résolu sur {host} : {what}"),
            body: format!("L'alerte ouverte sur l'hôte {host} le {opened_at} (UTC) est résolue ({what})."),
        },
        (Locale::En, AlertEvent::Resolved) => Message {
            subject: format!("[OC Pizza] Resolved on {host}: {what}"),
            body: format!("The alert opened on host {host} at {opened_at} (UTC) is resolved ({what})."),
        },
    }
}

/// The "send a test" message.
pub fn test_message(locale: Locale, by: &str) -> Message {
    match locale {
        Locale::Fr => Message {
            subject: "[OC Pizza] Message de test".to_owned(),
            body: format!(
                "Message de test de la console d'exploitation, envoyé par {by}. Ce canal recevra les alertes."
            ),
        },
        Locale::En => Message {
            subject: "[OC Pizza] Test message".to_owned(),
            body: format!(
                "A test message from the operations console, sent by {by}. This channel will receive the alerts."
            ),
        },
    }
}

impl Alerts {
    /// The notification of `event` for an alert.
    pub(super) async fn message_of(&self, alert_id: i64, event: AlertEvent, locale: Locale) -> Result<Message> {
        let row = sqlx::query!(
            "SELECT h.name, a.kind, a.details, a.opened_at FROM alerts a JOIN hosts h ON h.id = a.host_id WHERE a.id = $1",
            alert_id
        )
        .fetch_one(&self.pool)
        .await?;
        let kind: AlertKind = row
            .kind
            .parse()
            .map_err(|e| DomainError::Internal(format!("alert: {e}")))?;
        let opened_at = row
            .opened_at
            .to_offset(time::UtcOffset::UTC)
            .format(UTC_TEXT)
            .unwrap_or_default();
        Ok(alert_message(locale, &row.name, kind, event, &row.details, &opened_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_event_is_written_in_both_languages() {
        let details = serde_json::json!({ "probes": 3, "latency_ms": 2500, "threshold_ms": 2000, "days": 5,
                                          "backup_id": 7, "hours": 30, "fingerprint": "SHA256:abc",
                                          "services": "PayPal", "free_mib": 512, "threshold_mib": 1024,
                                          "status": "offline" });
        for kind in AlertKind::ALL {
            for event in AlertEvent::ALL {
                let fr = alert_message(Locale::Fr, "staging", *kind, *event, &details, "2026-12-04 06:00:00");
                let en = alert_message(Locale::En, "staging", *kind, *event, &details, "2026-12-04 06:00:00");
                assert_ne!(fr, en);
                assert!(fr.subject.contains("staging") && en.body.contains("staging"));
                assert!(!fr.subject.contains('—'), "every figure is there: {fr:?}");
            }
        }
        let down = alert_message(
            Locale::Fr,
            "prod",
            AlertKind::SiteDown,
            AlertEvent::Opened,
            &details,
            "x",
        );
        assert_eq!(
            down.subject,
            "[OC Pizza] Alerte sur prod : le site est hors ligne (3 sondes de suite)"
        );
    }

    #[test]
    fn a_schedule_without_any_good_backup_says_so() {
        let none = serde_json::json!({ "hours": null });
        let text = alert_message(Locale::En, "h", AlertKind::BackupOld, AlertEvent::Opened, &none, "x");
        assert!(text.subject.contains("no good backup"), "{text:?}");
    }
}
