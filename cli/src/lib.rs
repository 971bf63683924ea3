//! # aurora-cli
//!
//! The `aurora` and `aurora-admin` command-line clients (Aurora's nouns and verbs, exit codes,
//! `--write-json`), and the `.aurora` configuration loader. Commands talk to the scheduler's
//! HTTP API; data goes to stdout, progress and errors to stderr.
//!
//! Today it holds the parsing of job keys and instance specs (`CLUSTER/ROLE/ENV/NAME/0-2,5`)
//! that every command shares.
//!
//! Must not depend on the journal, storage (`rocksdb`), messaging (`async-nats`) or the
//! scheduler's internals: only on `aurora-events` and the API types.

pub mod keys;
