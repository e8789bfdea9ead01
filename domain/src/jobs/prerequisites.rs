//! The prerequisites check: the script run on the host (one `name: value`
//! line per prerequisite) and the reading of its output against the
//! required versions.

use serde::{Deserialize, Serialize};

use super::StoredLine;
use crate::hosts::Host;
use crate::ssh::RemoteCommand;

/// Prints one `name: value` line per prerequisite; the app directory is `$1`.
const PREREQUISITES_SCRIPT: &str = "echo \"nginx: $(nginx -v 2>&1)\"; \
echo \"gunicorn: $(gunicorn --version 2>&1)\"; \
echo \"postgresql: $(psql --version 2>&1)\"; \
echo \"disk_free_kib: $(df -Pk \"$1\" | awk 'NR==2 {print $4}')\"; \
echo \"uptime: $(uptime)\"";

/// The check's command: the script, with the host's app directory as `$1`.
pub(super) fn command(host: &Host) -> RemoteCommand {
    RemoteCommand::program("sh")
        .fixed("-c")
        .fixed(PREREQUISITES_SCRIPT)
        .fixed("sh")
        .arg(&host.app_dir)
}

/// One prerequisite as the host page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prerequisite {
    pub name: String,
    pub found: Option<String>,
    pub required: Option<String>,
    /// `ok`, `old` (older than required), `missing`, or `info` (no requirement).
    pub verdict: String,
}

/// Reads a prerequisites check's output against the required versions.
pub fn assess_prerequisites(lines: &[StoredLine], required: &[(&str, &str)]) -> Vec<Prerequisite> {
    let value = |name: &str| {
        lines.iter().find_map(|l| {
            l.line
                .strip_prefix(&format!("{name}: "))
                .map(str::trim)
                .map(str::to_owned)
        })
    };
    let mut assessed: Vec<Prerequisite> = required
        .iter()
        .map(|(name, minimum)| {
            let found = value(name).and_then(|text| first_version(&text));
            let verdict = match &found {
                None => "missing",
                Some(v) if version_at_least(v, minimum) => "ok",
                Some(_) => "old",
            };
            Prerequisite {
                name: (*name).to_owned(),
                found,
                required: Some((*minimum).to_owned()),
                verdict: verdict.into(),
            }
        })
        .collect();
    for name in ["disk_free_kib", "uptime"] {
        assessed.push(Prerequisite {
            name: name.into(),
            found: value(name),
            required: None,
            verdict: "info".into(),
        });
    }
    assessed
}

fn first_version(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|part| part.contains('.') && part.starts_with(|c: char| c.is_ascii_digit()))
        .map(|v| v.trim_end_matches('.').to_owned())
}

fn version_at_least(found: &str, minimum: &str) -> bool {
    let parts = |v: &str| v.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    let (mut found, mut minimum) = (parts(found), parts(minimum));
    let len = found.len().max(minimum.len());
    found.resize(len, 0);
    minimum.resize(len, 0);
    found >= minimum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> StoredLine {
        StoredLine {
            seq: 1,
            stderr: false,
            line: text.into(),
        }
    }

    #[test]
    fn prerequisites_compare_versions_newer_passes_older_warns() {
        let lines = [
            line("nginx: nginx version: nginx/1.22.1"),
            line("gunicorn: gunicorn (version 20.0.4)"),
            line("postgresql: sh: 1: psql: not found"),
            line("disk_free_kib: 1234"),
        ];
        let assessed = assess_prerequisites(
            &lines,
            &[("nginx", "1.21.6"), ("gunicorn", "20.1"), ("postgresql", "12.9")],
        );
        let verdicts: Vec<(&str, &str)> = assessed.iter().map(|p| (p.name.as_str(), p.verdict.as_str())).collect();
        assert_eq!(
            verdicts,
            [
                ("nginx", "ok"),
                ("gunicorn", "old"),
                ("postgresql", "missing"),
                ("disk_free_kib", "info"),
                ("uptime", "info")
            ]
        );
        assert_eq!(assessed[0].found.as_deref(), Some("1.22.1"));
        assert_eq!(
            first_version("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)").as_deref(),
            Some("15.18")
        );
        assert!(version_at_least("20.1.0", "20.1") && !version_at_least("12.8", "12.9"));
    }
}
