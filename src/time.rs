//! UTC instants as epoch milliseconds: civil-date arithmetic and RFC 3339 output, no allocation.
//!
//! Every timestamp inside auditship is an `i64` count of milliseconds since 1970-01-01T00:00:00Z.
//! Zone handling belongs to the parsers; this module only converts between civil UTC dates and
//! that count (Howard Hinnant's `days_from_civil` algorithm, exact over the proleptic Gregorian
//! calendar).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds on a monotonic clock (since the first call in this process): for timeouts,
/// which must not stretch or shrink when the wall clock is stepped (NTP, an operator).
#[must_use]
pub fn monotonic_ms() -> i64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (`month` 1..=12, `day` 1..=31).
#[must_use]
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Epoch milliseconds of a civil UTC date and time; `None` when a field is out of range.
#[must_use]
pub fn utc_ms(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
) -> Option<i64> {
    // Second 60 is a leap second; it is folded onto the next instant as POSIX time does.
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
        || milli > 999
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(secs * 1000 + i64::from(milli))
}

/// Number of days in `month` of `year`.
#[must_use]
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// A second as [`write_rfc3339`] writes it, `YYYY-MM-DDTHH:MM:SS.`, and which second it is.
type SecondText = (i64, [u8; 20]);

thread_local! {
    /// The last two seconds written on this thread, the latest first: events are written in
    /// runs that share their read time (`event.created`) and mostly the second they happened in
    /// (`@timestamp`), the two alternating.
    static LAST_SECONDS: RefCell<[SecondText; 2]> = const { RefCell::new([(i64::MIN, [0; 20]); 2]) };
}

/// Appends `ms` as RFC 3339 UTC with milliseconds (`2025-06-03T07:14:22.481Z`).
pub fn write_rfc3339(ms: i64, out: &mut Vec<u8>) {
    let second = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000) as u32;
    let head = LAST_SECONDS.with_borrow_mut(|last| {
        if let Some((_, text)) = last.iter().find(|(s, _)| *s == second) {
            return Some(*text);
        }
        let text = second_text(second)?;
        last[1] = last[0];
        last[0] = (second, text);
        Some(text)
    });
    let Some(head) = head else {
        // Outside RFC 3339's range; still unambiguous ISO 8601 expanded years.
        let (year, month, day) = civil_from_days(second.div_euclid(86_400));
        let rem = second.rem_euclid(86_400);
        let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        out.extend_from_slice(
            format!("{year:+07}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z").as_bytes(),
        );
        return;
    };
    // One fixed-size copy out: two, of 20 and 4 bytes, were two calls to `memcpy`.
    let mut text = *b"0000-00-00T00:00:00.000Z";
    text[..20].copy_from_slice(&head);
    put_digits(&mut text[20..23], milli);
    out.extend_from_slice(&text);
}

/// `YYYY-MM-DDTHH:MM:SS.` of an epoch second, when its year has four digits.
fn second_text(second: i64) -> Option<[u8; 20]> {
    let (year, month, day) = civil_from_days(second.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return None;
    }
    let rem = second.rem_euclid(86_400) as u32;
    let mut text = *b"0000-00-00T00:00:00.";
    put_digits(&mut text[0..4], year as u32);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    put_digits(&mut text[11..13], rem / 3600);
    put_digits(&mut text[14..16], rem % 3600 / 60);
    put_digits(&mut text[17..19], rem % 60);
    Some(text)
}

/// Fills `slots` with the last decimal digits of `value`, zero-padded.
fn put_digits(slots: &mut [u8], mut value: u32) {
    for slot in slots.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// `ms` as an RFC 3339 string; see [`write_rfc3339`].
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_rfc3339(ms, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The decimal number written by `bytes[range]`, digits only (times read at fixed positions);
/// `None` when a byte is not a digit or the range is out of bounds.
#[inline]
#[must_use]
pub fn digits(bytes: &[u8], range: std::ops::Range<usize>) -> Option<u32> {
    bytes.get(range)?.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

/// Whether `bytes` has each mark of `marks` (position, byte) — the punctuation of a time read at
/// fixed positions; `false` when `bytes` is too short for one.
#[inline]
#[must_use]
pub fn marks<const N: usize>(bytes: &[u8], marks: [(usize, u8); N]) -> bool {
    marks.iter().all(|&(at, mark)| bytes.get(at) == Some(&mark))
}

/// Parses an RFC 3339 / ISO 8601 instant: `2025-06-03T11:14:22.481907113+02:00`,
/// `2024-04-02T07:58:11Z`, `2024-04-02 07:58:11+0200`. Fractions beyond milliseconds are
/// truncated. A missing zone is refused (the caller decides what a local time means).
#[must_use]
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r| digits(b, r);
    if !marks(b, [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')])
        || !matches!(b[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut milli = 0u32;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &b[start..i.min(start + 3)];
        for (k, d) in digits.iter().enumerate() {
            milli += u32::from(d - b'0') * [100, 10, 1][k];
        }
    }
    let offset_min: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (h, m) = match rest.len() {
                5 if rest[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                2 => (num(i + 1..i + 3)?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let total = i64::from(h * 60 + m);
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let utc = utc_ms(i64::from(year), month, day, hour, minute, second, milli)?;
    Some(utc - offset_min * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_covers_leap_years_and_epoch() {
        for days in [-800_000, -1, 0, 1, 59, 365, 11_016, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn rfc3339_formats_milliseconds_in_utc() {
        let ms = utc_ms(2025, 6, 3, 7, 14, 22, 481).unwrap();
        assert_eq!(rfc3339(ms), "2025-06-03T07:14:22.481Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        let far = utc_ms(10_000, 1, 1, 0, 0, 1, 5).unwrap();
        assert_eq!(rfc3339(far), "+010000-01-01T00:00:01.005Z");
        assert_eq!(rfc3339(far + 1), "+010000-01-01T00:00:01.006Z");
    }

    proptest::proptest! {
        #[test]
        fn times_written_one_after_another_read_as_chrono_writes_them(
            start in -62_000_000_000_000i64..253_000_000_000_000,
            steps in proptest::collection::vec(-2_500i64..2_500, 1..8),
        ) {
            // Nearby instants in a row (the same second, remembered; the next, the one before),
            // each followed by one far away, as read times and event times alternate.
            let mut ms = start;
            for step in steps {
                ms += step;
                for ms in [ms, ms / 7] {
                let expected = chrono::DateTime::from_timestamp_millis(ms)
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string();
                proptest::prop_assert_eq!(rfc3339(ms), expected);
                }
            }
        }
    }

    #[test]
    fn rfc3339_parsing_handles_offsets_and_fractions() {
        let base = utc_ms(2025, 6, 3, 9, 14, 22, 481).unwrap();
        assert_eq!(
            parse_rfc3339("2025-06-03T11:14:22.481907113+02:00"),
            Some(base)
        );
        assert_eq!(parse_rfc3339("2025-06-03T09:14:22.481Z"), Some(base));
        assert_eq!(parse_rfc3339("2025-06-03 05:14:22.481-0400"), Some(base));
        assert_eq!(parse_rfc3339("2025-06-03T09:14:22Z"), Some(base - 481));
        assert_eq!(parse_rfc3339("2025-06-03T09:14:22"), None);
        assert_eq!(parse_rfc3339("2025-02-30T09:14:22Z"), None);
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert_eq!(utc_ms(2023, 2, 29, 0, 0, 0, 0), None);
        assert!(utc_ms(2024, 2, 29, 0, 0, 0, 0).is_some());
        assert_eq!(utc_ms(2024, 13, 1, 0, 0, 0, 0), None);
        assert_eq!(utc_ms(2024, 1, 1, 24, 0, 0, 0), None);
    }
}
