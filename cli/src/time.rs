//! Timestamps as people read them.

use aurora_events::Timestamp;

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

/// `--at SEQ|TIME|now` as the API's `at` query value: `None` for now, the seq as it is, a
/// time in RFC 3339 UTC.
pub fn at_param(text: &str) -> Result<Option<String>, String> {
    let text = text.trim();
    if text.is_empty() || text == "now" {
        return Ok(None);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Some(text.to_string()));
    }
    let at = parse_instant(text)?;
    jiff::Timestamp::from_millisecond(at.as_millis())
        .map(|t| Some(t.to_string()))
        .map_err(|e| format!("{text:?}: {e}"))
}

/// `path` with `at` added to its query string (unchanged for now).
pub fn with_at(path: &str, at: Option<&str>) -> Result<String, String> {
    let Some(at) = at.map(at_param).transpose()?.flatten() else {
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
