//! What one Raft log entry carries, and what applying it answers.
//!
//! One entry is one append batch: the events decided together, their time and the
//! precondition they were decided under. The precondition travels inside the entry because it
//! is checked when the entry is *applied*, against the state machine's own journal, so every
//! replica decides the same way (see `state_machine`).

use aurora_events::codec::PreEncoded;
use aurora_events::{PendingEvent, Seq, Timestamp};
use aurora_journal::{Error as JournalError, SeqRange, Term};
use serde::{Deserialize, Serialize};

/// The format byte of [`encode`]: the journal's pinned bincode configuration follows.
const BINARY_V1: u8 = 1;

/// Encodes a log entry (as stored) or a Raft RPC (as sent): a format byte, then the value in
/// the journal's bincode configuration. Binary, because every entry is encoded and decoded
/// several times on its way (stored, sent to each follower, stored there) and JSON cost more
/// than everything else together.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let payload = aurora_events::codec::try_encode_value(value).map_err(|e| e.to_string())?;
    let mut bytes = Vec::with_capacity(payload.len() + 1);
    bytes.push(BINARY_V1);
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

/// Decodes what [`encode`] made, or the JSON that replicas wrote before it (a JSON object
/// starts with `{`, never with a format byte).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&BINARY_V1, payload)) => {
            aurora_events::codec::decode_value(payload).map_err(|e| e.to_string())
        }
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Some((other, _)) => Err(format!(
            "unknown format byte {other} (this build reads {BINARY_V1}, or JSON)"
        )),
        None => Err("empty".into()),
    }
}

/// A replica's id in the Raft group (the `N` of `--replica-id N`).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The Raft types of the replicated journal.
    pub TypeConfig:
        D = Request,
        R = Outcome,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = crate::snapshot::JournalSnapshot,
);

/// The Raft handle of one replica.
pub type Raft = openraft::Raft<TypeConfig>;

/// The application data of one Raft log entry.
///
/// Variants are only ever appended: logs keep entries of every kind ever written, and bincode
/// names a variant by its position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Seq 1: `first` (a `ClusterInitialised`, its id chosen once so that every replica holds
    /// the same envelope) at `at`. Applied once; any later one is refused on every replica
    /// alike, so two racing initialisations cannot both win.
    Initialise {
        first: Box<PendingEvent>,
        at: Timestamp,
    },
    /// One `Journal::append`: checked at apply time, then committed as consecutive seqs.
    /// Written before `Encoded` existed; still applied.
    Append {
        /// The leader term the events were decided under: must be the term of the leader
        /// that proposed this entry.
        term: Term,
        /// The seq the events must follow (`None`: at the end, wherever it is).
        after: Option<Seq>,
        at: Timestamp,
        events: Vec<PendingEvent>,
    },
    /// Several `Journal::append`s that reached the leader together, in one entry: each is
    /// checked and committed as an `Append` entry of its own would be, one after the other,
    /// and the journal holds the whole entry or none of it. Far fewer entries under load:
    /// Raft's work per entry (encoding, storing, replicating, applying) is shared. Written
    /// before `Encoded` existed; still applied.
    Batch(Vec<Proposed>),
    /// What a leader proposes today: one or more `Journal::append`s, applied as a `Batch`, with
    /// their events encoded once, by the appender, as the journal stores them. The log, the
    /// RPCs and every replica's journal copy those bytes; nothing on the way decodes and
    /// encodes each event again (which cost more than the rest of the work on an entry).
    Encoded(Vec<EncodedProposal>),
}

/// One append of a [`Request::Batch`] (the fields of [`Request::Append`]) or, with its events
/// pre-encoded ([`EncodedProposal`]), of a [`Request::Encoded`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposed<E = PendingEvent> {
    pub term: Term,
    pub after: Option<Seq>,
    pub at: Timestamp,
    pub events: Vec<E>,
}

/// One append of a [`Request::Encoded`]: its events encoded as the journal stores them.
pub type EncodedProposal = Proposed<PreEncoded>;

impl From<Proposed> for EncodedProposal {
    fn from(proposed: Proposed) -> Self {
        Self {
            term: proposed.term,
            after: proposed.after,
            at: proposed.at,
            events: proposed.events.iter().map(PreEncoded::new).collect(),
        }
    }
}

/// Checks that every event carried pre-encoded in `entries` decodes, as a follower does
/// before it stores entries it was sent: it frames those bytes into its journal without
/// decoding them, and must not keep events it could never read back (a leader of a newer
/// version, damaged bytes). Names the first entry and event that does not.
pub(crate) fn check_events(entries: &[openraft::Entry<TypeConfig>]) -> Result<(), String> {
    for entry in entries {
        let openraft::EntryPayload::Normal(Request::Encoded(proposals)) = &entry.payload else {
            continue;
        };
        for (append, proposal) in proposals.iter().enumerate() {
            for (event, pre) in proposal.events.iter().enumerate() {
                pre.decode().map_err(|problem| {
                    format!(
                        "log entry {}, append {append}, event {event} does not decode:                          {problem}",
                        entry.log_id.index
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// What applying one entry did: the same on every replica, because it depends only on the
/// entry and the journal before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// A blank or membership entry: nothing for the journal.
    Nothing,
    /// The cluster's journal now starts with `ClusterInitialised`.
    Initialised,
    /// The events were committed as seqs `first..=last`.
    Appended { first: Seq, last: Seq },
    /// The entry was refused and nothing was written.
    Refused(Refusal),
    /// What each append of a [`Request::Batch`] or [`Request::Encoded`] did, in order.
    Batch(Vec<Outcome>),
}

/// Why an entry wrote nothing. Mirrors the journal errors an append can meet at apply time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Refusal {
    NotInitialised,
    AlreadyInitialised,
    EmptyAppend,
    NotLeader { term: Term, current: Term },
    Conflict { after: Seq, last: Seq },
    TimeWentBack { at: Timestamp, last: Timestamp },
}

impl Refusal {
    /// The journal refusal for a local check that failed, if it is one; any other error is a
    /// fault of this replica's storage, not a verdict on the entry.
    pub(crate) fn from_check(e: &JournalError) -> Option<Self> {
        match *e {
            JournalError::EmptyAppend => Some(Refusal::EmptyAppend),
            JournalError::Conflict { after, last } => Some(Refusal::Conflict { after, last }),
            JournalError::TimeWentBack { at, last } => Some(Refusal::TimeWentBack { at, last }),
            JournalError::NotLeader { term, current } => Some(Refusal::NotLeader { term, current }),
            _ => None,
        }
    }

    pub(crate) fn into_error(self, location: &str) -> JournalError {
        match self {
            Refusal::NotInitialised => JournalError::NotInitialised {
                location: location.to_string(),
            },
            Refusal::AlreadyInitialised => JournalError::AlreadyInitialised {
                location: location.to_string(),
            },
            Refusal::EmptyAppend => JournalError::EmptyAppend,
            Refusal::NotLeader { term, current } => JournalError::NotLeader { term, current },
            Refusal::Conflict { after, last } => JournalError::Conflict { after, last },
            Refusal::TimeWentBack { at, last } => JournalError::TimeWentBack { at, last },
        }
    }
}

impl Outcome {
    pub(crate) fn appended(range: SeqRange) -> Self {
        Outcome::Appended {
            first: range.first,
            last: range.last,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use aurora_journal::conformance::marker;
    use openraft::error::{Fatal, RaftError};
    use openraft::raft::AppendEntriesResponse;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership};

    use super::*;

    fn log_id(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 2), index)
    }

    fn entries() -> Vec<Entry<TypeConfig>> {
        let proposed = |after| Proposed {
            term: 3,
            after,
            at: Timestamp(1_000),
            events: vec![marker(1, 0), marker(1, 1)],
        };
        let nodes: BTreeMap<NodeId, openraft::BasicNode> = (1..=3)
            .map(|id| (id, openraft::BasicNode::new(format!("http://h{id}:8081"))))
            .collect();
        let membership = Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes);
        vec![
            Entry {
                log_id: log_id(3, 7),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(3, 8),
                payload: EntryPayload::Membership(membership),
            },
            Entry {
                log_id: log_id(3, 9),
                payload: EntryPayload::Normal(Request::Batch(vec![
                    proposed(None),
                    proposed(Some(4)),
                ])),
            },
            Entry {
                log_id: log_id(3, 10),
                payload: EntryPayload::Normal(Request::Encoded(vec![
                    proposed(Some(6)).into(),
                    proposed(Some(8)).into(),
                ])),
            },
        ]
    }

    #[test]
    fn entries_and_answers_round_trip_in_binary() {
        for entry in entries() {
            let bytes = encode(&entry).expect("encode");
            assert_eq!(bytes[0], BINARY_V1);
            let back: Entry<TypeConfig> = decode(&bytes).expect("decode");
            assert_eq!(format!("{back:?}"), format!("{entry:?}"));
        }
        type Answer = Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>;
        for answer in [
            Answer::Ok(AppendEntriesResponse::Success),
            Answer::Err(RaftError::Fatal(Fatal::Stopped)),
        ] {
            let back: Answer = decode(&encode(&answer).expect("encode")).expect("decode");
            assert_eq!(back, answer);
        }
    }

    /// bincode names a variant by its position, and logs keep entries of every kind ever
    /// written: the variants' order is fixed.
    #[test]
    fn request_variants_keep_their_positions() {
        let tag = |request: &Request| aurora_events::codec::encode_value(request)[0];
        let first = Box::new(marker(1, 0));
        let at = Timestamp(1);
        assert_eq!(tag(&Request::Initialise { first, at }), 0);
        let events = Vec::new();
        let (term, after) = (1, None);
        assert_eq!(
            tag(&Request::Append {
                term,
                after,
                at,
                events
            }),
            1
        );
        assert_eq!(tag(&Request::Batch(Vec::new())), 2);
        assert_eq!(tag(&Request::Encoded(Vec::new())), 3);
    }

    /// A follower refuses entries whose pre-encoded events do not decode, naming where.
    #[test]
    fn events_that_do_not_decode_are_named() {
        assert_eq!(check_events(&entries()), Ok(()));
        let damaged: PreEncoded =
            serde_json::from_str(r#"{"id":[255],"rest":[]}"#).expect("two byte strings");
        let mut sent = entries();
        let openraft::EntryPayload::Normal(Request::Encoded(proposals)) = &mut sent[3].payload
        else {
            panic!("entry 3 is an Encoded one");
        };
        proposals[1].events.push(damaged);
        let why = check_events(&sent).expect_err("damaged");
        assert!(
            why.contains("log entry 10, append 1, event 2 does not decode"),
            "{why}"
        );
    }

    /// Logs written before the binary format (JSON) still read; anything else is refused by
    /// name, never misread.
    #[test]
    fn the_json_of_earlier_logs_still_reads_and_unknown_bytes_are_refused() {
        for entry in entries() {
            let json = serde_json::to_vec(&entry).expect("json");
            let back: Entry<TypeConfig> = decode(&json).expect("decode JSON");
            assert_eq!(format!("{back:?}"), format!("{entry:?}"));
        }
        let unknown = decode::<Entry<TypeConfig>>(&[9, 1, 2]).expect_err("format byte 9");
        assert!(unknown.contains("format byte 9"), "{unknown}");
        assert!(decode::<Entry<TypeConfig>>(&[]).is_err());
        let mut damaged = encode(&entries()[2]).expect("encode");
        damaged.truncate(damaged.len() / 2);
        assert!(decode::<Entry<TypeConfig>>(&damaged).is_err(), "cut short");
    }
}
