//! The commands a backup and a restore run on the host. The database's
//! credentials come from the host's side: the app's own `.env` (in its app
//! directory) is read there, by `sed`, into libpq's environment variables,
//! so no password is ever in a command line (the host's `ps`, the job's
//! page), a job record or the console's log. With no host or password in
//! `.env`, libpq uses the local socket and peer authentication.

use crate::hosts::Host;
use crate::ssh::RemoteCommand;

/// `$body` after setting PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE
/// from `$1/.env` (a value may be in single or double quotes), exporting
/// only those set.
macro_rules! from_app_env {
    ($body:literal) => {
        concat!(
            r#"set -e
cd "$1"
[ -r .env ] || { echo "no readable .env in $1" >&2; exit 66; }
value() { sed -n "s/^$1=//p" .env | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"; }
for pair in PGHOST:POSTGRES_HOST PGPORT:POSTGRES_PORT PGUSER:POSTGRES_USER PGPASSWORD:POSTGRES_PASSWORD PGDATABASE:POSTGRES_DATABASE; do
  found=$(value "${pair#*:}")
  if [ -n "$found" ]; then export "${pair%%:*}=$found"; fi
done
[ -n "${PGDATABASE:-}" ] || { echo "POSTGRES_DATABASE is not set in $1/.env" >&2; exit 66; }
"#,
            $body
        )
    };
}

/// Prints `database=`, `pg_dump=` and `server=` lines.
const INSPECT: &str = from_app_env!(
    r#"echo "database=$PGDATABASE"
echo "pg_dump=$(pg_dump --version)"
echo "server=$(psql -XAtc 'SHOW server_version')"
"#
);

/// The database in PostgreSQL's custom format, on standard output.
const DUMP: &str = from_app_env!("exec pg_dump --format=custom --no-password\n");

/// Standard input (a custom-format dump) into the database, in one
/// transaction: a restore that fails leaves the database as it was.
const RESTORE: &str = from_app_env!(
    "exec pg_restore --clean --if-exists --single-transaction --exit-on-error --no-owner --no-password --dbname=\"$PGDATABASE\"\n"
);

fn script(host: &Host, text: &'static str) -> RemoteCommand {
    RemoteCommand::program("sh")
        .fixed("-c")
        .fixed(text)
        .fixed("sh")
        .arg(&host.app_dir)
}

/// Reads which database the app uses and the versions of `pg_dump` and
/// of the server.
pub(super) fn inspect(host: &Host) -> RemoteCommand {
    script(host, INSPECT)
}

pub(super) fn dump(host: &Host) -> RemoteCommand {
    script(host, DUMP)
}

pub(super) fn restore(host: &Host) -> RemoteCommand {
    script(host, RESTORE)
}

/// What [`inspect`] printed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct DatabaseFacts {
    pub database: String,
    pub pg_dump_version: String,
    pub server_version: String,
}

impl DatabaseFacts {
    pub(super) fn read(lines: &[String]) -> Self {
        let mut facts = Self::default();
        for line in lines {
            if let Some((name, value)) = line.split_once('=') {
                let value = value.trim().to_owned();
                match name {
                    "database" => facts.database = value,
                    "pg_dump" => facts.pg_dump_version = value,
                    "server" => facts.server_version = value,
                    _ => {}
                }
            }
        }
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_never_carry_a_password_and_read_the_apps_env() {
        for text in [INSPECT, DUMP, RESTORE] {
            assert!(text.contains("PGPASSWORD:POSTGRES_PASSWORD"));
            assert!(!text.contains("--password") && !text.contains("-W"));
        }
        assert!(RESTORE.contains("--single-transaction"));
    }

    #[test]
    fn the_facts_are_read_from_the_inspect_lines() {
        let lines = [
            "database=ocpizza_db",
            "pg_dump=pg_dump (PostgreSQL) 17.2",
            "server=17.2",
            "noise",
        ]
        .map(String::from);
        let facts = DatabaseFacts::read(&lines);
        assert_eq!(facts.database, "ocpizza_db");
        assert_eq!(facts.pg_dump_version, "pg_dump (PostgreSQL) 17.2");
        assert_eq!(facts.server_version, "17.2");
    }
}
