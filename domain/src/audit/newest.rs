//! The newest records of the log, as the dashboard lists them, kept in
//! memory from one append to the next: the home page is the page staff open
//! most, and the log changes far less often than it is looked at.
//!
//! The database announces every append on [`CHANNEL`] (a trigger on
//! `audit_log`), to every console process; the rules of what is kept and
//! when it is forgotten are [`Remembered`]'s.

use std::sync::Arc;

use sqlx::PgPool;

use super::search::{fetch_page, AuditFilter, AuditRecord};
use crate::error::Result;
use crate::remembered::Remembered;

/// The channel the appends are announced on.
pub const CHANNEL: &str = "console_audit";

/// How many records the dashboard lists.
pub const NEWEST: u32 = 10;

/// What this process remembers of the newest records.
pub type NewestRecords = Remembered<Vec<AuditRecord>>;

/// The newest [`NEWEST`] records, newest first: remembered, or read.
pub(super) async fn read(newest: &NewestRecords, pool: &PgPool) -> Result<Arc<Vec<AuditRecord>>> {
    let every = AuditFilter::default();
    newest.get(|| fetch_page(pool, &every, None, NEWEST)).await
}
