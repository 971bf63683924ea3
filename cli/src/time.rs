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

#[cfg(test)]
mod tests {
    use aurora_events::Timestamp;

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
