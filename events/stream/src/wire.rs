//! The payload of every stream message (and of the scheduler's server-sent event stream, which
//! carries the same bytes): version 1 is a JSON object
//!
//! ```json
//! {"format": 1, "cluster": "devcluster", "envelope": {"seq": 7, "id": "…", "at": 1733390000000,
//!  "actor": {"user": "alice"}, "cause": "…" | null, "event": {"TaskStateChanged": {…}},
//!  "prev_hash": "<64 hex digits>" | null}}
//! ```
//!
//! `envelope` is exactly the journal's envelope as the JSON API serves it (`/api/v1/events`),
//! its hash-chain link included (`prev_hash`: SHA-256 of the previous envelope's canonical
//! encoding, see `aurora_events::chain`), so a consumer can check the chain from the stream
//! alone. Messages published before the chain existed lack the field; it reads as null.
//! A reader refuses a format it does not know, by number, rather than guessing. Each message
//! also carries `Nats-Msg-Id: <cluster>:<seq>`, and its stream sequence is its seq.

use aurora_events::{Envelope, Seq};
use serde::{Deserialize, Serialize};

/// The payload format written today.
pub const FORMAT: u32 = 1;

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not a stream message: {0}")]
    Malformed(String),
    #[error("payload format {0} is unknown (this build reads format {FORMAT})")]
    UnknownFormat(u32),
}

#[derive(Serialize)]
struct Outgoing<'a> {
    format: u32,
    cluster: &'a str,
    envelope: &'a Envelope,
}

#[derive(Deserialize)]
struct Header {
    format: u32,
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    pub cluster: String,
    pub envelope: Envelope,
}

/// The payload of `envelope` of cluster `cluster`.
pub fn encode(cluster: &str, envelope: &Envelope) -> Vec<u8> {
    let outgoing = Outgoing {
        format: FORMAT,
        cluster,
        envelope,
    };
    // Envelopes are plain data with string map keys: JSON cannot refuse them (the JSON API
    // serves the same values), and the round-trip test covers every event variant.
    serde_json::to_vec(&outgoing).unwrap_or_default()
}

/// A whole payload of the format read today, as it arrives.
#[derive(Deserialize)]
struct Incoming {
    format: u32,
    cluster: String,
    envelope: Envelope,
}

/// Reads a payload written by [`encode`]: parsed once; only a payload that does not read as
/// today's format is parsed again, for its format number.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    match serde_json::from_slice::<Incoming>(bytes) {
        Ok(incoming) if incoming.format == FORMAT => Ok(Message {
            cluster: incoming.cluster,
            envelope: incoming.envelope,
        }),
        Ok(incoming) => Err(WireError::UnknownFormat(incoming.format)),
        Err(e) => match serde_json::from_slice::<Header>(bytes) {
            Ok(header) if header.format != FORMAT => Err(WireError::UnknownFormat(header.format)),
            _ => Err(WireError::Malformed(e.to_string())),
        },
    }
}

/// The `Nats-Msg-Id` of seq `seq` of cluster `cluster`: JetStream drops a second message with
/// the same id (within the stream's duplicate window), and the mirror checks it on resuming.
pub fn message_id(cluster: &str, seq: Seq) -> String {
    format!("{cluster}:{seq}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::samples;

    #[test]
    fn every_event_survives_the_round_trip() {
        for (i, event) in samples::events().into_iter().enumerate() {
            let envelope = samples::envelope(i as Seq + 1, event);
            let bytes = encode("devcluster", &envelope);
            assert!(!bytes.is_empty());
            let message = decode(&bytes).unwrap();
            assert_eq!(message.cluster, "devcluster");
            assert_eq!(message.envelope, envelope);
        }
    }

    #[test]
    fn links_travel_and_messages_from_before_the_chain_still_read() {
        let mut envelope = samples::envelope(2, samples::events().remove(1));
        envelope.prev_hash = Some(aurora_events::ChainHash([9; 32]));
        let message = decode(&encode("devcluster", &envelope)).unwrap();
        assert_eq!(message.envelope.prev_hash, envelope.prev_hash);

        let mut old: serde_json::Value =
            serde_json::from_slice(&encode("devcluster", &envelope)).unwrap();
        old["envelope"]
            .as_object_mut()
            .unwrap()
            .remove("prev_hash")
            .unwrap();
        let message = decode(&serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(message.envelope.prev_hash, None);
    }

    #[test]
    fn unknown_formats_and_garbage_are_named() {
        assert_eq!(
            decode(br#"{"format": 2, "cluster": "c"}"#),
            Err(WireError::UnknownFormat(2))
        );
        assert!(matches!(decode(b"\x01\x02"), Err(WireError::Malformed(_))));
        assert!(matches!(
            decode(br#"{"format": 1, "cluster": "c"}"#),
            Err(WireError::Malformed(m)) if m.contains("envelope")
        ));
    }
}
