//! What a console process keeps in memory from one change to the next,
//! for the pages staff open most (the home page's newest audit records, each
//! host's backup health): what they show changes far less often than it is
//! looked at.
//!
//! The database announces the changes (triggers `NOTIFY` a channel, to
//! every console process); whoever hears them (the server's session cache,
//! which listens to the database already) calls [`Remembered::changed`],
//! and says with [`Remembered::hearing`] whether it hears them at all.
//! While nobody does, nothing is remembered: the value is read at each
//! request. A value read while a change was announced is not kept, so a
//! value older than an announcement heard is never shown.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::Result;

/// A value kept until the next announced change.
#[derive(Debug)]
pub struct Remembered<T> {
    value: Mutex<Option<Arc<T>>>,
    /// Bumped at every announcement: a value read while it moved may miss
    /// the change announced, and is not kept.
    generation: AtomicU64,
    /// Whether the announcements are heard right now.
    heard: AtomicBool,
}

impl<T> Default for Remembered<T> {
    fn default() -> Self {
        Self {
            value: Mutex::new(None),
            generation: AtomicU64::new(0),
            heard: AtomicBool::new(false),
        }
    }
}

impl<T> Remembered<T> {
    /// A change was announced (by any console process): forget the value.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.value.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Whether the announcements are heard from now on. Either way what was
    /// remembered is forgotten: announcements may have been missed.
    pub fn hearing(&self, heard: bool) {
        self.heard.store(heard, Ordering::SeqCst);
        self.changed();
    }

    /// The value: remembered, or read with `read` (and remembered when no
    /// change was announced meanwhile and announcements are heard).
    pub async fn get<F, Fut>(&self, read: F) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if !self.heard.load(Ordering::SeqCst) {
            return read().await.map(Arc::new);
        }
        if let Some(value) = self.value.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Ok(value);
        }
        let before = self.generation.load(Ordering::SeqCst);
        let value = Arc::new(read().await?);
        let mut kept = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        // Under the lock: an announcement cannot come between this check
        // and the keeping (`changed` takes the lock after bumping).
        if self.generation.load(Ordering::SeqCst) == before && self.heard.load(Ordering::SeqCst) {
            *kept = Some(value.clone());
        }
        Ok(value)
    }
}
