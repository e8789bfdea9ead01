//! What a console process keeps in memory for the pages staff open most:
//! what they show changes far less often than it is looked at.
//!
//! - [`Remembered`]: kept from one change to the next (the home page's
//!   newest audit records, each host's backup health), for what the
//!   console's own database holds.
//! - [`ReadEvery`]: kept a fixed time (a Linode's state, a host's services),
//!   for what is read elsewhere and changes without telling the console.
//!
//! For [`Remembered`], the database announces the changes (triggers `NOTIFY` a channel, to
//! every console process); whoever hears them (the server's session cache,
//! which listens to the database already) calls [`Remembered::changed`],
//! and says with [`Remembered::hearing`] whether it hears them at all.
//! While nobody does, nothing is remembered: the value is read at each
//! request. A value read while a change was announced is not kept, so a
//! value older than an announcement heard is never shown.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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

    /// The value if it is remembered now, without reading it.
    pub fn peek(&self) -> Option<Arc<T>> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner).clone()
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

/// How many periods old a value may be to be shown while it is read again.
const STALE_PERIODS: u32 = 3;

/// Values read from elsewhere (an API, a host over SSH), each kept for a
/// fixed time by key: however many pages show one meanwhile, it is read
/// once; the callers who find it stale while another reads it are shown
/// the last value (at most a few periods old), or wait for that one
/// reading when there is none. Whoever changes what a value says (a job)
/// replaces or forgets it at once; other console processes see the change
/// when their copy ages out.
#[derive(Debug)]
pub struct ReadEvery<K, V> {
    period: Duration,
    seen: Mutex<HashMap<K, (Instant, V)>>,
    readings: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    /// Bumped at every forgetting: a value read while it moved may predate
    /// the change, and is not kept.
    forgotten: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> ReadEvery<K, V> {
    /// Values kept for `period` each.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            seen: Mutex::new(HashMap::new()),
            readings: Mutex::new(HashMap::new()),
            forgotten: AtomicU64::new(0),
        }
    }

    /// How long a value is kept.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The value of `key` when read less than a period ago.
    pub fn fresh(&self, key: &K) -> Option<V> {
        self.younger_than(key, self.period)
    }

    /// The value of `key` when read less than a few periods ago: what may
    /// be shown while it is read again.
    pub fn recent(&self, key: &K) -> Option<V> {
        self.younger_than(key, self.period * STALE_PERIODS)
    }

    fn younger_than(&self, key: &K, age: Duration) -> Option<V> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(key)
            .filter(|(at, _)| at.elapsed() < age)
            .map(|(_, value)| value.clone())
    }

    /// The value of `key`: kept, or read with `read` (once for every caller
    /// who asks meanwhile) and kept.
    pub async fn get<F, Fut, E>(&self, key: K, read: F) -> std::result::Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<V, E>>,
    {
        if let Some(value) = self.fresh(&key) {
            return Ok(value);
        }
        let reading = self
            .readings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        let _turn = match reading.try_lock() {
            Ok(turn) => turn,
            Err(_) => {
                // Another caller is reading it: the last value read (if not
                // forgotten, and not older than a few periods) is shown
                // meanwhile rather than making every caller wait.
                if let Some(value) = self.younger_than(&key, self.period * STALE_PERIODS) {
                    return Ok(value);
                }
                reading.lock().await
            }
        };
        if let Some(value) = self.fresh(&key) {
            return Ok(value);
        }
        let before = self.forgotten.load(Ordering::SeqCst);
        let value = read().await?;
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        // Under the lock: forgetting bumps the count before taking it.
        if self.forgotten.load(Ordering::SeqCst) == before {
            seen.insert(key, (Instant::now(), value.clone()));
        }
        Ok(value)
    }

    /// `value` is what `key` says from now on.
    pub fn remember(&self, key: K, value: V) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (Instant::now(), value));
    }

    /// `key` is read again at the next request.
    pub fn forget(&self, key: &K) {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    /// Every value is read again at its next request.
    pub fn forget_all(&self) {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test]
    async fn callers_at_once_cause_one_reading_per_key_and_a_stale_value_is_read_again() {
        let memory = Arc::new(ReadEvery::<i64, usize>::new(Duration::from_millis(200)));
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |memory: Arc<ReadEvery<i64, usize>>, reads: Arc<AtomicUsize>, key: i64| async move {
            memory
                .get(key, || async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, ()>(reads.fetch_add(1, Ordering::SeqCst))
                })
                .await
        };
        let callers: Vec<_> = (0..20)
            .map(|i| tokio::spawn(read(memory.clone(), reads.clone(), i % 2)))
            .collect();
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2, "one reading per key");
        tokio::time::sleep(Duration::from_millis(250)).await;
        read(memory.clone(), reads.clone(), 0).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 3, "a stale value is read again");
        memory.forget(&0);
        read(memory.clone(), reads.clone(), 0).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 4, "a forgotten value is read again");
    }

    type Reading = tokio::task::JoinHandle<std::result::Result<&'static str, ()>>;

    /// A reading of key 1 under way, until `finish` is sent: it then
    /// answers `value`.
    async fn held_reading(
        memory: &Arc<ReadEvery<i64, &'static str>>,
        value: &'static str,
    ) -> (Reading, tokio::sync::oneshot::Sender<()>) {
        let (started, start) = tokio::sync::oneshot::channel();
        let (finish, finished) = tokio::sync::oneshot::channel::<()>();
        let memory = memory.clone();
        let reading = tokio::spawn(async move {
            memory
                .get(1, || async {
                    started.send(()).unwrap();
                    finished.await.unwrap();
                    Ok(value)
                })
                .await
        });
        start.await.unwrap();
        (reading, finish)
    }

    #[tokio::test]
    async fn a_value_read_while_it_was_forgotten_is_not_kept() {
        let memory = Arc::new(ReadEvery::<i64, &str>::new(Duration::from_secs(60)));
        let (reading, finish) = held_reading(&memory, "before the job").await;
        memory.forget(&1);
        finish.send(()).unwrap();
        assert_eq!(reading.await.unwrap(), Ok("before the job"));
        assert_eq!(memory.fresh(&1), None);
    }

    #[tokio::test]
    async fn while_a_value_is_read_again_the_last_one_is_shown_unless_it_was_forgotten() {
        let memory = Arc::new(ReadEvery::<i64, &str>::new(Duration::from_millis(50)));
        memory.remember(1, "last");
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (reading, finish) = held_reading(&memory, "new").await;
        let meanwhile = memory.get(1, || async { Ok::<_, ()>("a second reading") }).await;
        assert_eq!(meanwhile, Ok("last"), "shown without waiting, not read twice");
        finish.send(()).unwrap();
        assert_eq!(reading.await.unwrap(), Ok("new"));
        assert_eq!(memory.fresh(&1), Some("new"));
    }

    #[tokio::test]
    async fn a_failed_reading_is_not_kept() {
        let memory = ReadEvery::<i64, u8>::new(Duration::from_secs(60));
        assert!(memory.get(1, || async { Err::<u8, _>("down") }).await.is_err());
        assert_eq!(memory.get(1, || async { Ok::<_, &str>(7) }).await, Ok(7));
        assert_eq!(memory.fresh(&1), Some(7));
    }
}
