//! Timestamps as people read them.

use aurora_events::{Seq, Timestamp};

/// `YYYY-MM-DD HH:MM:SS` UTC.
pub fn format(at: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(at.as_millis())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// `YYYY-MM-DDTHH:MM:SS` UTC, whole seconds: what Aurora's client prints for update times
/// (Python 2's `utcfromtimestamp(ms / 1000).isoformat()`, whose integer division drops the
/// milliseconds).
pub fn iso_seconds(at: Timestamp) -> String {
    jiff::Timestamp::from_second(at.as_millis().div_euclid(1000))
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// `YYYY-MM-DD HH:MM:SS` in `zone`, whole seconds: Aurora's task event times (Python 2's
/// `datetime.fromtimestamp(ms / 1000)`, local time, milliseconds dropped).
pub fn local_seconds(at: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_second(at.as_millis().div_euclid(1000))
        .map(|t| {
            t.to_zoned(zone.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| at.to_string())
}

/// An instant as people type it: RFC 3339 (`2026-12-05T11:00:00Z`, any offset), or a UTC
/// date and time (`2026-12-05 11:00`, `2026-12-05 11:00:30.250`), or a date (midnight UTC).
pub fn parse_instant(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return Ok(Timestamp::from_millis(at.as_millisecond()));
    }
    let civil = text.parse::<jiff::civil::DateTime>().or_else(|_| {
        text.parse::<jiff::civil::Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    match civil.and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC)) {
        Ok(zoned) => Ok(Timestamp::from_millis(zoned.timestamp().as_millisecond())),
        Err(_) => Err(format!(
            "{text:?} is not a time: use RFC 3339 (2026-12-05T11:00:00Z) or a UTC \"YYYY-MM-DD HH:MM[:SS]\""
        )),
    }
}

/// A moment of the cluster's history as `--at`, `--from` and `--to` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// `now`: the present.
    Now,
    /// Right after this journal seq.
    Seq(Seq),
    /// The last event committed at or before this instant.
    Time(Timestamp),
}

/// What `SEQ|TIME|now` accepts, for error messages.
const POINT_SYNTAX: &str = "a seq (a number >= 0), a time (RFC 3339, 2026-12-05T11:00:00Z, or \
                            UTC \"YYYY-MM-DD HH:MM[:SS]\") or now";

/// Parses `SEQ|TIME|now` given to option `flag` (`--from`, ...), surrounding blanks ignored;
/// errors name the option and say what it takes.
pub fn parse_point(text: &str, flag: &str) -> Result<Point, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("{flag} is empty: give {POINT_SYNTAX}"));
    }
    if trimmed == "now" {
        return Ok(Point::Now);
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed.parse::<Seq>().map(Point::Seq).map_err(|_| {
            format!(
                "{flag} {trimmed}: the seq is too large (seqs go up to {})",
                Seq::MAX
            )
        });
    }
    if let Some(digits) = trimmed.strip_prefix('-')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("{flag} {trimmed} is negative: give {POINT_SYNTAX}"));
    }
    parse_instant(trimmed)
        .map(Point::Time)
        .map_err(|_| format!("{flag} {trimmed:?} is not {POINT_SYNTAX}"))
}

/// `SEQ|TIME|now` given to `flag` as the API's `at`, `from` or `to` query value: `None` for
/// now, the seq as it is, a time in RFC 3339 UTC.
pub fn at_param(text: &str, flag: &str) -> Result<Option<String>, String> {
    match parse_point(text, flag)? {
        Point::Now => Ok(None),
        Point::Seq(seq) => Ok(Some(seq.to_string())),
        Point::Time(at) => jiff::Timestamp::from_millisecond(at.as_millis())
            .map(|t| Some(t.to_string()))
            .map_err(|e| format!("{flag} {:?}: {e}", text.trim())),
    }
}

/// `path` with `--at`'s value added to its query string (unchanged for now).
pub fn with_at(path: &str, at: Option<&str>) -> Result<String, String> {
    let Some(at) = at.map(|at| at_param(at, "--at")).transpose()?.flatten() else {
        return Ok(path.to_string());
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    Ok(format!("{path}{separator}at={at}"))
}

/// Aurora's duration syntax, `XdYhZmWs` (each part optional, at least one; `30m`, `7d`,
/// `1h30m`), in seconds.
pub fn parse_duration_secs(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a duration like 30m, 2h, 7d or 1h30m");
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(bad)?;
        digits.clear();
        parts += 1;
    }
    if parts == 0 || !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_becomes_a_query_parameter() {
        assert_eq!(super::with_at("/a", None).unwrap(), "/a");
        assert_eq!(super::with_at("/a", Some("now")).unwrap(), "/a");
        assert_eq!(
            super::with_at("/a?x=1", Some("42")).unwrap(),
            "/a?x=1&at=42"
        );
        assert_eq!(
            super::with_at("/a", Some("2025-12-05 12:00")).unwrap(),
            "/a?at=2025-12-05T12:00:00Z"
        );
        assert!(super::with_at("/a", Some("soon")).is_err());
        assert_eq!(super::with_at("/a", Some(" 7 ")).unwrap(), "/a?at=7");
        let error = super::with_at("/a", Some("")).unwrap_err();
        assert!(error.starts_with("--at is empty"), "{error}");
    }

    #[test]
    fn points_are_trimmed_and_their_errors_name_the_option() {
        use super::{Point, parse_point};
        assert_eq!(parse_point(" 5", "--from"), Ok(Point::Seq(5)));
        assert_eq!(parse_point("5\t", "--from"), Ok(Point::Seq(5)));
        assert_eq!(parse_point(" now ", "--to"), Ok(Point::Now));
        assert_eq!(
            parse_point(&u64::MAX.to_string(), "--from"),
            Ok(Point::Seq(u64::MAX))
        );
        assert_eq!(
            parse_point(" 2025-12-05 12:00 ", "--from"),
            Ok(Point::Time(Timestamp(1_764_936_000_000)))
        );
        let error = |text: &str| parse_point(text, "--from").unwrap_err();
        for empty in ["", "  "] {
            assert!(
                error(empty).starts_with("--from is empty: give a seq"),
                "{}",
                error(empty)
            );
        }
        assert!(
            error("-1").starts_with("--from -1 is negative: give a seq (a number >= 0)"),
            "{}",
            error("-1")
        );
        assert!(
            error("99999999999999999999")
                .starts_with("--from 99999999999999999999: the seq is too large"),
            "{}",
            error("99999999999999999999")
        );
        assert!(
            error(" soon").starts_with("--from \"soon\" is not a seq"),
            "{}",
            error(" soon")
        );
    }

    use aurora_events::Timestamp;

    #[test]
    fn instants_parse_in_the_usual_spellings() {
        let noon = Timestamp(1_764_936_000_000); // 2025-12-05T12:00:00Z
        for text in [
            "2025-12-05T12:00:00Z",
            "2025-12-05T13:00:00+01:00",
            "2025-12-05 12:00",
            "2025-12-05 12:00:00",
            "2025-12-05T12:00:00",
        ] {
            assert_eq!(super::parse_instant(text), Ok(noon), "{text}");
        }
        assert_eq!(
            super::parse_instant("2025-12-05"),
            Ok(Timestamp(1_764_892_800_000))
        );
        let error = super::parse_instant("yesterday").unwrap_err();
        assert!(error.contains("\"yesterday\" is not a time"), "{error}");
    }

    #[test]
    fn durations_parse_as_aurora_writes_them() {
        assert_eq!(super::parse_duration_secs("30m"), Ok(1800));
        assert_eq!(super::parse_duration_secs("7d"), Ok(604_800));
        assert_eq!(super::parse_duration_secs("1h30m15s"), Ok(5415));
        for bad in ["", "30", "m", "1x", "1h30", "99999999999999999999d"] {
            assert!(super::parse_duration_secs(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_utc() {
        assert_eq!(super::format(Timestamp(0)), "1970-01-01 00:00:00");
        assert_eq!(
            super::format(Timestamp(1_700_000_000_123)),
            "2023-11-14 22:13:20"
        );
    }

    #[test]
    fn iso_seconds_drops_the_milliseconds_like_aurora() {
        assert_eq!(super::iso_seconds(Timestamp(0)), "1970-01-01T00:00:00");
        assert_eq!(super::iso_seconds(Timestamp(1_999)), "1970-01-01T00:00:01");
        assert_eq!(
            super::iso_seconds(Timestamp(1_700_000_000_123)),
            "2023-11-14T22:13:20"
        );
    }
}
