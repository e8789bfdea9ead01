//! Warm connections: a session its user is done with, in good health, waits
//! here for [`IDLE_FOR`], and the next connection to the same host (same
//! address, port and user, same pinned key, same private key) takes it
//! instead of a new handshake. A handshake with OpenSSH costs a key
//! exchange, a signature and a process forked on the host: about half a
//! second on a busy machine, paid by every page that reads a host and by
//! every job. A session is used by one caller at a time; callers at once
//! each get their own.
//!
//! A waiting session is checked before it is handed out (a channel opened
//! and closed: one round trip), so a host restarted meanwhile, or a
//! connection cut, costs a fresh handshake, never a failure; a host whose
//! key changed since is then refused as always. A connection is kept only
//! as long as it was authenticated against the pinned key: re-pinning a
//! host forgets its waiting sessions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::Handle;

use super::{PinnedKey, SshTarget};

/// How long a session waits unused before it is closed.
pub const IDLE_FOR: Duration = Duration::from_secs(60);

/// How many sessions wait per host at most (more are closed at once).
const WAITING_PER_HOST: usize = 2;

/// How long a waiting session may take to open a channel before a fresh
/// handshake is preferred.
const PROBE_WITHIN: Duration = Duration::from_secs(3);

/// What a waiting session may be reused for: a connection to the same
/// place, checked against the same pinned key, signed in with the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WarmKey {
    pub host_id: i64,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub pinned_fingerprint: String,
    pub private_key: i64,
}

impl WarmKey {
    pub fn new(host_id: i64, target: &SshTarget, pinned_fingerprint: &str, private_key: i64) -> Self {
        Self {
            host_id,
            address: target.address.as_str().to_owned(),
            port: target.port,
            user: target.user.as_str().to_owned(),
            pinned_fingerprint: pinned_fingerprint.to_owned(),
            private_key,
        }
    }
}

struct Waiting {
    id: u64,
    handle: Handle<PinnedKey>,
}

/// The sessions waiting to be reused, shared by every clone.
#[derive(Clone, Default)]
pub struct WarmSessions {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    waiting: Mutex<HashMap<WarmKey, Vec<Waiting>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for WarmSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting: usize = self.lock().values().map(Vec::len).sum();
        f.debug_struct("WarmSessions").field("waiting", &waiting).finish()
    }
}

impl WarmSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WarmKey, Vec<Waiting>>> {
        self.inner
            .waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A waiting session for `key` that still answers, newest first.
    pub(super) async fn take(&self, key: &WarmKey) -> Option<Handle<PinnedKey>> {
        loop {
            let handle = {
                let mut waiting = self.lock();
                let list = waiting.get_mut(key)?;
                let found = list.pop().map(|w| w.handle);
                if list.is_empty() {
                    waiting.remove(key);
                }
                found?
            };
            if answers(&handle).await {
                return Some(handle);
            }
            tracing::debug!(host = key.host_id, "a waiting SSH session no longer answered");
            disconnect(handle).await;
        }
    }

    /// `handle` waits for its next user (closed after [`IDLE_FOR`] unused).
    pub(super) fn give_back(&self, key: WarmKey, handle: Handle<PinnedKey>) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let surplus = {
            let mut waiting = self.lock();
            let list = waiting.entry(key.clone()).or_default();
            list.push(Waiting { id, handle });
            let over = list.len().saturating_sub(WAITING_PER_HOST);
            list.drain(..over).map(|w| w.handle).collect::<Vec<_>>()
        };
        let sessions = self.clone();
        tokio::spawn(async move {
            for handle in surplus {
                disconnect(handle).await;
            }
            tokio::time::sleep(IDLE_FOR).await;
            if let Some(handle) = sessions.remove(&key, |w| w.id == id) {
                disconnect(handle).await;
            }
        });
    }

    /// Closes every session waiting for `host_id` (its key was re-pinned,
    /// or it was changed).
    pub fn forget(&self, host_id: i64) {
        let gone: Vec<Handle<PinnedKey>> = {
            let mut waiting = self.lock();
            let keys: Vec<WarmKey> = waiting.keys().filter(|k| k.host_id == host_id).cloned().collect();
            keys.iter()
                .filter_map(|k| waiting.remove(k))
                .flatten()
                .map(|w| w.handle)
                .collect()
        };
        if !gone.is_empty() {
            tokio::spawn(async move {
                for handle in gone {
                    disconnect(handle).await;
                }
            });
        }
    }

    /// How many sessions wait (all hosts).
    pub fn waiting(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn remove(&self, key: &WarmKey, which: impl Fn(&Waiting) -> bool) -> Option<Handle<PinnedKey>> {
        let mut waiting = self.lock();
        let list = waiting.get_mut(key)?;
        let position = list.iter().position(which)?;
        let found = list.remove(position).handle;
        if list.is_empty() {
            waiting.remove(key);
        }
        Some(found)
    }
}

/// Whether the connection still carries a channel: one opened and closed.
async fn answers(handle: &Handle<PinnedKey>) -> bool {
    if handle.is_closed() {
        return false;
    }
    let probe = async {
        let channel = handle.channel_open_session().await?;
        channel.close().await
    };
    matches!(tokio::time::timeout(PROBE_WITHIN, probe).await, Ok(Ok(())))
}

async fn disconnect(handle: Handle<PinnedKey>) {
    let _ = handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
}
