//! What an admin takes out of the console: a stored backup, as stored
//! (encrypted: it opens with the exported identity), and the identity that
//! opens every backup, for recovery with the standard `age` tool when the
//! console itself is gone. Both are audited.

use futures::Stream;
use tokio_util::io::ReaderStream;

use super::Backups;
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::secrets::Zeroizing;
use crate::storage::StorageKey;

/// A stored backup on its way to an admin's browser.
pub struct BackupDownload {
    /// The file name to save it as.
    pub file_name: String,
    pub size: Option<i64>,
    pub bytes: Box<dyn Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin>,
}

impl Backups {
    /// A stored backup's bytes, as stored (admins; audited).
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), backup_id))]
    pub async fn download(&self, by: &Operator, provenance: &Provenance, backup_id: i64) -> Result<BackupDownload> {
        let backup = self.get(backup_id).await?;
        self.admin_only(by, provenance, AuditAction::BackupDownload, &backup.host_name)
            .await?;
        if !backup.restorable() {
            return Err(DomainError::invalid("backup", "error-backup-not-restorable"));
        }
        let (key, _) = self.object_of(backup_id).await?;
        let key = StorageKey::parse(&key)?;
        let object = self
            .storage
            .open(&key)
            .await
            .map_err(|e| DomainError::Internal(format!("backup {backup_id} cannot be read: {e}")))?;
        AuditEntry::new(
            by.actor(),
            AuditAction::BackupDownload,
            &backup.host_name,
            Outcome::Success,
        )
        .detail("backup", backup_id)
        .detail("database", backup.database_name.as_str())
        .from(provenance)
        .record_alone(&self.pool)
        .await?;
        let file_name = key.as_str().rsplit('/').next().unwrap_or("backup.age").to_owned();
        Ok(BackupDownload {
            file_name,
            size: backup.stored_bytes,
            bytes: Box::new(ReaderStream::with_capacity(object, 256 * 1024)),
        })
    }

    /// The identity (`AGE-SECRET-KEY-1…`) that opens every backup taken
    /// with the current key (admins; audited).
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str()))]
    pub async fn export_key(&self, by: &Operator, provenance: &Provenance) -> Result<Zeroizing<Vec<u8>>> {
        self.admin_only(by, provenance, AuditAction::BackupExportKey, "backup_keys")
            .await?;
        let (key_id, recipient) = self.keys.current().await?;
        let identity = self.keys.identity_text(key_id).await?;
        AuditEntry::new(
            by.actor(),
            AuditAction::BackupExportKey,
            "backup_keys",
            Outcome::Success,
        )
        .detail("recipient", recipient.to_string())
        .from(provenance)
        .record_alone(&self.pool)
        .await?;
        Ok(identity)
    }

    async fn admin_only(
        &self,
        by: &Operator,
        provenance: &Provenance,
        action: AuditAction,
        target: &str,
    ) -> Result<()> {
        self.at_least(Role::Admin, by, provenance, action, target).await
    }

    /// Refuses, audited, anyone below `role`.
    pub(super) async fn at_least(
        &self,
        role: Role,
        by: &Operator,
        provenance: &Provenance,
        action: AuditAction,
        target: &str,
    ) -> Result<()> {
        require_role(&self.pool, by, role, action, target, provenance).await
    }
}
