//! Which Linode instance each host is (picked by an admin from the
//! account's instances, every page read) and its live state. A state read
//! from the API is remembered for [`STATE_FRESH`]: however many pages show
//! it meanwhile, the API is asked once (one caller asks; the others are
//! shown the last state meanwhile, or wait for the answer when there is
//! none), and a power job's readings replace it at once.

use std::time::Duration;

use time::OffsetDateTime;

use super::{Instance, Linode, LinodeError};
use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};

/// How long a state read from the API is shown without asking again.
pub const STATE_FRESH: Duration = Duration::from_secs(10);

/// A host's Linode as its pages show it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLinode {
    pub host_id: i64,
    pub linode_id: i64,
    /// The label when the instance was picked.
    pub label: String,
    pub linked_at: OffsetDateTime,
    pub linked_by: String,
    /// The instance as last read (at most [`STATE_FRESH`] ago), or why it
    /// could not be read.
    pub instance: Reading,
    /// Read from the simulator (the demo), not the real API.
    pub simulated: bool,
}

/// An instance as the API last answered for it, or why it did not.
pub type Reading = std::result::Result<Instance, LinodeError>;

#[derive(Clone, Debug)]
struct LinkRow {
    host_id: i64,
    linode_id: i64,
    label: String,
    linked_at: OffsetDateTime,
    linked_by: String,
}

/// Which instance each host runs on, and whether the API is simulated (no
/// token stored, the demo's simulator): what the home page needs of the
/// database for every host's Linode.
#[derive(Debug)]
pub(super) struct Links {
    rows: Vec<LinkRow>,
    simulated: bool,
}

impl Linode {
    /// Every instance of the account (admins, to pick a host's).
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str()))]
    pub async fn instances(&self, by: &Operator) -> Result<Vec<Instance>> {
        by.require(Role::Admin)?;
        let (connection, _) = self.connection().await?;
        Ok(connection.api.instances(&connection.token).await?)
    }

    /// Makes `linode_id` the host's instance (admins), once the API says
    /// it is on the account. Audited.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), host_id, linode_id))]
    pub async fn link(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        linode_id: i64,
    ) -> Result<HostLinode> {
        by.require(Role::Admin)?;
        let host = self.hosts.get(host_id).await?;
        let (connection, simulated) = self.connection().await?;
        let instance = match connection.api.instance(&connection.token, linode_id).await {
            Ok(instance) => instance,
            Err(LinodeError::NotFound { .. }) => {
                return Err(DomainError::invalid("linode_id", "error-linode-instance-unknown"))
            }
            Err(other) => return Err(other.into()),
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as!(
            LinkRow,
            "INSERT INTO host_linodes (host_id, linode_id, label, linked_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (host_id) DO UPDATE
                SET linode_id = excluded.linode_id, label = excluded.label,
                    linked_by = excluded.linked_by, linked_at = now()
             RETURNING host_id, linode_id, label, linked_at, linked_by",
            host.id,
            instance.id,
            instance.label,
            by.username.as_str(),
        )
        .fetch_one(&mut *tx)
        .await?;
        AuditEntry::new(
            by.actor(),
            AuditAction::LinodeLink,
            host.name.as_str(),
            Outcome::Success,
        )
        .detail("linode", instance.id)
        .detail("label", instance.label.as_str())
        .detail("simulated", simulated)
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        self.links.changed();
        self.states.remember(instance.id, Ok(instance.clone()));
        Ok(HostLinode::of(row, Ok(instance), simulated))
    }

    /// The host's Linode and its live state, or `None` when no instance
    /// was picked for it.
    pub async fn of_host(&self, host_id: i64) -> Result<Option<HostLinode>> {
        let row = sqlx::query_as!(
            LinkRow,
            "SELECT host_id, linode_id, label, linked_at, linked_by FROM host_linodes WHERE host_id = $1",
            host_id
        )
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.with_state(row).await?)),
            None => Ok(None),
        }
    }

    /// Every host's Linode, for the home page: the links remembered from
    /// one change to the next, each instance's state as [`Self::state`]
    /// reads it.
    pub async fn of_every_host(&self) -> Result<Vec<HostLinode>> {
        let links = self
            .links
            .get(|| async {
                let rows = sqlx::query_as!(
                    LinkRow,
                    "SELECT host_id, linode_id, label, linked_at, linked_by FROM host_linodes ORDER BY host_id"
                )
                .fetch_all(&self.pool)
                .await?;
                let simulated = self.simulated().await?;
                Ok(Links { rows, simulated })
            })
            .await?;
        let mut linodes = Vec::with_capacity(links.rows.len());
        for row in &links.rows {
            let state = self.state(row.linode_id).await?;
            linodes.push(HostLinode::of(row.clone(), state, links.simulated));
        }
        Ok(linodes)
    }

    /// Whether the links' and the token's announcements are heard (see
    /// [`Remembered::hearing`]): while they are not, they are read at each
    /// request.
    pub fn hearing(&self, heard: bool) {
        self.links.hearing(heard);
    }

    /// A change of the links or the token was announced: they are read
    /// again.
    pub fn forget_links(&self) {
        self.links.changed();
    }

    async fn with_state(&self, row: LinkRow) -> Result<HostLinode> {
        let simulated = self.simulated().await?;
        let state = self.state(row.linode_id).await?;
        Ok(HostLinode::of(row, state, simulated))
    }

    /// The instance's state: remembered, or read once for every caller.
    pub(super) async fn state(&self, linode_id: i64) -> Result<Reading> {
        self.states
            .get(linode_id, || {
                self.read(linode_id, "state", |c| async move {
                    c.api.instance(&c.token, linode_id).await
                })
            })
            .await
    }
}

impl HostLinode {
    fn of(row: LinkRow, instance: Reading, simulated: bool) -> Self {
        HostLinode {
            host_id: row.host_id,
            linode_id: row.linode_id,
            label: row.label,
            linked_at: row.linked_at,
            linked_by: row.linked_by,
            instance,
            simulated,
        }
    }
}
