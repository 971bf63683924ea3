//! Helpers shared by the integration tests.

#![allow(dead_code, clippy::unwrap_used)]

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};

/// An argon2id PHC string at the lowest cost argon2 allows (8 KiB, one pass), so that tests
/// are fast in debug builds. Real hashes come from `aurora_auth::hash_password`.
pub fn cheap_hash(password: &str) -> String {
    let params = Params::new(Params::MIN_M_COST, 1, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_with_salt(password.as_bytes(), b"fixed-test-salt!")
        .unwrap()
        .to_string()
}

/// A fixed, distinct token per seed.
pub fn token(seed: u8) -> String {
    aurora_auth::new_token([seed; 32])
}
