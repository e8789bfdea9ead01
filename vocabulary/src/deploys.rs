//! Deploys (manual §6.1, §7.2): what a deploy record is, and when a deploy
//! backs the database up first; the app's environment's versions (§4.1.1).

crate::words! {
    /// A deploy record's kind: a branch deployed, or the app returned to
    /// an earlier deploy's commit.
    pub enum DeployKind as "deploy kind" {
        Deploy = "deploy",
        Rollback = "rollback",
    }
}

crate::words! {
    /// When a deploy backs the app's database up before changing anything.
    pub enum BackupBefore as "backup before deploy" {
        /// When the deploy brings migrations (the default).
        WhenMigrationsPending = "when-migrations-pending",
        Always = "always",
        Never = "never",
    }
}

crate::words! {
    /// A version of a host's `.env` file: written by an apply, or taken
    /// from the host by an import.
    pub enum EnvVersionKind as "environment version" {
        Apply = "apply",
        Import = "import",
    }
}
