//! Deterministic ids for one decision: event ids and task ids from the decision's seed, so that
//! the same state, command and context always give the same events.

use aurora_events::{EventId, InstanceId, JobKey, TaskId, Timestamp};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid_bytes::random_uuid;

/// Hands out ids for the events and tasks of one decision.
#[derive(Debug)]
pub struct IdGen {
    rng: ChaCha8Rng,
    now: Timestamp,
}

impl IdGen {
    pub fn new(seed: u64, now: Timestamp) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now,
        }
    }

    pub fn event_id(&mut self) -> EventId {
        let mut random = [0u8; 10];
        self.rng.fill_bytes(&mut random);
        EventId::from_parts(self.now.unsigned_millis(), random)
    }

    /// A UUID v7 (time-ordered: the decision's time, then random bits), so that update ids
    /// sort by when they were started.
    pub fn update_id(&mut self) -> aurora_events::Uuid {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        let millis = self.now.unsigned_millis().to_be_bytes();
        bytes[..6].copy_from_slice(&millis[2..]);
        bytes[6] = (bytes[6] & 0x0f) | 0x70;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        aurora_events::Uuid::from_bytes(bytes)
    }

    pub fn task_id(&mut self, job: &JobKey, instance: InstanceId) -> TaskId {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        TaskId::generate(job, instance, random_uuid(bytes))
    }
}

mod uuid_bytes {
    /// A version-4 UUID from 16 random bytes (sets the version and variant bits).
    pub fn random_uuid(mut bytes: [u8; 16]) -> aurora_events::Uuid {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        aurora_events::Uuid::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids_different_seed_different_ids() {
        let job: JobKey = "www-data/prod/hello".parse().unwrap();
        let mut a = IdGen::new(7, Timestamp(1_000));
        let mut b = IdGen::new(7, Timestamp(1_000));
        let mut c = IdGen::new(8, Timestamp(1_000));
        assert_eq!(a.event_id(), b.event_id());
        assert_eq!(a.task_id(&job, 0), b.task_id(&job, 0));
        assert_ne!(
            IdGen::new(7, Timestamp(1_000)).task_id(&job, 0),
            c.task_id(&job, 0)
        );
        assert!(
            a.task_id(&job, 3)
                .as_str()
                .starts_with("www-data-prod-hello-3-")
        );
    }
}
