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

/// A reading of a graph: when (epoch milliseconds, as the API gives it)
/// and the value.
pub type Sample = (i64, f64);

/// The last 24 h of an instance's graphs, in 5-minute averages (manual
/// §8.2). The live API wraps them in `data` (the README of
/// `../shared/linode-api`); the file puts them at the top level: both read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinodeStats {
    pub title: String,
    /// CPU in percent (100 is one full core).
    pub cpu: Vec<Sample>,
    /// Public network in and out, IPv4 and IPv6 together, in bits/s.
    pub net_in: Vec<Sample>,
    pub net_out: Vec<Sample>,
    /// Disk I/O in blocks/s, and the swap's.
    pub io: Vec<Sample>,
    pub swap: Vec<Sample>,
}

#[derive(Debug, Default, Deserialize)]
struct StatsData {
    #[serde(default)]
    cpu: Vec<RawSample>,
    #[serde(default)]
    io: IoData,
    #[serde(default)]
    netv4: NetData,
    #[serde(default)]
    netv6: NetData,
}

#[derive(Debug, Default, Deserialize)]
struct IoData {
    #[serde(default)]
    io: Vec<RawSample>,
    #[serde(default)]
    swap: Vec<RawSample>,
}

#[derive(Debug, Default, Deserialize)]
struct NetData {
    #[serde(default, rename = "in")]
    incoming: Vec<RawSample>,
    #[serde(default, rename = "out")]
    outgoing: Vec<RawSample>,
}

/// `[timestamp, value]`; a value may be `null` where the API has none.
type RawSample = (f64, Option<f64>);

#[derive(Debug, Deserialize)]
struct StatsAnswer {
    #[serde(default)]
    title: String,
    data: Option<StatsData>,
    #[serde(flatten)]
    top_level: StatsData,
}

impl<'de> Deserialize<'de> for LinodeStats {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let answer = StatsAnswer::deserialize(deserializer)?;
        let data = answer.data.unwrap_or(answer.top_level);
        Ok(LinodeStats {
            title: answer.title,
            cpu: samples(&data.cpu),
            net_in: summed(&data.netv4.incoming, &data.netv6.incoming),
            net_out: summed(&data.netv4.outgoing, &data.netv6.outgoing),
            io: samples(&data.io.io),
            swap: samples(&data.io.swap),
        })
    }
}

/// The readings that have a value, in time order.
fn samples(raw: &[RawSample]) -> Vec<Sample> {
    let mut samples: Vec<Sample> = raw
        .iter()
        .filter_map(|&(at, value)| Some((at as i64, value.filter(|v| v.is_finite())?)))
        .collect();
    samples.sort_by_key(|&(at, _)| at);
    samples
}

/// Two series added reading by reading (a time only one of them has
/// counts that one's value).
fn summed(a: &[RawSample], b: &[RawSample]) -> Vec<Sample> {
    let mut sums = std::collections::BTreeMap::new();
    for (at, value) in samples(a).into_iter().chain(samples(b)) {
        *sums.entry(at).or_insert(0.0) += value;
    }
    sums.into_iter().collect()
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
    fn stats_read_wrapped_as_the_live_api_sends_them_or_at_the_top_level_as_the_file_says() {
        let wrapped: LinodeStats = serde_json::from_str(
            r#"{"title": "linode.com - ocpizza-prod (linode123) - day (5 min avg)",
                "data": {"cpu": [[1521483900000, 2.5], [1521483600000, 0.42], [1521484200000, null]],
                         "io": {"io": [[1521483600000, 0.19]], "swap": [[1521483600000, 0]]},
                         "netv4": {"in": [[1521483600000, 2004.5]], "out": [[1521483600000, 3928.91]],
                                   "private_in": [], "private_out": []},
                         "netv6": {"in": [[1521483600000, 100], [1521483900000, 5]], "out": [],
                                   "private_in": [], "private_out": []}}}"#,
        )
        .unwrap();
        assert_eq!(
            wrapped.cpu,
            vec![(1521483600000, 0.42), (1521483900000, 2.5)],
            "sorted, nulls left out"
        );
        assert_eq!(
            wrapped.net_in,
            vec![(1521483600000, 2104.5), (1521483900000, 5.0)],
            "IPv4 and IPv6 added"
        );
        assert_eq!(wrapped.net_out, vec![(1521483600000, 3928.91)]);
        assert_eq!(wrapped.io, vec![(1521483600000, 0.19)]);
        let top_level: LinodeStats =
            serde_json::from_str(r#"{"title": "t", "cpu": [[1521483600000, 0.42]], "io": {"io": [], "swap": []}}"#)
                .unwrap();
        assert_eq!(top_level.cpu, vec![(1521483600000, 0.42)]);
        assert!(top_level.net_in.is_empty());
    }

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
