//! The newest records of the log, as the dashboard lists them, kept in
//! memory from one append to the next: the home page is the page staff open
//! most, and the log changes far less often than it is looked at.
//!
//! The database announces every append on [`CHANNEL`] (a trigger on
//! `audit_log`), to every console process; whoever hears the announcements
//! (the server's session cache, which listens to the database already)
//! calls [`NewestRecords::appended`], and says with
//! [`NewestRecords::hearing`] whether it hears them at all. While nobody
//! does, nothing is remembered: the records are read at each request. A
//! list read while an append was announced is not kept, so a list older
//! than an announcement heard is never shown.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::PgPool;

use super::search::{fetch_page, AuditFilter, AuditRecord};
use crate::error::Result;

/// The channel the appends are announced on.
pub const CHANNEL: &str = "console_audit";

/// How many records the dashboard lists.
pub const NEWEST: u32 = 10;

/// What this process remembers of the newest records.
#[derive(Debug, Default)]
pub struct NewestRecords {
    remembered: Mutex<Option<Arc<Vec<AuditRecord>>>>,
    /// Bumped at every announcement: a list read while it moved may miss
    /// the record announced, and is not kept.
    generation: AtomicU64,
    /// Whether the announcements are heard right now.
    heard: AtomicBool,
}

impl NewestRecords {
    /// A record was appended (by any console process): forget the list.
    pub fn appended(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.remembered.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Whether the announcements are heard from now on. Either way what was
    /// remembered is forgotten: announcements may have been missed.
    pub fn hearing(&self, heard: bool) {
        self.heard.store(heard, Ordering::SeqCst);
        self.appended();
    }

    /// The newest [`NEWEST`] records, newest first: remembered, or read.
    pub(super) async fn read(&self, pool: &PgPool) -> Result<Arc<Vec<AuditRecord>>> {
        let read = || async {
            fetch_page(pool, &AuditFilter::default(), None, NEWEST)
                .await
                .map(Arc::new)
        };
        if !self.heard.load(Ordering::SeqCst) {
            return read().await;
        }
        if let Some(records) = self.remembered.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Ok(records);
        }
        let before = self.generation.load(Ordering::SeqCst);
        let records = read().await?;
        let mut remembered = self.remembered.lock().unwrap_or_else(PoisonError::into_inner);
        // Under the lock: an announcement cannot come between this check
        // and the keeping (`appended` takes the lock after bumping).
        if self.generation.load(Ordering::SeqCst) == before && self.heard.load(Ordering::SeqCst) {
            *remembered = Some(records.clone());
        }
        Ok(records)
    }
}
