//! The one store every secret goes through (SSH private keys now; API
//! tokens and environment values later). Secrets are sealed with
//! XChaCha20-Poly1305 under a 32-byte master key from configuration, bound to
//! their purpose (so a sealed value cannot be moved to another use), and kept
//! in the `secrets` table. Opened values live in [`Zeroizing`] buffers; no
//! secret is ever sent to the browser, logged, or written in the audit log.
//!
//! Rotation re-seals every secret under a new key in one transaction. Each
//! sealed value names its key (the first 8 bytes of the key's SHA-256), so a
//! [`SecretBox`] holding the old and the new key reads both while a rotation
//! finishes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
pub use zeroize::Zeroizing;

use crate::error::{DomainError, Result};

const FORMAT_VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;

/// A 32-byte master key.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", hex::encode(self.id()))
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Reads a key written by [`MasterKey::encode`] (64 hex digits).
    pub fn decode(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| DomainError::invalid("master_key", "error-master-key"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DomainError::invalid("master_key", "error-master-key"))?;
        Ok(Self(Zeroizing::new(key)))
    }

    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    fn id(&self) -> [u8; KEY_ID_LEN] {
        let digest = Sha256::digest(self.0.as_ref());
        digest[..KEY_ID_LEN]
            .try_into()
            .expect("a digest is longer than a key id")
    }
}

/// Seals and opens secrets. The first key seals; every key opens.
#[derive(Clone, Debug)]
pub struct SecretBox {
    keys: Vec<MasterKey>,
}

impl SecretBox {
    pub fn new(primary: MasterKey) -> Self {
        Self { keys: vec![primary] }
    }

    /// Also opens values sealed under `older` (during a rotation).
    pub fn also_opening(mut self, older: MasterKey) -> Self {
        if self.keys.iter().all(|k| k.id() != older.id()) {
            self.keys.push(older);
        }
        self
    }

    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail");
        let mut sealed = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_VERSION);
        sealed.extend_from_slice(&key.id());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens a sealed value; fails if it was sealed for another purpose,
    /// under a key this box does not hold, or altered.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let unreadable = || {
            DomainError::Internal(format!(
                "a secret ({purpose}) cannot be opened with the configured master key"
            ))
        };
        if sealed.len() < 1 + KEY_ID_LEN + NONCE_LEN || sealed[0] != FORMAT_VERSION {
            return Err(unreadable());
        }
        let key_id = &sealed[1..1 + KEY_ID_LEN];
        let nonce = &sealed[1 + KEY_ID_LEN..1 + KEY_ID_LEN + NONCE_LEN];
        let key = self.keys.iter().find(|k| k.id() == key_id).ok_or_else(unreadable)?;
        let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: &sealed[1 + KEY_ID_LEN + NONCE_LEN..],
                    aad: purpose.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| unreadable())
    }
}

/// The `secrets` table: each row one sealed value and its purpose.
#[derive(Clone, Debug)]
pub struct SecretStore {
    pool: PgPool,
    sealer: SecretBox,
}

/// A stored secret's id; the only handle other tables keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct SecretId(pub i64);

impl SecretStore {
    pub fn new(pool: PgPool, sealer: SecretBox) -> Self {
        Self { pool, sealer }
    }

    /// Seals and stores a secret inside the caller's transaction.
    pub async fn put(&self, tx: &mut PgConnection, purpose: &str, plaintext: &[u8]) -> Result<SecretId> {
        let sealed = self.sealer.seal(purpose, plaintext);
        Ok(
            sqlx::query_scalar("INSERT INTO secrets (purpose, sealed) VALUES ($1, $2) RETURNING id")
                .bind(purpose)
                .bind(sealed)
                .fetch_one(tx)
                .await?,
        )
    }

    pub async fn get(&self, id: SecretId) -> Result<Zeroizing<Vec<u8>>> {
        let (purpose, sealed): (String, Vec<u8>) = sqlx::query_as("SELECT purpose, sealed FROM secrets WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DomainError::NotFound("secret"))?;
        self.sealer.open(&purpose, &sealed)
    }

    /// Re-seals every stored secret under `new_key`, in one transaction.
    /// Returns how many were re-sealed and the box to use from now on.
    pub async fn rotate(&self, new_key: MasterKey) -> Result<(u64, SecretBox)> {
        let next = SecretBox::new(new_key);
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, String, Vec<u8>)> =
            sqlx::query_as("SELECT id, purpose, sealed FROM secrets ORDER BY id FOR UPDATE")
                .fetch_all(&mut *tx)
                .await?;
        for (id, purpose, sealed) in &rows {
            let plaintext = self.sealer.open(purpose, sealed)?;
            sqlx::query("UPDATE secrets SET sealed = $2, updated_at = now() WHERE id = $1")
                .bind(id)
                .bind(next.seal(purpose, &plaintext))
                .execute(&mut *tx)
                .await?;
        }
        crate::audit::AuditEntry::new(
            crate::audit::Actor::System,
            "secrets.rotate_master_key",
            "secrets",
            crate::audit::Outcome::Success,
        )
        .detail("resealed", rows.len() as u64)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok((rows.len() as u64, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_purpose_only() {
        let sealer = SecretBox::new(MasterKey::generate());
        let sealed = sealer.seal("host:1:private_key", b"-----BEGIN OPENSSH PRIVATE KEY-----");
        assert_eq!(
            sealer.open("host:1:private_key", &sealed).unwrap().as_slice(),
            b"-----BEGIN OPENSSH PRIVATE KEY-----"
        );
        assert!(sealer.open("host:2:private_key", &sealed).is_err());
        assert!(
            !sealed.windows(5).any(|w| w == b"BEGIN"),
            "the plaintext does not show through"
        );
    }

    #[test]
    fn an_altered_value_or_another_key_does_not_open() {
        let sealer = SecretBox::new(MasterKey::generate());
        let mut sealed = sealer.seal("p", b"secret");
        *sealed.last_mut().unwrap() ^= 1;
        assert!(sealer.open("p", &sealed).is_err());
        let other = SecretBox::new(MasterKey::generate());
        assert!(other.open("p", &sealer.seal("p", b"secret")).is_err());
    }

    #[test]
    fn a_box_with_both_keys_opens_old_and_new_values() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let before = SecretBox::new(old.clone()).seal("p", b"v");
        let both = SecretBox::new(new).also_opening(old);
        assert_eq!(both.open("p", &before).unwrap().as_slice(), b"v");
        assert_eq!(both.open("p", &both.seal("p", b"w")).unwrap().as_slice(), b"w");
    }

    #[test]
    fn a_key_survives_its_text_form_and_its_debug_shows_no_bytes() {
        let key = MasterKey::generate();
        let text = key.encode();
        assert_eq!(MasterKey::decode(&text).unwrap().id(), key.id());
        assert!(!format!("{key:?}").contains(text.as_str()));
        assert!(MasterKey::decode("not hex").is_err());
    }
}
