//! Every string the console shows, in French (the default) and English, from
//! Fluent files in `app/locales/`: the one place translations live.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use leptos::prelude::*;

pub use vocabulary::locale::Locale;

/// The console's messages in a language: `locale.t("key")`. The language
/// itself is the shared [`Locale`] word; the messages live here, on the
/// side that renders them.
pub trait Translate: Copy {
    /// The message `key`, or the key itself when it has no translation
    /// (a test checks that every key used has one).
    fn t(self, key: &str) -> String;

    /// The message `key` with named arguments.
    fn t_with(self, key: &str, args: &[(&str, FluentValue<'static>)]) -> String;

    /// Whether `key` has a message in this language.
    fn has(self, key: &str) -> bool;
}

impl Translate for Locale {
    fn t(self, key: &str) -> String {
        format(self, key, None)
    }

    fn t_with(self, key: &str, args: &[(&str, FluentValue<'static>)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, value.clone());
        }
        format(self, key, Some(&fluent_args))
    }

    fn has(self, key: &str) -> bool {
        messages(self).has_message(key)
    }
}

fn format(locale: Locale, key: &str, args: Option<&FluentArgs>) -> String {
    let bundle = messages(locale);
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return key.to_owned();
    };
    let mut errors = Vec::new();
    bundle.format_pattern(pattern, args, &mut errors).into_owned()
}

fn messages(locale: Locale) -> &'static FluentBundle<FluentResource> {
    match locale {
        Locale::Fr => &FRENCH,
        Locale::En => &ENGLISH,
    }
}

fn bundle(tag: &str, source: &'static str) -> FluentBundle<FluentResource> {
    let lang = tag.parse().expect("a valid language tag");
    let mut bundle = FluentBundle::new_concurrent(vec![lang]);
    bundle.set_use_isolating(false);
    let resource = FluentResource::try_new(source.to_owned()).expect("the locale file parses");
    bundle.add_resource(resource).expect("no duplicate messages");
    bundle
}

static FRENCH: LazyLock<FluentBundle<FluentResource>> =
    LazyLock::new(|| bundle("fr", include_str!("../locales/fr.ftl")));
static ENGLISH: LazyLock<FluentBundle<FluentResource>> =
    LazyLock::new(|| bundle("en", include_str!("../locales/en.ftl")));

/// The translation key of a job's action (`webapp.stop_web_server` →
/// `action-webapp-stop_web_server`).
pub fn action_key(action: &str) -> String {
    format!("action-{}", action.replace('.', "-"))
}

/// The locale of the page being rendered (provided by the shell on the
/// server and by `hydrate()` in the browser).
pub fn use_locale() -> Locale {
    use_context::<Locale>().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(source: &str) -> Vec<String> {
        source
            .lines()
            .filter(|l| !l.starts_with(['#', ' ', '\t']) && l.contains(" ="))
            .map(|l| l.split(" =").next().unwrap().trim().to_owned())
            .collect()
    }

    #[test]
    fn french_and_english_have_the_same_messages() {
        let mut fr = keys(include_str!("../locales/fr.ftl"));
        let mut en = keys(include_str!("../locales/en.ftl"));
        fr.sort();
        en.sort();
        assert_eq!(fr, en);
    }

    /// Keys named in `t("…")`, `t_with("…"`, and the domain's
    /// `invalid("field", "…")` messages.
    fn used_keys(source: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for opener in [".t(\"", ".t_with(\"", "if content_altered { \"", "} else { \""] {
            for (i, _) in source.match_indices(opener) {
                let rest = &source[i + opener.len()..];
                keys.push(rest[..rest.find('"').unwrap()].to_owned());
            }
        }
        for (i, _) in source.match_indices("invalid(\"") {
            let rest = &source[i..];
            let second = rest.split('"').nth(3).unwrap();
            keys.push(second.to_owned());
        }
        keys.retain(|k| !k.is_empty() && !k.contains(' ') && !k.contains('.'));
        keys
    }

    #[test]
    fn every_key_used_in_the_code_is_translated() {
        let sources = [
            include_str!("shell.rs"),
            include_str!("components.rs"),
            include_str!("errors.rs"),
            include_str!("pages/sign_in.rs"),
            include_str!("pages/accounts.rs"),
            include_str!("pages/audit.rs"),
            include_str!("pages/dashboard.rs"),
            include_str!("pages/my_account.rs"),
            include_str!("pages/monitoring.rs"),
            include_str!("pages/deployments.rs"),
            include_str!("pages/environment.rs"),
            include_str!("pages/hosts.rs"),
            include_str!("pages/host.rs"),
            include_str!("pages/host_linode.rs"),
            include_str!("pages/job.rs"),
            include_str!("pages/backups.rs"),
            include_str!("pages/alerts.rs"),
            include_str!("pages/integrations.rs"),
            include_str!("../../domain/src/backups/mod.rs"),
            include_str!("../../domain/src/backups/schedule.rs"),
            include_str!("../../domain/src/backups/retention.rs"),
            include_str!("../../domain/src/backups/verify.rs"),
            include_str!("../../domain/src/hosts/mod.rs"),
            include_str!("../../domain/src/hosts/names.rs"),
            include_str!("../../domain/src/hosts/directory.rs"),
            include_str!("../../domain/src/hosts/registration.rs"),
            include_str!("../../domain/src/hosts/host_key.rs"),
            include_str!("../../domain/src/hosts/services.rs"),
            include_str!("../../domain/src/ssh.rs"),
            include_str!("../../domain/src/linode/token.rs"),
            include_str!("../../domain/src/linode/instances.rs"),
            include_str!("../../domain/src/linode/power.rs"),
            include_str!("../../domain/src/linode/backups.rs"),
            include_str!("../../domain/src/jobs/runbook.rs"),
            include_str!("../../domain/src/jobs/runner.rs"),
            include_str!("../../domain/src/passwords.rs"),
            include_str!("../../domain/src/probes/settings.rs"),
            include_str!("../../domain/src/alerts/rules.rs"),
            include_str!("../../domain/src/alerts/channels.rs"),
            include_str!("../../domain/src/alerts/history.rs"),
            include_str!("../../domain/src/probes/web_services.rs"),
            include_str!("../../domain/src/integrations/settings.rs"),
            include_str!("../../domain/src/accounts.rs"),
            include_str!("../../domain/src/audit/mod.rs"),
            include_str!("../../domain/src/audit/entry.rs"),
            include_str!("../../domain/src/audit/search.rs"),
            include_str!("../../domain/src/audit/export.rs"),
            include_str!("../../domain/src/audit/verify.rs"),
            include_str!("../../server/src/auth.rs"),
            include_str!("pages/tokens.rs"),
            include_str!("pages/sessions.rs"),
            include_str!("../../domain/src/tokens.rs"),
            include_str!("pages/second_factor.rs"),
            include_str!("../../domain/src/totp.rs"),
        ];
        let mut keys: Vec<String> = sources.iter().flat_map(|s| used_keys(s)).collect();
        // Keys built at run time.
        for role in vocabulary::accounts::Role::ALL {
            keys.push(role.label_key().to_owned());
        }
        for scope in vocabulary::accounts::TokenScope::ALL {
            keys.push(scope.label_key().to_owned());
        }
        for policy in vocabulary::accounts::SecondFactorPolicy::ALL {
            keys.push(policy.label_key().to_owned());
        }
        // The API's own errors (the server's `api/error.rs`).
        let api_errors = include_str!("../../server/src/api/error.rs");
        for (i, _) in api_errors.match_indices("\"api-error-") {
            let rest = &api_errors[i + 1..];
            keys.push(rest[..rest.find('"').unwrap()].to_owned());
        }
        for outcome in vocabulary::audit::Outcome::ALL {
            keys.push(format!("outcome-{outcome}"));
        }
        for status in vocabulary::jobs::JobStatus::ALL {
            keys.push(format!("job-status-{status}"));
        }
        #[cfg(feature = "ssr")]
        for runbook in domain::jobs::Runbook::ALL {
            keys.push(action_key(runbook.action().as_str()));
        }
        for status in vocabulary::backups::BackupStatus::ALL {
            keys.push(format!("backup-status-{status}"));
        }
        for status in vocabulary::backups::VerificationStatus::ALL {
            keys.push(format!("verification-status-{status}"));
        }
        for trigger in vocabulary::backups::BackupTrigger::ALL {
            keys.push(format!("backup-trigger-{trigger}"));
        }
        for action in [
            vocabulary::audit::AuditAction::BackupRun,
            vocabulary::audit::AuditAction::BackupRestore,
            vocabulary::audit::AuditAction::BackupDownload,
            vocabulary::audit::AuditAction::BackupExportKey,
            vocabulary::audit::AuditAction::BackupVerify,
            vocabulary::audit::AuditAction::BackupSchedule,
            vocabulary::audit::AuditAction::BackupPrune,
            vocabulary::audit::AuditAction::BackupScheduleMissed,
        ] {
            keys.push(action_key(action.as_str()));
        }
        #[cfg(feature = "ssr")]
        for key in domain::linode::LinodeError::MESSAGE_KEYS {
            keys.push(key.to_owned());
        }
        #[cfg(feature = "ssr")]
        for state in domain::linode::InstanceStatus::KNOWN {
            keys.push(format!("linode-state-{state}"));
        }
        for action in [
            vocabulary::audit::AuditAction::LinodeBoot,
            vocabulary::audit::AuditAction::LinodeShutdown,
            vocabulary::audit::AuditAction::LinodeReboot,
            vocabulary::audit::AuditAction::LinodeLink,
            vocabulary::audit::AuditAction::LinodeToken,
            vocabulary::audit::AuditAction::LinodeBackupsEnable,
            vocabulary::audit::AuditAction::LinodeSnapshot,
            vocabulary::audit::AuditAction::LinodeRestore,
        ] {
            keys.push(action_key(action.as_str()));
        }
        for failure in vocabulary::jobs::JobFailure::every_kind() {
            keys.push(failure.message_key().to_owned());
        }
        for verdict in ["ok", "old", "missing", "info"] {
            keys.push(format!("verdict-{verdict}"));
        }
        for area in ["server", "web-app", "deployments", "backups", "monitoring", "alerts"] {
            keys.push(format!("nav-{area}"));
        }
        for failure in vocabulary::supervision::ProbeFailure::ALL {
            keys.push(format!("probe-failure-{failure}"));
        }
        for state in ["up", "down", "unknown"] {
            keys.push(format!("monitoring-state-{state}"));
        }
        for kind in vocabulary::supervision::AlertKind::ALL {
            keys.push(format!("alert-kind-{kind}"));
            if kind.threshold_unit() != vocabulary::supervision::ThresholdUnit::None {
                keys.push(format!("alert-rule-{kind}"));
                keys.push(format!("alert-threshold-{kind}"));
            }
        }
        for event in vocabulary::supervision::AlertEvent::ALL {
            keys.push(format!("alert-event-{event}"));
        }
        for kind in vocabulary::supervision::ChannelKind::ALL {
            keys.push(format!("channel-kind-{kind}"));
        }
        for security in vocabulary::supervision::SmtpSecurity::ALL {
            keys.push(format!("smtp-security-{security}"));
        }
        for failure in vocabulary::supervision::DeliveryFailure::ALL {
            keys.push(failure.message_key().to_owned());
        }
        for failure in vocabulary::supervision::IntegrationFailure::ALL {
            keys.push(failure.message_key().to_owned());
        }
        for state in vocabulary::supervision::CiState::ALL {
            keys.push(format!("ci-state-{state}"));
        }
        for provider in vocabulary::supervision::IntegrationProvider::ALL {
            keys.push(format!("integration-provider-{provider}"));
        }
        for purpose in ["ci", "errors"] {
            keys.push(format!("integrations-{purpose}-settings"));
        }
        keys.extend(["integrations-ci-repository", "integrations-sentry-project"].map(String::from));
        for action in vocabulary::audit::AuditAction::ALL.iter().filter(|a| {
            ["alert.", "web_service.", "integration."]
                .iter()
                .any(|p| a.as_str().starts_with(p))
        }) {
            keys.push(action_key(action.as_str()));
        }
        let missing: Vec<_> = keys
            .iter()
            .filter(|k| !Locale::Fr.has(k) || !Locale::En.has(k))
            .collect();
        assert!(keys.len() > 80, "the scan found too few keys: {}", keys.len());
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
    }
}
