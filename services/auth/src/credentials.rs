//! What a client presents (an HTTP `Authorization` header), and the helpers that make what the
//! config stores: argon2 password hashes and SHA-256 token digests.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

use crate::Error;

/// The prefix of a stored token digest.
pub const TOKEN_DIGEST_PREFIX: &str = "sha256:";

/// The prefix of tokens made by [`new_token`].
pub const TOKEN_PREFIX: &str = "aurora_";

/// What a request presents to prove who it is.
///
/// `Debug` never prints the password or the token.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic: a user name and its password (or one of its API tokens, as in a `~/.netrc`).
    Basic { user: String, password: String },
    /// HTTP Bearer: an API token, which names its user by itself.
    Token(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::Token(_) => f.debug_tuple("Token").field(&"<redacted>").finish(),
        }
    }
}

impl Credentials {
    /// Parses the value of an HTTP `Authorization` header: `Basic BASE64(user:password)` or
    /// `Bearer TOKEN`. The scheme is case-insensitive and may be followed by any run of spaces
    /// or tabs; surrounding whitespace is ignored; base64 padding is optional. The password may
    /// contain `:` (the user name ends at the first one). Errors never quote the secret.
    pub fn from_authorization_header(value: &str) -> Result<Credentials, Error> {
        let bad = |why: &str| Error::BadHeader(why.to_owned());
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let (scheme, rest) = value
            .split_once([' ', '\t'])
            .ok_or_else(|| bad("expected `Basic BASE64(user:password)` or `Bearer TOKEN`"))?;
        let param = rest.trim_start_matches([' ', '\t']);
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD
                .decode(param)
                .or_else(|_| STANDARD_NO_PAD.decode(param))
                .map_err(|_| bad("Basic credentials are not valid base64"))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| bad("Basic credentials are not valid UTF-8"))?;
            let (user, password) = text
                .split_once(':')
                .ok_or_else(|| bad("Basic credentials lack the `:` between user and password"))?;
            if user.is_empty() {
                return Err(bad("Basic credentials have an empty user name"));
            }
            Ok(Credentials::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            })
        } else if scheme.eq_ignore_ascii_case("bearer") {
            if param.is_empty() || param.contains(|c: char| c.is_whitespace() || c.is_control()) {
                return Err(bad("a Bearer token is one non-empty word"));
            }
            Ok(Credentials::Token(param.to_owned()))
        } else {
            let shown: String = scheme.chars().take(20).collect();
            Err(Error::BadHeader(format!(
                "unsupported scheme `{}`; use Basic or Bearer",
                shown.escape_debug()
            )))
        }
    }

    /// Why these credentials cannot be sent in an `Authorization` header, if they cannot: a
    /// token goes as it is, so it must be one word of visible ASCII characters (a token from
    /// `aurora-admin auth new-token` always is); Basic credentials are base64, but a user name
    /// holding `:` would reach the server as another user. Never quotes the secret.
    pub fn unsendable(&self) -> Option<String> {
        const TOKEN_SHAPE: &str = "a token is one word of visible ASCII characters, as `aurora-admin auth new-token` prints it";
        match self {
            Credentials::Token(token) => {
                if token.is_empty() {
                    return Some("the token is empty".into());
                }
                let (position, bad) = token
                    .chars()
                    .enumerate()
                    .find(|(_, c)| !c.is_ascii_graphic())?;
                let what = match bad {
                    '\n' | '\r' => "a line break",
                    ' ' | '\t' => "a space",
                    c if c.is_control() => "a control character",
                    _ => "a non-ASCII character",
                };
                Some(format!(
                    "the token holds {what} (character {}); {TOKEN_SHAPE}",
                    position + 1
                ))
            }
            Credentials::Basic { user, .. } => {
                if user.is_empty() {
                    Some("the user name is empty".into())
                } else if user.contains(':') {
                    Some("the user name holds `:`, which Basic credentials cannot carry".into())
                } else {
                    None
                }
            }
        }
    }

    /// The `Authorization` header value that presents these credentials (what a client sends).
    pub fn authorization_header(&self) -> String {
        match self {
            Credentials::Basic { user, password } => {
                format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
            }
            Credentials::Token(token) => format!("Bearer {token}"),
        }
    }
}

impl FromStr for Credentials {
    type Err = Error;

    /// Same as [`Credentials::from_authorization_header`].
    fn from_str(s: &str) -> Result<Credentials, Error> {
        Credentials::from_authorization_header(s)
    }
}

/// Hashes `password` for the config's `password` field: an argon2id PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`) with argon2's recommended default parameters.
///
/// The caller supplies the salt (16 random bytes, e.g. from `rand`), so that this crate does
/// no I/O and a test can fix it.
pub fn hash_password(password: &str, salt: [u8; 16]) -> Result<String, Error> {
    hash_with(
        &Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT),
        password,
        &salt,
    )
}

pub(crate) fn hash_with(argon2: &Argon2<'_>, password: &str, salt: &[u8]) -> Result<String, Error> {
    argon2
        .hash_password_with_salt(password.as_bytes(), salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// Checks that `phc` is an argon2 PHC string with a salt and a hash whose parameters argon2
/// accepts; returns it parsed.
pub(crate) fn parse_password_hash(phc: &str) -> Result<PasswordHash, String> {
    if !phc.starts_with('$') {
        return Err("it does not start with `$argon2`".to_owned());
    }
    let hash = PasswordHash::new(phc).map_err(|e| e.to_string())?;
    Algorithm::try_from(hash.algorithm.as_str()).map_err(|_| {
        format!(
            "algorithm `{}` is not argon2id, argon2i or argon2d",
            hash.algorithm
        )
    })?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err("salt or hash missing".to_owned());
    }
    if let Some(version) = hash.version {
        Version::try_from(version).map_err(|e| e.to_string())?;
    }
    Params::try_from(&hash).map_err(|e| e.to_string())?;
    Ok(hash)
}

/// A token as the config stores it: its SHA-256.
pub(crate) type TokenHash = [u8; 32];

pub(crate) fn sha256(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// The form in which the config stores an API token: `sha256:` and the lowercase hex of the
/// token's SHA-256 (of its UTF-8 bytes, as sent after `Bearer `).
pub fn token_digest(token: &str) -> String {
    format!("{TOKEN_DIGEST_PREFIX}{}", hex::encode(sha256(token)))
}

/// Parses a stored digest: `sha256:` and 64 hex digits (either case).
pub(crate) fn parse_token_digest(digest: &str) -> Option<TokenHash> {
    let hex_part = digest.strip_prefix(TOKEN_DIGEST_PREFIX)?;
    if hex_part.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// A new API token from 32 random bytes the caller supplies: `aurora_` and 64 lowercase hex
/// digits. Safe in headers, environment variables and `~/.netrc`; the prefix makes leaked
/// tokens easy to grep for. Store [`token_digest`] of it in the config, never the token.
pub fn new_token(random: [u8; 32]) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(random))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Credentials {
        Credentials::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    #[test]
    fn parses_basic() {
        // base64("alice:s3cr:et") — the password keeps its colon.
        let header = format!("Basic {}", STANDARD.encode("alice:s3cr:et"));
        assert_eq!(
            Credentials::from_authorization_header(&header).unwrap(),
            basic("alice", "s3cr:et")
        );
        // Case-insensitive scheme, extra whitespace, no padding.
        let unpadded = STANDARD_NO_PAD.encode("bob:pw");
        assert_eq!(
            format!("  bAsIc \t {unpadded} ")
                .parse::<Credentials>()
                .unwrap(),
            basic("bob", "pw")
        );
        // An empty password is a (wrong) password, not a parse error.
        let empty = format!("Basic {}", STANDARD.encode("bob:"));
        assert_eq!(empty.parse::<Credentials>().unwrap(), basic("bob", ""));
    }

    #[test]
    fn parses_bearer() {
        assert_eq!(
            "Bearer aurora_abc".parse::<Credentials>().unwrap(),
            Credentials::Token("aurora_abc".to_owned())
        );
        assert_eq!(
            "BEARER   tok  ".parse::<Credentials>().unwrap(),
            Credentials::Token("tok".to_owned())
        );
    }

    #[test]
    fn round_trips_through_the_header() {
        for creds in [
            basic("alice", "p:w d"),
            Credentials::Token("aurora_x".into()),
        ] {
            let header = creds.authorization_header();
            assert_eq!(header.parse::<Credentials>().unwrap(), creds);
        }
    }

    #[test]
    fn rejects_garbage_without_quoting_secrets() {
        let err = |s: &str| s.parse::<Credentials>().unwrap_err().to_string();
        assert!(err("").contains("expected `Basic"), "{}", err(""));
        assert!(err("Basic").contains("expected `Basic"));
        assert!(err("Basic !!!notbase64").contains("not valid base64"));
        let no_colon = format!("Basic {}", STANDARD.encode("alicesecret"));
        assert!(err(&no_colon).contains("lack the `:`"));
        assert!(!err(&no_colon).contains("alicesecret"));
        let no_user = format!("Basic {}", STANDARD.encode(":secret"));
        assert!(err(&no_user).contains("empty user name"));
        let latin1 = format!("Basic {}", STANDARD.encode([0xff, b':', b'x']));
        assert!(err(&latin1).contains("UTF-8"));
        assert!(err("Bearer a b").contains("one non-empty word"));
        assert!(!err("Bearer a b").contains("a b"));
        assert!(err("Digest username=x").contains("unsupported scheme `Digest`"));
        assert!(err("Token abc").contains("use Basic or Bearer"));
    }

    #[test]
    fn unsendable_credentials_say_why_without_quoting_them() {
        let token = |t: &str| Credentials::Token(t.to_owned()).unsendable();
        assert_eq!(token(&new_token([7; 32])), None);
        assert_eq!(token("aurora_x!~"), None);
        let broken = token("aurora_secret\n=").unwrap();
        assert!(
            broken.starts_with("the token holds a line break (character 14);"),
            "{broken}"
        );
        assert!(!broken.contains("secret"), "{broken}");
        assert!(token("aurora x").unwrap().contains("a space (character 7)"));
        assert!(
            token("aurora\u{7f}")
                .unwrap()
                .contains("a control character")
        );
        assert!(token("auroré").unwrap().contains("a non-ASCII character"));
        assert!(token("").unwrap().contains("empty"));
        // Whatever a Basic password holds is base64 in the header.
        assert_eq!(basic("alice", "p w\nd é").unsendable(), None);
        assert!(basic("a:b", "pw").unsendable().unwrap().contains("`:`"));
        assert!(basic("", "pw").unsendable().is_some());
        // What can be sent is a valid header value, parsed back as sent.
        for sendable in [
            basic("alice", "p w\nd é"),
            Credentials::Token(new_token([1; 32])),
        ] {
            let header = sendable.authorization_header();
            assert!(header.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
            assert_eq!(header.parse::<Credentials>().unwrap(), sendable);
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let shown = format!(
            "{:?} {:?}",
            basic("alice", "hunter2"),
            Credentials::Token("aurora_tok".into())
        );
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("aurora_tok"), "{shown}");
    }

    #[test]
    fn token_digest_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            token_digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let digest = token_digest("aurora_x");
        assert_eq!(parse_token_digest(&digest), Some(sha256("aurora_x")));
        assert_eq!(
            parse_token_digest(&digest.to_uppercase().replace("SHA256:", "sha256:")),
            Some(sha256("aurora_x"))
        );
        assert_eq!(parse_token_digest("sha256:abc"), None);
        assert_eq!(
            parse_token_digest(&digest.replace("sha256:", "sha1:")),
            None
        );
        assert_eq!(parse_token_digest(&format!("{}g", &digest[..70])), None);
    }

    #[test]
    fn new_token_is_prefixed_hex_of_the_randomness() {
        let token = new_token([0xab; 32]);
        assert_eq!(token, format!("aurora_{}", "ab".repeat(32)));
        assert_ne!(new_token([0; 32]), new_token([1; 32]));
    }

    #[test]
    fn hash_password_uses_argon2id_defaults() {
        // The real cost (19 MiB, t=2) once, to check the parameters in the PHC string.
        let phc = hash_password("pw", [7; 16]).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(parse_password_hash(&phc).is_ok());
        // Deterministic given the salt.
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        );
        assert_eq!(
            hash_with(&cheap, "pw", &[1; 16]).unwrap(),
            hash_with(&cheap, "pw", &[1; 16]).unwrap()
        );
        assert_ne!(
            hash_with(&cheap, "pw", &[1; 16]).unwrap(),
            hash_with(&cheap, "pw", &[2; 16]).unwrap()
        );
    }

    #[test]
    fn password_hash_validation() {
        let bad = |s: &str| parse_password_hash(s).unwrap_err();
        assert!(bad("hunter2").contains("does not start with `$argon2"));
        assert!(bad("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").contains("not argon2id"));
        assert!(bad("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaGhhc2hoYXNo").contains("salt"));
        assert!(bad("$argon2id$v=19$m=19456,t=2,p=1").contains("missing"));
        assert!(bad("$argon2id$v=19$m=1,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").contains("\"m\""));
        assert!(
            bad("$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").contains("version")
        );
        assert!(
            parse_password_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")
                .is_ok()
        );
    }
}
