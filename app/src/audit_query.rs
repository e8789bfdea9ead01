//! The audit page's filters as they travel in a URL (strings, all optional),
//! shared by the page and the CSV export so both select the same rows. The
//! action and outcome filters offer the words of
//! [`vocabulary::audit::AuditAction`] and [`vocabulary::audit::Outcome`];
//! a word that is not one of them is a field error.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub outcome: String,
    /// `YYYY-MM-DDTHH:MM` (a datetime-local input), UTC.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub text: String,
}

impl AuditQuery {
    pub const FIELDS: [&'static str; 7] = ["actor", "action", "target", "outcome", "from", "until", "text"];

    pub fn get(&self, field: &str) -> &str {
        match field {
            "actor" => &self.actor,
            "action" => &self.action,
            "target" => &self.target,
            "outcome" => &self.outcome,
            "from" => &self.from,
            "until" => &self.until,
            "text" => &self.text,
            _ => "",
        }
    }

    pub fn set(&mut self, field: &str, value: String) {
        match field {
            "actor" => self.actor = value,
            "action" => self.action = value,
            "target" => self.target = value,
            "outcome" => self.outcome = value,
            "from" => self.from = value,
            "until" => self.until = value,
            "text" => self.text = value,
            _ => {}
        }
    }

    /// The non-empty filters as a URL query string (without `?`).
    pub fn to_query_string(&self) -> String {
        Self::FIELDS
            .iter()
            .filter(|f| !self.get(f).trim().is_empty())
            .map(|f| format!("{f}={}", encode(self.get(f).trim())))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// A short description for the audit record of an export.
    pub fn describe(&self) -> String {
        let query = self.to_query_string();
        if query.is_empty() {
            "all".into()
        } else {
            query
        }
    }
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(feature = "ssr")]
impl AuditQuery {
    /// The domain filter; a malformed date, an unknown action or outcome is
    /// a field error.
    pub fn to_filter(&self) -> Result<domain::audit::AuditFilter, domain::DomainError> {
        use domain::audit::{AuditAction, AuditFilter, Outcome};
        let text = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.chars().take(200).collect::<String>())
        };
        let time = |s: &str, field: &'static str| -> Result<_, domain::DomainError> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
            let with_seconds = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            time::PrimitiveDateTime::parse(s, &format)
                .or_else(|_| time::PrimitiveDateTime::parse(s, &with_seconds))
                .map(|t| Some(t.assume_utc()))
                .map_err(|_| domain::DomainError::invalid(field, "error-date"))
        };
        Ok(AuditFilter {
            actor: text(&self.actor).map(|a| a.to_lowercase()),
            action: text(&self.action)
                .map(|a| a.parse::<AuditAction>())
                .transpose()
                .map_err(|_| domain::DomainError::invalid("action", "error-action-unknown"))?,
            target: text(&self.target),
            outcome: text(&self.outcome)
                .map(|o| o.parse::<Outcome>())
                .transpose()
                .map_err(|_| domain::DomainError::invalid("outcome", "error-outcome-unknown"))?,
            from: time(&self.from, "from")?,
            until: time(&self.until, "until")?,
            text: text(&self.text),
        })
    }
}
