//! How the pages write times, durations and resources. Pure functions, tested here.

use aurora_events::{ResourceAggregate, Timestamp};

/// `2026-11-22 07:27:02.123 UTC` ([`Timestamp::to_utc_string`], tested here against jiff).
pub fn time(at: Timestamp) -> String {
    at.to_utc_string()
}

/// A span in the largest two units that matter: `850 ms`, `12.4 s`, `3 min 05 s`,
/// `2 h 14 min`, `3 d 4 h`.
pub fn duration_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    let text = match s {
        0 => format!("{ms} ms"),
        1..60 => format!("{:.1} s", ms as f64 / 1000.0),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        3600..86400 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86400, (s % 86400) / 3600),
    };
    format!("{sign}{text}")
}

/// Megabytes the way Aurora's UI shows them: `512 MiB`, `1.5 GiB`, `2.0 TiB`.
pub fn megabytes(mb: u64) -> String {
    const GIB: u64 = 1024;
    const TIB: u64 = 1024 * 1024;
    if mb >= TIB {
        format!("{:.1} TiB", mb as f64 / TIB as f64)
    } else if mb >= GIB {
        format!("{:.1} GiB", mb as f64 / GIB as f64)
    } else {
        format!("{mb} MiB")
    }
}

/// CPUs with up to three decimals and no trailing zeros: `2`, `0.5`, `1.25`.
pub fn cpus(cpus: f64) -> String {
    let text = format!("{cpus:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// One line per resource: `2 cpus, 1.5 GiB ram, 10.0 GiB disk`.
pub fn resources(r: &ResourceAggregate) -> String {
    format!(
        "{} cpus, {} ram, {} disk",
        cpus(r.cpus),
        megabytes(r.ram_mb),
        megabytes(r.disk_mb)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(
            time(Timestamp(1_700_000_000_123)),
            "2023-11-14 22:13:20.123 UTC"
        );
        assert_eq!(time(Timestamp(0)), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(time(Timestamp(-1)), "1969-12-31 23:59:59.999 UTC");
        assert_eq!(
            time(Timestamp(951_782_400_000)),
            "2000-02-29 00:00:00.000 UTC"
        );
    }

    proptest::proptest! {
        #[test]
        fn times_match_jiff(ms in -62_135_596_800_000i64..253_402_300_799_999) {
            let expected = jiff::Timestamp::from_millisecond(ms)
                .expect("in jiff's range")
                .strftime("%Y-%m-%d %H:%M:%S%.3f UTC")
                .to_string();
            proptest::prop_assert_eq!(time(Timestamp(ms)), expected);
        }
    }

    #[test]
    fn durations_use_two_units() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_400), "12.4 s");
        assert_eq!(duration_ms(185_000), "3 min 05 s");
        assert_eq!(duration_ms(8_040_000), "2 h 14 min");
        assert_eq!(duration_ms(273_600_000), "3 d 4 h");
        assert_eq!(duration_ms(-1500), "-1.5 s");
    }

    #[test]
    fn resources_read_like_aurora() {
        assert_eq!(megabytes(512), "512 MiB");
        assert_eq!(megabytes(1536), "1.5 GiB");
        assert_eq!(megabytes(2 * 1024 * 1024), "2.0 TiB");
        assert_eq!(cpus(2.0), "2");
        assert_eq!(cpus(0.5), "0.5");
        assert_eq!(cpus(1.25), "1.25");
        assert_eq!(cpus(0.0), "0");
        assert_eq!(
            resources(&ResourceAggregate {
                cpus: 1.5,
                ram_mb: 128,
                disk_mb: 10240
            }),
            "1.5 cpus, 128 MiB ram, 10.0 GiB disk"
        );
    }
}
