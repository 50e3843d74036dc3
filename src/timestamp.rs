//! RFC 3339 timestamps (etcd's `expiration`, e.g. `2026-11-24T01:26:21.251878408Z`)
//! parsed into [`SystemTime`] and written back, without a date-time dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parse an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`) into a
/// [`SystemTime`]. Returns `None` for anything malformed or before 1970.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = etcd_v2::timestamp::parse_rfc3339("2026-11-24T01:26:21.25Z").unwrap();
/// assert_eq!(t, UNIX_EPOCH + Duration::from_millis(1_795_483_581_250));
/// ```
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: u64 = 0;
    if let Some((&b'.', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        for (i, c) in frac[..len].iter().enumerate() {
            if i < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
            }
        }
        for _ in len..9 {
            nanos *= 10;
        }
        rest = &frac[len..];
    }
    let offset_seconds: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let off = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, u32::try_from(nanos).ok()?))
}

/// Write a time, given in nanoseconds since the Unix epoch, as Go's
/// `RFC3339Nano` does in UTC: `2026-11-24T01:26:21.251878408Z`, the fraction
/// without trailing zeros (and left out when zero).
///
/// ```
/// assert_eq!(etcd_v2::timestamp::format_rfc3339_nanos(1_795_483_581_250_000_000),
///            "2026-11-24T01:26:21.25Z");
/// ```
pub fn format_rfc3339_nanos(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: SystemTime) -> (u64, u32) {
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        (d.as_secs(), d.subsec_nanos())
    }

    #[test]
    fn parses_etcd_expirations() {
        // From capture 059-ttl-refresh.
        let t = parse_rfc3339("2026-11-24T01:26:21.251878408Z").unwrap();
        assert_eq!(secs(t), (1_795_483_581, 251_878_408));
        assert_eq!(secs(parse_rfc3339("1970-01-01T00:00:00Z").unwrap()), (0, 0));
        assert_eq!(
            secs(parse_rfc3339("2000-02-29T12:00:00.5+01:00").unwrap()),
            (951_822_000, 500_000_000)
        );
        assert_eq!(
            secs(parse_rfc3339("2024-12-31T23:59:59.1234567891-00:30").unwrap()),
            (1_735_691_399, 123_456_789)
        );
    }

    #[test]
    fn formats_as_go_does_and_round_trips() {
        let ns = 1_795_483_581_251_878_408;
        assert_eq!(format_rfc3339_nanos(ns), "2026-11-24T01:26:21.251878408Z");
        assert_eq!(
            format_rfc3339_nanos(951_782_400_000_000_000),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(format_rfc3339_nanos(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        for ns in [1i64, 86_399_999_999_999, 4_102_444_800_123_000_000] {
            let t = parse_rfc3339(&format_rfc3339_nanos(ns)).unwrap();
            assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_nanos(), ns as u128);
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026-11-24",
            "2026-11-24T01:26:21",
            "2026-13-24T01:26:21Z",
            "2026-02-30T01:26:21Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T01:26:21.Z",
            "2026-11-24T01:26:21+0100",
            "1969-12-31T23:59:59Z",
            "20x6-11-24T01:26:21Z",
            "2026-11-24T01:26:21Zjunk",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }
}
