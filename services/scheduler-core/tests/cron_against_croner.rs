//! The cron parser checked against an independent, well-kept one (croner): for random
//! schedules in Aurora's subset and random instants, both name the same next firing, in UTC
//! and at fixed offsets from it.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::str::FromStr;

use aurora_events::Timestamp;
use aurora_scheduler_core::cron::CronSchedule;
use chrono::{DateTime, FixedOffset};
use proptest::prelude::*;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One list item of a field with values `min..=max`: a value, a range, `*/n` or `a-b/n`;
/// values of named fields sometimes written as names.
fn item(min: u32, max: u32, names: &'static [&'static str]) -> BoxedStrategy<String> {
    let name = move |v: u32, named: bool| -> String {
        let index = (v - min) as usize;
        if named && index < names.len() {
            names[index].to_string()
        } else {
            v.to_string()
        }
    };
    prop_oneof![
        (min..=max, any::<bool>()).prop_map(move |(v, named)| name(v, named)),
        (min..=max, min..=max, any::<bool>()).prop_map(move |(a, b, named)| {
            let (low, high) = (a.min(b), a.max(b));
            // croner misreads a day range that starts at SUN by name (it matched Mondays for
            // `SUN-SUN`; `0-0` it reads as we do), so such ranges are written by number.
            let named = named && !(names == DAYS.as_slice() && low == 0);
            format!("{}-{}", name(low, named), name(high, named))
        }),
        (1..=max.max(1)).prop_map(|n| format!("*/{n}")),
        (min..=max, min..=max, 1..=max.max(1))
            .prop_map(|(a, b, n)| { format!("{}-{}/{n}", a.min(b), a.max(b)) }),
    ]
    .boxed()
}

/// A field: `*` often, else a list of one to three items.
fn field(min: u32, max: u32, names: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        2 => Just("*".to_string()),
        3 => prop::collection::vec(item(min, max, names), 1..=3).prop_map(|items| items.join(",")),
    ]
    .boxed()
}

/// A schedule in Aurora's subset: never both a day of month and a day of week. Day-of-week
/// values stay 0-6 (croner reads 7 as Sunday too, but not inside every range form).
fn schedule() -> impl Strategy<Value = String> {
    (
        field(0, 59, &[]),
        field(0, 23, &[]),
        field(1, 31, &[]),
        field(1, 12, &MONTHS),
        field(0, 6, &DAYS),
        any::<bool>(),
    )
        .prop_map(|(minute, hour, dom, month, dow, keep_dom)| {
            let (dom, dow) = if keep_dom {
                (dom, "*".to_string())
            } else {
                ("*".to_string(), dow)
            };
            format!("{minute} {hour} {dom} {month} {dow}")
        })
}

fn croner_next(schedule: &str, after_ms: i64, offset_secs: i32) -> Option<i64> {
    let cron = croner::Cron::from_str(schedule).unwrap();
    let zone = FixedOffset::east_opt(offset_secs).unwrap();
    // croner keeps the start's fraction of a second in its answer; firings are whole
    // minutes, so starting from the whole second changes no answer and drops the fraction.
    let after: DateTime<FixedOffset> =
        DateTime::from_timestamp_millis(after_ms.div_euclid(1000) * 1000)
            .unwrap()
            .with_timezone(&zone);
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|next| next.timestamp_millis())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn next_firings_agree_with_croner(
        schedule in schedule(),
        // 2000-01-01 .. 2090-01-01, at any millisecond.
        after in 946_684_800_000i64..3_786_825_600_000,
        // Whole quarter hours east or west of UTC, as real zones are.
        quarters in -48i32..=56,
    ) {
        let offset = quarters * 15 * 60;
        let ours = CronSchedule::parse(&schedule).unwrap();
        let zone = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(offset).unwrap());
        let mine = ours.next_after(Timestamp::from_millis(after), &zone).map(Timestamp::as_millis);
        let theirs = croner_next(&schedule, after, offset);
        prop_assert_eq!(mine, theirs, "{} after {} at offset {}s", schedule, after, offset);
    }
}

#[test]
fn the_generator_makes_schedules_both_parsers_take() {
    // A sample the property would draw from, checked by hand so the generator itself is known
    // to produce the subset's shapes.
    for text in [
        "*/7 1-5/2 * JAN-MAR,10 *",
        "0,30 9 * * MON-FRI",
        "15 3 1,15 * *",
    ] {
        CronSchedule::parse(text).unwrap();
        croner::Cron::from_str(text).unwrap();
    }
}
