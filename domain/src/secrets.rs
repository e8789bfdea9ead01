//! The one store every secret goes through (SSH private keys now; API
//! tokens and environment values later). Secrets are sealed with
//! XChaCha20-Poly1305 under a 32-byte master key from configuration, bound to
//! their row and their purpose (the associated data names the `secrets` row's
//! id and its purpose, so a sealed value copied onto another row, or another
//! use, does not open), and kept in the `secrets` table. Opened values live
//! in [`Zeroizing`] buffers; no secret is ever sent to the browser, logged,
//! or written in the audit log.
//!
//! Rotation re-seals every secret under a new key in one transaction. Each
//! sealed value names its key (the first 8 bytes of the key's SHA-256), so a
//! [`SecretBox`] holding the old and the new key reads both while a rotation
//! finishes.
//!
//! Format 1 (bound to the purpose only) is still read once, to re-seal it as
//! format 2 ([`SecretStore::upgrade_format`], at start-up and by rotation).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
pub use zeroize::{Zeroize, Zeroizing};

use crate::error::{DomainError, Result};

/// Bound to the purpose only: read to be re-sealed, never written.
const FORMAT_PURPOSE_ONLY: u8 = 1;
/// Bound to the row's id and the purpose.
const FORMAT_VERSION: u8 = 2;
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

    /// The key's id (16 hex digits): what names it in file names and
    /// messages, never the key itself.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id())
    }
}

/// What a sealed value is bound to: its row in `secrets` and its purpose.
fn associated_data(format: u8, id: SecretId, purpose: &str) -> Vec<u8> {
    match format {
        FORMAT_PURPOSE_ONLY => purpose.as_bytes().to_vec(),
        _ => format!("ocpizza-console secret v{format}\0{}\0{purpose}", id.0).into_bytes(),
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

    /// Seals `plaintext` for row `id` of `secrets` and `purpose`.
    pub fn seal(&self, id: SecretId, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &associated_data(FORMAT_VERSION, id, purpose),
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

    /// Opens a value sealed for row `id` and `purpose`; fails if it was
    /// sealed for another row or purpose, under a key this box does not
    /// hold, in the old format, or altered.
    pub fn open(&self, id: SecretId, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.open_as(&[FORMAT_VERSION], id, purpose, sealed)
    }

    /// Like [`SecretBox::open`], also reading format 1 (to re-seal it).
    fn open_any_format(&self, id: SecretId, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.open_as(&[FORMAT_VERSION, FORMAT_PURPOSE_ONLY], id, purpose, sealed)
    }

    fn open_as(&self, formats: &[u8], id: SecretId, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let unreadable = || {
            DomainError::Internal(format!(
                "secret {} ({purpose}) cannot be opened with the configured master key",
                id.0
            ))
        };
        if sealed.len() < 1 + KEY_ID_LEN + NONCE_LEN || !formats.contains(&sealed[0]) {
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
                    aad: &associated_data(sealed[0], id, purpose),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| unreadable())
    }

    fn holds(&self, key_id: &[u8]) -> bool {
        self.keys.iter().any(|k| k.id() == key_id)
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

/// The row a value sealed outside the `secrets` table is bound to.
const PASSING: SecretId = SecretId(0);

fn passing_purpose(purpose: &str, holder: &str) -> String {
    format!("{purpose}\0{holder}")
}

/// How many secrets are stored, whatever key sealed them: read before any
/// key is at hand, to refuse generating a new one over sealed values.
pub async fn stored_count(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM secrets"#)
        .fetch_one(pool)
        .await?)
}

/// A stored secret as it sits in its row: still sealed.
struct SealedRow {
    id: SecretId,
    purpose: String,
    sealed: Vec<u8>,
}

impl SecretStore {
    pub fn new(pool: PgPool, sealer: SecretBox) -> Self {
        Self { pool, sealer }
    }

    /// Seals and stores a secret inside the caller's transaction.
    #[tracing::instrument(skip(self, tx, plaintext))]
    pub async fn put(&self, tx: &mut PgConnection, purpose: &str, plaintext: &[u8]) -> Result<SecretId> {
        // The row's id is part of what the value is sealed to: take it first.
        let id = sqlx::query_scalar!(
            r#"INSERT INTO secrets (purpose, sealed) VALUES ($1, '') RETURNING id AS "id: SecretId""#,
            purpose
        )
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE secrets SET sealed = $2 WHERE id = $1",
            id.0,
            self.sealer.seal(id, purpose, plaintext)
        )
        .execute(&mut *tx)
        .await?;
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn get(&self, id: SecretId) -> Result<Zeroizing<Vec<u8>>> {
        let row = self.sealed(id).await?;
        self.sealer.open(id, &row.purpose, &row.sealed)
    }

    /// Like [`SecretStore::get`], and fails unless the secret was stored for
    /// `purpose` (its owner): a row pointed at another owner's secret gets
    /// nothing.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn get_for(&self, id: SecretId, purpose: &str) -> Result<Zeroizing<Vec<u8>>> {
        let row = self.sealed(id).await?;
        if row.purpose != purpose {
            return Err(DomainError::Internal(format!(
                "secret {} belongs to {}, not to {purpose}",
                id.0, row.purpose
            )));
        }
        self.sealer.open(id, purpose, &row.sealed)
    }

    /// Seals a value kept outside the `secrets` table for a moment (a
    /// form's answer, kept in its session for the page the browser comes
    /// back to), bound to `purpose` and to `holder` (the session): copied
    /// into another session, it does not open. Bound to row 0, which no
    /// stored secret has (their ids start at 1).
    pub fn seal_passing(&self, purpose: &str, holder: &str, plaintext: &[u8]) -> Vec<u8> {
        self.sealer.seal(PASSING, &passing_purpose(purpose, holder), plaintext)
    }

    /// Opens what [`SecretStore::seal_passing`] sealed for the same purpose
    /// and holder.
    pub fn open_passing(&self, purpose: &str, holder: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.sealer.open(PASSING, &passing_purpose(purpose, holder), sealed)
    }

    async fn sealed(&self, id: SecretId) -> Result<SealedRow> {
        sqlx::query_as!(
            SealedRow,
            r#"SELECT id AS "id: SecretId", purpose, sealed FROM secrets WHERE id = $1"#,
            id.0
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DomainError::NotFound("secret"))
    }

    /// How many stored secrets exist, and how many of them are sealed under
    /// a key this store does not hold (so could never be opened).
    #[tracing::instrument(skip(self))]
    pub async fn readability(&self) -> Result<(u64, u64)> {
        let keys: Vec<(Option<Vec<u8>>, i64)> = sqlx::query!(
            r#"SELECT substring(sealed from 2 for 8) AS key_id, count(*) AS "count!" FROM secrets GROUP BY 1"#
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| (row.key_id, row.count))
        .collect();
        let total = keys.iter().map(|(_, n)| *n as u64).sum();
        let missing = keys
            .iter()
            .filter(|(id, _)| !id.as_deref().is_some_and(|id| self.sealer.holds(id)))
            .map(|(_, n)| *n as u64)
            .sum();
        Ok((total, missing))
    }

    /// Re-seals values still in format 1 (bound to their purpose only) as
    /// format 2 (bound to their row too), in one audited transaction.
    /// Returns how many were.
    #[tracing::instrument(skip(self))]
    pub async fn upgrade_format(&self) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query_as!(
            SealedRow,
            r#"SELECT id AS "id: SecretId", purpose, sealed FROM secrets
               WHERE get_byte(sealed, 0) = $1 ORDER BY id FOR UPDATE"#,
            i32::from(FORMAT_PURPOSE_ONLY)
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        self.reseal(
            &mut tx,
            &self.sealer,
            &rows,
            crate::audit::AuditAction::SecretsUpgradeFormat,
        )
        .await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Re-seals `rows` with `next` and audits it as `action`, in `tx`.
    async fn reseal(
        &self,
        tx: &mut PgConnection,
        next: &SecretBox,
        rows: &[SealedRow],
        action: crate::audit::AuditAction,
    ) -> Result<()> {
        for row in rows {
            let plaintext = self.sealer.open_any_format(row.id, &row.purpose, &row.sealed)?;
            sqlx::query!(
                "UPDATE secrets SET sealed = $2, updated_at = now() WHERE id = $1",
                row.id.0,
                next.seal(row.id, &row.purpose, &plaintext)
            )
            .execute(&mut *tx)
            .await?;
        }
        crate::audit::AuditEntry::new(
            crate::audit::Actor::System,
            action,
            "secrets",
            crate::audit::Outcome::Success,
        )
        .detail("resealed", rows.len() as u64)
        .record(tx)
        .await
    }

    /// Re-seals every stored secret under `new_key`, in one transaction.
    /// Returns how many were re-sealed and the box to use from now on.
    #[tracing::instrument(skip_all)]
    pub async fn rotate(&self, new_key: MasterKey) -> Result<(u64, SecretBox)> {
        let next = SecretBox::new(new_key);
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query_as!(
            SealedRow,
            r#"SELECT id AS "id: SecretId", purpose, sealed FROM secrets ORDER BY id FOR UPDATE"#
        )
        .fetch_all(&mut *tx)
        .await?;
        self.reseal(&mut tx, &next, &rows, crate::audit::AuditAction::SecretsRotateMasterKey)
            .await?;
        tx.commit().await?;
        Ok((rows.len() as u64, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: SecretId = SecretId(1);

    #[test]
    fn a_sealed_secret_opens_for_its_row_and_purpose_only() {
        let sealer = SecretBox::new(MasterKey::generate());
        let sealed = sealer.seal(ONE, "host:1:private_key", b"-----BEGIN OPENSSH PRIVATE KEY-----");
        assert_eq!(
            sealer.open(ONE, "host:1:private_key", &sealed).unwrap().as_slice(),
            b"-----BEGIN OPENSSH PRIVATE KEY-----"
        );
        assert!(sealer.open(ONE, "host:2:private_key", &sealed).is_err());
        assert!(sealer.open(SecretId(2), "host:1:private_key", &sealed).is_err());
        assert!(
            !sealed.windows(5).any(|w| w == b"BEGIN"),
            "the plaintext does not show through"
        );
    }

    #[tokio::test]
    async fn a_passing_value_opens_in_its_holder_only() {
        // Never connected: sealing in passing touches no table.
        let pool = PgPool::connect_lazy("postgres://127.0.0.1:1/none").unwrap();
        let store = SecretStore::new(pool, SecretBox::new(MasterKey::generate()));
        let sealed = store.seal_passing("form answer", "session-a", b"ocp_secret_token");
        assert_eq!(
            store
                .open_passing("form answer", "session-a", &sealed)
                .unwrap()
                .as_slice(),
            b"ocp_secret_token"
        );
        assert!(store.open_passing("form answer", "session-b", &sealed).is_err());
        assert!(store.open_passing("other use", "session-a", &sealed).is_err());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn an_altered_value_or_another_key_does_not_open() {
        let sealer = SecretBox::new(MasterKey::generate());
        let mut sealed = sealer.seal(ONE, "p", b"secret");
        *sealed.last_mut().unwrap() ^= 1;
        assert!(sealer.open(ONE, "p", &sealed).is_err());
        let other = SecretBox::new(MasterKey::generate());
        assert!(other.open(ONE, "p", &sealer.seal(ONE, "p", b"secret")).is_err());
    }

    #[test]
    fn a_box_with_both_keys_opens_old_and_new_values() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let before = SecretBox::new(old.clone()).seal(ONE, "p", b"v");
        let both = SecretBox::new(new).also_opening(old);
        assert_eq!(both.open(ONE, "p", &before).unwrap().as_slice(), b"v");
        assert_eq!(
            both.open(ONE, "p", &both.seal(ONE, "p", b"w")).unwrap().as_slice(),
            b"w"
        );
    }

    /// A value sealed by the first format (bound to its purpose only) opens
    /// only to be re-sealed, never through `open`.
    #[test]
    fn a_purpose_only_value_is_read_for_resealing_only() {
        let key = MasterKey::generate();
        let sealer = SecretBox::new(key.clone());
        let mut legacy = vec![FORMAT_PURPOSE_ONLY];
        legacy.extend_from_slice(&key.id());
        let nonce = [7u8; NONCE_LEN];
        legacy.extend_from_slice(&nonce);
        legacy.extend(
            XChaCha20Poly1305::new(key.0.as_ref().into())
                .encrypt(XNonce::from_slice(&nonce), Payload { msg: b"v", aad: b"p" })
                .unwrap(),
        );
        assert!(sealer.open(ONE, "p", &legacy).is_err());
        assert_eq!(sealer.open_any_format(ONE, "p", &legacy).unwrap().as_slice(), b"v");
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
