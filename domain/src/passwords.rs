//! Password policy and hashing. Hashes are argon2id with OWASP's parameters
//! (m = 19 MiB, t = 2, p = 1), computed on tokio's blocking pool so a sign-in
//! never stalls the async workers, and at most [`CONCURRENT_HASHES`] at a
//! time: each one holds 19 MiB, so a burst of anonymous sign-ins queues
//! instead of taking the process's memory with it. (The binary also keeps
//! such buffers out of malloc's arenas so they go back to the system once
//! freed: see `server/src/main.rs`.)

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::accounts::Username;
use crate::error::{DomainError, Result};

/// The shortest password the console accepts.
pub const MIN_LENGTH: usize = 12;
/// Longer inputs are refused before hashing: hashing is the costly part.
pub const MAX_LENGTH: usize = 256;

/// Passwords people reach for first (lower-cased, at least twelve characters,
/// since shorter ones fail the length rule anyway).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// A password that passed the policy for a given username. The only way to
/// make one is [`NewPassword::parse`].
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(****)")
    }
}

impl NewPassword {
    /// Applies the policy: at least 12 characters, not the username, not a
    /// common password.
    pub fn parse(candidate: &str, username: &Username) -> Result<Self> {
        let length = candidate.chars().count();
        if length < MIN_LENGTH {
            return Err(DomainError::invalid("password", "error-password-too-short"));
        }
        if length > MAX_LENGTH {
            return Err(DomainError::invalid("password", "error-password-too-long"));
        }
        let lowered = candidate.to_lowercase();
        if lowered.contains(username.as_str()) {
            return Err(DomainError::invalid("password", "error-password-contains-username"));
        }
        if is_common(&lowered) {
            return Err(DomainError::invalid("password", "error-password-common"));
        }
        Ok(Self(candidate.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn is_common(lowered: &str) -> bool {
    let single_repeated_char = lowered.chars().all(|c| lowered.starts_with(c));
    single_repeated_char || COMMON_PASSWORDS.lines().any(|line| line.trim() == lowered)
}

/// How many argon2 computations run at once, process-wide. Two keep a
/// sign-in's wait short on a small server while bounding their memory to
/// 38 MiB.
pub const CONCURRENT_HASHES: usize = 2;

/// Runs one argon2 computation on the blocking pool once a slot is free. The
/// slot travels with the computation, so a caller that gives up (a closed
/// connection) cannot let a queued one start beside it.
async fn with_argon2_slot<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_HASHES);
    let slot = SLOTS
        .acquire()
        .await
        .map_err(|e| DomainError::Internal(format!("hashing slots: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let result = {
            #[cfg(test)]
            let _running = tests::Running::start();
            work()
        };
        drop(slot);
        result
    })
    .await
    .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password off the async runtime.
pub async fn hash(password: &NewPassword) -> Result<String> {
    let password = password.0.clone();
    with_argon2_slot(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| DomainError::Internal(format!("argon2: {e}")))
    })
    .await?
}

/// Checks a password against a stored hash off the async runtime. A malformed
/// hash counts as a mismatch.
pub async fn verify(candidate: &str, stored_hash: &str) -> Result<bool> {
    let candidate = candidate.to_owned();
    let stored_hash = stored_hash.to_owned();
    with_argon2_slot(move || {
        let Ok(parsed) = PasswordHash::new(&stored_hash) else {
            return false;
        };
        hasher().verify_password(candidate.as_bytes(), &parsed).is_ok()
    })
    .await
}

/// A hash of a random password, verified against when the account does not
/// exist, so an unknown username costs as long as a wrong password.
pub async fn decoy_hash() -> &'static str {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_init(|| async {
            let random: String = {
                use rand::Rng;
                rand::thread_rng()
                    .sample_iter(&rand::distributions::Alphanumeric)
                    .take(32)
                    .map(char::from)
                    .collect()
            };
            hash(&NewPassword(random)).await.unwrap_or_default()
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static MOST_AT_ONCE: AtomicUsize = AtomicUsize::new(0);

    /// Counts the argon2 computations running at this moment.
    pub(super) struct Running;

    impl Running {
        pub(super) fn start() -> Self {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MOST_AT_ONCE.fetch_max(now, Ordering::SeqCst);
            Running
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            RUNNING.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_verifications_runs_at_most_two_at_a_time() {
        let stored = hash(&NewPassword::parse("four olives on a margherita", &alice()).unwrap())
            .await
            .unwrap();
        let burst: Vec<_> = (0..12)
            .map(|i| {
                let stored = stored.clone();
                tokio::spawn(async move { verify(&format!("guess number {i}"), &stored).await.unwrap() })
            })
            .collect();
        for guess in burst {
            assert!(!guess.await.unwrap());
        }
        let most = MOST_AT_ONCE.load(Ordering::SeqCst);
        assert!((1..=CONCURRENT_HASHES).contains(&most), "{most} ran at once");
    }

    fn alice() -> Username {
        Username::parse("alice").unwrap()
    }

    #[test]
    fn a_short_password_is_refused() {
        let err = NewPassword::parse("Court-1", &alice()).unwrap_err();
        assert!(matches!(err, DomainError::Invalid(i) if i.message == "error-password-too-short"));
    }

    #[test]
    fn a_password_containing_the_username_is_refused() {
        let err = NewPassword::parse("xx-ALICE-2026-xx", &alice()).unwrap_err();
        assert!(matches!(err, DomainError::Invalid(i) if i.message == "error-password-contains-username"));
    }

    #[test]
    fn a_common_password_is_refused_whatever_its_case() {
        for common in ["Password1234", "AZERTYUIOP123", "aaaaaaaaaaaaaaa"] {
            let err = NewPassword::parse(common, &alice()).unwrap_err();
            assert!(
                matches!(err, DomainError::Invalid(ref i) if i.message == "error-password-common"),
                "{common} was accepted"
            );
        }
    }

    #[test]
    fn a_long_unusual_password_is_accepted() {
        assert!(NewPassword::parse("four olives on a margherita", &alice()).is_ok());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let password = NewPassword::parse("four olives on a margherita", &alice()).unwrap();
        let stored = hash(&password).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("four olives on a margherita", &stored).await.unwrap());
        assert!(!verify("five olives on a margherita", &stored).await.unwrap());
        assert!(!verify("anything", "not a hash").await.unwrap());
    }
}
