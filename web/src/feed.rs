//! The live activity feed behind `/events/stream`, shared by every client.
//!
//! One pump task per app follows the read model's folded seq and, at most every
//! [`FLUSH_EVERY`], takes the activity entries folded since its last batch, renders each as a
//! server-sent event once, and broadcasts the batch; each client only filters the batch by its
//! own cursor and writes the frames. So the feed costs one computation and one rendering per
//! batch however many clients listen, and each client wakes at most ten times a second however
//! fast the cluster writes (each client computing the feed for itself on every fold made 1,000
//! clients cut the write rate by 98%). Clients are capped, and a client too slow to keep up
//! with the broadcast is dropped (its browser reconnects from now) rather than waited for.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aurora_events::Seq;
use aurora_net::streams::{StreamSlot, StreamSlots};
use aurora_projections::{ActivityEntry, Queries, ReadModel};
use axum::body::Bytes;
use tokio::sync::broadcast;

/// Events looked at per fold; more than the leader commits between two folds in practice.
/// Older ones in a burst are skipped (the page says so on reload).
const WINDOW: usize = 1000;

/// Batches a client may fall behind before it is dropped: over a second and a half of
/// activity at the flush rate.
pub const BACKLOG: usize = 16;

/// Clients served at once; more are refused (503) until some leave.
pub const MAX_CLIENTS: usize = aurora_net::streams::MAX_EVENT_STREAMS;

/// Folds arriving within this long of each other go out as one batch.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// What every client receives: the entries folded since the previous batch, oldest first,
/// each with its seq and its server-sent event, rendered once for everyone.
pub type Batch = Arc<Vec<(Seq, Bytes)>>;

/// The shared feed of one app.
pub struct Feed {
    read: Arc<ReadModel>,
    sender: OnceLock<broadcast::Sender<Batch>>,
    clients: StreamSlots,
    /// How an entry becomes a server-sent event.
    render: fn(&ActivityEntry) -> Bytes,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("max_clients", &self.clients.max())
            .finish_non_exhaustive()
    }
}

/// One client's place in the feed. Dropping it frees the client's slot.
#[derive(Debug)]
pub struct Subscription {
    pub batches: broadcast::Receiver<Batch>,
    /// Entries at or before this seq were folded before the client connected.
    pub since: Seq,
    _slot: StreamSlot,
}

impl Feed {
    pub fn new(read: Arc<ReadModel>, render: fn(&ActivityEntry) -> Bytes) -> Self {
        Self {
            read,
            sender: OnceLock::new(),
            clients: StreamSlots::new(MAX_CLIENTS),
            render,
        }
    }

    /// A place in the feed, or `None` when every slot is taken. Starts the pump with the
    /// first subscriber (it needs the tokio runtime the requests run on).
    pub fn subscribe(&self) -> Option<Subscription> {
        let slot = self.clients.take()?;
        let sender = self.sender.get_or_init(|| {
            let (sender, _) = broadcast::channel(BACKLOG);
            // Follow the folds from now, not from when the task first runs: a fold in between
            // would otherwise be missed.
            let folded = self.read.subscribe();
            let sent = self.read.last_seq();
            tokio::spawn(pump(
                Arc::clone(&self.read),
                folded,
                sent,
                sender.clone(),
                self.render,
            ));
            sender
        });
        Some(Subscription {
            batches: sender.subscribe(),
            since: self.read.last_seq(),
            _slot: slot,
        })
    }
}

/// Follows the folds for as long as anyone could listen, broadcasting what each batch of them
/// added.
async fn pump(
    read: Arc<ReadModel>,
    mut folded: tokio::sync::watch::Receiver<Seq>,
    mut sent: Seq,
    sender: broadcast::Sender<Batch>,
    render: fn(&ActivityEntry) -> Bytes,
) {
    while folded.changed().await.is_ok() {
        // Let the folds of the next moment join this batch.
        tokio::time::sleep(FLUSH_EVERY).await;
        folded.borrow_and_update();
        let mut fresh: Vec<ActivityEntry> = read
            .live(|v| v.activity(WINDOW))
            .into_iter()
            .filter(|entry| entry.seq > sent)
            .collect();
        fresh.reverse();
        let Some(newest) = fresh.last() else {
            continue;
        };
        sent = newest.seq;
        let batch: Vec<(Seq, Bytes)> = fresh.iter().map(|e| (e.seq, render(e))).collect();
        // No receiver right now is fine: the next client starts from its own connection.
        let _ = sender.send(Arc::new(batch));
    }
}
