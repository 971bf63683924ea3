//! The hash chain that makes the journal tamper-evident.
//!
//! Every envelope committed in format 2 carries the [`ChainHash`] of the envelope before it
//! (`Envelope::prev_hash`). An envelope's chain hash is the SHA-256 of its canonical encoding
//! (`codec::encode_value`, the payload the journal stores), which covers its own `prev_hash`, so
//! each hash pins the whole history before it: altering, inserting or removing any event breaks
//! the link after it, unless every later link is rewritten too — which pinning the head
//! (`/api/v1/journal/head`) somewhere else exposes.
//!
//! Journals written before format 2 hold envelopes without a `prev_hash`; the chain starts at
//! the first envelope that has one (it links to the last unchained envelope, hashed as it
//! decodes today). Once started, it never stops: [`ChainCheck`] refuses a later envelope
//! without a link.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::envelope::{Envelope, Seq};

/// SHA-256 of an envelope's canonical encoding. Shown (and serialised in JSON) as 64 lowercase
/// hex digits; raw bytes in the binary format.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The hash of an envelope's canonical encoding, given that encoding (the stored payload).
    pub fn of_payload(payload: &[u8]) -> Self {
        Self(Sha256::digest(payload).into())
    }

    /// The hash of `envelope`.
    pub fn of(envelope: &Envelope) -> Self {
        Self::of_payload(&crate::codec::encode_value(envelope))
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

/// Why a text is not a chain hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a chain hash (64 hex digits): {0:?}")]
pub struct BadChainHash(pub String);

impl FromStr for ChainHash {
    type Err = BadChainHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| BadChainHash(text.into()))?;
        Ok(Self(bytes))
    }
}

impl Serialize for ChainHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Self)
        }
    }
}

/// A break in the chain: the first envelope whose link is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seq {seq}: {problem}")]
pub struct ChainBreak {
    pub seq: Seq,
    pub problem: String,
}

/// Checks a journal's links, fed its envelopes in seq order from seq 1.
#[derive(Debug, Clone, Default)]
pub struct ChainCheck {
    /// The hash of the last envelope checked.
    last: Option<ChainHash>,
    /// Whether an envelope with a link has been seen: from then on every one must have one.
    started: bool,
}

impl ChainCheck {
    /// Checks `envelope`'s link to the envelope checked before it, then remembers its hash.
    pub fn check(&mut self, envelope: &Envelope) -> Result<(), ChainBreak> {
        let broken = |problem: String| ChainBreak {
            seq: envelope.seq,
            problem,
        };
        match (envelope.prev_hash, self.last) {
            (Some(link), Some(previous)) if link != previous => {
                return Err(broken(format!(
                    "it links to {link}, but the event before it hashes to {previous}: an event \
                     at or before seq {} was altered, removed or inserted",
                    envelope.seq - 1
                )));
            }
            (Some(link), None) => {
                return Err(broken(format!(
                    "it links to {link}, but it is the first event"
                )));
            }
            (None, _) if self.started => {
                return Err(broken(
                    "it has no link to the event before it, but the chain started earlier".into(),
                ));
            }
            _ => {}
        }
        self.started |= envelope.prev_hash.is_some();
        self.last = Some(ChainHash::of(envelope));
        Ok(())
    }

    /// A check that goes on after `previous`, the last envelope of an earlier part of a check
    /// made in parts: the next envelope must link to it.
    pub fn after(previous: &Envelope) -> Self {
        Self {
            last: Some(ChainHash::of(previous)),
            started: previous.prev_hash.is_some(),
        }
    }

    /// The hash of the last envelope checked (the head, once the whole journal is checked).
    pub fn head(&self) -> Option<ChainHash> {
        self.last
    }

    /// Whether the chain has started.
    pub fn started(&self) -> bool {
        self.started
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    /// A chained history of the sample events.
    fn chained() -> Vec<Envelope> {
        let mut previous: Option<ChainHash> = None;
        samples::events()
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                let mut envelope = samples::envelope(i as Seq + 1, event);
                envelope.prev_hash = previous;
                previous = Some(ChainHash::of(&envelope));
                envelope
            })
            .collect()
    }

    fn check_all(envelopes: &[Envelope]) -> Result<Option<ChainHash>, ChainBreak> {
        let mut check = ChainCheck::default();
        for envelope in envelopes {
            check.check(envelope)?;
        }
        Ok(check.head())
    }

    #[test]
    fn an_intact_chain_checks_and_its_head_is_the_last_hash() {
        let history = chained();
        assert!(history.len() > 3);
        let head = check_all(&history).unwrap();
        assert_eq!(head, Some(ChainHash::of(history.last().unwrap())));
    }

    #[test]
    fn an_altered_event_breaks_the_link_after_it() {
        let mut history = chained();
        history[2].actor = crate::Actor::User("mallory".into());
        let broken = check_all(&history).unwrap_err();
        assert_eq!(broken.seq, 4, "{broken}");
        assert!(broken.problem.contains("at or before seq 3"), "{broken}");
    }

    #[test]
    fn a_removed_link_or_a_link_on_the_first_event_is_refused() {
        let mut history = chained();
        history[3].prev_hash = None;
        assert_eq!(check_all(&history).unwrap_err().seq, 4);
        let mut history = chained();
        history[0].prev_hash = Some(ChainHash([7; 32]));
        assert_eq!(check_all(&history).unwrap_err().seq, 1);
    }

    #[test]
    fn an_unchained_prefix_is_accepted_and_the_chain_starts_after_it() {
        let mut history = chained();
        // Events 1..=3 written before the chain existed: no links, and 4 links to 3 as it is.
        for envelope in &mut history[..3] {
            envelope.prev_hash = None;
        }
        history[3].prev_hash = Some(ChainHash::of(&history[2]));
        let mut previous = ChainHash::of(&history[3]);
        for envelope in &mut history[4..] {
            envelope.prev_hash = Some(previous);
            previous = ChainHash::of(envelope);
        }
        assert_eq!(check_all(&history).unwrap(), Some(previous));
    }

    #[test]
    fn hashes_read_back_from_text_and_json() {
        let hash = ChainHash::of(&chained()[1]);
        let text = hash.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<ChainHash>().unwrap(), hash);
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<ChainHash>(&json).unwrap(), hash);
        assert!("abc".parse::<ChainHash>().is_err());
        let binary = crate::codec::encode_value(&hash);
        assert_eq!(binary.len(), 32, "raw bytes in the binary format");
    }
}
