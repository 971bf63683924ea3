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
    /// Hashes a password read from standard input (one line) with argon2: prints the line for
    /// the auth file's `password`.
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
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("password (the line is echoed; pipe it in to avoid that):");
            }
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::new(ExitCode::Unknown, format!("reading stdin: {e}")))?;
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
    written.map_err(|e| CliError::new(ExitCode::Unknown, format!("writing stdout: {e}")))
}
