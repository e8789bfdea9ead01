//! The instance's graphs (manual §8.2): CPU, network in and out and disk
//! I/O over the last 24 h, as the API computes them (5-minute averages).
//! A reading is kept [`GRAPHS_FRESH`]: a new one would hold at most one
//! more point, so page views do not spend the API's rate limit (50 calls a
//! minute for stats).

use std::time::Duration;

use super::{Linode, LinodeError, LinodeStats};
use crate::error::Result;

/// How long the graphs read from the API are shown without asking again:
/// the API's granularity.
pub const GRAPHS_FRESH: Duration = Duration::from_secs(300);

/// An instance's graphs as the API last gave them, or why it did not.
pub type GraphsReading = std::result::Result<LinodeStats, LinodeError>;

impl Linode {
    /// The host's Linode's graphs (`None`: no instance linked to the host).
    pub async fn graphs_of(&self, host_id: i64) -> Result<Option<GraphsReading>> {
        let Some(linode) = self.of_host_row(host_id).await? else {
            return Ok(None);
        };
        let graphs = self
            .graphs
            .get(linode, || {
                self.read(linode, "graphs", |c| async move { c.api.stats(&c.token, linode).await })
            })
            .await?;
        Ok(Some(graphs))
    }
}
