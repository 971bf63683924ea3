//! The subscription stream shared by every backend: catch up by reading committed ranges, then
//! wait for the committed seq to move and read again. Reading back (rather than pushing events
//! through a channel) means a slow subscriber can never lag out or miss an event.

use std::collections::VecDeque;

use aurora_events::{Envelope, Seq};
use tokio::sync::watch;

use crate::{Error, EventStream, Journal, SeqRange};

/// How many envelopes a subscriber reads at a time while catching up.
const CHUNK: u64 = 1024;

struct Follow<J> {
    journal: J,
    committed: watch::Receiver<Seq>,
    /// Most envelopes read (and held) at a time.
    chunk: u64,
    next: Seq,
    buffer: VecDeque<Envelope>,
    failed: bool,
}

/// Streams `journal` from `from`, woken by `committed` (the last committed seq).
pub(crate) fn follow<J: Journal + Clone>(
    journal: J,
    committed: watch::Receiver<Seq>,
    from: Seq,
) -> EventStream {
    follow_in_chunks(journal, committed, from, CHUNK)
}

/// [`follow`], reading (and holding) at most `chunk` envelopes at a time (at least one).
pub(crate) fn follow_in_chunks<J: Journal + Clone>(
    journal: J,
    committed: watch::Receiver<Seq>,
    from: Seq,
    chunk: u64,
) -> EventStream {
    let state = Follow {
        journal,
        committed,
        chunk: chunk.max(1),
        next: from.max(1),
        buffer: VecDeque::new(),
        failed: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(envelope) = st.buffer.pop_front() {
                return Some((Ok(envelope), st));
            }
            if st.failed {
                return None;
            }
            let last = *st.committed.borrow_and_update();
            if st.next <= last {
                let range = SeqRange::new(st.next, last.min(st.next + st.chunk - 1));
                match st.journal.read(range).await {
                    Ok(envelopes) if envelopes.len() as u64 == range.len() => {
                        st.next = range.last + 1;
                        st.buffer.extend(envelopes);
                    }
                    Ok(envelopes) => {
                        st.failed = true;
                        let problem = format!(
                            "read of committed seqs {}..={} returned {} envelopes",
                            range.first,
                            range.last,
                            envelopes.len()
                        );
                        return Some((Err(Error::Damaged(problem)), st));
                    }
                    Err(e) => {
                        st.failed = true;
                        return Some((Err(e), st));
                    }
                }
            } else if st.committed.changed().await.is_err() {
                // The journal is gone: nothing more will ever be committed.
                return None;
            }
        }
    }))
}
