//! # aurora-scheduler
//!
//! The runtime that wires the pure pieces to the world: it opens the journal (the concrete
//! backend is chosen here, in the binary, and nowhere else), serves the HTTP API and the web UI,
//! runs the leader loop (command → decide → append → apply → effects) and talks to agents.
//!
//! - [`replica`]: what every process is — the apply loop folding committed envelopes into the
//!   write model and the read model, publishing the applied seq, checkpointing locally;
//! - [`leader`]: what only the leader has — the command queue and the loop that decides and
//!   appends under its term, the timers, the agents' outbox, heartbeats and registrations;
//! - [`runtime`]: the handle the HTTP handlers hold, a replica plus (while leading) a leader;
//! - [`auth`]: who each request is (`--auth`, `--dev`'s credential, or `--insecure-no-auth`)
//!   and the permission check every mutation passes before it is submitted;
//! - [`api`]: jobs, tasks, quota, maintenance, admin and the agents' protocol over JSON;
//! - [`read_side`]: the projections' replays of past views from the journal;
//! - [`backups`]: backups of the journal (`--backup-dir`) and the admin calls that take and
//!   list them;
//! - [`mirror`]: the leader's JetStream mirror of the journal (`--nats`) and its metrics;
//! - [`serve`]: the HTTP server, with a connection cap and a header-read timeout;
//! - [`replicated`]: one replica of a Raft group — leadership following Raft's, writes
//!   forwarded from followers to the leader, `/api/v1/replicas` and the Raft metrics.
//!
//! May depend on every library crate; nothing depends on it. The web UI crate is used only to
//! mount its router (in the binary).

pub mod api;
pub mod backups;
/// The gate the scheduler shares with `aurora-web` (see `aurora_web::gate`).
pub use aurora_web::gate as auth;
pub mod leader;
pub mod mirror;
pub mod read_side;
pub mod replica;
pub mod replicated;
pub mod runtime;
/// The HTTP server (bounded, with optional TLS), shared with the agent's observer and aurora-web.
pub use aurora_net::serve;
