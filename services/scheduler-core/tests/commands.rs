//! Given/when/then tests of every command: given these events, when this command, then exactly
//! these events (and effects), or this rejection.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod commands {
    pub mod support;

    mod agents;
    mod backlog;
    mod cron;
    mod environments;
    mod explain;
    mod jobs;
    mod kills;
    mod maintenance;
    mod partitions;
    mod quota;
    mod scheduling;
    mod sla_drains;
    mod status_updates;
    mod timers;
    mod updates;
}
