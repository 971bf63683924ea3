//! The binary format of journaled envelopes:
//!
//! ```text
//! [format version: u8 = 2][crc32c of payload: u32 little-endian][payload: bincode 2]
//! ```
//!
//! Format 2's payload is the envelope with its chain link (`prev_hash`, see `chain.rs`);
//! format 1, written before the chain existed, is the same fields without the link, and still
//! decodes (to an envelope with no link). Only format 2 is written.
//!
//! One bincode configuration is pinned here (little-endian, variable-length integers) and
//! nowhere else: changing it, or replacing bincode, means a new format version byte, with the old
//! one still decodable. Decoding never panics: damaged, truncated or foreign bytes give a
//! [`CodecError`] naming the seq being read.

use bincode::config::{Configuration, Limit, LittleEndian, NoLimit, Varint};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::chain::ChainHash;
use crate::envelope::{Envelope, PendingEvent, Seq, Timestamp};

/// The only format version written today.
pub const FORMAT_VERSION: u8 = 2;

/// The format written before the hash chain: every field but `prev_hash`. Still read.
pub const FORMAT_VERSION_UNCHAINED: u8 = 1;

/// Bytes before the payload: the version byte and the checksum.
pub const HEADER_LEN: usize = 5;

/// Upper bound on one decoded value, so a corrupt length prefix cannot make the decoder
/// allocate without bound.
const DECODE_LIMIT: usize = 256 * 1024 * 1024;

type PinnedConfig<L = NoLimit> = Configuration<LittleEndian, Varint, L>;

fn config() -> PinnedConfig {
    bincode::config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
}

fn limited_config() -> PinnedConfig<Limit<DECODE_LIMIT>> {
    config().with_limit::<DECODE_LIMIT>()
}

/// Why a stored record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode the event at seq {seq}: {problem}")]
pub struct CodecError {
    pub seq: Seq,
    pub problem: DecodeProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeProblem {
    #[error("record is {len} bytes, shorter than the {HEADER_LEN}-byte header")]
    Truncated { len: usize },
    #[error(
        "unknown format version {0} (this build reads versions {FORMAT_VERSION_UNCHAINED} and {FORMAT_VERSION})"
    )]
    UnknownVersion(u8),
    #[error(
        "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the record is damaged"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error("payload does not decode: {0}")]
    Payload(String),
    #[error("{0} trailing bytes after the payload")]
    TrailingBytes(usize),
    #[error("record holds seq {found}")]
    WrongSeq { found: Seq },
}

/// Encodes a value with the pinned configuration, unframed. Used for envelopes' payloads and for
/// content hashes of configs.
pub fn encode_value<T: Serialize>(value: &T) -> Vec<u8> {
    // Only fails for serde features bincode lacks (e.g. sequences of unknown length), which the
    // event types do not use; the golden and property tests exercise every type.
    try_encode_value(value).expect("event types only use serde features that bincode supports")
}

/// [`encode_value`] for types this crate does not own, whose serde features it cannot vouch
/// for: an error instead of a panic.
pub fn try_encode_value<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeProblem> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| EncodeProblem(e.to_string()))
}

/// Why a value could not be encoded (it uses a serde feature bincode lacks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value does not encode: {0}")]
pub struct EncodeProblem(pub String);

/// Decodes an unframed value, requiring that it uses every byte.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeProblem> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, limited_config())
        .map_err(|e| DecodeProblem::Payload(e.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeProblem::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// Frames an envelope: version byte, checksum, payload.
pub fn encode(envelope: &Envelope) -> Vec<u8> {
    let payload = encode_value(envelope);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The part of an envelope its producer knows before commit (id, actor, cause, event), encoded
/// ahead of time so that a journal's single writer only has to add seq and time. Framing it with
/// [`frame_committed`] gives exactly the bytes of [`encode`] on the committed envelope, because a
/// bincode struct is the concatenation of its fields.
///
/// It serialises as two byte strings, so a replicated log can carry events in this form from
/// the appender to every replica's journal without decoding them on the way. Raft logs keep
/// it for as long as their entries: a new format version that changes the payload's layout
/// must come with a new kind of log entry, for [`frame_committed`] frames these bytes under
/// the version it writes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreEncoded {
    #[serde(with = "serde_bytes")]
    id: Vec<u8>,
    #[serde(with = "serde_bytes")]
    rest: Vec<u8>,
}

impl PreEncoded {
    pub fn new(pending: &PendingEvent) -> Self {
        Self {
            id: encode_value(&pending.id),
            rest: encode_value(&(&pending.actor, &pending.cause, &pending.event)),
        }
    }

    /// The pending event these bytes encode (for backends that keep events decoded).
    pub fn decode(&self) -> Result<PendingEvent, DecodeProblem> {
        let id = decode_value(&self.id)?;
        let (actor, cause, event) = decode_value(&self.rest)?;
        Ok(PendingEvent {
            id,
            actor,
            cause,
            event,
        })
    }
}

/// Frames a pre-encoded event committed at `seq` and `at`, linked to `prev_hash`; equal to
/// `encode(&pending.commit_linked(seq, at, prev_hash))`. The chain hash of the result is
/// [`ChainHash::of_payload`] of its bytes after the header.
pub fn frame_committed(
    seq: Seq,
    at: Timestamp,
    prev_hash: Option<ChainHash>,
    pre: &PreEncoded,
) -> Vec<u8> {
    let seq_bytes = encode_value(&seq);
    let at_bytes = encode_value(&at);
    let prev_bytes = encode_value(&prev_hash);
    let payload_len =
        seq_bytes.len() + pre.id.len() + at_bytes.len() + pre.rest.len() + prev_bytes.len();
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&[0; 4]);
    for part in [&seq_bytes[..], &pre.id, &at_bytes, &pre.rest, &prev_bytes] {
        out.extend_from_slice(part);
    }
    let crc = crc32c::crc32c(&out[HEADER_LEN..]);
    out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a framed envelope stored at `seq`, checking the version, the checksum and that the
/// record really holds that seq.
pub fn decode(seq: Seq, bytes: &[u8]) -> Result<Envelope, CodecError> {
    decode_inner(seq, bytes).map_err(|problem| CodecError { seq, problem })
}

fn decode_inner(seq: Seq, bytes: &[u8]) -> Result<Envelope, DecodeProblem> {
    let payload = verify_frame(bytes)?;
    let envelope: Envelope = if bytes[0] == FORMAT_VERSION_UNCHAINED {
        decode_value::<Unchained>(payload)?.into()
    } else {
        decode_value(payload)?
    };
    if envelope.seq != seq {
        return Err(DecodeProblem::WrongSeq {
            found: envelope.seq,
        });
    }
    Ok(envelope)
}

/// Checks the header and checksum of a framed record and returns its payload.
pub fn verify_frame(bytes: &[u8]) -> Result<&[u8], DecodeProblem> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeProblem::Truncated { len: bytes.len() });
    }
    let (header, payload) = bytes.split_at(HEADER_LEN);
    match header[0] {
        FORMAT_VERSION | FORMAT_VERSION_UNCHAINED => {}
        other => return Err(DecodeProblem::UnknownVersion(other)),
    }
    let stored = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    let computed = crc32c::crc32c(payload);
    if stored != computed {
        return Err(DecodeProblem::Checksum { stored, computed });
    }
    Ok(payload)
}

/// A format-1 payload: an envelope's fields before `prev_hash` existed, in the same order.
#[derive(serde::Deserialize)]
struct Unchained {
    seq: Seq,
    id: crate::ids::EventId,
    at: Timestamp,
    actor: crate::envelope::Actor,
    cause: Option<crate::ids::EventId>,
    event: crate::event::Event,
}

impl From<Unchained> for Envelope {
    fn from(old: Unchained) -> Self {
        Envelope {
            seq: old.seq,
            id: old.id,
            at: old.at,
            actor: old.actor,
            cause: old.cause,
            event: old.event,
            prev_hash: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    #[test]
    fn round_trips_a_sample() {
        let envelope = samples::envelope(7, samples::events().remove(0));
        let bytes = encode(&envelope);
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode(7, &bytes).unwrap(), envelope);
    }

    /// Carried in a replicated log's entries: it travels as its two byte strings (each a
    /// length and the bytes) and decodes back to the pending event it was made from.
    #[test]
    fn pre_encoded_travels_as_its_bytes_and_decodes_to_the_event() {
        for (i, event) in samples::events().into_iter().enumerate() {
            let envelope = samples::envelope(i as u64 + 1, event);
            let pending = PendingEvent {
                id: envelope.id,
                actor: envelope.actor.clone(),
                cause: envelope.cause,
                event: envelope.event.clone(),
            };
            let pre = PreEncoded::new(&pending);
            let carried = encode_value(&pre);
            let (id, rest) = (pre.id.len(), pre.rest.len());
            let prefix = |len: usize| encode_value(&(len as u64)).len();
            assert_eq!(carried.len(), prefix(id) + id + prefix(rest) + rest);
            let back: PreEncoded = decode_value(&carried).unwrap();
            assert_eq!(back, pre);
            assert_eq!(back.decode().unwrap(), pending);
        }
        let damaged = PreEncoded {
            id: vec![0xff],
            rest: vec![],
        };
        assert!(damaged.decode().is_err());
    }

    #[test]
    fn pre_encoded_framing_equals_encoding_the_envelope() {
        for (i, event) in samples::events().into_iter().enumerate() {
            let envelope = samples::envelope(i as u64 * 1000 + 1, event);
            let pending = PendingEvent {
                id: envelope.id,
                actor: envelope.actor.clone(),
                cause: envelope.cause,
                event: envelope.event.clone(),
            };
            for prev_hash in [None, Some(ChainHash([i as u8; 32]))] {
                let linked = Envelope {
                    prev_hash,
                    ..envelope.clone()
                };
                let framed = frame_committed(
                    envelope.seq,
                    envelope.at,
                    prev_hash,
                    &PreEncoded::new(&pending),
                );
                assert_eq!(framed, encode(&linked), "{}", envelope.event.kind());
                assert_eq!(
                    ChainHash::of_payload(&framed[HEADER_LEN..]),
                    ChainHash::of(&linked),
                    "the stored payload is what the chain hashes"
                );
            }
        }
    }

    #[test]
    fn every_kind_of_damage_is_an_error_naming_the_seq() {
        let envelope = samples::envelope(42, samples::events().remove(3));
        let good = encode(&envelope);

        let err = decode(42, &good[..3]).unwrap_err();
        assert_eq!(err.seq, 42);
        assert!(matches!(err.problem, DecodeProblem::Truncated { len: 3 }));
        assert!(err.to_string().contains("seq 42"), "{err}");

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert!(matches!(
            decode(42, &flipped).unwrap_err().problem,
            DecodeProblem::Checksum { .. }
        ));

        let mut version = good.clone();
        version[0] = 9;
        assert_eq!(
            decode(42, &version).unwrap_err().problem,
            DecodeProblem::UnknownVersion(9)
        );

        assert_eq!(
            decode(41, &good).unwrap_err().problem,
            DecodeProblem::WrongSeq { found: 42 }
        );
    }

    #[test]
    fn format_1_records_still_decode_without_a_link() {
        let envelope = samples::envelope(9, samples::events().remove(2));
        let bytes = samples::format_1_record(&envelope);
        assert_eq!(bytes[0], FORMAT_VERSION_UNCHAINED);
        assert_eq!(decode(9, &bytes).unwrap(), envelope);
        assert_eq!(envelope.prev_hash, None);
    }

    #[test]
    fn garbage_with_a_valid_checksum_is_a_payload_error_not_a_panic() {
        for payload in [vec![0xff; 40], vec![1, 2, 3], vec![]] {
            let mut bytes = vec![FORMAT_VERSION];
            bytes.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            bytes.extend_from_slice(&payload);
            let err = decode(5, &bytes).unwrap_err();
            assert!(matches!(err.problem, DecodeProblem::Payload(_)), "{err}");
        }
    }
}
