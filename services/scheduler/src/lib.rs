//! # aurora-scheduler
//!
//! The runtime that wires the pure pieces to the world: it opens the journal (the concrete
//! backend is chosen here, in the binary, and nowhere else), serves the HTTP API and the web UI,
//! and, as later parts land, runs the leader loop (command → decide → append → apply → effects)
//! and talks to agents.
//!
//! The [`runtime`] recovers the write model from the journal and runs the leader loop; the
//! [`api`] serves jobs, tasks, quota, maintenance, admin and the agents' protocol over JSON; the
//! [`read_side`] folds the projections the web UI reads, right after the write model, and
//! replays past views from the journal.
//!
//! May depend on every library crate; nothing depends on it.

pub mod api;
pub mod read_side;
pub mod runtime;
