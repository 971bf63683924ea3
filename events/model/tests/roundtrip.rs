//! Property tests: any envelope survives encode → decode unchanged, and any damage to its bytes
//! is an error naming the seq rather than a panic or a silently different event.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use aurora_events::codec::{self, DecodeProblem};
use aurora_events::{Envelope, TaskConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Runs a property on a thread with a large stack: the derived strategy for `Envelope` nests
/// deeply enough to overflow the default test-thread stack in debug builds.
fn check<S, M>(cases: u32, make: M, property: fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug + 'static,
    M: FnOnce() -> S + Send + 'static,
{
    std::thread::Builder::new()
        .stack_size(256 * 1024 * 1024)
        .spawn(move || {
            let strategy = make();
            let mut runner = TestRunner::new(Config {
                cases,
                ..Config::default()
            });
            if let Err(failure) = runner.run(&strategy, property) {
                panic!("{failure}");
            }
        })
        .expect("spawn property thread")
        .join()
        .expect("property holds");
}

#[test]
fn envelopes_round_trip() {
    check(512, any::<Envelope>, |envelope| {
        let bytes = codec::encode(&envelope);
        prop_assert_eq!(
            codec::decode(envelope.seq, &bytes).unwrap(),
            envelope.clone()
        );
        // JSON (the API's representation) round-trips too.
        let json = serde_json::to_string(&envelope).unwrap();
        prop_assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), envelope);
        Ok(())
    });
}

#[test]
fn pre_encoded_framing_matches_the_codec() {
    check(256, any::<Envelope>, |envelope| {
        let pending = aurora_events::PendingEvent {
            id: envelope.id,
            actor: envelope.actor.clone(),
            cause: envelope.cause,
            event: envelope.event.clone(),
        };
        let framed = codec::frame_committed(
            envelope.seq,
            envelope.at,
            envelope.prev_hash,
            &codec::PreEncoded::new(&pending),
        );
        prop_assert_eq!(framed, codec::encode(&envelope));
        Ok(())
    });
}

#[test]
fn a_flipped_bit_is_always_detected() {
    check(
        512,
        || (any::<Envelope>(), any::<prop::sample::Index>(), 0u8..8),
        |(envelope, position, bit)| {
            let mut bytes = codec::encode(&envelope);
            let i = position.index(bytes.len());
            bytes[i] ^= 1 << bit;
            let err = codec::decode(envelope.seq, &bytes).unwrap_err();
            prop_assert_eq!(err.seq, envelope.seq);
            prop_assert!(
                matches!(
                    err.problem,
                    DecodeProblem::UnknownVersion(_) | DecodeProblem::Checksum { .. }
                ),
                "{}",
                err
            );
            Ok(())
        },
    );
}

#[test]
fn truncation_is_an_error() {
    check(
        256,
        || (any::<Envelope>(), any::<prop::sample::Index>()),
        |(envelope, cut)| {
            let bytes = codec::encode(&envelope);
            let len = cut.index(bytes.len());
            prop_assert!(codec::decode(envelope.seq, &bytes[..len]).is_err());
            Ok(())
        },
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    check(
        1024,
        || (proptest::collection::vec(any::<u8>(), 0..512), any::<u64>()),
        |(bytes, seq)| {
            let _ = codec::decode(seq, &bytes);
            // Also behind a valid header, so that the payload decoder itself meets the garbage.
            let mut framed = vec![codec::FORMAT_VERSION];
            framed.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
            framed.extend_from_slice(&bytes);
            if let Err(err) = codec::decode(seq, &framed) {
                prop_assert_eq!(err.seq, seq);
            }
            Ok(())
        },
    );
}

#[test]
fn equal_configs_hash_equal_and_json_round_trips() {
    check(256, any::<TaskConfig>, |config| {
        prop_assert_eq!(config.hash(), config.clone().hash());
        let json = serde_json::to_string(&config).unwrap();
        prop_assert_eq!(serde_json::from_str::<TaskConfig>(&json).unwrap(), config);
        Ok(())
    });
}
