//! The signals that stop a service: SIGINT (Ctrl-C) and SIGTERM (what `systemctl stop`,
//! `docker stop` and `kill` send). A service that listened only for SIGINT died at SIGTERM
//! without its shutdown: an agent's tasks were left running, orphaned, untracked.

/// Resolves at the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = interrupt.await;
            return;
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = term.recv() => {}
    }
}
