//! Checking that a stream holds exactly the journal's events: the same seqs, each message at
//! its seq, carrying its id header and the journal's envelope unchanged, and nothing more.

use std::fmt;

use aurora_events::{Envelope, Seq};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::read::{Reader, StreamEntry, Until};
use crate::subject::SubjectFilter;
use crate::{Error, wire};

/// The first place where the stream and the journal part ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The journal has this seq; the stream does not (deleted, or never published).
    Missing { seq: Seq },
    /// The stream's message at this seq is not the journal's event.
    Altered { seq: Seq, what: String },
    /// The stream holds a message at this seq, past the journal's end.
    Extra { seq: Seq },
}

impl Difference {
    pub fn seq(&self) -> Seq {
        match self {
            Difference::Missing { seq }
            | Difference::Altered { seq, .. }
            | Difference::Extra { seq } => *seq,
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing { seq } => {
                write!(f, "seq {seq} is in the journal but not in the stream")
            }
            Difference::Altered { seq, what } => write!(f, "seq {seq} differs: {what}"),
            Difference::Extra { seq } => {
                write!(f, "seq {seq} is in the stream but not in the journal")
            }
        }
    }
}

/// The result of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Seqs compared and found equal (1..=this).
    pub equal_through: Seq,
    pub difference: Option<Difference>,
}

/// How the stream's message at `journal.seq` differs from the journal's envelope, if at all.
pub fn compare(cluster: &str, journal: &Envelope, entry: &StreamEntry) -> Option<Difference> {
    let seq = journal.seq;
    let altered = |what: String| Some(Difference::Altered { seq, what });
    let expected_id = wire::message_id(cluster, seq);
    if entry.msg_id.as_deref() != Some(expected_id.as_str()) {
        return altered(format!(
            "the message's Nats-Msg-Id is {:?}, not {expected_id:?}",
            entry.msg_id
        ));
    }
    let expected_subject = crate::subject::subject(cluster, &journal.event);
    if entry.subject != expected_subject {
        return altered(format!(
            "the message's subject is {:?}, not {expected_subject:?}",
            entry.subject
        ));
    }
    let message = match &entry.message {
        Ok(message) => message,
        Err(e) => return altered(format!("the message does not decode ({e})")),
    };
    if message.cluster != cluster {
        return altered(format!("the message is of cluster {:?}", message.cluster));
    }
    if message.envelope != *journal {
        let stream = &message.envelope;
        let field = if stream.seq != journal.seq {
            "seq"
        } else if stream.id != journal.id {
            "event id"
        } else if stream.at != journal.at {
            "time"
        } else if stream.actor != journal.actor {
            "actor"
        } else if stream.cause != journal.cause {
            "cause"
        } else {
            "event"
        };
        return altered(format!("its {field} is not the journal's"));
    }
    None
}

/// Compares the whole stream with `journal` (every committed envelope from seq 1, in order).
pub async fn verify(
    reader: &Reader,
    mut journal: BoxStream<'static, Result<Envelope, String>>,
) -> Result<Verdict, Error> {
    let cluster = reader.cluster().to_string();
    let mut stream = reader.entries(SubjectFilter::default(), 0, Until::End);
    let mut held: Option<StreamEntry> = None;
    let mut equal_through = 0;
    let verdict = |equal_through, difference| {
        Ok(Verdict {
            equal_through,
            difference: Some(difference),
        })
    };
    while let Some(envelope) = journal.next().await {
        let envelope = envelope.map_err(Error::Source)?;
        let seq = envelope.seq;
        let entry = match held.take() {
            Some(entry) => Some(entry),
            None => stream.next().await.transpose()?,
        };
        match entry {
            None => return verdict(equal_through, Difference::Missing { seq }),
            Some(entry) if entry.stream_seq > seq => {
                return verdict(equal_through, Difference::Missing { seq });
            }
            Some(entry) if entry.stream_seq < seq => {
                // The journal skipped a seq: reported by the journal check; here, it is extra.
                return verdict(
                    equal_through,
                    Difference::Extra {
                        seq: entry.stream_seq,
                    },
                );
            }
            Some(entry) => {
                if let Some(difference) = compare(&cluster, &envelope, &entry) {
                    return verdict(equal_through, difference);
                }
                equal_through = seq;
            }
        }
    }
    if let Some(entry) = stream.next().await.transpose()? {
        return verdict(
            equal_through,
            Difference::Extra {
                seq: entry.stream_seq,
            },
        );
    }
    Ok(Verdict {
        equal_through,
        difference: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::{Actor, samples};

    fn entry(cluster: &str, envelope: &Envelope) -> StreamEntry {
        StreamEntry {
            stream_seq: envelope.seq,
            subject: crate::subject::subject(cluster, &envelope.event),
            msg_id: Some(wire::message_id(cluster, envelope.seq)),
            message: wire::decode(&wire::encode(cluster, envelope)),
        }
    }

    #[test]
    fn an_unchanged_message_is_equal() {
        for (i, event) in samples::events().into_iter().enumerate() {
            let envelope = samples::envelope(i as Seq + 1, event);
            assert_eq!(compare("c", &envelope, &entry("c", &envelope)), None);
        }
    }

    #[test]
    fn every_kind_of_alteration_is_named() {
        let envelope = samples::envelope(7, samples::events().remove(3));
        let mut actor = envelope.clone();
        actor.actor = Actor::User("mallory".into());
        let mut time = envelope.clone();
        time.at.0 += 1;
        for (forged, what) in [(actor, "actor"), (time, "time")] {
            let difference = compare("c", &envelope, &entry("c", &forged)).unwrap();
            assert_eq!(difference.seq(), 7);
            assert!(difference.to_string().contains(what), "{difference}");
        }
        let mut no_id = entry("c", &envelope);
        no_id.msg_id = None;
        assert!(
            compare("c", &envelope, &no_id)
                .unwrap()
                .to_string()
                .contains("Nats-Msg-Id")
        );
        let mut garbage = entry("c", &envelope);
        garbage.message = wire::decode(b"{}");
        assert!(
            compare("c", &envelope, &garbage)
                .unwrap()
                .to_string()
                .contains("does not decode")
        );
        let mut moved = entry("c", &envelope);
        moved.subject = "aurora.c.quota.x.%.%".into();
        assert!(
            compare("c", &envelope, &moved)
                .unwrap()
                .to_string()
                .contains("subject")
        );
        let other_cluster = entry("d", &envelope);
        assert!(compare("c", &envelope, &other_cluster).is_some());
    }
}
