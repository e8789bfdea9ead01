//! The values of a host that reach a command line or a page, validated
//! once: a value of these types cannot carry a shell metacharacter.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Result};
use crate::ssh::RemoteArgument;

/// A host's name in the console: 1 to 63 of `a-z 0-9 -`, starting with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostName(String);

impl HostName {
    pub fn parse(raw: &str) -> Result<Self> {
        let name = raw.trim().to_lowercase();
        let valid = (1..=63).contains(&name.len())
            && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        valid
            .then_some(Self(name))
            .ok_or_else(|| DomainError::invalid("name", "error-host-name"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A systemd unit (or service) name: `A-Z a-z 0-9 @ . _ -`, not starting
/// with `-`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitName(String);

impl UnitName {
    pub fn parse(raw: &str, field: &'static str) -> Result<Self> {
        let raw = raw.trim();
        let valid = (1..=64).contains(&raw.len())
            && !raw.starts_with('-')
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '-'));
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::invalid(field, "error-unit-name"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RemoteArgument for UnitName {
    fn as_argument(&self) -> &str {
        &self.0
    }
}

/// An absolute path on a host: `/` then `A-Z a-z 0-9 / . _ -`, no `..`
/// component, at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemotePath(String);

impl RemotePath {
    pub fn parse(raw: &str, field: &'static str) -> Result<Self> {
        let raw = raw.trim();
        let valid = raw.starts_with('/')
            && raw.len() <= 255
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
            && !raw.split('/').any(|part| part == "..");
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::invalid(field, "error-remote-path"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RemoteArgument for RemotePath {
    fn as_argument(&self) -> &str {
        &self.0
    }
}

/// An `http` or `https` URL naming a host, as the console's HTTP client
/// reads it (the health gate's and the site probes' addresses).
pub fn http_url(raw: &str) -> Option<String> {
    match reqwest::Url::parse(raw.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url.into()),
        _ => None,
    }
}

/// The site's public address: http or https, no whitespace.
pub(super) fn parse_site_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let valid = (raw.starts_with("http://") || raw.starts_with("https://"))
        && raw.len() <= 2000
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    valid
        .then(|| raw.to_owned())
        .ok_or_else(|| DomainError::invalid("site_url", "error-site-url"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::{SshAddress, SshUser};

    #[test]
    fn names_units_and_paths_refuse_injection() {
        for bad in ["nginx; reboot", "-nginx", "$(id)", "ng inx", "", "a`b`"] {
            assert!(UnitName::parse(bad, "web_service").is_err(), "{bad:?}");
        }
        assert!(UnitName::parse("gunicorn@ocpizza.service", "wsgi_service").is_ok());
        for bad in [
            "relative/path",
            "/srv/../etc",
            "/srv/app;rm",
            "/srv/$HOME",
            "/srv/a b",
            "",
        ] {
            assert!(RemotePath::parse(bad, "app_dir").is_err(), "{bad:?}");
        }
        assert!(RemotePath::parse("/srv/ocpizza/app", "app_dir").is_ok());
        for bad in ["Prod!", "-x", "", &"h".repeat(64)] {
            assert!(HostName::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Property: whatever shell metacharacter is slipped anywhere into a
    /// valid value, every newtype that reaches a command line refuses it.
    #[test]
    fn no_shell_metacharacter_survives_any_newtype_anywhere() {
        const HOSTILE: [char; 24] = [
            ';', '&', '|', '$', '`', '(', ')', '<', '>', '\'', '"', '\\', ' ', '\n', '\t', '*', '?', '[', ']', '{',
            '}', '!', '#', '~',
        ];
        let valid = [
            ("nginx", 0),
            ("/srv/ocpizza/app", 1),
            ("staging-1", 2),
            ("deploy", 3),
            ("vps.ocpizza.fr", 4),
        ];
        let accepts = |kind: usize, text: &str| match kind {
            0 => UnitName::parse(text, "web_service").is_ok(),
            1 => RemotePath::parse(text, "app_dir").is_ok(),
            2 => HostName::parse(text).is_ok(),
            3 => SshUser::parse(text).is_ok(),
            _ => SshAddress::parse(text).is_ok(),
        };
        let mut tried = 0;
        for (base, kind) in valid {
            assert!(accepts(kind, base), "{base} must be valid");
            for hostile in HOSTILE {
                for at in 0..=base.len() {
                    let mut candidate = base.to_owned();
                    candidate.insert(at, hostile);
                    let trimmed_away = matches!(hostile, ' ' | '\n' | '\t') && (at == 0 || at == base.len());
                    if !trimmed_away {
                        assert!(!accepts(kind, &candidate), "{candidate:?} was accepted");
                    }
                    tried += 1;
                }
            }
        }
        assert!(tried > 1000);
    }

    #[test]
    fn site_urls_are_http_or_https() {
        assert!(parse_site_url("https://www.ocpizza.fr/").is_ok());
        for bad in ["ftp://x", "javascript:alert(1)", "http://a b"] {
            assert!(parse_site_url(bad).is_err(), "{bad:?}");
        }
    }
}
