//! # aurora-scheduler
//!
//! The runtime that wires the pure pieces to the world: it opens the journal (the concrete
//! backend is chosen here, in the binary, and nowhere else), serves the HTTP API and the web UI,
//! and, as later parts land, runs the leader loop (command → decide → append → apply → effects)
//! and talks to agents.
//!
//! Today: `--init` initialises a cluster's journal; `--dev` opens (or creates) a single-node
//! journal in a data directory and serves `/health`, `/api/v1/journal` and `/api/v1/events`.
//!
//! May depend on every library crate; nothing depends on it.

pub mod api;
