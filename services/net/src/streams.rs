//! A cap on the long-lived answers (server-sent event streams) a server serves at once.
//!
//! Each such answer holds a connection, buffers and, for a journal stream, a reader of the
//! journal for as long as its client stays; without a cap, anyone who may read could open
//! them until the process runs out of memory. A handler takes a [`StreamSlot`] before it
//! answers (refusing with a 503 when there is none) and hands it to [`StreamSlot::hold`],
//! so the slot is free again the moment the answer's stream is dropped: when the client goes
//! away, when the server gives up on a client that stopped reading (see
//! [`Limits::write_stall_timeout`](crate::Limits::write_stall_timeout)), or at shutdown.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many event streams a server answers at once by default (as the web UI's live feed).
pub const MAX_EVENT_STREAMS: usize = 256;

/// The slots of one kind of stream, shared by its handlers.
#[derive(Debug, Clone)]
pub struct StreamSlots {
    free: Arc<Semaphore>,
    max: usize,
}

/// One stream's place, given back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    _permit: OwnedSemaphorePermit,
}

impl StreamSlots {
    pub fn new(max: usize) -> Self {
        Self {
            free: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// How many streams may run at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for one more stream, or `None` when every slot is taken.
    pub fn take(&self) -> Option<StreamSlot> {
        Arc::clone(&self.free)
            .try_acquire_owned()
            .ok()
            .map(|permit| StreamSlot { _permit: permit })
    }
}

impl Default for StreamSlots {
    fn default() -> Self {
        Self::new(MAX_EVENT_STREAMS)
    }
}

impl StreamSlot {
    /// `stream`, holding this slot for as long as it lives.
    pub fn hold<S: Stream>(self, stream: S) -> impl Stream<Item = S::Item> {
        stream.map(move |item| {
            let _held = &self;
            item
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_free_again_when_its_stream_is_dropped() {
        let slots = StreamSlots::new(2);
        let first = slots.take().unwrap().hold(futures::stream::iter([1, 2]));
        let _second = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(first);
        assert!(slots.take().is_some());
    }
}
