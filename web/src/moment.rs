//! `?at=`: which moment a page shows. A journal seq (`?at=1234`) or an RFC 3339 instant
//! (`?at=2026-11-22T07:00:00Z`, the last event committed at or before it). Without it, the
//! live views.

use aurora_events::{Seq, Timestamp};
use serde::Deserialize;

/// The query string every page accepts.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AtQuery {
    pub at: Option<String>,
}

/// What `?at=` asked for, before it is resolved against the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Live,
    Seq(Seq),
    Time(Timestamp),
}

/// Parses the raw `?at=` value; the error names what was wrong and what is accepted.
pub fn parse(raw: Option<&str>) -> Result<Requested, String> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(Requested::Live);
    };
    if raw.is_empty() || raw == "now" {
        return Ok(Requested::Live);
    }
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse::<Seq>()
            .map(Requested::Seq)
            .map_err(|_| format!("?at={raw}: the seq is too large"));
    }
    match raw.parse::<jiff::Timestamp>() {
        Ok(t) => Ok(Requested::Time(Timestamp(t.as_millisecond()))),
        // A well-formed time past the last one times here hold (year 9999's last hours).
        Err(e) if e.to_string().contains("overflow") => Err(format!(
            "?at={raw:?} is later than any time the journal can hold; give an earlier one \
             (or a seq)"
        )),
        Err(e) => Err(format!(
            "?at={raw:?} is neither a journal seq (e.g. ?at=1234) nor an RFC 3339 time \
             (e.g. ?at=2026-11-22T07:00:00Z): {e}"
        )),
    }
}

/// The seq `requested` names in `read`'s history: the last folded one for the live views, a
/// seq checked to exist, or the last event committed at or before a time. Shared by the pages
/// and the read API's `at`.
pub fn resolve(read: &aurora_projections::ReadModel, requested: Requested) -> Result<Seq, String> {
    let latest = read.last_seq();
    match requested {
        Requested::Live => Ok(latest),
        Requested::Seq(seq) => check_seq(seq, latest),
        Requested::Time(time) => Ok(read.seq_at(time)),
    }
}

/// Checks a requested seq against the last folded one.
pub fn check_seq(seq: Seq, last: Seq) -> Result<Seq, String> {
    if seq > last {
        Err(format!(
            "?at={seq} is after the last event in the journal (seq {last})"
        ))
    } else {
        Ok(seq)
    }
}

/// The banner over a page showing the past, with the links to step through events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub seq: Seq,
    /// When event `seq` was committed, if the view still has it in its feed.
    pub time: Option<String>,
    pub latest: Seq,
    /// The same page one event (and a hundred events) earlier / later; `None` at the ends.
    pub back: Option<String>,
    pub back_far: Option<String>,
    pub forward: Option<String>,
    pub forward_far: Option<String>,
    /// The same page, live.
    pub now: String,
}

impl Banner {
    pub fn new(path: &str, seq: Seq, latest: Seq, time: Option<String>) -> Self {
        let link = |s: Seq| format!("{path}?at={s}");
        Self {
            seq,
            time,
            latest,
            back: (seq > 0).then(|| link(seq - 1)),
            back_far: (seq > 100).then(|| link(seq - 100)),
            forward: (seq < latest).then(|| link(seq + 1)),
            forward_far: (seq + 100 <= latest).then(|| link(seq + 100)),
            now: path.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_times_and_now_are_understood() {
        assert_eq!(parse(None), Ok(Requested::Live));
        assert_eq!(parse(Some("")), Ok(Requested::Live));
        assert_eq!(parse(Some("now")), Ok(Requested::Live));
        assert_eq!(parse(Some("42")), Ok(Requested::Seq(42)));
        assert_eq!(
            parse(Some("2023-11-14T22:13:20.123Z")),
            Ok(Requested::Time(Timestamp(1_700_000_000_123)))
        );
        assert_eq!(
            parse(Some("2023-11-14T23:13:20+01:00")),
            Ok(Requested::Time(Timestamp(1_700_000_000_000)))
        );
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        let error = parse(Some("yesterday")).unwrap_err();
        assert!(error.contains("\"yesterday\""), "{error}");
        assert!(error.contains("RFC 3339"), "{error}");
        assert!(parse(Some("99999999999999999999999")).is_err());
        let late = parse(Some("9999-12-31T23:59:59Z")).unwrap_err();
        assert!(late.contains("later than any time"), "{late}");
        assert_eq!(check_seq(7, 7), Ok(7));
        assert!(check_seq(8, 7).unwrap_err().contains("seq 7"));
    }

    #[test]
    fn the_banner_steps_within_the_journal() {
        let banner = Banner::new("/scheduler/www", 0, 150, None);
        assert_eq!(banner.back, None);
        assert_eq!(banner.forward.as_deref(), Some("/scheduler/www?at=1"));
        assert_eq!(banner.forward_far.as_deref(), Some("/scheduler/www?at=100"));
        let banner = Banner::new("/scheduler", 150, 150, None);
        assert_eq!(banner.forward, None);
        assert_eq!(banner.forward_far, None);
        assert_eq!(banner.back.as_deref(), Some("/scheduler?at=149"));
        assert_eq!(banner.back_far.as_deref(), Some("/scheduler?at=50"));
        assert_eq!(banner.now, "/scheduler");
    }
}
