//! What a journal directory says about itself outside RocksDB's own files, so that damage to
//! those files is told from a journal that simply holds less:
//!
//! - `AURORA-CLUSTER`: the cluster's name, written once when the journal is initialised (atomically:
//!   a temporary file renamed into place);
//! - `AURORA-ACKNOWLEDGED`: the high-water mark, the last seq the journal acknowledged. The writer
//!   records it after every committed batch, before answering, so a journal opened with fewer
//!   events than its mark has lost acknowledged events (a damaged, truncated or deleted
//!   write-ahead log) and is refused rather than served shorter.
//!
//! The mark is two fixed-size slots written alternately, each with a generation and a
//! checksum, and synced: a crash in the middle of one write leaves the other slot whole, and
//! the newest whole slot is the mark. A crash between RocksDB's commit and the mark's write
//! only leaves the mark behind the journal, which is harmless.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use aurora_events::Seq;

use crate::Error;

/// (RocksDB keeps its own `IDENTITY` file in the same directory: ours are prefixed.)
pub(crate) const IDENTITY_FILE: &str = "AURORA-CLUSTER";
pub(crate) const MARK_FILE: &str = "AURORA-ACKNOWLEDGED";

const MAGIC: &[u8; 4] = b"AKM1";
const SLOT: usize = 32;

fn io_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::Storage(format!("cannot {what} {}: {e}", path.display()))
}

/// Writes the cluster's identity into `dir` (a new journal), atomically and durably.
pub(crate) fn write_identity(dir: &Path, cluster: &str) -> Result<(), Error> {
    let path = dir.join(IDENTITY_FILE);
    let temporary = dir.join(format!("{IDENTITY_FILE}.tmp"));
    let mut file = File::create(&temporary).map_err(|e| io_error(&temporary, "create", e))?;
    file.write_all(format!("cluster={cluster}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&temporary, "write", e))?;
    std::fs::rename(&temporary, &path).map_err(|e| io_error(&path, "rename into", e))?;
    sync_dir(dir)
}

/// Whether `dir` has an acknowledgement mark.
pub(crate) fn exists(dir: &Path) -> bool {
    dir.join(MARK_FILE).exists()
}

/// The cluster named by `dir`'s identity file, if it has one.
pub(crate) fn read_identity(dir: &Path) -> Result<Option<String>, Error> {
    let path = dir.join(IDENTITY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match text.trim_end().strip_prefix("cluster=") {
            Some(cluster) => Ok(Some(cluster.to_string())),
            None => Err(Error::Damaged(format!(
                "{} is not a journal identity (it should read \"cluster=NAME\")",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path, "read", e)),
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, "sync", e))
}

/// The high-water mark file, open for writing.
#[derive(Debug)]
pub(crate) struct Mark {
    file: File,
    path: PathBuf,
    generation: u64,
}

fn encode_slot(generation: u64, acknowledged: Seq) -> [u8; SLOT] {
    let mut slot = [0u8; SLOT];
    slot[..4].copy_from_slice(MAGIC);
    slot[8..16].copy_from_slice(&generation.to_le_bytes());
    slot[16..24].copy_from_slice(&acknowledged.to_le_bytes());
    let crc = crc32c::crc32c(&slot[..24]);
    slot[24..28].copy_from_slice(&crc.to_le_bytes());
    slot
}

/// A slot's (generation, acknowledged), if it is whole.
fn decode_slot(slot: &[u8]) -> Option<(u64, Seq)> {
    if slot.len() != SLOT || &slot[..4] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(slot[24..28].try_into().ok()?);
    if crc != crc32c::crc32c(&slot[..24]) {
        return None;
    }
    let generation = u64::from_le_bytes(slot[8..16].try_into().ok()?);
    let acknowledged = u64::from_le_bytes(slot[16..24].try_into().ok()?);
    Some((generation, acknowledged))
}

impl Mark {
    /// Opens `dir`'s mark, creating it at `acknowledged` when there is none (a new journal, or
    /// one made before marks were kept). Returns the mark and the seq it held (`None` if new).
    pub(crate) fn open(dir: &Path, acknowledged: Seq) -> Result<(Self, Option<Seq>), Error> {
        let path = dir.join(MARK_FILE);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, "open", e))?;
        let mut bytes = [0u8; 2 * SLOT];
        let read = read_up_to(&file, &mut bytes).map_err(|e| io_error(&path, "read", e))?;
        let newest = [&bytes[..SLOT], &bytes[SLOT..]]
            .into_iter()
            .take(read.div_ceil(SLOT))
            .filter_map(decode_slot)
            .max_by_key(|(generation, _)| *generation);
        let held = match (existed, newest) {
            (true, Some((_, seq))) => Some(seq),
            (true, None) if read > 0 => {
                return Err(Error::Damaged(format!(
                    "{} is damaged (no whole slot): the journal cannot tell how much it \
                     acknowledged",
                    path.display()
                )));
            }
            _ => None,
        };
        let mut mark = Self {
            file,
            path,
            generation: newest.map_or(0, |(generation, _)| generation),
        };
        if held.is_none() {
            mark.record(acknowledged)?;
            sync_dir(dir)?;
        }
        Ok((mark, held))
    }

    /// Records that everything up to `acknowledged` is committed (synced before returning).
    pub(crate) fn record(&mut self, acknowledged: Seq) -> Result<(), Error> {
        let generation = self.generation + 1;
        let offset = (generation % 2) * SLOT as u64;
        self.file
            .write_all_at(&encode_slot(generation, acknowledged), offset)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| io_error(&self.path, "write", e))?;
        self.generation = generation;
        Ok(())
    }
}

fn read_up_to(file: &File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match file.read_at(&mut buffer[read..], read as u64)? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_newest_whole_slot_is_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let (mut mark, held) = Mark::open(dir.path(), 1).unwrap();
        assert_eq!(held, None, "a new mark");
        for seq in [5, 9, 12] {
            mark.record(seq).unwrap();
        }
        drop(mark);
        assert_eq!(Mark::open(dir.path(), 0).unwrap().1, Some(12));
        // Tear the newest slot (generation 4, slot 0): the other one (seq 9) is the mark.
        let path = dir.path().join(MARK_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(Mark::open(dir.path(), 0).unwrap().1, Some(9));
        // Both torn: the journal cannot know what it acknowledged, and says so.
        bytes[SLOT + 20] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(Mark::open(dir.path(), 0), Err(Error::Damaged(_))));
    }

    #[test]
    fn identity_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_identity(dir.path()).unwrap(), None);
        write_identity(dir.path(), "west").unwrap();
        assert_eq!(read_identity(dir.path()).unwrap().as_deref(), Some("west"));
    }
}
