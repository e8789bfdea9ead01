//! The words of the backup catalog.

crate::words! {
    /// Where a backup stands in the catalog.
    pub enum BackupStatus as "backup status" {
        Running = "running",
        Succeeded = "succeeded",
        /// It failed: nothing of it is kept in storage.
        Failed = "failed",
        /// Retention removed its stored object.
        Pruned = "pruned",
    }
}

crate::words! {
    /// What started a backup.
    pub enum BackupTrigger as "backup trigger" {
        /// An operator's "Back up now".
        Manual = "manual",
        Schedule = "schedule",
        /// The safety copy taken before a restore.
        PreRestore = "pre-restore",
        PreDeploy = "pre-deploy",
        Api = "api",
    }
}

crate::words! {
    /// Where a verification (a test restore into a scratch database) stands.
    pub enum VerificationStatus as "verification status" {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

/// A size in bytes as staff read it: `512 B`, `1.5 KiB`, `12.0 MiB`,
/// `3.0 GiB` (numbers and units only, the same in every language).
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(size_text(512), "512 B");
        assert_eq!(size_text(1536), "1.5 KiB");
        assert_eq!(size_text(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn statuses_and_triggers_are_words_and_unknown_words_are_errors() {
        assert_eq!("pre-restore".parse::<BackupTrigger>(), Ok(BackupTrigger::PreRestore));
        assert!("later".parse::<BackupTrigger>().is_err());
        assert!("done".parse::<BackupStatus>().is_err());
    }
}
