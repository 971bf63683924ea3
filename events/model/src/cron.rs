//! Aurora's crontab subset, and when a schedule next fires.
//!
//! Five fields — minute, hour, day of month, month, day of week — each `*`, a value, a range
//! `a-b`, a list `a,b-c`, or a step `*/n` or `a-b/n`. Months may be named `JAN`..`DEC` and
//! days `SUN`..`SAT` (any case); day 7 is Sunday as 0 is. As in Aurora (`CrontabEntry`), a
//! day of month and a day of week may not both be given (one of them must be `*`), and `@`
//! macros (`@daily`) are refused. So a day matches when its day of month and its day of week
//! both do, with no special "either" rule to remember.
//!
//! Firing times are whole minutes of the civil time in the scheduler's time zone
//! (`--cron-timezone`), strictly after the instant asked about. A civil minute that a clock
//! change skips fires as far after the gap's end as it was after its start (02:30 in a gap
//! from 02:00 to 03:00 fires at 03:30: jiff's "compatible" rule, as most crons do); one that
//! happens twice fires once, the first time, so a schedule next fires after the repeated
//! hour. Pure: the zone arrives as a value the runtime loaded.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

use crate::{Error, Timestamp};

/// One field's bounds and names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
/// 0-7, both 0 and 7 being Sunday.
const DAY_OF_WEEK: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// A parsed schedule: for each field, the set of values it allows, as a bit mask.
#[derive(Clone, PartialEq, Eq)]
pub struct CronSchedule {
    text: String,
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    /// Bit 0 is Sunday, bit 6 Saturday (a 7 in the text sets bit 0).
    days_of_week: u8,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.text)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for CronSchedule {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// How far ahead a schedule is searched: the rarest valid one (29 February on a given weekday,
/// which cannot be written here, or 29 February alone: every 4 years, 8 across 2100) fits.
const SEARCH_DAYS: i32 = 366 * 9;

const MINUTES_PER_DAY: u32 = 24 * 60;

impl CronSchedule {
    /// Parses Aurora's crontab subset; the error ([`Error::InvalidCronSchedule`]) names the
    /// field and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let fail = |reason: String| Error::InvalidCronSchedule {
            schedule: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.starts_with('@') {
            return Err(fail(
                "@ macros (@daily, @hourly, ...) are not supported; write the five fields".into(),
            ));
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let [minute, hour, day_of_month, month, day_of_week] = fields[..] else {
            return Err(fail(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        };
        if day_of_month != "*" && day_of_week != "*" {
            return Err(fail(
                "a day of month and a day of week cannot both be given; make one of them *".into(),
            ));
        }
        let bits = |field: &Field, text: &str| parse_field(field, text).map_err(&fail);
        let days_of_week = bits(&DAY_OF_WEEK, day_of_week)?;
        // Sunday as 7 is Sunday as 0.
        let days_of_week = (days_of_week | (days_of_week >> 7)) & 0x7f;
        Ok(Self {
            text: fields.join(" "),
            minutes: bits(&MINUTE, minute)?,
            hours: narrow(bits(&HOUR, hour)?),
            days_of_month: narrow(bits(&DAY_OF_MONTH, day_of_month)?),
            months: narrow(bits(&MONTH, month)?),
            days_of_week: narrow(days_of_week),
        })
    }

    /// The schedule as written (fields separated by one space).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first firing strictly after `after`, in `zone`; `None` if the schedule never fires
    /// (`0 0 31 2 *`, the 31st of February) within the years searched.
    pub fn next_after(&self, after: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let instant = jiff::Timestamp::from_millisecond(after.as_millis()).ok()?;
        let mut from = instant.to_zoned(zone.clone()).datetime();
        // A civil minute can map to an instant at or before `after` when the clock was set
        // back (its first occurrence has passed); search on until one maps strictly after
        // it. Every minute of a repeated stretch may do so, and no zone repeats a whole day.
        for _ in 0..=MINUTES_PER_DAY {
            let civil = self.next_civil_after(from)?;
            let zoned = zone.to_ambiguous_zoned(civil).compatible().ok()?;
            let at = zoned.timestamp().as_millisecond();
            if at > after.as_millis() {
                return Some(Timestamp::from_millis(at));
            }
            from = civil;
        }
        None
    }

    /// The first matching whole minute strictly after `after` (civil time).
    fn next_civil_after(&self, after: DateTime) -> Option<DateTime> {
        let start = after.date();
        // The first candidate minute: the next whole minute after `after`.
        let first_minute = after.hour() as u32 * 60 + after.minute() as u32 + 1;
        for offset in 0..SEARCH_DAYS {
            let day = start.checked_add(jiff::Span::new().days(offset)).ok()?;
            if !self.day_matches(day) {
                continue;
            }
            let from = if offset == 0 { first_minute } else { 0 };
            if let Some(time) = self.first_time_from(from) {
                return Some(day.to_datetime(time));
            }
        }
        None
    }

    fn day_matches(&self, day: Date) -> bool {
        let month = u32::try_from(day.month()).unwrap_or(0);
        let day_of_month = u32::try_from(day.day()).unwrap_or(0);
        let weekday = u32::from(day.weekday().to_sunday_zero_offset().unsigned_abs());
        self.months & (1 << month) != 0
            && self.days_of_month & (1 << day_of_month) != 0
            && self.days_of_week & (1 << weekday) != 0
    }

    /// The first allowed time of day at or after minute-of-day `from`.
    fn first_time_from(&self, from: u32) -> Option<Time> {
        for minute_of_day in from..MINUTES_PER_DAY {
            let (hour, minute) = (minute_of_day / 60, minute_of_day % 60);
            if self.hours & (1 << hour) == 0 {
                continue;
            }
            if self.minutes & (1 << minute) != 0 {
                return Time::new(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0).ok();
            }
        }
        None
    }
}

/// The bits of a mask that fits a narrower integer (the field's bounds guarantee it).
fn narrow<T: TryFrom<u64> + Default>(bits: u64) -> T {
    T::try_from(bits).unwrap_or_default()
}

/// One field's allowed values as a bit mask (bit `v` for value `v`).
fn parse_field(field: &Field, text: &str) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        bits |= parse_part(field, part)?;
    }
    Ok(bits)
}

/// `*`, `v`, `a-b`, `*/n` or `a-b/n`.
fn parse_part(field: &Field, part: &str) -> Result<u64, String> {
    let name = field.name;
    if part.is_empty() {
        return Err(format!("the {name} field has an empty list item"));
    }
    let (range, step) = match part.split_once('/') {
        Some((range, step)) => {
            let step: u32 = step.parse().map_err(|_| {
                format!("the {name} field's step {step:?} in {part:?} is not a number")
            })?;
            if step == 0 {
                return Err(format!(
                    "the {name} field's step in {part:?} must be at least 1"
                ));
            }
            (range, step)
        }
        None => (part, 1),
    };
    let (low, high) = if range == "*" {
        (field.min, field.max)
    } else if let Some((low, high)) = range.split_once('-') {
        let (low, high) = (value(field, low)?, value(field, high)?);
        if low > high {
            return Err(format!("the {name} field's range {range:?} runs backwards"));
        }
        (low, high)
    } else {
        if step != 1 || part.contains('/') {
            return Err(format!(
                "the {name} field's step {part:?} needs a range or *: write */n or a-b/n"
            ));
        }
        let v = value(field, range)?;
        (v, v)
    };
    let mut bits = 0u64;
    let mut v = Some(low);
    while let Some(value) = v.filter(|value| *value <= high) {
        bits |= 1 << value;
        v = value.checked_add(step);
    }
    Ok(bits)
}

/// A number or (for months and days of week) a name, within the field's bounds.
fn value(field: &Field, text: &str) -> Result<u32, String> {
    let name = field.name;
    if let Some(index) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        let index = u32::try_from(index).unwrap_or(0);
        // Months count from 1, days of week from 0 (Sunday).
        return Ok(if field.min == 1 { index + 1 } else { index });
    }
    let v: u32 = text.parse().map_err(|_| {
        if field.names.is_empty() {
            format!("the {name} field's {text:?} is not a number")
        } else {
            format!(
                "the {name} field's {text:?} is neither a number nor one of {}",
                field.names.join(", ")
            )
        }
    })?;
    if v < field.min || v > field.max {
        return Err(format!(
            "the {name} field's {v} is outside {}-{}",
            field.min, field.max
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        let ts: jiff::Timestamp = text.parse().unwrap();
        Timestamp::from_millis(ts.as_millisecond())
    }

    fn next(schedule: &str, after: &str) -> String {
        let schedule = CronSchedule::parse(schedule).unwrap();
        let next = schedule.next_after(at(after), &TimeZone::UTC).unwrap();
        jiff::Timestamp::from_millisecond(next.as_millis())
            .unwrap()
            .to_string()
    }

    #[test]
    fn fires_on_the_next_matching_minute_strictly_after() {
        assert_eq!(
            next("* * * * *", "2026-01-01T00:00:00Z"),
            "2026-01-01T00:01:00Z"
        );
        assert_eq!(
            next("* * * * *", "2026-01-01T00:00:30Z"),
            "2026-01-01T00:01:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-01-01T00:15:00Z"),
            "2026-01-01T00:30:00Z"
        );
        assert_eq!(
            next("0 0 * * *", "2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00Z"
        );
        assert_eq!(
            next("30 2 1 * *", "2026-01-31T12:00:00Z"),
            "2026-02-01T02:30:00Z"
        );
        assert_eq!(
            next("0 9 * * MON-FRI", "2026-01-02T10:00:00Z"),
            "2026-01-05T09:00:00Z"
        );
        assert_eq!(
            next("0 9 * * 7", "2026-01-02T10:00:00Z"),
            "2026-01-04T09:00:00Z"
        );
        assert_eq!(
            next("0 0 29 feb *", "2026-01-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("10-20/5 1 * jan,Jul *", "2026-01-01T01:12:00Z"),
            "2026-01-01T01:15:00Z"
        );
        assert_eq!(
            next("10-20/5 1 * jan,Jul *", "2026-01-31T01:20:00Z"),
            "2026-07-01T01:10:00Z"
        );
    }

    #[test]
    fn a_schedule_that_never_fires_has_no_next_run() {
        let never = CronSchedule::parse("0 0 31 2 *").unwrap();
        assert_eq!(
            never.next_after(at("2026-01-01T00:00:00Z"), &TimeZone::UTC),
            None
        );
    }

    #[test]
    fn bad_schedules_name_what_is_wrong() {
        let reason = |text: &str| match CronSchedule::parse(text) {
            Err(Error::InvalidCronSchedule { reason, .. }) => reason,
            other => panic!("{text:?} is refused as a schedule, not {other:?}"),
        };
        assert!(reason("@daily").contains("@ macros"));
        assert!(reason("* * * *").contains("expected 5 fields"));
        assert!(reason("* * * * * *").contains("found 6"));
        assert!(reason("0 0 1 * MON").contains("cannot both be given"));
        assert!(reason("60 * * * *").contains("minute field's 60 is outside 0-59"));
        assert!(reason("* 24 * * *").contains("hour field's 24"));
        assert!(reason("* * 0 * *").contains("day of month field's 0 is outside 1-31"));
        assert!(reason("* * * 13 *").contains("month field's 13"));
        assert!(reason("* * * * 8").contains("day of week field's 8"));
        assert!(reason("* * * FOO *").contains("neither a number nor one of JAN"));
        assert!(reason("*/0 * * * *").contains("at least 1"));
        assert!(reason("5/10 * * * *").contains("needs a range or *"));
        assert!(reason("10-5 * * * *").contains("runs backwards"));
        assert!(reason("1,,2 * * * *").contains("empty list item"));
        assert!(reason("*/x * * * *").contains("not a number"));
        let error = CronSchedule::parse("61 * * * *").unwrap_err().to_string();
        assert!(
            error.starts_with("invalid cron schedule \"61 * * * *\""),
            "{error}"
        );
    }

    #[test]
    fn the_text_is_kept_with_single_spaces() {
        let schedule = CronSchedule::parse("  0   9 *  * 1 ").unwrap();
        assert_eq!(schedule.as_str(), "0 9 * * 1");
        assert_eq!(schedule.to_string(), "0 9 * * 1");
    }

    #[test]
    fn clock_changes_neither_skip_nor_repeat_a_run() {
        // Europe/Berlin: 2026-03-29 02:00 does not exist (clocks go to 03:00); 2026-10-25
        // 02:30 happens twice. A fixed-rule zone, so the test needs no tz database.
        let berlin = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let schedule = CronSchedule::parse("30 2 * * *").unwrap();
        let utc = |ts: Timestamp| {
            jiff::Timestamp::from_millisecond(ts.as_millis())
                .unwrap()
                .to_string()
        };
        // The skipped 02:30 fires at 03:30 local (01:30 UTC): the first instant after the gap
        // that has the same wall-clock offset into it, as jiff's "compatible" rule says.
        let spring = schedule
            .next_after(at("2026-03-28T12:00:00Z"), &berlin)
            .unwrap();
        assert_eq!(utc(spring), "2026-03-29T01:30:00Z");
        // The doubled 02:30 fires once, the first time (00:30 UTC, still summer time)...
        let autumn = schedule
            .next_after(at("2026-10-24T12:00:00Z"), &berlin)
            .unwrap();
        assert_eq!(utc(autumn), "2026-10-25T00:30:00Z");
        // ...and not again an hour later: the next run is the following day's.
        let after = schedule.next_after(autumn, &berlin).unwrap();
        assert_eq!(utc(after), "2026-10-26T01:30:00Z");

        // From inside the repeated hour (02:10 the second time, 01:10 UTC), an every-minute
        // schedule's minutes have all had their first occurrence: it next fires at 03:00.
        let minutely = CronSchedule::parse("* * * * *").unwrap();
        let inside = minutely
            .next_after(at("2026-10-25T01:10:00Z"), &berlin)
            .unwrap();
        assert_eq!(utc(inside), "2026-10-25T02:00:00Z");
    }

    #[test]
    fn a_step_larger_than_any_value_takes_the_first_only() {
        let schedule = CronSchedule::parse("1-59/4294967295 * * * *").unwrap();
        assert_eq!(
            next("1-59/4294967295 * * * *", "2026-01-01T00:00:00Z"),
            "2026-01-01T00:01:00Z"
        );
        assert_eq!(schedule.as_str(), "1-59/4294967295 * * * *");
        assert_eq!(
            next("1-59/4294967295 * * * *", "2026-01-01T00:01:00Z"),
            "2026-01-01T01:01:00Z"
        );
    }
}
