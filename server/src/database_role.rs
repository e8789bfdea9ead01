//! The console's database role: it serves with a role that may read and
//! insert the audit log but never change, delete or truncate it, is not the
//! tables' owner (an owner can switch the append-only triggers off) and not
//! a superuser. Migrations run as the owner, which then grants this role
//! what it needs, again at every start (so tables added by a migration are
//! covered).

//!
//! Its SQL stays runtime strings (not checked `query!`): roles and grants
//! name identifiers, which PostgreSQL cannot bind, and the few catalog reads
//! run beside them, before or outside the migrated schema.

use anyhow::{Context, Result};
use sqlx::PgPool;

/// Tables the console's role may read and insert only.
const APPEND_ONLY: [&str; 2] = ["audit_log", "audit_chain"];

/// A role name as an SQL identifier (PostgreSQL cannot bind identifiers).
fn identifier(role: &str) -> String {
    format!("\"{}\"", role.replace('"', "\"\""))
}

/// Creates `role` as a login role with no powers, if it does not exist
/// (the embedded cluster, where authentication is by the socket's owner).
pub async fn create_login_role(owner: &PgPool, role: &str) -> Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(role)
        .fetch_one(owner)
        .await?;
    if exists {
        return Ok(());
    }
    let created = sqlx::query(&format!(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        identifier(role)
    ))
    .execute(owner)
    .await;
    match created {
        Ok(_) => Ok(()),
        // Created meanwhile by another console (or test) on the same server.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42710") | Some("23505")) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating the database role {role}")),
    }
}

/// Grants `role` what the console needs on the current database: reading
/// and writing its tables, except the audit log and its chain, which it may
/// only read and insert into.
pub async fn grant_console_role(owner: &PgPool, role: &str) -> Result<()> {
    let role = identifier(role);
    let mut tx = owner.begin().await?;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut *tx)
        .await?;
    let mut statements = vec![
        format!("GRANT CONNECT ON DATABASE {} TO {role}", identifier(&database)),
        format!("GRANT USAGE ON SCHEMA public, tower_sessions TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, tower_sessions TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        format!("REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations FROM {role}"),
    ];
    for table in APPEND_ONLY {
        statements.push(format!("REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {role}"));
    }
    for statement in statements {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("granting the console's role its rights ({statement})"))?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether the role `pool` connects as could rewrite the audit log: a
/// superuser, the owner of `audit_log` (or a member of the owner's role),
/// or a role granted UPDATE, DELETE or TRUNCATE on it.
pub async fn can_rewrite_the_audit_log(pool: &PgPool) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT r.rolsuper
             OR pg_has_role(current_user, c.relowner, 'MEMBER')
             OR has_table_privilege(c.oid, 'UPDATE')
             OR has_table_privilege(c.oid, 'DELETE')
             OR has_table_privilege(c.oid, 'TRUNCATE')
         FROM pg_roles r, pg_class c
         WHERE r.rolname = current_user AND c.oid = 'public.audit_log'::regclass",
    )
    .fetch_one(pool)
    .await?)
}

/// The user name `pool` connects as.
pub async fn current_role(pool: &PgPool) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT current_user::text").fetch_one(pool).await?)
}
