//! Where `events tail` and `journal verify` read the history: the cluster's JetStream mirror
//! (async-nats, driven from a small runtime of its own) or the scheduler's server-sent event
//! stream (`/api/v1/events/stream`), failing over between a replicated scheduler's replicas.
//! Both carry the same payload (`aurora_stream::wire`), so both print alike.

use std::io::{BufRead, BufReader, Read};
use std::ops::RangeInclusive;
use std::time::Duration;

use aurora_events::{Envelope, Seq};

use crate::exit::{CliError, CliResult, ExitCode};

/// A scheduler that sends nothing (not even its keep-alive, every 10 s) for this long is
/// taken for gone, and the next replica is tried.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A small single-threaded runtime for the async NATS client.
pub fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ExitCode::Unknown, format!("starting the NATS client: {e}")))
}

/// The error of a stream read.
pub fn stream_error(error: aurora_stream::Error) -> CliError {
    let code = match error {
        aurora_stream::Error::Connect { .. } => ExitCode::NetworkError,
        aurora_stream::Error::NoStream { .. } => ExitCode::CommandFailure,
        _ => ExitCode::ApiError,
    };
    CliError::new(code, error.to_string())
}

/// The most holes an error lists (a purged stream may lack millions of seqs).
const HOLES_LISTED: usize = 5;

/// The error of a stream that lacks `missing` (ranges of seqs, in order, at least one): its
/// seqs are the journal's without gaps, so it is damaged, and a read must not pass over it.
pub fn hole_error(cluster: &str, missing: &[RangeInclusive<Seq>]) -> CliError {
    let mut listed: Vec<String> = missing
        .iter()
        .take(HOLES_LISTED)
        .map(|range| {
            if range.start() == range.end() {
                range.start().to_string()
            } else {
                format!("{}-{}", range.start(), range.end())
            }
        })
        .collect();
    if missing.len() > HOLES_LISTED {
        listed.push(format!("and {} more ranges", missing.len() - HOLES_LISTED));
    }
    let single = missing.len() == 1 && missing[0].start() == missing[0].end();
    CliError::new(
        ExitCode::CommandFailure,
        format!(
            "the JetStream mirror of {cluster} lacks seq{} {} (deleted from the stream?): its \
             seqs are the journal's, without gaps, so it no longer mirrors the journal; check it \
             with `aurora-admin journal verify {cluster} --against-stream`, or read the \
             scheduler's events with --source scheduler",
            if single { "" } else { "s" },
            listed.join(", ")
        ),
    )
}

/// What to do after an event was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Stop,
}

/// Why one scheduler's stream ended.
enum Interrupted {
    /// The scheduler went away or could not be reached: try another.
    Lost(String),
    /// Something no other replica will mend (a malformed payload, a gap, the caller's stop).
    Fatal(CliError),
}

/// Follows the scheduler's event stream strictly after `after`, handing each envelope to
/// `on`, in order, without gaps or repeats, moving to another replica whenever one goes away.
/// Stops once `end` is reached (when given), or when `on` says so; without `end`, follows
/// for as long as some replica comes back.
pub fn follow_scheduler(
    bases: &[String],
    after: Seq,
    end: Option<Seq>,
    on: &mut dyn FnMut(Envelope) -> CliResult<Next>,
) -> CliResult {
    let http = crate::client::blocking_builder()?
        .connect_timeout(Duration::from_secs(5))
        .timeout(IDLE_TIMEOUT)
        .build()
        .map_err(|e| CliError::new(ExitCode::Unknown, format!("HTTP client: {e}")))?;
    let mut last = after;
    let mut index = 0;
    let mut failed_in_a_row = 0;
    loop {
        if end.is_some_and(|end| last >= end) {
            return Ok(());
        }
        let base = &bases[index % bases.len()];
        let before = last;
        match read_events(&http, base, &mut last, end, on) {
            Ok(()) => return Ok(()),
            Err(Interrupted::Fatal(error)) => return Err(error),
            Err(Interrupted::Lost(reason)) => {
                if last > before {
                    failed_in_a_row = 0;
                }
                failed_in_a_row += 1;
                if end.is_some() && failed_in_a_row >= bases.len() {
                    return Err(CliError::new(
                        ExitCode::NetworkError,
                        format!("the event stream broke off after seq {last}: {reason}"),
                    ));
                }
                if failed_in_a_row == 1 || failed_in_a_row % (bases.len() * 10) == 0 {
                    eprintln!(
                        "aurora: lost the event stream at {base} ({reason}); resuming after seq {last}"
                    );
                }
                index += 1;
                if failed_in_a_row % bases.len() == 0 {
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }
}

/// The longest event the stream reader accepts (far above any event the scheduler writes: a
/// task config is limited by the API's request body limit).
const MAX_EVENT_BYTES: usize = 32 << 20;

/// Why no event could be read from a server-sent event stream.
#[derive(Debug, PartialEq)]
enum SseError {
    Closed,
    Io(String),
    TooLong,
}

/// The data of the stream's next event (its `data:` lines joined), skipping `id:`, `event:` and
/// keep-alive comments. Bounded, so that a broken or hostile server cannot make the client
/// buffer without end: one line, and one event's data together, hold at most `limit` bytes.
fn next_event_data(reader: &mut impl BufRead, limit: usize) -> Result<String, SseError> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader
            .take(limit as u64 + 1)
            .read_line(&mut line)
            .map_err(|e| SseError::Io(e.to_string()))?;
        if read == 0 {
            return Err(SseError::Closed);
        }
        if read > limit {
            return Err(SseError::TooLong);
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(payload) = line.strip_prefix("data:") {
            data.push_str(payload.strip_prefix(' ').unwrap_or(payload));
            if data.len() > limit {
                return Err(SseError::TooLong);
            }
        } else if line.is_empty() && !data.is_empty() {
            return Ok(data);
        }
    }
}

/// Reads one scheduler's stream until it ends, `end` is reached or `on` stops.
fn read_events(
    http: &reqwest::blocking::Client,
    base: &str,
    last: &mut Seq,
    end: Option<Seq>,
    on: &mut dyn FnMut(Envelope) -> CliResult<Next>,
) -> Result<(), Interrupted> {
    let url = format!("{base}/api/v1/events/stream?after={last}");
    let mut request = http
        .get(&url)
        .header(reqwest::header::ACCEPT, "text/event-stream");
    // Reads are usually open; a scheduler that wants credentials even to read gets them.
    if let Ok(Some(authorization)) = crate::client::authorization_for(base) {
        request = request.header(reqwest::header::AUTHORIZATION, authorization);
    }
    let response = request
        .send()
        .map_err(|e| Interrupted::Lost(e.to_string()))?;
    if !response.status().is_success() {
        return Err(Interrupted::Lost(format!(
            "{url} answered {}",
            response.status()
        )));
    }
    let mut reader = BufReader::new(response);
    loop {
        let data = match next_event_data(&mut reader, MAX_EVENT_BYTES) {
            Ok(data) => data,
            Err(SseError::Closed) => {
                return Err(Interrupted::Lost("the scheduler closed the stream".into()));
            }
            Err(SseError::Io(e)) => return Err(Interrupted::Lost(e)),
            Err(SseError::TooLong) => {
                return Err(Interrupted::Fatal(CliError::new(
                    ExitCode::ApiError,
                    format!(
                        "{base} sent an event longer than {MAX_EVENT_BYTES} bytes; stopped reading"
                    ),
                )));
            }
        };
        let message = aurora_stream::wire::decode(data.as_bytes()).map_err(|e| {
            Interrupted::Fatal(CliError::new(
                ExitCode::ApiError,
                format!("{base} sent an event that does not decode: {e}"),
            ))
        })?;
        let envelope = message.envelope;
        if envelope.seq <= *last {
            continue;
        }
        if envelope.seq != *last + 1 {
            return Err(Interrupted::Fatal(CliError::new(
                ExitCode::ApiError,
                format!("{base} skipped from seq {} to {}", *last, envelope.seq),
            )));
        }
        *last = envelope.seq;
        let reached_end = end.is_some_and(|end| envelope.seq >= end);
        match on(envelope) {
            Ok(Next::Continue) if !reached_end => {}
            Ok(_) => return Ok(()),
            Err(error) => return Err(Interrupted::Fatal(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn a_hole_names_its_seqs_and_how_to_check_the_stream() {
        let one = hole_error("devcluster", &[10..=10]);
        assert_eq!(one.code, ExitCode::CommandFailure);
        assert!(one.message.contains("lacks seq 10 "), "{}", one.message);
        assert!(
            one.message
                .contains("`aurora-admin journal verify devcluster --against-stream`"),
            "{}",
            one.message
        );
        let many: Vec<RangeInclusive<Seq>> = (0..7).map(|i| i * 10..=i * 10 + 1).collect();
        let error = hole_error("c", &many);
        assert!(
            error
                .message
                .contains("lacks seqs 0-1, 10-11, 20-21, 30-31, 40-41, and 2 more ranges "),
            "{}",
            error.message
        );
    }

    #[test]
    fn events_are_their_data_lines_joined_and_the_rest_is_skipped() {
        let mut stream = Cursor::new(
            ": keep-alive\n\nid: 1\nevent: envelope\ndata: {\"a\":\ndata: 1}\n\ndata:x\r\n\r\n",
        );
        assert_eq!(next_event_data(&mut stream, 64), Ok("{\"a\":1}".into()));
        assert_eq!(next_event_data(&mut stream, 64), Ok("x".into()));
        assert_eq!(next_event_data(&mut stream, 64), Err(SseError::Closed));
    }

    #[test]
    fn a_line_or_an_event_past_the_limit_is_refused() {
        let long_line = format!("data: {}\n\n", "y".repeat(100));
        assert_eq!(
            next_event_data(&mut Cursor::new(long_line), 64),
            Err(SseError::TooLong)
        );
        let many_lines = "data: yyyyyyyyyyyyyyyyyyyy\n".repeat(10);
        assert_eq!(
            next_event_data(&mut Cursor::new(many_lines), 64),
            Err(SseError::TooLong)
        );
        // A line without an end is refused as soon as it passes the limit.
        let endless = Cursor::new("z".repeat(1000));
        assert_eq!(
            next_event_data(&mut endless.clone(), 64),
            Err(SseError::TooLong)
        );
    }
}
