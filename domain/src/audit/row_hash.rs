//! How a row is hashed into the chain: a canonical encoding of its content
//! (sorted JSON keys, time in microseconds), hashed with plain SHA-256
//! (version 1, before the chain had a key) or HMAC-SHA256 under the chain's
//! key (version 2).

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::chain;

/// Rows chained with plain SHA-256, before the chain had a key.
pub(crate) const PLAIN: i16 = 1;
/// Rows chained with HMAC-SHA256 under the chain's key.
pub(crate) const KEYED: i16 = 2;

/// The `previous_hash` of the first row.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// The hashed part of a row: everything but its id and the hashes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordContent {
    pub at: OffsetDateTime,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub details: Value,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
}

impl RecordContent {
    /// Version 1: SHA-256 over the previous hash and the canonical content.
    /// Anyone with the database can compute it (which is why the chain is
    /// now keyed); public so tests can rewrite rows as an attacker would.
    pub fn chained_hash(&self, previous: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(previous);
        hasher.update(self.canonical().as_bytes());
        hasher.finalize().into()
    }

    /// Version 2: HMAC-SHA256 under the chain's key over the previous hash
    /// and the canonical content.
    pub(crate) fn keyed_hash(&self, previous: &[u8], key: &chain::ChainKey) -> [u8; 32] {
        key.mac(&[previous, self.canonical().as_bytes()])
    }

    /// A canonical encoding of the content (JSON with sorted keys, time in
    /// microseconds since the epoch), so the same row always hashes the same
    /// whatever order PostgreSQL's jsonb gives its keys back in.
    fn canonical(&self) -> String {
        let mut canonical = String::with_capacity(256);
        canonical.push('[');
        let micros = self.at.unix_timestamp_nanos() / 1_000;
        let _ = write!(canonical, "{micros},");
        match self.actor_id {
            Some(id) => {
                let _ = write!(canonical, "{id},");
            }
            None => canonical.push_str("null,"),
        }
        for text in [&self.actor, &self.action, &self.target, &self.outcome] {
            write_json_string(&mut canonical, text);
            canonical.push(',');
        }
        write_canonical_json(&mut canonical, &self.details);
        for text in [&self.client_address, &self.request_id] {
            canonical.push(',');
            match text {
                Some(text) => write_json_string(&mut canonical, text),
                None => canonical.push_str("null"),
            }
        }
        canonical.push(']');
        canonical
    }
}

fn write_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).expect("a string serialises"));
}

fn write_canonical_json(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_canonical_json(out, &map[key]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical_json(out, item);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(details: Value) -> RecordContent {
        RecordContent {
            at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            actor_id: Some(3),
            actor: "marie".into(),
            action: "account.create".into(),
            target: "paul".into(),
            outcome: "success".into(),
            details,
            client_address: Some("127.0.0.1".into()),
            request_id: None,
        }
    }

    #[test]
    fn the_hash_does_not_depend_on_the_order_of_detail_keys() {
        let a = content(serde_json::json!({"role": "operator", "by": "x"}));
        let b = content(serde_json::from_str(r#"{"by":"x","role":"operator"}"#).unwrap());
        assert_eq!(a.chained_hash(&GENESIS), b.chained_hash(&GENESIS));
    }

    #[test]
    fn the_hash_changes_with_the_content_and_with_the_previous_link() {
        let base = content(serde_json::json!({"role": "operator"}));
        let mut altered = base.clone();
        altered.target = "pierre".into();
        assert_ne!(base.chained_hash(&GENESIS), altered.chained_hash(&GENESIS));
        assert_ne!(base.chained_hash(&GENESIS), base.chained_hash(&[1; 32]));
    }
}
