//! The live activity feed behind `/events/stream`, shared by every client.
//!
//! One pump task per app follows the read model's folded seq and, once per fold, takes the new
//! activity entries from the views and broadcasts them; each client only filters the
//! broadcast by its own cursor. So a fold costs one feed computation however many clients
//! listen (each computing it for itself made 1,000 clients cut the write rate by 98%). Clients
//! are capped, and a client too slow to keep up with the broadcast is dropped (its browser
//! reconnects from now) rather than waited for.

use std::sync::{Arc, OnceLock};

use aurora_events::Seq;
use aurora_projections::{ActivityEntry, Queries, ReadModel};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

/// Events looked at per fold; more than the leader commits between two folds in practice.
/// Older ones in a burst are skipped (the page says so on reload).
const WINDOW: usize = 1000;

/// Batches a client may fall behind before it is dropped.
const BACKLOG: usize = 64;

/// Clients served at once; more are refused (503) until some leave.
pub const MAX_CLIENTS: usize = 256;

/// What every client receives: the entries folded since the previous batch, oldest first.
pub type Batch = Arc<Vec<ActivityEntry>>;

/// The shared feed of one app.
#[derive(Debug)]
pub struct Feed {
    read: Arc<ReadModel>,
    sender: OnceLock<broadcast::Sender<Batch>>,
    clients: Arc<Semaphore>,
}

/// One client's place in the feed. Dropping it frees the client's slot.
#[derive(Debug)]
pub struct Subscription {
    pub batches: broadcast::Receiver<Batch>,
    /// Entries at or before this seq were folded before the client connected.
    pub since: Seq,
    _slot: OwnedSemaphorePermit,
}

impl Feed {
    pub fn new(read: Arc<ReadModel>) -> Self {
        Self::with_capacity(read, MAX_CLIENTS)
    }

    pub fn with_capacity(read: Arc<ReadModel>, clients: usize) -> Self {
        Self {
            read,
            sender: OnceLock::new(),
            clients: Arc::new(Semaphore::new(clients)),
        }
    }

    /// A place in the feed, or `None` when every slot is taken. Starts the pump with the
    /// first subscriber (it needs the tokio runtime the requests run on).
    pub fn subscribe(&self) -> Option<Subscription> {
        let slot = Arc::clone(&self.clients).try_acquire_owned().ok()?;
        let sender = self.sender.get_or_init(|| {
            let (sender, _) = broadcast::channel(BACKLOG);
            // Follow the folds from now, not from when the task first runs: a fold in between
            // would otherwise be missed.
            let folded = self.read.subscribe();
            let sent = self.read.last_seq();
            tokio::spawn(pump(Arc::clone(&self.read), folded, sent, sender.clone()));
            sender
        });
        Some(Subscription {
            batches: sender.subscribe(),
            since: self.read.last_seq(),
            _slot: slot,
        })
    }
}

/// Follows the folds for as long as anyone could listen, broadcasting each fold's new entries.
async fn pump(
    read: Arc<ReadModel>,
    mut folded: tokio::sync::watch::Receiver<Seq>,
    mut sent: Seq,
    sender: broadcast::Sender<Batch>,
) {
    while folded.changed().await.is_ok() {
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
        // No receiver right now is fine: the next client starts from its own connection.
        let _ = sender.send(Arc::new(fresh));
    }
}
