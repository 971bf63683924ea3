//! One agent's configuration for tests that run the whole agent in process: agent `a1` on
//! host `h1` with a small capacity, calling `schedulers`, its work under `work_dir`, a short
//! heartbeat and kill grace, no observer, no credentials. Tests change what they are about
//! with struct update syntax.

// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use aurora_agent::daemon::AgentConfig;
use aurora_events::{AgentId, Capacity};

pub fn small_capacity() -> Capacity {
    Capacity {
        cpus: 1.0,
        ram_mb: 64,
        disk_mb: 64,
        gpus: 0,
        port_ranges: vec![(31000, 31010)],
    }
}

pub fn agent_config(schedulers: Vec<String>, work_dir: &Path) -> AgentConfig {
    AgentConfig {
        schedulers,
        agent: AgentId("a1".into()),
        host: "h1".into(),
        capacity: small_capacity(),
        attributes: Vec::new(),
        work_dir: work_dir.to_path_buf(),
        heartbeat_interval: Duration::from_millis(50),
        kill_grace: Duration::from_secs(1),
        observer_addr: None,
        credentials: None,
        tls: aurora_net::ClientTls::default(),
        observer_tls: None,
        observer_auth: aurora_agent::observer::ObserverAuth::closed(),
    }
}
