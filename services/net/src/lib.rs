//! Network plumbing shared by aurora's servers and clients.
//!
//! - [`serve`]: the HTTP server every aurora process runs (the scheduler, the agent's
//!   observer, aurora-web): a connection cap, a header-read timeout, graceful shutdown, and
//!   TLS when it is given a [`ServerTls`]; a connection whose peer stops reading is closed.
//! - [`streams`]: a cap on the event streams a server answers at once.
//! - [`tls`]: rustls configurations for both sides. Servers load a certificate and key, and
//!   may require client certificates; clients trust a CA file (or the system's roots) and may
//!   present a certificate. Every HTTP client in the project is built through
//!   [`ClientTls::builder`] (or its blocking twin).

mod automatic_answers;
pub mod serve;
pub mod signals;
pub mod streams;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
mod write_deadline;

pub use serve::{Limits, serve};

/// Calls `reload` on every SIGHUP for as long as the process runs (needs a tokio runtime);
/// `what` names, in the log, what a SIGHUP would have reloaded if it cannot be listened for.
/// `reload` logs its own outcome.
pub fn on_hangup(what: &'static str, mut reload: impl FnMut() + Send + 'static) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; {what} will not reload");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            reload();
        }
    });
}
pub use tls::{ClientTls, ClientTlsArgs, ServerTls, ServerTlsArgs, client, default_client};

use std::path::PathBuf;

/// Why a TLS configuration could not be made. Each names the file and what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the {what} file {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the {what} file {} is not usable PEM: {detail}", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("the key does not go with the certificate in {}: {detail}", cert.display())]
    KeyMismatch { cert: PathBuf, detail: String },
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Flags(&'static str),
}

/// `error` and each of its sources, joined with `": "`: reqwest's own message ("error sending
/// request") says nothing of the cause (a refused connection, an unknown certificate issuer)
/// that its sources name.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        // Wrappers often repeat their source's message; say each thing once.
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}
