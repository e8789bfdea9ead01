//! Signed checkpoints of the chain's head, kept outside the database: one
//! line per checkpoint appended to a file in the data directory (and
//! fsynced), signed with the chain's key. A checkpoint says "row N existed
//! with this hash": rows missing after it, or another hash at N, are a
//! break that no amount of rewriting in the database can hide.
//!
//! A line: `v1 <unix seconds> <chain id> <row id> <rows> <keyed 0|1> <row hash> <HMAC>`,
//! all numbers in decimal, binary values in hex. Lines of another chain
//! (another database used with the same data directory) or whose HMAC does
//! not verify are skipped.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::chain::{ChainKey, ChainPoint};

const DOMAIN: &[u8] = b"ocpizza audit checkpoint\n";
/// Checkpoints are looked for in the file's last bytes first.
const TAIL: u64 = 64 * 1024;

/// A verified checkpoint read back from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub written_at: i64,
    pub point: ChainPoint,
}

/// The append-only file of checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a signed checkpoint of `point` and waits until it is on disk.
    /// Returns the line written.
    pub(crate) fn append(&self, key: &ChainKey, point: &ChainPoint) -> std::io::Result<String> {
        let written_at = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = format!(
            "v1 {written_at} {} {} {} {} {}",
            hex::encode(&key.chain_id),
            point.id,
            point.rows,
            u8::from(point.keyed),
            hex::encode(&point.hash)
        );
        let tag = key.mac(&[DOMAIN, body.as_bytes()]);
        let line = format!("{body} {}", hex::encode(tag));
        let created = !self.path.exists();
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        file.write_all(format!("{line}\n").as_bytes())?;
        file.sync_data()?;
        if created {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::File::open(dir)?.sync_all()?;
            }
        }
        Ok(line)
    }

    /// The newest checkpoint of this chain whose signature verifies.
    pub(crate) fn newest(&self, key: &ChainKey) -> std::io::Result<Option<Checkpoint>> {
        let mut file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let length = file.metadata()?.len();
        let mut from = length.saturating_sub(TAIL);
        loop {
            file.seek(SeekFrom::Start(from))?;
            let mut text = String::new();
            Read::by_ref(&mut file).take(length - from).read_to_string(&mut text)?;
            // The first line of a tail may be cut: only whole lines count.
            let whole = if from == 0 {
                text.as_str()
            } else {
                text.split_once('\n').map_or("", |(_, rest)| rest)
            };
            if let Some(found) = whole.lines().rev().find_map(|line| parse(key, line)) {
                return Ok(Some(found));
            }
            if from == 0 {
                return Ok(None);
            }
            from = 0;
        }
    }
}

fn parse(key: &ChainKey, line: &str) -> Option<Checkpoint> {
    let (body, tag) = line.trim_end().rsplit_once(' ')?;
    let fields: Vec<&str> = body.split(' ').collect();
    let ["v1", written_at, chain, id, rows, keyed, hash] = fields.as_slice() else {
        return None;
    };
    if hex::decode(chain).ok()? != key.chain_id || !key.verifies(&[DOMAIN, body.as_bytes()], &hex::decode(tag).ok()?) {
        return None;
    }
    Some(Checkpoint {
        written_at: written_at.parse().ok()?,
        point: ChainPoint {
            id: id.parse().ok()?,
            rows: rows.parse().ok()?,
            keyed: *keyed == "1",
            hash: hex::decode(hash).ok()?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(id: i64) -> ChainPoint {
        ChainPoint {
            id,
            hash: vec![id as u8; 32],
            rows: id as u64,
            keyed: true,
        }
    }

    fn file() -> CheckpointFile {
        CheckpointFile::new(std::env::temp_dir().join(format!("ocpizza-checkpoints-{}", uuid::Uuid::new_v4().simple())))
    }

    #[test]
    fn the_newest_checkpoint_of_this_chain_is_read_back_and_other_chains_are_skipped() {
        let file = file();
        let ours = ChainKey::random();
        let theirs = ChainKey::random();
        assert_eq!(file.newest(&ours).unwrap(), None);
        file.append(&ours, &point(3)).unwrap();
        file.append(&ours, &point(7)).unwrap();
        file.append(&theirs, &point(9)).unwrap();
        assert_eq!(file.newest(&ours).unwrap().unwrap().point, point(7));
        assert_eq!(file.newest(&theirs).unwrap().unwrap().point, point(9));
        let _ = std::fs::remove_file(file.path());
    }

    #[test]
    fn a_checkpoint_edited_in_the_file_does_not_verify() {
        let file = file();
        let key = ChainKey::random();
        file.append(&key, &point(3)).unwrap();
        let line = file.append(&key, &point(7)).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        // The newest checkpoint moved back to row 5 by someone without the key.
        let forged = line.replacen(" 7 7 ", " 5 5 ", 1);
        std::fs::write(file.path(), text.replace(&line, &forged)).unwrap();
        assert_eq!(file.newest(&key).unwrap().unwrap().point, point(3));
        let _ = std::fs::remove_file(file.path());
    }
}
