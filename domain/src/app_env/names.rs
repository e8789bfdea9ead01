//! The words of an environment: a variable's name (`[A-Z_][A-Z0-9_]*`), its
//! value (one line, nothing a `.env` reader or a shell would take
//! otherwise), the manual's set and which names are secret by default, and
//! whether a host's site is public (where `ENV` must stay `Production`).

use crate::error::{DomainError, Result};
use crate::secrets::Zeroizing;

/// The longest name and value taken.
pub const MAX_NAME: usize = 64;
pub const MAX_VALUE: usize = 4096;

/// The manual's variables (§4.1.1), in its order: name, secret.
pub const MANUAL_SET: [(&str, bool); 9] = [
    ("ENV", false),
    ("DJANGO_SECRET_KEY", true),
    ("POSTGRES_USER", false),
    ("POSTGRES_PASSWORD", true),
    ("POSTGRES_PORT", false),
    ("POSTGRES_DATABASE", false),
    ("POSTGRES_HOST", false),
    ("MAPS_API_KEY", true),
    ("PAYPAL_API_KEY", true),
];

/// The value `ENV` must have on a public site (`dev` turns Django's debug
/// mode on).
pub const PRODUCTION: &str = "Production";

/// A variable's name: an ASCII capital or `_`, then capitals, digits, `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);

impl EnvName {
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        let mut chars = raw.chars();
        let valid = raw.len() <= MAX_NAME
            && chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::invalid("name", "error-env-name"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a new variable of this name is secret unless said otherwise:
    /// the manual's secret ones, and names that say so.
    pub fn secret_by_default(&self) -> bool {
        match MANUAL_SET.iter().find(|(name, _)| *name == self.0) {
            Some((_, secret)) => *secret,
            None => ["KEY", "SECRET", "PASSWORD", "TOKEN", "DSN"]
                .iter()
                .any(|word| self.0.contains(word)),
        }
    }
}

/// A variable's value, checked: one line (no line break, no NUL), no `'`
/// (the file quotes values with it), at most [`MAX_VALUE`] bytes; the
/// port a port number. Held zeroized: it may be a secret.
pub struct EnvValue(Zeroizing<String>);

impl std::fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvValue(****)")
    }
}

impl EnvValue {
    pub fn parse(name: &EnvName, raw: &str) -> Result<Self> {
        if raw.len() > MAX_VALUE {
            return Err(DomainError::invalid("value", "error-env-value-long"));
        }
        if raw.contains(['\n', '\r', '\0']) {
            return Err(DomainError::invalid("value", "error-env-value-line"));
        }
        if raw.contains('\'') {
            return Err(DomainError::invalid("value", "error-env-value-quote"));
        }
        if name.as_str() == "POSTGRES_PORT" && !raw.parse::<u16>().is_ok_and(|port| port > 0) {
            return Err(DomainError::invalid("value", "error-env-port"));
        }
        Ok(Self(Zeroizing::new(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A fresh `DJANGO_SECRET_KEY`: 50 characters drawn as Django's
/// `get_random_secret_key` does, from its alphabet less what a shell or a
/// `.env` reader would take otherwise.
pub fn generated_secret_key() -> Zeroizing<String> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)";
    let mut rng = rand::rngs::OsRng;
    Zeroizing::new(
        (0..50)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect(),
    )
}

/// Whether a site at `url` is public: anything but loopback, private and
/// link-local addresses, and names that only resolve on a local network.
pub fn site_is_public(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return true;
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => !(ip.is_loopback() || ip.is_private() || ip.is_link_local()),
        Some(url::Host::Ipv6(ip)) => !(ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            !(name == "localhost"
                || [".localhost", ".local", ".test", ".internal", ".lan"]
                    .iter()
                    .any(|end| name.ends_with(end)))
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_follow_the_shells_rules_in_capitals() {
        for good in ["ENV", "DJANGO_SECRET_KEY", "_PRIVATE", "SENTRY_DSN2"] {
            assert!(EnvName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "env", "2FA", "MY-VAR", "A B", "A=B", "É", "PATH;rm"] {
            assert!(EnvName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_stay_on_one_line_and_the_port_is_a_number() {
        let name = |n| EnvName::parse(n).unwrap();
        assert!(EnvValue::parse(&name("ENV"), "Production").is_ok());
        assert!(EnvValue::parse(&name("X"), "a\nB=c").is_err());
        assert!(EnvValue::parse(&name("X"), "a\0").is_err());
        assert!(EnvValue::parse(&name("X"), "it's").is_err());
        assert!(EnvValue::parse(&name("POSTGRES_PORT"), "5432").is_ok());
        for port in ["0", "65536", "54 32", "port"] {
            assert!(EnvValue::parse(&name("POSTGRES_PORT"), port).is_err(), "{port}");
        }
        assert_eq!(
            format!("{:?}", EnvValue::parse(&name("X"), "hunter2").unwrap()),
            "EnvValue(****)"
        );
    }

    #[test]
    fn secrets_by_default_are_the_manuals_and_names_that_say_so() {
        let secret = |n| EnvName::parse(n).unwrap().secret_by_default();
        assert!(secret("POSTGRES_PASSWORD") && secret("MAPS_API_KEY") && secret("SENTRY_DSN"));
        assert!(!secret("POSTGRES_PORT") && !secret("ENV") && !secret("DEBUG_TOOLBAR"));
    }

    #[test]
    fn a_site_is_public_unless_its_address_is_local() {
        for local in [
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://10.0.0.5/",
            "http://192.168.1.2/",
            "http://staging.test/",
            "http://[::1]/",
        ] {
            assert!(!site_is_public(local), "{local}");
        }
        for public in ["https://www.ocpizza.fr/", "http://51.15.12.3/", "http://[2001:db8::1]/"] {
            assert!(site_is_public(public), "{public}");
        }
    }

    #[test]
    fn a_generated_secret_key_is_long_and_reads_the_same_in_a_env_file() {
        let key = generated_secret_key();
        assert_eq!(key.len(), 50);
        assert_ne!(*key, *generated_secret_key());
        assert!(EnvValue::parse(&EnvName::parse("DJANGO_SECRET_KEY").unwrap(), &key).is_ok());
        assert!(!key.contains(['$', '`', '"', '\\', '\'', ' ']));
    }

    proptest! {
        /// No name that passes holds anything a shell or a `.env` reader
        /// would read as more than a name.
        #[test]
        fn a_name_that_passes_is_only_capitals_digits_and_underscores(raw in "\\PC{0,20}") {
            if let Ok(name) = EnvName::parse(&raw) {
                prop_assert!(name.as_str().chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
            }
        }
    }
}
