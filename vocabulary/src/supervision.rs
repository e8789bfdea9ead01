//! Supervision (manual §8): why a probe of a site (or a check of a web
//! service) found it down, the alert rules and their notifications.

crate::words! {
    /// Why a probe counts the site as down (the pages translate each).
    pub enum ProbeFailure as "probe failure" {
        /// Nothing accepted the connection.
        NoConnection = "no-connection",
        /// No answer within the probe's time limit.
        Timeout = "timeout",
        /// The site's certificate was refused (expired, another name, an
        /// authority the console does not trust).
        Certificate = "certificate",
        /// An answer, with another status than the one expected.
        WrongStatus = "wrong-status",
        /// The expected status, without the expected text in the body.
        TextMissing = "text-missing",
        /// The connection broke, or the answer could not be read.
        NoAnswer = "no-answer",
        /// The name did not resolve (a web service checked from a host).
        NameNotFound = "name-not-found",
        /// The host could not be reached over SSH to check from it.
        HostUnreachable = "host-unreachable",
        /// The host has no `curl` to check with.
        HostCannotCheck = "host-cannot-check",
    }
}

crate::words! {
    /// What an alert rule watches (each rule's threshold means the unit
    /// its [`AlertKind::threshold_unit`] says).
    pub enum AlertKind as "alert kind" {
        /// The site found down by so many probes in a row.
        SiteDown = "site-down",
        /// The newest probe took longer than so many milliseconds.
        SiteSlow = "site-slow",
        /// The site's certificate expires within so many days.
        CertificateExpiring = "certificate-expiring",
        /// The host's newest backup failed.
        BackupFailed = "backup-failed",
        /// The host's newest successful backup is older than so many hours.
        BackupOld = "backup-old",
        /// The host showed another SSH key than the pinned one.
        HostKeyChanged = "host-key-changed",
        /// A web service the app needs cannot be reached from the host.
        WebServiceUnreachable = "web-service-unreachable",
        /// The newest prerequisites check found less than so many MiB free
        /// in the app's file system.
        DiskNearlyFull = "disk-nearly-full",
        /// The host's Linode was last seen in another state than running
        /// (offline, stopped…), no power action under way.
        LinodeNotRunning = "linode-not-running",
    }
}

/// What a rule's threshold counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdUnit {
    Probes,
    Milliseconds,
    Days,
    Hours,
    Mebibytes,
    /// The rule has no threshold (it holds or not).
    None,
}

impl AlertKind {
    /// What the rule's threshold counts.
    pub fn threshold_unit(self) -> ThresholdUnit {
        match self {
            AlertKind::SiteDown => ThresholdUnit::Probes,
            AlertKind::SiteSlow => ThresholdUnit::Milliseconds,
            AlertKind::CertificateExpiring => ThresholdUnit::Days,
            AlertKind::BackupOld => ThresholdUnit::Hours,
            AlertKind::DiskNearlyFull => ThresholdUnit::Mebibytes,
            AlertKind::BackupFailed
            | AlertKind::HostKeyChanged
            | AlertKind::WebServiceUnreachable
            | AlertKind::LinodeNotRunning => ThresholdUnit::None,
        }
    }
}

crate::words! {
    /// A change of an alert's state, as notified.
    pub enum AlertEvent as "alert event" {
        Opened = "opened",
        Resolved = "resolved",
    }
}

crate::words! {
    /// Where an alert's notifications go.
    pub enum ChannelKind as "alert channel kind" {
        /// An HTTPS POST of Slack/Mattermost-compatible JSON.
        Webhook = "webhook",
        /// An e-mail through an SMTP server.
        Email = "email",
    }
}

crate::words! {
    /// How the console talks TLS to an SMTP server.
    #[derive(Default)]
    pub enum SmtpSecurity as "SMTP security" {
        /// Plain at first, then STARTTLS, required (usually port 587).
        #[default]
        Starttls = "starttls",
        /// TLS from the first byte (usually port 465).
        Tls = "tls",
    }
}

crate::words! {
    /// Why a notification could not be sent (the pages translate each).
    pub enum DeliveryFailure as "delivery failure" {
        /// Nothing accepted the connection (or the name did not resolve).
        NoConnection = "no-connection",
        /// No answer in time.
        Timeout = "timeout",
        /// The server's certificate was refused, or TLS could not start.
        Tls = "tls",
        /// The webhook answered with an error status.
        Refused = "refused",
        /// The SMTP server refused the user name or password.
        Credentials = "credentials",
        /// The SMTP server refused the message (sender, recipient, size).
        Rejected = "rejected",
        /// The channel's secret could not be opened.
        Secret = "secret",
    }
}

impl DeliveryFailure {
    /// The translation key of the sentence that says it.
    pub fn message_key(self) -> &'static str {
        match self {
            DeliveryFailure::NoConnection => "delivery-failure-no-connection",
            DeliveryFailure::Timeout => "delivery-failure-timeout",
            DeliveryFailure::Tls => "delivery-failure-tls",
            DeliveryFailure::Refused => "delivery-failure-refused",
            DeliveryFailure::Credentials => "delivery-failure-credentials",
            DeliveryFailure::Rejected => "delivery-failure-rejected",
            DeliveryFailure::Secret => "delivery-failure-secret",
        }
    }
}

crate::words! {
    /// Where the console reads the app's CI state and its errors (manual
    /// §8.1): a CI provider, and Sentry.
    pub enum IntegrationProvider as "integration provider" {
        GithubActions = "github-actions",
        TravisCi = "travis-ci",
        Sentry = "sentry",
    }
}

impl IntegrationProvider {
    /// Whether it reports CI builds (the other one reports errors).
    pub fn is_ci(self) -> bool {
        !matches!(self, IntegrationProvider::Sentry)
    }

    /// Its public API's address, when the form leaves it empty.
    pub fn public_api(self) -> &'static str {
        match self {
            IntegrationProvider::GithubActions => "https://api.github.com",
            IntegrationProvider::TravisCi => "https://api.travis-ci.com",
            IntegrationProvider::Sentry => "https://sentry.io",
        }
    }
}

crate::words! {
    /// A commit's CI state, as its provider reports it.
    pub enum CiState as "CI state" {
        /// Every build or workflow run of the commit passed.
        Passed = "passed",
        /// At least one failed (or errored, or was cancelled).
        Failed = "failed",
        /// Some are still queued or running, none failed.
        Running = "running",
        /// The provider has no build of the commit.
        NoBuild = "no-build",
    }
}

crate::words! {
    /// Why a CI provider's or Sentry's API could not be read (the pages
    /// translate each).
    pub enum IntegrationFailure as "integration failure" {
        /// Nothing accepted the connection (or the name did not resolve).
        NoConnection = "no-connection",
        /// No answer in time.
        Timeout = "timeout",
        /// The API's certificate was refused.
        Tls = "tls",
        /// The token was refused (401, 403): revoked, expired, mistyped,
        /// or lacking a scope; or the project is private and no token set.
        TokenRefused = "token-refused",
        /// The API knows no such repository or project.
        NotFound = "not-found",
        /// The API answered with another error status.
        Refused = "refused",
        /// The answer is not what the API's documentation says.
        Unreadable = "unreadable",
        /// The stored token could not be opened.
        Secret = "secret",
    }
}

impl IntegrationFailure {
    /// The translation key of the sentence that says it.
    pub fn message_key(self) -> &'static str {
        match self {
            IntegrationFailure::NoConnection => "integration-failure-no-connection",
            IntegrationFailure::Timeout => "integration-failure-timeout",
            IntegrationFailure::Tls => "integration-failure-tls",
            IntegrationFailure::TokenRefused => "integration-failure-token-refused",
            IntegrationFailure::NotFound => "integration-failure-not-found",
            IntegrationFailure::Refused => "integration-failure-refused",
            IntegrationFailure::Unreadable => "integration-failure-unreadable",
            IntegrationFailure::Secret => "integration-failure-secret",
        }
    }
}
