//! Timestamps as people read them.

use aurora_events::Timestamp;

/// `YYYY-MM-DD HH:MM:SS` UTC.
pub fn format(at: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(at.as_millis())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
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
}
