//! The leader's JetStream mirror (`--nats URL`): the journal seen as the mirror's source, and
//! the mirror's figures on `/metrics`. Only the leader publishes: the mirror task belongs to
//! the [`Leader`](crate::leader::Leader) value and stops with it; a new leader resumes from
//! the stream's last sequence.

use std::sync::Arc;

use aurora_events::{Envelope, Seq};
use aurora_journal::{Journal, SeqRange};
use aurora_stream::{MirrorConfig, MirrorStatus, Source};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

/// What a leader needs to run the mirror, and what it reports.
#[derive(Debug, Clone)]
pub struct Mirror {
    pub config: MirrorConfig,
    pub status: Arc<MirrorStatus>,
}

impl Mirror {
    /// The mirror of cluster `cluster` to the NATS server(s) at `url`.
    pub fn new(url: &str, cluster: &str) -> Self {
        Self {
            config: MirrorConfig::new(url, cluster),
            status: Arc::new(MirrorStatus::default()),
        }
    }

    /// Mirrors `journal` until the returned task is aborted.
    pub fn spawn(&self, journal: Arc<dyn Journal>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(aurora_stream::mirror::run(
            self.config.clone(),
            Arc::new(JournalSource(journal)),
            Arc::clone(&self.status),
        ))
    }

    /// Prometheus lines: the last seq the stream holds, how far it trails the journal, and
    /// how often the publisher started again after a failure.
    pub fn render_metrics(&self, journal_last: Seq, out: &mut String) {
        let published = self.status.published();
        out.push_str("# TYPE aurora_stream_published_seq gauge\n");
        out.push_str(&format!("aurora_stream_published_seq {published}\n"));
        out.push_str("# TYPE aurora_stream_mirror_lag_events gauge\n");
        out.push_str(&format!(
            "aurora_stream_mirror_lag_events {}\n",
            journal_last.saturating_sub(published)
        ));
        out.push_str("# TYPE aurora_stream_mirror_healthy gauge\n");
        out.push_str(&format!(
            "aurora_stream_mirror_healthy {}\n",
            u8::from(self.status.healthy())
        ));
        // Non-zero: the seq the NATS server refuses for its size, where the stream stops.
        out.push_str("# TYPE aurora_stream_mirror_blocked_seq gauge\n");
        out.push_str(&format!(
            "aurora_stream_mirror_blocked_seq {}\n",
            self.status.blocked()
        ));
        out.push_str("# TYPE aurora_stream_mirror_restarts_total counter\n");
        out.push_str(&format!(
            "aurora_stream_mirror_restarts_total {}\n",
            self.status.restarts()
        ));
    }
}

struct JournalSource(Arc<dyn Journal>);

impl Source for JournalSource {
    fn follow(&self, from: Seq) -> BoxStream<'static, Result<Envelope, String>> {
        self.0
            .subscribe(from)
            .map(|envelope| envelope.map_err(|e| e.to_string()))
            .boxed()
    }

    fn envelope(&self, seq: Seq) -> BoxFuture<'static, Result<Option<Envelope>, String>> {
        let journal = Arc::clone(&self.0);
        async move {
            let envelopes = journal
                .read(SeqRange::new(seq, seq))
                .await
                .map_err(|e| e.to_string())?;
            Ok(envelopes.into_iter().next())
        }
        .boxed()
    }

    fn last_seq(&self) -> Seq {
        self.0.last_seq()
    }
}
