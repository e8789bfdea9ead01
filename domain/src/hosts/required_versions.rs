//! The versions of nginx, gunicorn and PostgreSQL the manual requires
//! (§3.1-3.2), which the prerequisites check compares a host's with.

/// The versions the manual requires (§3.1-3.2); newer passes, older warns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredVersions {
    pub nginx: String,
    pub gunicorn: String,
    pub postgresql: String,
}

impl Default for RequiredVersions {
    fn default() -> Self {
        Self {
            nginx: "1.21.6".into(),
            gunicorn: "20.1".into(),
            postgresql: "12.9".into(),
        }
    }
}

impl RequiredVersions {
    pub fn as_pairs(&self) -> [(&str, &str); 3] {
        [
            ("nginx", &self.nginx),
            ("gunicorn", &self.gunicorn),
            ("postgresql", &self.postgresql),
        ]
    }
}
