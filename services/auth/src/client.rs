//! The client's side: which credentials to send to a scheduler, found the way Apache Aurora's
//! client finds them, plus `--dev`'s local token.
//!
//! A client (the `aurora` CLIs, an agent) sends, for a scheduler at `url`:
//! 1. the token in the environment variable [`TOKEN_ENV`], if set;
//! 2. else the `~/.netrc` entry for the URL's host (`machine HOST login USER password PW`, or
//!    the `default` entry), as HTTP Basic;
//! 3. else, only when the URL's host is a loopback address, the token `aurora-scheduler --dev`
//!    keeps in [`DEV_TOKEN_FILE`] under the home directory (a dev credential never leaves the
//!    machine);
//! 4. else nothing: the request is anonymous, which is enough to read.
//!
//! Parsing is pure ([`netrc_credentials`], [`parse_credential_file`], [`url_host`]); the file
//! reads are the explicit [`discover`], [`read_credential_file`] and [`dev_token`].

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::credentials::{Credentials, TOKEN_PREFIX, new_token};

/// The environment variable holding an API token for the `aurora` clients.
pub const TOKEN_ENV: &str = "AURORA_TOKEN";

/// Where `aurora-scheduler --dev` keeps the local user's token, relative to the home directory.
pub const DEV_TOKEN_FILE: &str = ".aurora/dev-token";

/// The host part of a scheduler URL (`http://h:8081/x` → `h`, `http://[::1]:8081` → `::1`),
/// lowercased; `None` when there is none.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    // Drop any `user:password@`.
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Whether `host` names this machine's loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The Basic credentials a `~/.netrc` holds for `host`: its `machine` entry (first match), or
/// else its `default` entry, when that entry has both a login and a password. Tokens are
/// separated by whitespace; `macdef` bodies (up to a blank line) are skipped.
pub fn netrc_credentials(text: &str, host: &str) -> Option<Credentials> {
    #[derive(Default)]
    struct Entry {
        login: Option<String>,
        password: Option<String>,
    }
    let mut exact: Option<Entry> = None;
    let mut default: Option<Entry> = None;
    // Which entry the words being read belong to: Some(true) the host's, Some(false) the
    // default, None another machine's (or a duplicate of one already found).
    let mut current: Option<bool> = None;
    let words = netrc_words(text);
    let mut words = words.iter().map(String::as_str);
    while let Some(word) = words.next() {
        match word {
            "machine" => {
                let name = words.next().unwrap_or_default();
                let ours = name.eq_ignore_ascii_case(host) && exact.is_none();
                current = ours.then_some(true);
                if ours {
                    exact = Some(Entry::default());
                }
            }
            "default" => {
                current = default.is_none().then_some(false);
                if current.is_some() {
                    default = Some(Entry::default());
                }
            }
            "login" | "password" | "account" => {
                let value = words.next().unwrap_or_default().to_owned();
                let entry = match current {
                    Some(true) => exact.as_mut(),
                    Some(false) => default.as_mut(),
                    None => None,
                };
                match (entry, word) {
                    (Some(entry), "login") => entry.login = Some(value),
                    (Some(entry), "password") => entry.password = Some(value),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    // As curl: the host's own entry, complete or not, wins over `default`.
    let entry = exact.or(default)?;
    Some(Credentials::Basic {
        user: entry.login?,
        password: entry.password?,
    })
}

/// A netrc's words, without `macdef` bodies (the rest of the line after `macdef NAME`, and the
/// lines up to the next blank one) and comments (`#` where a keyword may stand, to the end of
/// its line). Words are separated by whitespace; a word in double quotes may hold whitespace,
/// and a backslash in it takes the next character as it is (`"p w\"d"` is `p w"d`), as curl
/// and Python's netrc read them.
fn netrc_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        for word in line_words(line) {
            // `macdef` and `#` start a macro or a comment only where a keyword may stand, not
            // as a value.
            let is_value = words.last().is_some_and(|previous| {
                matches!(
                    previous.as_str(),
                    "machine" | "login" | "password" | "account"
                )
            });
            if word.quoted || is_value {
                words.push(word.text);
                continue;
            }
            if word.text == "macdef" {
                for body in lines.by_ref() {
                    if body.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            if word.text.starts_with('#') {
                break;
            }
            words.push(word.text);
        }
    }
    words
}

/// One word of a netrc line, and whether it was quoted.
struct Word {
    text: String,
    quoted: bool,
}

/// The words of one netrc line (see [`netrc_words`]). A quote left open runs to the line's end.
fn line_words(line: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(first) = chars.next() else {
            return words;
        };
        let mut text = String::new();
        let quoted = first == '"';
        if quoted {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => text.extend(chars.next()),
                    c => text.push(c),
                }
            }
        } else {
            text.push(first);
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                text.push(c);
            }
        }
        words.push(Word { text, quoted });
    }
}

/// An agent's credential file: one line (surrounding whitespace and a trailing newline
/// ignored) holding either an API token (`aurora_…`, sent as Bearer) or `USER:PASSWORD`
/// (sent as Basic).
pub fn parse_credential_file(text: &str) -> Result<Credentials, Error> {
    let line = text.trim();
    if line.is_empty() {
        return Err(Error::BadCredentialFile("it is empty".into()));
    }
    if line.contains('\n') {
        return Err(Error::BadCredentialFile(
            "it holds more than one line (expected a token, or USER:PASSWORD)".into(),
        ));
    }
    if line.starts_with(TOKEN_PREFIX) && !line.contains(':') {
        if line.contains(char::is_whitespace) {
            return Err(Error::BadCredentialFile(
                "a token is one word without spaces".into(),
            ));
        }
        let token = Credentials::Token(line.to_owned());
        if let Some(reason) = token.unsendable() {
            return Err(Error::BadCredentialFile(reason));
        }
        return Ok(token);
    }
    match line.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok(Credentials::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            })
        }
        _ => Err(Error::BadCredentialFile(format!(
            "expected a token (`{TOKEN_PREFIX}…`) or USER:PASSWORD"
        ))),
    }
}

/// Reads and parses a credential file (see [`parse_credential_file`]); errors name the file.
pub fn read_credential_file(path: &Path) -> Result<Credentials, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_credential_file(&text).map_err(|e| Error::InFile {
        path: path.to_owned(),
        source: Box::new(e),
    })
}

/// Where the dev token lives for the home directory `home`.
pub fn dev_token_path(home: &Path) -> PathBuf {
    home.join(DEV_TOKEN_FILE)
}

/// The credentials a client sends to the scheduler at `url` (see the module docs for the
/// order), given the value of [`TOKEN_ENV`] and the home directory. `Ok(None)`: send nothing.
/// A `~/.netrc` or dev token that exists but cannot be read is an error naming it.
pub fn discover(
    url: &str,
    env_token: Option<&str>,
    home: Option<&Path>,
) -> Result<Option<Credentials>, Error> {
    Ok(discover_with_source(url, env_token, home)?.map(|(credentials, _)| credentials))
}

/// [`discover`], with where the credentials came from (`AURORA_TOKEN`, `~/.netrc (machine
/// HOST)`, the dev token's path), for an error that says which credential was refused.
///
/// A credential found that cannot be sent in an HTTP header is an error naming where it was
/// found ([`Error::Unsendable`]) rather than a request sent without it.
pub fn discover_with_source(
    url: &str,
    env_token: Option<&str>,
    home: Option<&Path>,
) -> Result<Option<(Credentials, String)>, Error> {
    let found = find_with_source(url, env_token, home)?;
    if let Some((credentials, origin)) = &found
        && let Some(reason) = credentials.unsendable()
    {
        return Err(Error::Unsendable {
            origin: origin.clone(),
            reason,
        });
    }
    Ok(found)
}

/// [`discover_with_source`], before the check that the credential can be sent.
fn find_with_source(
    url: &str,
    env_token: Option<&str>,
    home: Option<&Path>,
) -> Result<Option<(Credentials, String)>, Error> {
    if let Some(token) = env_token.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok(Some((
            Credentials::Token(token.to_owned()),
            TOKEN_ENV.into(),
        )));
    }
    let (Some(home), Some(host)) = (home, url_host(url)) else {
        return Ok(None);
    };
    let netrc = home.join(".netrc");
    if let Some(text) = read_if_present(&netrc)?
        && let Some(credentials) = netrc_credentials(&text, &host)
    {
        return Ok(Some((
            credentials,
            format!("{} for {host}", netrc.display()),
        )));
    }
    let dev = dev_token_path(home);
    if is_loopback_host(&host)
        && let Some(text) = read_if_present(&dev)?
    {
        let token = text.trim();
        if !token.is_empty() {
            return Ok(Some((
                Credentials::Token(token.to_owned()),
                format!("{} (aurora-scheduler --dev's token)", dev.display()),
            )));
        }
    }
    Ok(None)
}

/// [`discover`] with this process's environment: `AURORA_TOKEN` and `HOME`.
pub fn discover_from_env(url: &str) -> Result<Option<Credentials>, Error> {
    Ok(discover_from_env_with_source(url)?.map(|(credentials, _)| credentials))
}

/// [`discover_with_source`] with this process's environment.
pub fn discover_from_env_with_source(url: &str) -> Result<Option<(Credentials, String)>, Error> {
    let token = std::env::var(TOKEN_ENV).ok();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    discover_with_source(url, token.as_deref(), home.as_deref())
}

fn read_if_present(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The local user's dev token under `home`: read from [`DEV_TOKEN_FILE`] when it exists,
/// otherwise made from `random` and written there (mode 0600, directory created). Written to
/// a temporary file and linked into place, so a reader never sees half a token and two
/// schedulers starting at once agree on one.
pub fn dev_token(home: &Path, random: [u8; 32]) -> Result<String, Error> {
    let path = dev_token_path(home);
    let io_error = |path: &Path, source: io::Error| Error::Read {
        path: path.to_owned(),
        source,
    };
    if let Some(text) = read_if_present(&path)? {
        let token = text.trim();
        if token.starts_with(TOKEN_PREFIX) {
            return Ok(token.to_owned());
        }
        return Err(Error::InFile {
            path,
            source: Box::new(Error::BadCredentialFile(format!(
                "expected one token starting with `{TOKEN_PREFIX}`; delete the file to get a new one"
            ))),
        });
    }
    let dir = path.parent().unwrap_or(home);
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let token = new_token(random);
    let temporary = dir.join(format!(".dev-token.{}", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&temporary)
            .map_err(|e| io_error(&temporary, e))?;
        writeln!(file, "{token}")
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(&temporary, e))?;
    }
    let linked = std::fs::hard_link(&temporary, &path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(token),
        // Another scheduler made it first: use that one.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
            Ok(text.trim().to_owned())
        }
        Err(e) => Err(io_error(&path, e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            user: user.into(),
            password: password.into(),
        })
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("http://h1:8081/x").as_deref(), Some("h1"));
        assert_eq!(
            url_host("https://Sched.Example.com").as_deref(),
            Some("sched.example.com")
        );
        assert_eq!(url_host("http://[::1]:8081").as_deref(), Some("::1"));
        assert_eq!(url_host("http://u:p@h2:1/").as_deref(), Some("h2"));
        assert_eq!(url_host("http://"), None);
        assert!(is_loopback_host("127.0.0.1") && is_loopback_host("::1"));
        assert!(is_loopback_host("localhost") && !is_loopback_host("10.0.0.1"));
    }

    #[test]
    fn netrc_finds_the_host_then_the_default() {
        let text = "machine other login bob password b0b\n\
                    machine sched.example.com\n  login alice\n  password s3cret\n\
                    default login anon password guest\n";
        assert_eq!(
            netrc_credentials(text, "sched.example.com"),
            basic("alice", "s3cret")
        );
        assert_eq!(
            netrc_credentials(text, "SCHED.example.com"),
            basic("alice", "s3cret")
        );
        assert_eq!(netrc_credentials(text, "elsewhere"), basic("anon", "guest"));
        let no_default = "machine other login bob password b0b";
        assert_eq!(netrc_credentials(no_default, "elsewhere"), None);
        // The host's entry wins over `default` even without a password (as curl).
        assert_eq!(
            netrc_credentials(
                "machine h login alice\ndefault login anon password guest",
                "h"
            ),
            None
        );
        // `macdef` as a value is a value.
        assert_eq!(
            netrc_credentials(
                "machine h login alice password macdef\nmachine i login x password y",
                "i"
            ),
            basic("x", "y")
        );
    }

    #[test]
    fn netrc_reads_quoted_words_and_skips_comments() {
        let text = "# the scheduler's entry\n\
                    machine h login \"alice smith\" password \"p w\\\"d\\\\x\" # ours\n\
                    machine i login bob password #hash";
        assert_eq!(
            netrc_credentials(text, "h"),
            basic("alice smith", "p w\"d\\x")
        );
        // A value may start with `#`, or be quoted (and then be `macdef`, or empty).
        assert_eq!(netrc_credentials(text, "i"), basic("bob", "#hash"));
        let quoted_keyword = "machine j login \"macdef\" password \"\"";
        assert_eq!(netrc_credentials(quoted_keyword, "j"), basic("macdef", ""));
        // An unterminated quote runs to the end of its line.
        assert_eq!(
            netrc_credentials("machine k login u password \"open to the end\n", "k"),
            basic("u", "open to the end")
        );
    }

    #[test]
    fn netrc_skips_macros_and_accounts() {
        let text = "macdef init\nmachine h login evil password x\n\n\
                    machine h account a login alice password pw";
        assert_eq!(netrc_credentials(text, "h"), basic("alice", "pw"));
    }

    #[test]
    fn credential_files() {
        let token = new_token([7; 32]);
        assert_eq!(
            parse_credential_file(&format!("{token}\n")).unwrap(),
            Credentials::Token(token)
        );
        assert_eq!(
            Some(parse_credential_file("agent-1:pa:ss\n").unwrap()),
            basic("agent-1", "pa:ss")
        );
        for bad in [
            "",
            "\n",
            "justaword",
            ":pw",
            "user:",
            "a:b\nc:d",
            "aurora_x\u{1}y",
            "aurora_é",
        ] {
            let error = parse_credential_file(bad).unwrap_err().to_string();
            assert!(error.contains("credential file"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn discovery_order() {
        let home = tempfile::tempdir().unwrap();
        let url = "http://127.0.0.1:8081";
        // Nothing anywhere: anonymous.
        assert_eq!(discover(url, None, Some(home.path())).unwrap(), None);
        // The dev token, for loopback only.
        let dev = dev_token(home.path(), [1; 32]).unwrap();
        assert_eq!(
            discover(url, None, Some(home.path())).unwrap(),
            Some(Credentials::Token(dev.clone()))
        );
        assert_eq!(
            discover("http://sched.example.com", None, Some(home.path())).unwrap(),
            None
        );
        // A netrc entry beats the dev token.
        std::fs::write(
            home.path().join(".netrc"),
            "machine 127.0.0.1 login alice password pw\n",
        )
        .unwrap();
        assert_eq!(
            discover(url, None, Some(home.path())).unwrap(),
            basic("alice", "pw")
        );
        // The environment beats everything.
        assert_eq!(
            discover(url, Some("aurora_env"), Some(home.path())).unwrap(),
            Some(Credentials::Token("aurora_env".into()))
        );
    }

    /// A credential that cannot be sent in a header is an error naming where it was found,
    /// not a request sent without it (the dev agent then retried anonymously for ever).
    #[test]
    fn an_unsendable_credential_is_an_error_naming_its_origin() {
        let home = tempfile::tempdir().unwrap();
        let url = "http://127.0.0.1:8081";
        let error = discover(url, Some("aurora_secret\n="), Some(home.path()))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "the credential from AURORA_TOKEN cannot be sent in an HTTP header: the token \
                 holds a line break"
            ),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
        std::fs::write(
            home.path().join(".netrc"),
            "machine 127.0.0.1 login \"a:b\" password pw\n",
        )
        .unwrap();
        let error = discover(url, None, Some(home.path()))
            .unwrap_err()
            .to_string();
        assert!(error.contains(".netrc for 127.0.0.1"), "{error}");
    }

    #[test]
    fn the_dev_token_is_made_once() {
        let home = tempfile::tempdir().unwrap();
        let first = dev_token(home.path(), [1; 32]).unwrap();
        let again = dev_token(home.path(), [2; 32]).unwrap();
        assert_eq!(first, again);
        assert!(first.starts_with(TOKEN_PREFIX));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dev_token_path(home.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the dev token is readable by others: {mode:o}"
            );
        }
        std::fs::write(dev_token_path(home.path()), "garbage").unwrap();
        let error = dev_token(home.path(), [3; 32]).unwrap_err().to_string();
        assert!(error.contains("dev-token"), "{error}");
    }
}
