//! The journal's single writer thread: group commit (see the parent module's docs). It owns
//! every append and every change of term, so checks and writes never race.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use aurora_events::codec::{self, PreEncoded};
use aurora_events::{ChainHash, Seq, Timestamp};
use rocksdb::{DB, WriteBatch, WriteOptions};
use tokio::sync::{oneshot, watch};

use super::{
    CF_EVENTS, CF_META, CF_TIME_INDEX, Durability, MAX_BATCH_EVENTS, META_MARKER, META_TERM, cf,
    check_space, seq_key, synced, time_key,
};
use crate::mark::Mark;
use crate::{Error, Precondition, SeqRange, Term, check_append};

/// What the writer thread is asked to do, in queue order.
pub(super) enum Request {
    Append(AppendRequest),
    ClaimTerm(oneshot::Sender<Result<Term, Error>>),
}

pub(super) struct AppendRequest {
    pub(super) precondition: Precondition,
    pub(super) at: Timestamp,
    /// Encoded by the caller, so the single writer only adds seq and time.
    pub(super) events: Vec<PreEncoded>,
    /// Written to `meta` in the same batch as the events, if the append is accepted.
    pub(super) marker: Option<Vec<u8>>,
    pub(super) reply: oneshot::Sender<Result<SeqRange, Error>>,
}

/// The single owner of appends and term changes; see the module docs.
pub(super) struct Writer {
    pub(super) db: Arc<DB>,
    /// The journal's directory, whose file system's free space is checked before each batch.
    pub(super) path: PathBuf,
    /// Recorded after every committed batch, before the callers are answered (only when the
    /// batches are synced: a mark ahead of unsynced writes would be a false alarm).
    pub(super) mark: Mark,
    pub(super) durability: Durability,
    pub(super) last_seq: Seq,
    pub(super) last_at: Timestamp,
    /// The chain hash of the envelope at `last_seq`, which the next one links to.
    pub(super) last_hash: ChainHash,
    pub(super) term: watch::Sender<Term>,
    pub(super) committed: watch::Sender<Seq>,
}

/// The writer thread: takes the queued requests in batches, each under the state's lock (a
/// group committed in place takes it too, see the parent module). Ends when the queue closes.
pub(super) fn run(state: &Mutex<Writer>, queue: std_mpsc::Receiver<Request>) {
    while let Ok(first) = queue.recv() {
        let Ok(mut writer) = state.lock() else {
            // A group commit panicked mid-write: nothing can say what the journal holds.
            tracing::error!("the journal writer's state is poisoned; no more appends");
            return;
        };
        writer.take(first, &queue);
    }
}

impl Writer {
    /// Commits `first` and whatever else is already queued.
    fn take(&mut self, first: Request, queue: &std_mpsc::Receiver<Request>) {
        let mut requests = vec![first];
        let mut events = 0;
        while events < MAX_BATCH_EVENTS {
            match queue.try_recv() {
                Ok(request) => {
                    if let Request::Append(append) = &request {
                        events += append.events.len();
                    }
                    requests.push(request);
                }
                Err(_) => break,
            }
        }
        let mut appends = Vec::with_capacity(requests.len());
        for request in requests {
            match request {
                Request::Append(append) => appends.push(append),
                Request::ClaimTerm(reply) => {
                    // Appends queued before the claim are decided under the old term.
                    self.commit(std::mem::take(&mut appends));
                    let _ = reply.send(self.claim_term());
                }
            }
        }
        self.commit(appends);
    }

    fn claim_term(&mut self) -> Result<Term, Error> {
        let next = *self.term.borrow() + 1;
        self.db.put_cf_opt(
            cf(&self.db, CF_META)?,
            META_TERM,
            next.to_be_bytes(),
            &synced(),
        )?;
        self.term.send_replace(next);
        tracing::info!(term = next, "journal term claimed");
        Ok(next)
    }

    pub(super) fn commit(&mut self, requests: Vec<AppendRequest>) {
        if requests.is_empty() {
            return;
        }
        // Refuse before RocksDB meets a full disk: its error paths (a background error that
        // stops every write, an assertion in Debian's build) are what takes a process down.
        if let Err(full) = check_space(&self.path) {
            tracing::error!(error = %full, "journal writes refused");
            for request in requests {
                let _ = request.reply.send(Err(full.clone()));
            }
            return;
        }
        let term = *self.term.borrow();
        let mut accepted = Vec::with_capacity(requests.len());
        let written = (|| -> Result<(Seq, Timestamp, ChainHash), Error> {
            let events_cf = cf(&self.db, CF_EVENTS)?;
            let time_cf = cf(&self.db, CF_TIME_INDEX)?;
            let mut batch = WriteBatch::default();
            let (mut last, mut last_at, mut last_hash) =
                (self.last_seq, self.last_at, self.last_hash);
            // The marker of the last accepted append that has one: written once per batch
            // (a group's appends all carry the same one, and a later marker supersedes it).
            let mut marker = None;
            for request in requests {
                let at = match check_append(
                    request.precondition,
                    request.at,
                    request.events.len(),
                    term,
                    (last, last_at),
                ) {
                    Ok(at) => at,
                    Err(refused) => {
                        let _ = request.reply.send(Err(refused));
                        continue;
                    }
                };
                // The time index maps a ms to the last seq committed at it: one entry per
                // distinct time in the batch, written when the time moves on (and at the end).
                if at != last_at && last > self.last_seq {
                    batch.put_cf(time_cf, time_key(last_at), seq_key(last));
                }
                let first = last + 1;
                for pre in &request.events {
                    last += 1;
                    let frame = codec::frame_committed(last, at, Some(last_hash), pre);
                    last_hash = ChainHash::of_payload(&frame[codec::HEADER_LEN..]);
                    batch.put_cf(events_cf, seq_key(last), frame);
                }
                last_at = at;
                if request.marker.is_some() {
                    marker = request.marker;
                }
                accepted.push((request.reply, SeqRange::new(first, last)));
            }
            if !accepted.is_empty() {
                batch.put_cf(time_cf, time_key(last_at), seq_key(last));
                if let Some(marker) = marker {
                    batch.put_cf(cf(&self.db, CF_META)?, META_MARKER, marker);
                }
                let options = match self.durability {
                    Durability::Synced => synced(),
                    Durability::Replayable => WriteOptions::default(),
                };
                self.db.write_opt(batch, &options)?;
            }
            Ok((last, last_at, last_hash))
        })();
        match written {
            Ok((last, last_at, last_hash)) => {
                if last != self.last_seq
                    && self.durability == Durability::Synced
                    && let Err(e) = self.mark.record(last)
                {
                    // The batch is committed and must be acknowledged as such; only the
                    // check at the next open is weaker until a later batch records the mark.
                    tracing::error!(error = %e, last, "could not record the journal's high-water mark");
                }
                self.last_seq = last;
                self.last_at = last_at;
                self.last_hash = last_hash;
                self.committed.send_replace(last);
                for (reply, range) in accepted {
                    let _ = reply.send(Ok(range));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "journal write failed; the batch was not committed");
                let message = e.to_string();
                for (reply, _) in accepted {
                    let _ = reply.send(Err(Error::Storage(message.clone())));
                }
            }
        }
    }
}
