//! Time formatting: unix milliseconds to and from RFC 3339 UTC, and civil dates.
//!
//! One formatter for every API and report that prints an instant. Parsing of the many
//! timestamp spellings found on the wire (RFC 3339 with offsets, BSD syslog, ISO without
//! zone) is a decoder's job and stays in ingest's decoders, which build on
//! [`days_from_civil`] here.

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
#[inline]
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian: the inverse of
/// [`days_from_civil`].
#[inline]
pub const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Unix ms as RFC 3339 UTC with milliseconds (`2025-03-14T06:00:00.000Z`).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Parses what [`rfc3339`] prints (`YYYY-MM-DDTHH:MM:SS[.fff]Z`, UTC only) back to unix
/// ms; `None` for anything else. For wire timestamps with offsets use ingest's decoders.
pub fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let (milli, rest) = if sep(19, b'.') {
        let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let first3 = num(20, digits.min(3))?;
        let scale = [100, 10, 1][digits.min(3) - 1];
        (first3 * scale, 20 + digits)
    } else {
        (0, 19)
    };
    if &b[rest..] != b"Z" {
        return None;
    }
    Some(
        days_from_civil(y, mo as u32, d as u32) * MS_PER_DAY
            + (h * 3600 + mi * 60 + sec) * 1000
            + milli,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_741_932_000_123), "2025-03-14T06:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_prints_and_rejects_the_rest() {
        for ms in [
            0,
            1,
            999,
            1_741_932_000_123,
            951_782_400_000,
            -1,
            4_102_444_799_999,
        ] {
            assert_eq!(parse_rfc3339_utc(&rfc3339(ms)), Some(ms), "{ms}");
        }
        assert_eq!(
            parse_rfc3339_utc("2025-03-14T06:00:00Z"),
            Some(1_741_932_000_000)
        );
        assert_eq!(
            parse_rfc3339_utc("2025-03-14T06:00:00.5Z"),
            Some(1_741_932_000_500)
        );
        for bad in [
            "",
            "2025-03-14",
            "2025-03-14T06:00:00",
            "2025-03-14T06:00:00+01:00",
            "2025-13-14T06:00:00Z",
            "2025-03-14T06:00:00.Z",
            "2025-03-14T06:0a:00Z",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_days_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 11_016, 20_161, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
