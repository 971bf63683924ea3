//! Reading a cluster's stream: from a seq on, filtered by subject, up to its end or following
//! it forever. `aurora events tail` follows it, `journal verify --against-stream` reads it
//! whole, the standalone read side folds it.
//!
//! Each read is an ordered consumer (ephemeral, flow-controlled, recreated by the client after
//! a hiccup). Following also survives the NATS server restarting: the reader starts a new
//! consumer strictly after the last seq it delivered, so nothing is repeated or skipped.

use std::ops::RangeInclusive;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use aurora_events::{Envelope, Seq};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::subject::{self, SubjectFilter};
use crate::{Error, wire};

/// How far a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The stream's last message when the read starts.
    End,
    /// This seq (or the stream's end, if that comes first).
    Through(Seq),
    /// Forever: live messages as they are published.
    Forever,
}

/// One stream message as stored, decoded or not (the verifier reports an undecodable
/// message rather than stopping at it).
#[derive(Debug, Clone)]
pub struct StreamEntry {
    pub stream_seq: Seq,
    pub subject: String,
    pub msg_id: Option<String>,
    pub message: Result<wire::Message, wire::WireError>,
}

impl StreamEntry {
    /// The envelope, checked to sit at its own seq.
    pub fn into_envelope(self) -> Result<Envelope, Error> {
        let message = self.message.map_err(|e| Error::Undecodable {
            seq: self.stream_seq,
            reason: e.to_string(),
        })?;
        if message.envelope.seq != self.stream_seq {
            return Err(Error::Misplaced {
                stream_seq: self.stream_seq,
                event_seq: message.envelope.seq,
            });
        }
        Ok(message.envelope)
    }
}

/// A connection to one cluster's stream.
#[derive(Debug, Clone)]
pub struct Reader {
    context: jetstream::Context,
    cluster: String,
}

/// How long a follower waits before starting a new consumer after a failure.
const RETRY: Duration = Duration::from_millis(500);

impl Reader {
    /// Connects to NATS at `url` (fails at once when no server answers).
    pub async fn connect(url: &str, cluster: &str) -> Result<Self, Error> {
        let client = async_nats::ConnectOptions::new()
            .name("aurora-reader")
            .connection_timeout(Duration::from_secs(3))
            .connect(crate::mirror::servers(url)?)
            .await
            .map_err(|e| Error::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            context: jetstream::new(client),
            cluster: cluster.to_string(),
        })
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    async fn stream(&self) -> Result<jetstream::stream::Stream, Error> {
        let name = subject::stream_name(&self.cluster);
        self.context.get_stream(&name).await.map_err(|e| {
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(_)
            ) {
                Error::NoStream {
                    stream: name,
                    reason: e.to_string(),
                }
            } else {
                Error::jetstream(e)
            }
        })
    }

    /// The stream's last sequence (= the last seq mirrored) and how many messages it holds.
    pub async fn extent(&self) -> Result<(Seq, u64), Error> {
        let info = self
            .stream()
            .await?
            .get_info()
            .await
            .map_err(Error::jetstream)?;
        Ok((info.state.last_sequence, info.state.messages))
    }

    /// The seqs in `(after, through]` (through the stream's end when `None`) that the stream
    /// should hold and does not: messages deleted from it, and any dropped before its first.
    /// The stream's sequence is the journal's seq, dense from 1, so any of them is damage
    /// that a read would otherwise pass over in silence (a filtered consumer cannot tell a
    /// hole from messages it filters out). Ranges, in order.
    pub async fn missing(
        &self,
        after: Seq,
        through: Option<Seq>,
    ) -> Result<Vec<RangeInclusive<Seq>>, Error> {
        let stream = self.stream().await?;
        let state = stream.get_info().await.map_err(Error::jetstream)?.state;
        // The deleted seqs themselves are listed only when asked for; most streams have none.
        let deleted = if state.deleted_count.unwrap_or(0) > 0 {
            stream
                .info_builder()
                .with_deleted(true)
                .fetch()
                .await
                .map_err(Error::jetstream)?
                .info
                .state
                .deleted
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let through = through.map_or(state.last_sequence, |t| t.min(state.last_sequence));
        Ok(holes(after, through, state.first_sequence, deleted))
    }

    /// The stream's messages strictly after `after` that match `filter`, in order.
    pub fn entries(
        &self,
        filter: SubjectFilter,
        after: Seq,
        until: Until,
    ) -> BoxStream<'static, Result<StreamEntry, Error>> {
        let (tx, rx) = mpsc::channel(512);
        let reader = self.clone();
        tokio::spawn(async move {
            if let Err(e) = reader.pump(&filter, after, until, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed()
    }

    /// Envelopes strictly after `after` matching `filter`, each checked to sit at its seq.
    pub fn envelopes(
        &self,
        filter: SubjectFilter,
        after: Seq,
        until: Until,
    ) -> BoxStream<'static, Result<Envelope, Error>> {
        self.entries(filter, after, until)
            .map(|entry| entry.and_then(StreamEntry::into_envelope))
            .boxed()
    }

    async fn pump(
        &self,
        filter: &SubjectFilter,
        after: Seq,
        until: Until,
        tx: &mpsc::Sender<Result<StreamEntry, Error>>,
    ) -> Result<(), Error> {
        let end = match until {
            Until::End => Some(self.extent().await?.0),
            Until::Through(seq) => Some(self.extent().await?.0.min(seq)),
            Until::Forever => None,
        };
        let mut last = after;
        loop {
            if end.is_some_and(|end| last >= end) {
                return Ok(());
            }
            match self.consume(filter, &mut last, end, tx).await {
                Ok(()) => return Ok(()),
                Err(e) if end.is_some() => return Err(e),
                Err(e) => {
                    tracing::info!(error = %e, after = last, "stream read interrupted; resuming");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// One consumer's worth of reading, until `end`, or the reader is dropped; `last` advances
    /// with every message delivered. An error means the consumer broke off.
    async fn consume(
        &self,
        filter: &SubjectFilter,
        last: &mut Seq,
        end: Option<Seq>,
        tx: &mpsc::Sender<Result<StreamEntry, Error>>,
    ) -> Result<(), Error> {
        let Some(deliver_policy) = deliver_after(*last) else {
            // Nothing can follow the last possible seq: a bounded read has nothing to read,
            // and a follower waits (for its reader to go away), as for any seq past the end.
            if end.is_none() {
                tx.closed().await;
            }
            return Ok(());
        };
        let stream = self.stream().await?;
        // Pushed, not pulled: the server sends as fast as flow control lets it, where an
        // ordered pull consumer asks for fixed batches of 500 and fell behind a busy stream.
        let consumer = stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.context.client().new_inbox(),
                filter_subject: filter.subject(&self.cluster),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(Error::jetstream)?;
        if end.is_some() && consumer.cached_info().num_pending == 0 {
            return Ok(());
        }
        let mut messages = consumer.messages().await.map_err(Error::jetstream)?;
        loop {
            // A follower whose reader went away stops now, not at the next live message.
            let message = tokio::select! {
                () = tx.closed() => return Ok(()),
                message = messages.next() => message,
            };
            let Some(message) = message else { break };
            let message = message.map_err(Error::jetstream)?;
            let info = message
                .info()
                .map_err(|e| Error::JetStream(e.to_string()))?;
            let (stream_seq, pending) = (info.stream_sequence, info.pending);
            if stream_seq <= *last {
                continue; // redelivered after a consumer was recreated
            }
            if end.is_some_and(|end| stream_seq > end) {
                return Ok(());
            }
            let entry = StreamEntry {
                stream_seq,
                subject: message.subject.to_string(),
                msg_id: message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                    .map(|v| v.as_str().to_string()),
                message: wire::decode(&message.payload),
            };
            *last = stream_seq;
            if tx.send(Ok(entry)).await.is_err() {
                return Ok(());
            }
            if let Some(end) = end
                && (stream_seq >= end || pending == 0)
            {
                return Ok(());
            }
        }
        Err(Error::JetStream("the consumer's messages ended".into()))
    }
}

/// Where a consumer starts to deliver the messages strictly after `last`; `None` after the
/// last possible seq (`--from 18446744073709551615`), after which nothing can come.
fn deliver_after(last: Seq) -> Option<consumer::DeliverPolicy> {
    if last == 0 {
        return Some(consumer::DeliverPolicy::All);
    }
    last.checked_add(1)
        .map(|start_sequence| consumer::DeliverPolicy::ByStartSequence { start_sequence })
}

/// The seqs in `(after, through]` missing from a stream whose first message is
/// `first_sequence` and from which `deleted` were deleted, as ranges in order.
fn holes(
    after: Seq,
    through: Seq,
    first_sequence: Seq,
    mut deleted: Vec<Seq>,
) -> Vec<RangeInclusive<Seq>> {
    let Some(from) = after.checked_add(1).filter(|from| *from <= through) else {
        return Vec::new();
    };
    let mut ranges: Vec<RangeInclusive<Seq>> = Vec::new();
    // A stream that never held a message says its first seq is 0 (or last + 1 once purged);
    // only seqs up to `through`, which the stream did assign, count as dropped.
    if first_sequence > from {
        ranges.push(from..=(first_sequence - 1).min(through));
    }
    deleted.sort_unstable();
    deleted.dedup();
    for seq in deleted.into_iter().filter(|s| (from..=through).contains(s)) {
        match ranges.last_mut() {
            Some(range) if *range.end() >= seq => {}
            Some(range) if *range.end() + 1 == seq => *range = *range.start()..=seq,
            _ => ranges.push(seq..=seq),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_after_the_last_possible_seq_starts_nowhere_rather_than_overflowing() {
        assert_eq!(deliver_after(0), Some(consumer::DeliverPolicy::All));
        assert_eq!(
            deliver_after(41),
            Some(consumer::DeliverPolicy::ByStartSequence { start_sequence: 42 })
        );
        assert_eq!(
            deliver_after(Seq::MAX - 1),
            Some(consumer::DeliverPolicy::ByStartSequence {
                start_sequence: Seq::MAX
            })
        );
        assert_eq!(deliver_after(Seq::MAX), None);
    }

    #[test]
    fn holes_are_the_deleted_seqs_and_those_before_the_first_within_the_range() {
        // Dense: nothing missing, whatever the range.
        assert_eq!(holes(0, 12, 1, vec![]), vec![]);
        assert_eq!(holes(Seq::MAX, 12, 1, vec![]), vec![]);
        // One deleted message, seen only from a range that includes it.
        assert_eq!(holes(0, 12, 1, vec![10]), vec![10..=10]);
        assert_eq!(holes(10, 12, 1, vec![10]), vec![]);
        assert_eq!(holes(0, 9, 1, vec![10]), vec![]);
        // Neighbours merge; unsorted and repeated input is fine.
        assert_eq!(
            holes(0, 20, 1, vec![12, 4, 11, 5, 11, 15]),
            vec![4..=5, 11..=12, 15..=15]
        );
        // The first messages gone (deleted at the head, or dropped by a limit).
        assert_eq!(holes(0, 12, 4, vec![3, 7]), vec![1..=3, 7..=7]);
        assert_eq!(holes(2, 12, 4, vec![6]), vec![3..=3, 6..=6]);
        assert_eq!(holes(2, 12, 4, vec![5, 6]), vec![3..=3, 5..=6]);
        // A stream that never held anything, or was emptied: nothing assigned, nothing missing.
        assert_eq!(holes(0, 0, 0, vec![]), vec![]);
        assert_eq!(holes(0, 5, 6, vec![]), vec![1..=5]);
    }
}
