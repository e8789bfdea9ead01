//! What the console reads of the API's answers. Times come without a zone
//! (`2018-01-01T00:01:01`) and are UTC. Fields the console does not use are
//! ignored, so the live API may add some (it does) without breaking it.

use serde::{Deserialize, Deserializer};
use time::{OffsetDateTime, PrimitiveDateTime};

/// A Linode instance.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Instance {
    pub id: i64,
    pub label: String,
    pub status: InstanceStatus,
    pub region: String,
    #[serde(rename = "type")]
    pub plan: String,
    #[serde(default)]
    pub ipv4: Vec<String>,
    /// The Backup service (billed): whether it is on.
    #[serde(default)]
    pub backups: BackupService,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BackupService {
    #[serde(default)]
    pub enabled: bool,
}

/// A Linode backup: automatic (`auto`, up to three kept by the service) or
/// the one snapshot slot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LinodeBackup {
    pub id: i64,
    /// `auto` or `snapshot` (the spec's example says `automatic`).
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `running`, `successful`, `failed`, …
    pub status: String,
    pub label: Option<String>,
    #[serde(deserialize_with = "utc")]
    pub created: OffsetDateTime,
    /// `null` (or absent) until the backup is done.
    #[serde(default, deserialize_with = "utc_or_none")]
    pub finished: Option<OffsetDateTime>,
    #[serde(default)]
    pub disks: Vec<BackupDisk>,
}

impl LinodeBackup {
    /// The disks' sizes together, in MB.
    pub fn size_mb(&self) -> i64 {
        self.disks.iter().map(|d| d.size).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BackupDisk {
    #[serde(default)]
    pub size: i64,
}

/// An instance's backups: the automatic ones and the snapshot slot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LinodeBackups {
    #[serde(default)]
    pub automatic: Vec<LinodeBackup>,
    pub snapshot: SnapshotSlot,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnapshotSlot {
    pub current: Option<LinodeBackup>,
    pub in_progress: Option<LinodeBackup>,
}

/// An instance's live state. A state this version does not know (the API
/// adds some: `busy` came after 4.176) is kept by its word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceStatus {
    Running,
    Offline,
    Booting,
    Busy,
    Rebooting,
    ShuttingDown,
    Provisioning,
    Deleting,
    Migrating,
    Rebuilding,
    Cloning,
    Restoring,
    Stopped,
    BillingSuspension,
    Unknown(String),
}

impl InstanceStatus {
    /// Every state this version knows, by its word.
    pub const KNOWN: [&'static str; 14] = [
        "running",
        "offline",
        "booting",
        "busy",
        "rebooting",
        "shutting_down",
        "provisioning",
        "deleting",
        "migrating",
        "rebuilding",
        "cloning",
        "restoring",
        "stopped",
        "billing_suspension",
    ];

    pub fn from_word(word: &str) -> Self {
        match word {
            "running" => Self::Running,
            "offline" => Self::Offline,
            "booting" => Self::Booting,
            "busy" => Self::Busy,
            "rebooting" => Self::Rebooting,
            "shutting_down" => Self::ShuttingDown,
            "provisioning" => Self::Provisioning,
            "deleting" => Self::Deleting,
            "migrating" => Self::Migrating,
            "rebuilding" => Self::Rebuilding,
            "cloning" => Self::Cloning,
            "restoring" => Self::Restoring,
            "stopped" => Self::Stopped,
            "billing_suspension" => Self::BillingSuspension,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The API's word for the state.
    pub fn word(&self) -> &str {
        match self {
            Self::Running => "running",
            Self::Offline => "offline",
            Self::Booting => "booting",
            Self::Busy => "busy",
            Self::Rebooting => "rebooting",
            Self::ShuttingDown => "shutting_down",
            Self::Provisioning => "provisioning",
            Self::Deleting => "deleting",
            Self::Migrating => "migrating",
            Self::Rebuilding => "rebuilding",
            Self::Cloning => "cloning",
            Self::Restoring => "restoring",
            Self::Stopped => "stopped",
            Self::BillingSuspension => "billing_suspension",
            Self::Unknown(word) => word,
        }
    }
}

impl<'de> Deserialize<'de> for InstanceStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from_word(&String::deserialize(deserializer)?))
    }
}

/// Something the API does on the account (a boot, a snapshot…), followed
/// to its end.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    pub id: i64,
    pub action: EventAction,
    pub status: EventStatus,
    /// `null` on notification events.
    pub percent_complete: Option<i64>,
    #[serde(deserialize_with = "utc")]
    pub created: OffsetDateTime,
    pub message: Option<String>,
    /// `null` for some events; the id is an int for the console's.
    pub entity: Option<EventEntity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventEntity {
    pub id: Option<serde_json::Value>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// The event actions the console starts and follows; any other is kept
/// by its word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventAction {
    LinodeBoot,
    LinodeReboot,
    LinodeShutdown,
    LinodeSnapshot,
    BackupsEnable,
    BackupsRestore,
    Other(String),
}

impl EventAction {
    pub fn word(&self) -> &str {
        match self {
            Self::LinodeBoot => "linode_boot",
            Self::LinodeReboot => "linode_reboot",
            Self::LinodeShutdown => "linode_shutdown",
            Self::LinodeSnapshot => "linode_snapshot",
            Self::BackupsEnable => "backups_enable",
            Self::BackupsRestore => "backups_restore",
            Self::Other(word) => word,
        }
    }

    fn from_word(word: &str) -> Self {
        match word {
            "linode_boot" => Self::LinodeBoot,
            "linode_reboot" => Self::LinodeReboot,
            "linode_shutdown" => Self::LinodeShutdown,
            "linode_snapshot" => Self::LinodeSnapshot,
            "backups_enable" => Self::BackupsEnable,
            "backups_restore" => Self::BackupsRestore,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl<'de> Deserialize<'de> for EventAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from_word(&String::deserialize(deserializer)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Scheduled,
    Started,
    Finished,
    Failed,
    Notification,
}

impl EventStatus {
    pub fn ended(self) -> bool {
        matches!(self, Self::Finished | Self::Failed)
    }

    /// The API's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Started => "started",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Notification => "notification",
        }
    }
}

/// A page of a collection.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    pub data: Vec<T>,
    pub page: u32,
    pub pages: u32,
}

/// The API's times: UTC without a zone suffix (`2018-01-01T00:01:01`).
pub(crate) const API_TIME: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

fn utc<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    // Some answers carry fractions of a second: the second is enough.
    let whole = text.split('.').next().unwrap_or(&text);
    PrimitiveDateTime::parse(whole, API_TIME)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(serde::de::Error::custom)
}

fn utc_or_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<OffsetDateTime>, D::Error> {
    #[derive(Deserialize)]
    struct Utc(#[serde(deserialize_with = "utc")] OffsetDateTime);
    Ok(Option::<Utc>::deserialize(deserializer)?.map(|Utc(at)| at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_an_unknown_state_is_kept_by_its_word() {
        let instance: Instance = serde_json::from_str(
            r#"{"id": 123, "label": "ocpizza-prod", "status": "powering_up", "region": "fr-par",
                "type": "g6-standard-2", "ipv4": ["203.0.113.7"], "site_type": "core",
                "disk_encryption": "enabled", "placement_group": null}"#,
        )
        .unwrap();
        assert_eq!(instance.status, InstanceStatus::Unknown("powering_up".into()));
        assert_eq!(instance.status.word(), "powering_up");
        assert_eq!(InstanceStatus::from_word("shutting_down"), InstanceStatus::ShuttingDown);
    }

    #[test]
    fn event_times_are_utc_without_a_zone_and_loose_fields_read() {
        let event: Event = serde_json::from_str(
            r#"{"id": 7, "action": "linode_boot", "status": "started", "percent_complete": 45,
                "created": "2026-12-02T10:00:00", "message": null, "entity": null,
                "duration": null, "time_remaining": "00:01:10", "details": {}}"#,
        )
        .unwrap();
        assert_eq!(event.action, EventAction::LinodeBoot);
        assert_eq!(event.created, time::macros::datetime!(2026-12-02 10:00:00 UTC));
        assert!(!event.status.ended());
        let notification: Event = serde_json::from_str(
            r#"{"id": 8, "action": "host_reboot", "status": "notification", "percent_complete": null,
                "created": "2026-12-02T10:00:00.123", "message": "m", "entity": {"id": "linode/debian12", "type": "image"}}"#,
        )
        .unwrap();
        assert_eq!(notification.action, EventAction::Other("host_reboot".into()));
        assert_eq!(notification.percent_complete, None);
    }
}
