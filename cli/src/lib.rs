//! # aurora-cli
//!
//! The `aurora` and `aurora-admin` command-line clients: Aurora's nouns and verbs, its exit
//! codes (0 ok, 3 invalid config, 4 command failure, 5 invalid command, 6 invalid parameter,
//! 7 network, 9 timeout, 10 API error, 30 auth error) and `--write-json`. Commands talk to the
//! scheduler's HTTP API (shapes from `aurora-api`); configs are evaluated by `aurora-config`.
//! Data goes to stdout; progress bars, confirmations and errors to stderr; colours only on a
//! terminal.
//!
//! Must not depend on the journal, storage (`rocksdb`) or the scheduler's internals: only on
//! `aurora-events`, `aurora-api`, `aurora-config`, `aurora-projections` (pure read-side
//! types) and, to read the JetStream mirror, `aurora-stream` (the one crate that speaks NATS).

pub mod admin;
pub mod aurora;
pub mod client;
pub mod clusters;
pub mod context;
pub mod events;
pub mod exit;
pub mod keys;
pub mod observer;
pub mod percent;
pub mod pyfmt;
pub mod stream;
pub mod time;

use exit::{CliResult, ExitCode};

/// The clients' version: the crate's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether the command line is `PROGRAM --version` (or `-V`). Aurora's clients answer it as
/// argparse does, with the bare version and nothing else, which scripts compare
/// (`[[ $(aurora --version 2>&1) = $expected ]]`); clap would print the program name too.
pub(crate) fn asks_version(args: &[std::ffi::OsString]) -> bool {
    args.len() == 2 && (args[1] == "--version" || args[1] == "-V")
}

/// Prints a command-line parse error (or the help/version asked for) and returns the exit
/// code: 0 for help and version, 5 (invalid command) for anything else.
pub(crate) fn report_usage(error: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let code = match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::Ok,
        _ => ExitCode::InvalidCommand,
    };
    // Help goes to stdout, errors to stderr; clap knows which.
    let _ = error.print();
    code.code()
}

/// EPIPE, the same on Linux and the BSDs (macOS included).
const EPIPE: i32 = 32;

/// Makes a closed standard output (`aurora why T | head -1`) end the process quietly with
/// status 0, as `events tail` does, instead of panicking with exit 101. Called first thing by
/// both binaries. Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE, which
/// `println!` turns into a panic; restoring SIGPIPE's default would need `unsafe` (which the
/// workspace forbids), so the panic hook recognises that one panic and exits instead. Other
/// panics keep the default hook.
pub fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        if message.is_some_and(is_closed_stdout) {
            std::process::exit(ExitCode::Ok.code());
        }
        default(info);
    }));
}

/// Whether `message` is the panic of `print!`/`println!` whose stdout was closed.
fn is_closed_stdout(message: &str) -> bool {
    let broken_pipe = std::io::Error::from_raw_os_error(EPIPE).to_string();
    message
        .strip_prefix("failed printing to stdout: ")
        .is_some_and(|error| error == broken_pipe)
}

/// A line as Aurora's clients log it at INFO through twitter.common's plain formatter:
/// `" INFO] {message}"`. Aurora shows INFO by default, so these lines are part of what its
/// scripts see (on stderr): what each call to the scheduler is about to do (`Killing tasks
/// for job: ...`) and the scheduler's message on success.
pub(crate) fn info_line(message: &str) -> String {
    format!(" INFO] {message}")
}

/// Prints [`info_line`] on stderr, where Aurora's log handler writes it.
pub(crate) fn log_info(message: &str) {
    eprintln!("{}", info_line(message));
}

/// Logs the scheduler's message on a success (if it sent one), as Aurora's
/// `log_response_and_raise` does.
pub(crate) fn log_success_message(message: Option<&str>) {
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        log_info(message);
    }
}

/// Prints a failed command's message to stderr and returns its exit code.
pub(crate) fn finish(outcome: CliResult) -> i32 {
    match outcome {
        Ok(()) => ExitCode::Ok.code(),
        Err(error) => {
            eprintln!("error: {}", error.message);
            error.code.code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_stdout_is_recognised() {
        let broken_pipe = std::io::Error::from_raw_os_error(EPIPE);
        assert!(is_closed_stdout(&format!(
            "failed printing to stdout: {broken_pipe}"
        )));
        assert!(!is_closed_stdout(&format!(
            "failed printing to stderr: {broken_pipe}"
        )));
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC
        assert!(!is_closed_stdout(&format!(
            "failed printing to stdout: {full}"
        )));
        assert!(!is_closed_stdout("attempt to add with overflow"));
    }
}
