//! How PostgreSQL's own programs (`pg_dump`, `pg_restore`) reach a server
//! the console reaches: the same connection, given as libpq's environment
//! variables, so a password never shows on a command line (`ps`).

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// `PGHOST` (a socket's directory, or a host name), `PGPORT`, `PGUSER`,
/// `PGDATABASE` when `options` names one, `PGSSLMODE`, and `PGPASSWORD`
/// when there is one. Set them on a command after `env_clear`-ing the
/// `PG*` variables it must not inherit ([`INHERITED`]).
pub fn environment(options: &PgConnectOptions, password: Option<&str>) -> Vec<(&'static str, String)> {
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => options.get_host().to_owned(),
    };
    let ssl_mode = match options.get_ssl_mode() {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    };
    let mut variables = vec![
        ("PGHOST", host),
        ("PGPORT", options.get_port().to_string()),
        ("PGUSER", options.get_username().to_owned()),
        ("PGSSLMODE", ssl_mode.to_owned()),
    ];
    if let Some(database) = options.get_database() {
        variables.push(("PGDATABASE", database.to_owned()));
    }
    if let Some(password) = password {
        variables.push(("PGPASSWORD", password.to_owned()));
    }
    variables
}

/// The connection variables a program must not take from the console's own
/// environment (the operator's shell may set them for another server).
pub const INHERITED: [&str; 7] = [
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGSSLMODE",
    "PGSERVICE",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_is_its_directory_and_a_password_stays_off_the_options() {
        let options = PgConnectOptions::new()
            .socket("/var/lib/ocpizza-console/run")
            .username("console")
            .database("console");
        let variables = environment(&options, Some("s3cret"));
        assert!(variables.contains(&("PGHOST", "/var/lib/ocpizza-console/run".into())));
        assert!(variables.contains(&("PGDATABASE", "console".into())));
        assert!(variables.contains(&("PGPASSWORD", "s3cret".into())));
        let without = environment(&options, None);
        assert!(without.iter().all(|(name, _)| *name != "PGPASSWORD"));
    }

    #[test]
    fn a_url_gives_its_host_port_and_ssl_mode() {
        let options: PgConnectOptions = "postgres://app@db.example:6543/console?sslmode=verify-full"
            .parse()
            .unwrap();
        let variables = environment(&options, None);
        for expected in [
            ("PGHOST", "db.example"),
            ("PGPORT", "6543"),
            ("PGUSER", "app"),
            ("PGSSLMODE", "verify-full"),
        ] {
            assert!(
                variables.contains(&(expected.0, expected.1.to_owned())),
                "{variables:?}"
            );
        }
    }
}
