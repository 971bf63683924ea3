//! The read side's own copy of the events it has folded (`--state-dir`): its durable position.
//!
//! Every batch read from the stream is appended here before it is folded, so the file always
//! holds at least what the projections hold. A restarted process folds the file (no network)
//! and resumes the stream strictly after its last seq; past views replay from it too. The
//! position and the events it counts live in one file, so they can never disagree — which a
//! server-side consumer's ack floor, kept apart from the projections, could.
//!
//! One record per envelope: `len: u32 LE | crc32c(seq ‖ json): u32 LE | seq: u64 LE | json`
//! (`len` counts the JSON). The seq sits outside the JSON so that opening indexes the file by
//! checksums alone; the envelopes are decoded once, when they are folded. The file is a cache of
//! the stream, not a record of its own: it is not fsynced per batch. A torn or damaged tail
//! (a crash mid-write) is cut off at the last whole record, and the stream supplies the rest.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use aurora_events::{Envelope, Seq};
use nix::fcntl::{Flock, FlockArg};

/// Longest record accepted when reading back (an envelope carries at most one task config).
const MAX_RECORD: u32 = 64 << 20;
const HEADER: usize = 16;

/// An append-only file of envelopes with dense seqs from 1.
#[derive(Debug)]
pub struct LocalLog {
    path: PathBuf,
    /// Locked (flock, exclusive) while open: two processes appending to one log would
    /// interleave their records.
    file: Flock<File>,
    /// Byte offset of the record of seq `i + 1`.
    offsets: Vec<u64>,
    /// Where the next record goes.
    end: u64,
}

/// What opening found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Opened {
    /// Bytes after the last whole record that were cut off.
    pub cut_bytes: u64,
}

impl LocalLog {
    /// Opens (or creates) `dir/<cluster>.events`, indexing every whole record and cutting off
    /// a damaged tail. Refused while another process (or another open) holds the log.
    pub fn open(dir: &Path, cluster: &str) -> anyhow::Result<(Self, Opened)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{cluster}.events"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let file = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
            anyhow::anyhow!(
                "{} is in use by another aurora-web ({errno}): give each its own --state-dir",
                path.display()
            )
        })?;
        let length = file.metadata()?.len();
        let mut log = Self {
            path,
            file,
            offsets: Vec::new(),
            end: 0,
        };
        log.index(length)?;
        let cut_bytes = length - log.end;
        if cut_bytes > 0 {
            log.file
                .set_len(log.end)
                .with_context(|| format!("cutting the damaged tail of {}", log.path.display()))?;
        }
        Ok((log, Opened { cut_bytes }))
    }

    /// Walks the records from the start, stopping at the first that is not whole, intact and
    /// next in seq.
    fn index(&mut self, length: u64) -> anyhow::Result<()> {
        let mut reader = BufReader::new(&*self.file);
        reader.seek(SeekFrom::Start(0))?;
        let mut offset = 0u64;
        while let Some(record) = read_record(&mut reader, length - offset)? {
            if record.seq != self.last_seq() + 1 {
                tracing::warn!(
                    path = %self.path.display(),
                    found = record.seq,
                    expected = self.last_seq() + 1,
                    "the local log skips a seq; cutting it there"
                );
                break;
            }
            self.offsets.push(offset);
            offset += record.size;
        }
        self.end = offset;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq of the last record (0 when empty).
    pub fn last_seq(&self) -> Seq {
        self.offsets.len() as Seq
    }

    /// Appends envelopes that must follow on from the last record, in seq order.
    pub fn append(&mut self, envelopes: &[Envelope]) -> anyhow::Result<()> {
        let mut buffer = Vec::new();
        let mut offsets = Vec::with_capacity(envelopes.len());
        for (next, envelope) in (self.last_seq() + 1..).zip(envelopes) {
            if envelope.seq != next {
                bail!(
                    "the local log expects seq {next} next, not {} ({})",
                    envelope.seq,
                    self.path.display()
                );
            }
            offsets.push(self.end + buffer.len() as u64);
            encode(envelope, &mut buffer)?;
        }
        let mut writer = BufWriter::new(&*self.file);
        writer.seek(SeekFrom::Start(self.end))?;
        writer
            .write_all(&buffer)
            .and_then(|()| writer.flush())
            .with_context(|| format!("appending to {}", self.path.display()))?;
        self.end += buffer.len() as u64;
        self.offsets.extend(offsets);
        Ok(())
    }

    /// The envelopes with seqs `from..=to` (which must be held).
    pub fn read(&self, from: Seq, to: Seq) -> anyhow::Result<Vec<Envelope>> {
        if from > to {
            return Ok(Vec::new());
        }
        if from == 0 || to > self.last_seq() {
            bail!(
                "the local log holds seqs 1..={}, not {from}..={to}",
                self.last_seq()
            );
        }
        let start = self.offsets[(from - 1) as usize];
        let stop = self.offsets.get(to as usize).copied().unwrap_or(self.end);
        let mut bytes = vec![0u8; (stop - start) as usize];
        self.file
            .read_exact_at(&mut bytes, start)
            .with_context(|| format!("reading {}", self.path.display()))?;
        let mut slice = bytes.as_slice();
        let mut envelopes = Vec::with_capacity((to - from + 1) as usize);
        while let Some(record) = read_record(&mut slice, u64::MAX)? {
            let envelope: Envelope = serde_json::from_slice(&record.json).with_context(|| {
                format!(
                    "seq {} of {} does not decode",
                    record.seq,
                    self.path.display()
                )
            })?;
            envelopes.push(envelope);
        }
        if envelopes.len() as u64 != to - from + 1 {
            bail!(
                "{} changed under the read side: seqs {from}..={to} are no longer whole",
                self.path.display()
            );
        }
        Ok(envelopes)
    }

    /// Empties the log (the stream it copied is not the one there now).
    pub fn clear(&mut self) -> anyhow::Result<()> {
        self.file
            .set_len(0)
            .with_context(|| format!("emptying {}", self.path.display()))?;
        self.offsets.clear();
        self.end = 0;
        Ok(())
    }
}

fn encode(envelope: &Envelope, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let json = serde_json::to_vec(envelope).context("encoding an envelope")?;
    let len = u32::try_from(json.len())
        .ok()
        .filter(|len| *len <= MAX_RECORD)
        .with_context(|| format!("seq {} is too large to keep", envelope.seq))?;
    let seq = envelope.seq.to_le_bytes();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(&seq, &json).to_le_bytes());
    out.extend_from_slice(&seq);
    out.extend_from_slice(&json);
    Ok(())
}

fn checksum(seq: &[u8; 8], json: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(seq), json)
}

/// One whole, intact record, its JSON not yet decoded.
struct Record {
    seq: Seq,
    json: Vec<u8>,
    /// Bytes it takes in the file, header included.
    size: u64,
}

/// The next record; `None` at the end, or at a record that is cut short or fails its
/// checksum (the damaged tail). Only I/O failures are errors.
fn read_record(reader: &mut impl Read, left: u64) -> anyhow::Result<Option<Record>> {
    if left < HEADER as u64 {
        return Ok(None);
    }
    let mut header = [0u8; HEADER];
    if !read_whole(reader, &mut header)? {
        return Ok(None);
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3, seq @ ..] = header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    if len > MAX_RECORD || u64::from(len) > left - HEADER as u64 {
        return Ok(None);
    }
    let mut json = vec![0u8; len as usize];
    if !read_whole(reader, &mut json)? || checksum(&seq, &json) != crc {
        return Ok(None);
    }
    Ok(Some(Record {
        seq: u64::from_le_bytes(seq),
        size: (HEADER + json.len()) as u64,
        json,
    }))
}

/// Fills `buffer`; false if the input ends first.
fn read_whole(reader: &mut impl Read, buffer: &mut [u8]) -> anyhow::Result<bool> {
    match reader.read_exact(buffer) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::{Actor, Event, EventId, Identifier, Timestamp};

    fn envelope(seq: Seq) -> Envelope {
        Envelope {
            seq,
            id: EventId(aurora_events::Uuid::from_u128(u128::from(seq))),
            at: Timestamp::from_millis(1_000 + seq as i64),
            actor: Actor::User(format!("user{seq}")),
            cause: None,
            event: Event::QuotaSet {
                role: Identifier::new("www").unwrap(),
                quota: Default::default(),
            },
            prev_hash: None,
        }
    }

    fn batch(seqs: std::ops::RangeInclusive<Seq>) -> Vec<Envelope> {
        seqs.map(envelope).collect()
    }

    #[test]
    fn records_survive_a_reopen_and_read_back_by_seq() {
        let dir = tempfile::tempdir().unwrap();
        let written = batch(1..=50);
        {
            let (mut log, opened) = LocalLog::open(dir.path(), "c").unwrap();
            assert_eq!(opened, Opened::default());
            log.append(&written[..20]).unwrap();
            log.append(&written[20..]).unwrap();
        }
        let (log, opened) = LocalLog::open(dir.path(), "c").unwrap();
        assert_eq!((log.last_seq(), opened.cut_bytes), (50, 0));
        assert_eq!(log.read(1, 50).unwrap(), written);
        assert_eq!(log.read(17, 23).unwrap(), written[16..23].to_vec());
        assert_eq!(log.read(50, 50).unwrap(), written[49..].to_vec());
        assert!(log.read(0, 3).is_err());
        assert!(log.read(40, 51).is_err(), "beyond the end");
    }

    #[test]
    fn a_gap_or_a_repeat_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = LocalLog::open(dir.path(), "c").unwrap();
        log.append(&batch(1..=3)).unwrap();
        let error = log.append(&batch(5..=6)).unwrap_err().to_string();
        assert!(error.contains("expects seq 4 next, not 5"), "{error}");
        assert!(log.append(&batch(3..=3)).is_err());
        assert_eq!(log.last_seq(), 3, "nothing of a refused batch is kept");
        log.append(&batch(4..=4)).unwrap();
        assert_eq!(
            log.read(1, 4).unwrap(),
            batch(1..=4).into_iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_torn_or_damaged_tail_is_cut_at_the_last_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let (mut log, _) = LocalLog::open(dir.path(), "c").unwrap();
            log.append(&batch(1..=10)).unwrap();
            log.path().to_path_buf()
        };
        let whole = std::fs::metadata(&path).unwrap().len();
        // A torn write: half a record's header and body.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'{']).unwrap();
        drop(file);
        let (mut log, opened) = LocalLog::open(dir.path(), "c").unwrap();
        assert_eq!((log.last_seq(), opened.cut_bytes), (10, 9));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        log.append(&batch(11..=11)).unwrap();
        drop(log);

        // A flipped byte inside record 6: records 6.. are cut off, 1..=5 kept.
        let mut bytes = std::fs::read(&path).unwrap();
        let (log, _) = LocalLog::open(dir.path(), "c").unwrap();
        let sixth = log.offsets[5] as usize;
        drop(log);
        bytes[sixth + HEADER + 3] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let (log, opened) = LocalLog::open(dir.path(), "c").unwrap();
        assert_eq!(log.last_seq(), 5);
        assert_eq!(opened.cut_bytes, bytes.len() as u64 - sixth as u64);
        assert_eq!(
            log.read(1, 5).unwrap(),
            batch(1..=5).into_iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_log_in_use_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (held, _) = LocalLog::open(dir.path(), "c").unwrap();
        let error = LocalLog::open(dir.path(), "c").unwrap_err().to_string();
        assert!(error.contains("in use by another aurora-web"), "{error}");
        drop(held);
        assert!(
            LocalLog::open(dir.path(), "c").is_ok(),
            "free again once closed"
        );
    }

    #[test]
    fn clearing_starts_again_from_seq_1() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = LocalLog::open(dir.path(), "c").unwrap();
        log.append(&batch(1..=4)).unwrap();
        log.clear().unwrap();
        assert_eq!(log.last_seq(), 0);
        log.append(&batch(1..=2)).unwrap();
        drop(log);
        let (log, _) = LocalLog::open(dir.path(), "c").unwrap();
        assert_eq!(
            log.read(1, 2).unwrap(),
            batch(1..=2).into_iter().collect::<Vec<_>>()
        );
    }
}
