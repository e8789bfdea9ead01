//! The console's values of a host's environment: the overview a page shows
//! (names, plain values, "set · changed on … by …" for secrets, what is
//! not applied yet, the versions), and setting, generating and removing a
//! variable (operators, audited with the name, never the value).

use time::OffsetDateTime;

use super::names::{generated_secret_key, site_is_public, EnvName, EnvValue, MANUAL_SET, PRODUCTION};
use super::{AppEnvironment, EnvVersionKind, SECRET_PURPOSE};
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::Host;
use crate::secrets::{SecretId, Zeroizing};

/// One variable as the page shows it: a secret's value never.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVariable {
    pub name: String,
    pub secret: bool,
    /// A plain variable's value.
    pub plain_value: Option<String>,
    /// Whether the console holds a value (the manual's variables are
    /// listed before they are).
    pub set: bool,
    /// Who changed it last, and when.
    pub changed: Option<(OffsetDateTime, String)>,
    /// One of the manual's variables (§4.1.1).
    pub in_manual: bool,
    /// Changed (or added) since the host's file was last written or imported.
    pub not_applied: bool,
}

/// One version of the file: an apply or an import.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVersion {
    pub id: i64,
    pub kind: EnvVersionKind,
    /// The apply's job.
    pub job_id: Option<i64>,
    pub at: OffsetDateTime,
    pub by: String,
    pub changed_names: Vec<String>,
    /// The file was written (an apply whose job failed before did not).
    pub written: bool,
}

/// A host's environment as the console holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvOverview {
    /// The manual's variables first, in its order, then the others by name.
    pub variables: Vec<EnvVariable>,
    /// Names removed since the file was last written.
    pub removed_not_applied: Vec<String>,
    /// Newest first.
    pub versions: Vec<EnvVersion>,
    /// The host's site is public: `ENV` must stay `Production`.
    pub public_site: bool,
}

/// A variable as stored: its name, kind, and where its value is.
pub(super) struct StoredVariable {
    pub name: String,
    pub secret: bool,
    pub value: Option<String>,
    pub secret_id: Option<i64>,
}

impl AppEnvironment {
    /// A host's environment (every role: no secret value is in it).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn overview(&self, host_id: i64) -> Result<EnvOverview> {
        let host = self.hosts.get(host_id).await?;
        let rows = sqlx::query!(
            r#"WITH last AS (SELECT id FROM app_env_applies WHERE host_id = $1 AND written ORDER BY id DESC LIMIT 1),
                    current AS (SELECT * FROM app_env_vars WHERE host_id = $1),
                    applied AS (SELECT * FROM app_env_applied WHERE apply_id = (SELECT id FROM last))
               SELECT coalesce(v.name, a.name) AS "name!", v.secret AS "secret?", v.value, v.changed_at AS "changed_at?",
                      v.changed_by AS "changed_by?", v.name IS NULL AS "removed!",
                      (a.name IS NULL OR v.secret IS DISTINCT FROM a.secret OR v.value IS DISTINCT FROM a.value
                       OR v.secret_id IS DISTINCT FROM a.secret_id) AS "not_applied!"
               FROM current v FULL JOIN applied a ON a.name = v.name ORDER BY 1"#,
            host_id
        )
        .fetch_all(&self.pool)
        .await?;
        let mut variables: Vec<EnvVariable> = MANUAL_SET
            .iter()
            .map(|(name, secret)| EnvVariable {
                name: (*name).to_owned(),
                secret: *secret,
                plain_value: None,
                set: false,
                changed: None,
                in_manual: true,
                not_applied: false,
            })
            .collect();
        let mut removed_not_applied = Vec::new();
        for row in rows {
            if row.removed {
                removed_not_applied.push(row.name);
                continue;
            }
            let secret = row.secret.unwrap_or(true);
            let variable = EnvVariable {
                plain_value: if secret { None } else { row.value },
                secret,
                set: true,
                changed: row.changed_at.zip(row.changed_by),
                in_manual: MANUAL_SET.iter().any(|(name, _)| *name == row.name),
                not_applied: row.not_applied,
                name: row.name,
            };
            match variables.iter_mut().find(|v| v.name == variable.name) {
                Some(listed) => *listed = variable,
                None => variables.push(variable),
            }
        }
        Ok(EnvOverview {
            variables,
            removed_not_applied,
            versions: self.versions(host_id).await?,
            public_site: site_is_public(&host.site_url),
        })
    }

    async fn versions(&self, host_id: i64) -> Result<Vec<EnvVersion>> {
        let rows = sqlx::query!(
            "SELECT id, kind, job_id, applied_at, applied_by, changed_names, written
             FROM app_env_applies WHERE host_id = $1 ORDER BY id DESC LIMIT 20",
            host_id
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(EnvVersion {
                    id: r.id,
                    kind: r
                        .kind
                        .parse()
                        .map_err(|e| DomainError::Internal(format!("environment version {}: {e}", r.id)))?,
                    job_id: r.job_id,
                    at: r.applied_at,
                    by: r.applied_by,
                    changed_names: r.changed_names,
                    written: r.written,
                })
            })
            .collect()
    }

    /// Sets a variable (operators): `secret` says its kind (unchanged, or
    /// the name's default, when `None`). `ENV` other than `Production` on
    /// a public site needs `confirmed` (Django's debug mode would show
    /// the site's insides to anyone).
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), host_id, name))]
    #[allow(clippy::too_many_arguments)]
    pub async fn set(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        name: &str,
        secret: Option<bool>,
        value: &str,
        confirmed: bool,
    ) -> Result<()> {
        let host = self.allowed(by, provenance, host_id, AuditAction::EnvSet).await?;
        let name = EnvName::parse(name)?;
        let value = EnvValue::parse(&name, value)?;
        if name.as_str() == "ENV" && value.expose() != PRODUCTION && site_is_public(&host.site_url) && !confirmed {
            return Err(DomainError::invalid("value", "error-env-not-production"));
        }
        self.store(by, provenance, &host, &name, secret, value.expose(), false)
            .await
    }

    /// Sets `DJANGO_SECRET_KEY` to a fresh random key (operators), secret.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), host_id))]
    pub async fn generate_secret_key(&self, by: &Operator, provenance: &Provenance, host_id: i64) -> Result<()> {
        let host = self.allowed(by, provenance, host_id, AuditAction::EnvSet).await?;
        let name = EnvName::parse("DJANGO_SECRET_KEY")?;
        let key = generated_secret_key();
        self.store(by, provenance, &host, &name, Some(true), &key, true).await
    }

    /// Removes a variable from the console's values (operators); the host's
    /// file keeps it until the next apply.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), host_id, name))]
    pub async fn remove(&self, by: &Operator, provenance: &Provenance, host_id: i64, name: &str) -> Result<()> {
        let host = self.allowed(by, provenance, host_id, AuditAction::EnvRemove).await?;
        let name = EnvName::parse(name)?;
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query!(
            "DELETE FROM app_env_vars WHERE host_id = $1 AND name = $2",
            host_id,
            name.as_str()
        )
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() == 0 {
            return Err(DomainError::NotFound("variable"));
        }
        AuditEntry::new(by.actor(), AuditAction::EnvRemove, host.name.as_str(), Outcome::Success)
            .detail("name", name.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The host, once `by` may change its environment (a refusal audited).
    pub(super) async fn allowed(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        action: AuditAction,
    ) -> Result<Host> {
        let host = self.hosts.get(host_id).await?;
        require_role(&self.pool, by, Role::Operator, action, host.name.as_str(), provenance).await?;
        Ok(host)
    }

    /// Stores one value, audited with its name and kind.
    #[allow(clippy::too_many_arguments)]
    async fn store(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host: &Host,
        name: &EnvName,
        secret: Option<bool>,
        value: &str,
        generated: bool,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let (secret, _) = self.put_value(&mut tx, host.id, name, secret, value, by).await?;
        let mut entry = AuditEntry::new(by.actor(), AuditAction::EnvSet, host.name.as_str(), Outcome::Success)
            .detail("name", name.as_str())
            .detail("secret", secret);
        if generated {
            entry = entry.detail("generated", true);
        }
        entry.from(provenance).record(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores one value in `tx`: secret (as `secret` says, else as the
    /// console already has it, else by the name's default) sealed in the
    /// secret store, plain kept as is. Returns the kind and the sealed id.
    pub(super) async fn put_value(
        &self,
        tx: &mut sqlx::PgConnection,
        host_id: i64,
        name: &EnvName,
        secret: Option<bool>,
        value: &str,
        by: &Operator,
    ) -> Result<(bool, Option<i64>)> {
        let secret = match secret {
            Some(secret) => secret,
            None => sqlx::query_scalar!(
                "SELECT secret FROM app_env_vars WHERE host_id = $1 AND name = $2",
                host_id,
                name.as_str()
            )
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or_else(|| name.secret_by_default()),
        };
        let secret_id = match secret {
            true => Some(self.secrets.put(tx, SECRET_PURPOSE, value.as_bytes()).await?.0),
            false => None,
        };
        sqlx::query!(
            "INSERT INTO app_env_vars (host_id, name, secret, value, secret_id, changed_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (host_id, name) DO UPDATE
             SET secret = $3, value = $4, secret_id = $5, changed_by = $6, changed_at = now()",
            host_id,
            name.as_str(),
            secret,
            (!secret).then_some(value),
            secret_id,
            by.username.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        Ok((secret, secret_id))
    }

    /// A stored variable's value, opened when secret.
    pub(super) async fn value_of(&self, variable: &StoredVariable) -> Result<Zeroizing<String>> {
        match (variable.secret, &variable.value, variable.secret_id) {
            (false, Some(value), _) => Ok(Zeroizing::new(value.clone())),
            (true, _, Some(id)) => {
                let bytes = self.secrets.get_for(SecretId(id), SECRET_PURPOSE).await?;
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| DomainError::Internal(format!("variable {} is not text", variable.name)))?;
                Ok(Zeroizing::new(text.to_owned()))
            }
            _ => Err(DomainError::Internal(format!(
                "variable {} has no value",
                variable.name
            ))),
        }
    }
}

/// The order of a file: the manual's variables first, in its order, then
/// the others by name.
pub(super) fn file_order(a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |name: &str| {
        MANUAL_SET
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or(MANUAL_SET.len())
    };
    rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
}
