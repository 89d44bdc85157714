//! Local times of a named zone (`Europe/Berlin`) read as UTC instants, with the two readings of
//! the repeated hour and a rule for the hour that does not exist.
//!
//! Looking an offset up in the zone's rules costs more than reading the rest of a Keycloak line,
//! and consecutive lines fall in the same hour, so each thread remembers the offsets of the last
//! local hour it converted. An hour is remembered only when its first and last millisecond read
//! the same way (no transition inside it); any other hour is looked up in full every time.

use std::cell::Cell;

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

const HOUR_MS: i64 = 3_600_000;

/// How a local time reads in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// One instant.
    Single(i64),
    /// The repeated hour when summer time ends: the first pass, then the second.
    Ambiguous(i64, i64),
    /// In the gap when clocks go forward: read with the offset in force before the gap.
    Gap(i64),
}

/// The offsets (seconds east of UTC) that give a [`Reading`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Offsets {
    Single(i32),
    Ambiguous(i32, i32),
    Gap(i32),
}

impl Offsets {
    fn apply(self, local_ms: i64) -> Reading {
        let utc = |offset: i32| local_ms - i64::from(offset) * 1000;
        match self {
            Offsets::Single(o) => Reading::Single(utc(o)),
            Offsets::Ambiguous(a, b) => Reading::Ambiguous(utc(a), utc(b)),
            Offsets::Gap(o) => Reading::Gap(utc(o)),
        }
    }
}

thread_local! {
    /// The last local hour converted on this thread: zone, hour number, its offsets.
    static LAST: Cell<Option<(Tz, i64, Offsets)>> = const { Cell::new(None) };
}

/// Reads `local_ms` (a wall-clock time of `zone`, counted like epoch milliseconds) as UTC.
#[must_use]
pub fn to_utc(zone: Tz, local_ms: i64) -> Reading {
    let hour = local_ms.div_euclid(HOUR_MS);
    if let Some((z, h, offsets)) = LAST.get() {
        if z == zone && h == hour {
            return offsets.apply(local_ms);
        }
    }
    let offsets = lookup(zone, local_ms);
    let start = hour * HOUR_MS;
    if lookup(zone, start) == offsets && lookup(zone, start + HOUR_MS - 1) == offsets {
        LAST.set(Some((zone, hour, offsets)));
    }
    offsets.apply(local_ms)
}

/// The wall-clock time of `zone` at the instant `utc_ms`, counted like epoch milliseconds.
#[must_use]
pub fn to_local(zone: Tz, utc_ms: i64) -> i64 {
    let Some(naive) = DateTime::from_timestamp_millis(utc_ms).map(|t| t.naive_utc()) else {
        return utc_ms;
    };
    let offset = zone
        .offset_from_utc_datetime(&naive)
        .fix()
        .local_minus_utc();
    utc_ms + i64::from(offset) * 1000
}

/// The zone's rules for one local time.
fn lookup(zone: Tz, local_ms: i64) -> Offsets {
    let Some(naive) = DateTime::from_timestamp_millis(local_ms).map(|t| t.naive_utc()) else {
        return Offsets::Single(0);
    };
    let seconds = |o: &<Tz as TimeZone>::Offset| o.fix().local_minus_utc();
    match zone.offset_from_local_datetime(&naive) {
        chrono::LocalResult::Single(o) => Offsets::Single(seconds(&o)),
        chrono::LocalResult::Ambiguous(a, b) => Offsets::Ambiguous(seconds(&a), seconds(&b)),
        chrono::LocalResult::None => {
            let before = naive - chrono::TimeDelta::hours(3);
            let offset = zone
                .offset_from_local_datetime(&before)
                .earliest()
                .map_or(0, |o| seconds(&o));
            Offsets::Gap(offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        crate::time::utc_ms(y, mo, d, h, mi, 0, 0).unwrap()
    }

    #[test]
    fn remembered_hours_read_as_the_zone_rules_say() {
        // Every quarter hour around both 2025 transitions of Berlin, and a zone with a
        // 45-minute offset, converted through the cache and directly: the same readings.
        let zones = [chrono_tz::Europe::Berlin, chrono_tz::Asia::Kathmandu];
        for zone in zones {
            for (y, mo, d) in [(2025, 3, 30), (2025, 10, 26), (2025, 6, 1)] {
                for q in 0..(24 * 4) {
                    let t = local(y, mo, d, 0, 0) + q * 15 * 60_000 + 1234;
                    let direct = lookup(zone, t).apply(t);
                    assert_eq!(to_utc(zone, t), direct, "{zone} {t}");
                    assert_eq!(to_utc(zone, t), direct, "{zone} {t} (cached)");
                }
            }
        }
    }

    #[test]
    fn the_repeated_hour_has_two_readings_and_the_gap_one() {
        let berlin = chrono_tz::Europe::Berlin;
        let t = local(2025, 10, 26, 2, 30);
        assert_eq!(
            to_utc(berlin, t),
            Reading::Ambiguous(t - 2 * HOUR_MS, t - HOUR_MS)
        );
        let gap = local(2025, 3, 30, 2, 30);
        assert_eq!(to_utc(berlin, gap), Reading::Gap(gap - HOUR_MS));
        let summer = local(2025, 6, 3, 9, 14);
        assert_eq!(
            to_utc(berlin, summer),
            Reading::Single(summer - 2 * HOUR_MS)
        );
        let kathmandu = chrono_tz::Asia::Kathmandu;
        assert_eq!(
            to_utc(kathmandu, summer),
            Reading::Single(summer - (5 * 60 + 45) * 60_000)
        );
    }
}
