//! The audit log: what was done (the action) and how it ended (the outcome).
//!
//! Every word here is stored in the audit log's rows and covered by their
//! hashes, so a word once written is never renamed nor removed: the rows
//! already in the log keep it, and reading them must still map it.

crate::words! {
    /// How an audited action ended.
    pub enum Outcome as "audit outcome" {
        Success = "success",
        Failure = "failure",
        /// Refused: the wrong role, a foreign origin, a throttled sign-in, a
        /// host that showed another key.
        Denied = "denied",
    }
}

crate::words! {
    /// What an audit record says was done: every action the console writes,
    /// and the audit page's action filter.
    pub enum AuditAction as "audit action" {
        AccountCreate = "account.create",
        AccountDisable = "account.disable",
        AccountEnable = "account.enable",
        AccountLanguage = "account.language",
        AccountPasswordChange = "account.password_change",
        AccountPasswordReset = "account.password_reset",
        /// The first admin, created with the one-time setup token.
        AccountSetupAdmin = "account.setup_admin",
        /// Alerts (manual §8): an open alert acknowledged by an operator,
        /// a notification channel added, removed or sent a test, a rule
        /// changed by an admin.
        AlertAcknowledge = "alert.acknowledge",
        AlertChannelAdd = "alert.channel_add",
        AlertChannelRemove = "alert.channel_remove",
        AlertChannelTest = "alert.channel_test",
        AlertRule = "alert.rule",
        /// The chain switched to keyed hashes (once per database).
        AuditChainKeyed = "audit.chain_keyed",
        AuditExport = "audit.export",
        /// A database backup (manual §7.1): taken, or its download.
        BackupRun = "backup.run",
        BackupDownload = "backup.download",
        /// The identity that opens backups, exported by an admin (for
        /// recovery with the standard `age` tool).
        BackupExportKey = "backup.export_key",
        /// Retention removed backups' objects (their rows stay, "pruned").
        BackupPrune = "backup.prune",
        /// A database restored from a catalogued backup.
        BackupRestore = "backup.restore",
        /// A host's backup schedule and retention, saved by an admin.
        BackupSchedule = "backup.schedule",
        /// Scheduled slots that passed while no console ran (caught up once).
        BackupScheduleMissed = "backup.schedule_missed",
        /// A backup restored into a scratch database, its tables counted.
        BackupVerify = "backup.verify",
        /// The console's own state written to an archive (`backup-self`),
        /// or brought back from one onto a new database (`restore-self`),
        /// by an operator on the server's command line.
        ConsoleBackup = "console.backup",
        ConsoleRestore = "console.restore",
        /// Deploys (manual §6.1, §7.2): a branch deployed, the app returned
        /// to an earlier deploy's commit, a host's deploy settings changed.
        DeployBranch = "deploy.branch",
        DeployRollback = "deploy.rollback",
        DeploySettings = "deploy.settings",
        /// The app's environment (manual §4.1.1): a variable set or
        /// removed (its name, never its value), the host's file written
        /// (a job) or imported.
        EnvApply = "env.apply",
        EnvImport = "env.import",
        EnvRemove = "env.remove",
        EnvSet = "env.set",
        /// The prerequisites runbook.
        HostCheckPrerequisites = "host.check_prerequisites",
        HostRegister = "host.register",
        HostRepin = "host.repin",
        /// Where the app's CI state and errors are read (manual §8.1): a
        /// CI provider or Sentry, saved (checked against its API first) or
        /// removed by an admin; its token never recorded.
        IntegrationRemove = "integration.remove",
        IntegrationSave = "integration.save",
        JobCancel = "job.cancel",
        /// Linode (manual §5.1): power actions, each a job following its
        /// API event; the instance a host is, picked by an admin; the API
        /// token, entered by an admin (its value never recorded).
        LinodeBoot = "linode.boot",
        /// Linode backups (manual §7.1): the billed Backup service turned
        /// on, a snapshot taken, a backup restored onto the instance.
        LinodeBackupsEnable = "linode.backups_enable",
        LinodeLink = "linode.link",
        LinodeReboot = "linode.reboot",
        LinodeRestore = "linode.restore",
        LinodeShutdown = "linode.shutdown",
        LinodeSnapshot = "linode.snapshot",
        LinodeToken = "linode.token",
        /// A job found running when its console stopped.
        JobInterrupted = "job.interrupted",
        /// Supervision (manual §8): how a host's site is probed, changed.
        ProbeSettings = "probe.settings",
        /// An API request with a malformed, unknown, revoked or expired
        /// token (never the token itself).
        RequestBadToken = "request.bad_token",
        RequestCrossOrigin = "request.cross_origin",
        RequestForbidden = "request.forbidden",
        /// The second factor at sign-in: an account enrolled or turned its
        /// own off, an admin removed an account's (a lost phone), changed
        /// who must have one; a code refused at sign-in, a recovery code used.
        SecondFactorDisable = "second_factor.disable",
        SecondFactorEnrol = "second_factor.enrol",
        SecondFactorPolicy = "second_factor.policy",
        SecondFactorRecoveryUsed = "second_factor.recovery_used",
        SecondFactorRefused = "second_factor.refused",
        SecondFactorReset = "second_factor.reset",
        SecretsRotateMasterKey = "secrets.rotate_master_key",
        SecretsUpgradeFormat = "secrets.upgrade_format",
        /// A session ended from "Mes sessions" (its own account or an
        /// admin), or all of an account's by an admin.
        SessionEnd = "session.end",
        SessionEndAll = "session.end_all",
        SessionExpired = "session.expired",
        SessionSignIn = "session.sign_in",
        SessionSignOut = "session.sign_out",
        /// A host showed another key than the pinned one.
        SshHostKeyChanged = "ssh.host_key_changed",
        /// API tokens: one issued by its account, one revoked (by its
        /// account or an admin).
        TokenCreate = "token.create",
        TokenRevoke = "token.revoke",
        /// The web services the app needs (manual §3.3): one added or
        /// removed, its checks turned on or off.
        WebServiceAdd = "web_service.add",
        WebServiceDisable = "web_service.disable",
        WebServiceEnable = "web_service.enable",
        WebServiceRemove = "web_service.remove",
        /// The runbooks that act on the web application.
        WebappRestartWebServer = "webapp.restart_web_server",
        WebappRestartWsgiServer = "webapp.restart_wsgi_server",
        WebappStopWebServer = "webapp.stop_web_server",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action word any version of the console wrote (from the
    /// project's history): rows already in a log keep these, so each must
    /// still be read.
    const EVER_WRITTEN: [&str; 73] = [
        "account.create",
        "account.disable",
        "account.enable",
        "account.language",
        "account.password_change",
        "account.password_reset",
        "account.setup_admin",
        "alert.acknowledge",
        "alert.channel_add",
        "alert.channel_remove",
        "alert.channel_test",
        "alert.rule",
        "audit.chain_keyed",
        "audit.export",
        "backup.download",
        "backup.export_key",
        "backup.prune",
        "backup.restore",
        "backup.run",
        "backup.schedule",
        "backup.schedule_missed",
        "backup.verify",
        "console.backup",
        "console.restore",
        "deploy.branch",
        "deploy.rollback",
        "deploy.settings",
        "env.apply",
        "env.import",
        "env.remove",
        "env.set",
        "host.check_prerequisites",
        "host.register",
        "host.repin",
        "integration.remove",
        "integration.save",
        "job.cancel",
        "job.interrupted",
        "linode.backups_enable",
        "linode.boot",
        "linode.link",
        "linode.reboot",
        "linode.restore",
        "linode.shutdown",
        "linode.snapshot",
        "linode.token",
        "probe.settings",
        "request.bad_token",
        "request.cross_origin",
        "request.forbidden",
        "second_factor.disable",
        "second_factor.enrol",
        "second_factor.policy",
        "second_factor.recovery_used",
        "second_factor.refused",
        "second_factor.reset",
        "secrets.rotate_master_key",
        "secrets.upgrade_format",
        "session.end",
        "session.end_all",
        "session.expired",
        "session.sign_in",
        "session.sign_out",
        "ssh.host_key_changed",
        "token.create",
        "token.revoke",
        "web_service.add",
        "web_service.disable",
        "web_service.enable",
        "web_service.remove",
        "webapp.restart_web_server",
        "webapp.restart_wsgi_server",
        "webapp.stop_web_server",
    ];

    #[test]
    fn every_action_word_ever_written_is_read_back() {
        for word in EVER_WRITTEN {
            let action: AuditAction = word.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(action.as_str(), word);
        }
        assert_eq!(
            AuditAction::ALL.len(),
            EVER_WRITTEN.len(),
            "a new action: add its word above"
        );
    }

    #[test]
    fn an_unknown_word_is_an_error_not_a_default() {
        assert!("account.delete".parse::<AuditAction>().is_err());
        assert!("Success".parse::<Outcome>().is_err());
        let sent = |word| serde::de::value::StrDeserializer::<serde::de::value::Error>::new(word);
        assert!(<AuditAction as serde::Deserialize>::deserialize(sent("host.remove")).is_err());
        assert_eq!(
            <Outcome as serde::Deserialize>::deserialize(sent("failure")),
            Ok(Outcome::Failure)
        );
    }
}
