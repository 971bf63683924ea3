//! `aurora-admin auth new-token|hash-password`: what an operator puts in the scheduler's
//! `--auth` file. Nothing here talks to a scheduler; the secrets are printed once, for the
//! user who will present them, and only their digests or hashes go into the file.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;

use crate::exit::{CliError, CliResult, ExitCode};

#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// A new API token for USER: prints the token (give it to the user, e.g. for
    /// AURORA_TOKEN, ~/.netrc or an agent's --credential file) and the line for the auth file.
    NewToken { user: String },
    /// Hashes a password with argon2 and prints the line for the auth file's `password`. At a
    /// terminal it is asked for twice, without echo; otherwise it is standard input's first
    /// line.
    HashPassword,
}

pub(crate) fn run(action: Action) -> CliResult {
    let mut stdout = std::io::stdout().lock();
    let written = match action {
        Action::NewToken { user } => {
            let token = aurora_auth::new_token(rand::random());
            writeln!(stdout, "token: {token}").and_then(|()| {
                writeln!(
                    stdout,
                    "in the auth file, under [users.{user}]:\ntokens = [\"{}\"]",
                    aurora_auth::token_digest(&token)
                )
            })
        }
        Action::HashPassword => {
            let line = if std::io::stdin().is_terminal() {
                typed_password()?
            } else {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| CliError::new(ExitCode::Unknown, format!("reading stdin: {e}")))?;
                line
            };
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(CliError::invalid_parameter(
                    "no password on standard input (expected one line)",
                ));
            }
            let hash = aurora_auth::hash_password(password, rand::random())
                .map_err(|e| CliError::new(ExitCode::Unknown, e.to_string()))?;
            writeln!(stdout, "password = \"{hash}\"")
        }
    };
    match written {
        // The reader went away (`| head`): done, as for every other command.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => {
            written.map_err(|e| CliError::new(ExitCode::Unknown, format!("writing stdout: {e}")))
        }
    }
}

/// A password typed twice at the terminal, not echoed.
fn typed_password() -> CliResult<String> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::new(ExitCode::Unknown, format!("reading the password: {e}")))
    };
    let first = ask("password: ")?;
    let second = ask("the same again: ")?;
    if first != second {
        return Err(CliError::invalid_parameter(
            "the two passwords differ; nothing was hashed",
        ));
    }
    Ok(first)
}
