//! Timestamp parsing without allocation or a date library.
//!
//! All results are unix epoch milliseconds (UTC). Sub-millisecond fractions
//! are truncated.

use super::DecodeError;

const MS_PER_DAY: i64 = 86_400_000;

pub use seawatch_model::time::days_from_civil;

/// The civil year containing unix-ms `ms`.
pub(crate) const fn year_of_ms(ms: i64) -> i64 {
    let z = ms.div_euclid(MS_PER_DAY) + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    if mp >= 10 {
        y + 1
    } else {
        y
    }
}

const fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

const fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

#[inline]
fn digits<const N: usize>(s: &[u8], at: usize) -> Option<u32> {
    let d = s.get(at..at + N)?;
    let mut v = 0u32;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as u32;
    }
    Some(v)
}

/// Validated wall-clock time → ms. Seconds == 60 (leap second) is clamped to 59.
fn to_ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Result<i64, DecodeError> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return Err(DecodeError::BadTimestamp);
    }
    let s = s.min(59) as i64;
    Ok(days_from_civil(y, mo, d) * MS_PER_DAY
        + (h as i64 * 3600 + mi as i64 * 60 + s) * 1000
        + ms as i64)
}

/// Parses `.ffffff` at `at` (if present): returns (milliseconds, bytes consumed).
fn fraction(s: &[u8], at: usize) -> (u32, usize) {
    if s.get(at) != Some(&b'.') {
        return (0, 0);
    }
    let mut i = at + 1;
    let mut ms = 0u32;
    let mut n = 0;
    while let Some(&b) = s.get(i) {
        if !b.is_ascii_digit() || n == 9 {
            break;
        }
        if n < 3 {
            ms = ms * 10 + (b - b'0') as u32;
        }
        n += 1;
        i += 1;
    }
    if n == 0 {
        return (0, 0);
    }
    for _ in n..3 {
        ms *= 10;
    }
    (ms, i - at)
}

/// Parses an RFC 3339 timestamp (the RFC 5424 TIMESTAMP) at the start of `s`.
///
/// Accepts `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM|±HHMM)`, `t`/`z` in lower case,
/// and up to 9 fraction digits. Returns `(unix_ms, bytes consumed)`, `Ok(None)`
/// when `s` does not start like a date at all, and `Err(BadTimestamp)` when it
/// does but is invalid.
pub fn parse_rfc3339_ms(s: &[u8]) -> Result<Option<(i64, usize)>, DecodeError> {
    parse_iso_ms(s, true)
}

/// Like [`parse_rfc3339_ms`], but a missing zone offset is read as UTC. For the
/// timestamp in the BSD (RFC 3164) header position, where syslog-ng (`loggen`,
/// `ts-format(iso)` templates without a zone) and some relays put an ISO 8601 time
/// without its offset; zoneless times are UTC on ships (module docs of `syslog`).
pub fn parse_iso_utc_default_ms(s: &[u8]) -> Result<Option<(i64, usize)>, DecodeError> {
    parse_iso_ms(s, false)
}

fn parse_iso_ms(s: &[u8], require_offset: bool) -> Result<Option<(i64, usize)>, DecodeError> {
    let Some(y) = digits::<4>(s, 0) else {
        return Ok(None);
    };
    if s.get(4) != Some(&b'-') {
        return Ok(None);
    }
    let bad = DecodeError::BadTimestamp;
    let mo = digits::<2>(s, 5).ok_or(bad)?;
    let d = (s.get(7) == Some(&b'-'))
        .then(|| digits::<2>(s, 8))
        .flatten()
        .ok_or(bad)?;
    if !matches!(s.get(10), Some(b'T' | b't')) {
        return Err(bad);
    }
    let h = digits::<2>(s, 11).ok_or(bad)?;
    let mi = (s.get(13) == Some(&b':'))
        .then(|| digits::<2>(s, 14))
        .flatten()
        .ok_or(bad)?;
    let se = (s.get(16) == Some(&b':'))
        .then(|| digits::<2>(s, 17))
        .flatten()
        .ok_or(bad)?;
    let (frac, flen) = fraction(s, 19);
    let mut i = 19 + flen;
    let offset_min: i64 = match s.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits::<2>(s, i + 1).ok_or(bad)?;
            let (om, used) = if s.get(i + 3) == Some(&b':') {
                (digits::<2>(s, i + 4).ok_or(bad)?, 6)
            } else if let Some(om) = digits::<2>(s, i + 3) {
                (om, 5)
            } else {
                return Err(bad);
            };
            if oh > 23 || om > 59 {
                return Err(bad);
            }
            i += used;
            let off = (oh * 60 + om) as i64;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        None | Some(b' ' | b':') if !require_offset => 0,
        _ => return Err(bad),
    };
    let ms = to_ms(y as i64, mo, d, h, mi, se, frac)?;
    Ok(Some((ms - offset_min * 60_000, i)))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

fn month(s: &[u8]) -> Option<u32> {
    let m = s.get(..3)?;
    let lower = [
        m[0].to_ascii_lowercase(),
        m[1].to_ascii_lowercase(),
        m[2].to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|x| **x == lower)
        .map(|p| p as u32 + 1)
}

/// Zone abbreviations we trust, with their offset in minutes east of UTC.
fn zone_offset(z: &[u8]) -> Option<i64> {
    Some(match z {
        b"UTC" | b"GMT" | b"Z" | b"UT" => 0,
        b"EST" => -300,
        b"EDT" => -240,
        b"CST" => -360,
        b"CDT" => -300,
        b"MST" => -420,
        b"MDT" => -360,
        b"PST" => -480,
        b"PDT" => -420,
        b"CET" => 60,
        b"CEST" => 120,
        b"EET" => 120,
        b"EEST" => 180,
        b"WET" => 0,
        b"WEST" => 60,
        _ => return None,
    })
}

/// Year for a year-less BSD timestamp: the year of `now_ms`, unless that puts
/// the event more than 31 days in the future (→ last year, e.g. a Dec 31 line
/// read on Jan 1) or more than 334 days in the past (→ next year, a sender
/// whose clock runs slightly ahead over New Year).
fn infer_year(mo: u32, d: u32, h: u32, mi: u32, s: u32, now_ms: i64) -> i64 {
    let y = year_of_ms(now_ms);
    let Ok(t) = to_ms(y, mo, d.min(28), h, mi, s, 0) else {
        return y;
    };
    if t > now_ms + 31 * MS_PER_DAY {
        y - 1
    } else if t < now_ms - 334 * MS_PER_DAY {
        y + 1
    } else {
        y
    }
}

/// A BSD (RFC 3164) style timestamp as real devices write it.
///
/// Grammar, all optional parts in brackets:
/// `[*|.][YYYY ]Mmm[ ]d HH:MM:SS[.fff][ YYYY][ ZONE]`
/// - leading `*`/`.` are Cisco's "clock not synchronised" markers;
/// - a leading or trailing 4-digit year is used (NX-OS, Aruba), otherwise the
///   year comes from `now_ms` ([`infer_year`]);
/// - ZONE is a known abbreviation (UTC, GMT, EST, CET, ...). Any other
///   all-caps 2-5 letter word immediately followed by `:` (Cisco `AEST:`) is
///   consumed and treated as UTC; without a zone the sender's local time is
///   assumed to be UTC.
///
/// Returns `(unix_ms, bytes consumed)`; `Ok(None)` if `s` does not start with
/// something timestamp-shaped; `Err(BadTimestamp)` once `Mmm d HH:` matched but
/// the values are impossible.
pub(crate) fn parse_bsd_ms(s: &[u8], now_ms: i64) -> Result<Option<(i64, usize)>, DecodeError> {
    let mut i = 0;
    if matches!(s.first(), Some(b'*' | b'.')) {
        i += 1;
    }
    let mut year: Option<i64> = None;
    if let Some(y) = digits::<4>(s, i) {
        if s.get(i + 4) != Some(&b' ') {
            return Ok(None);
        }
        year = Some(y as i64);
        i += 5;
    }
    let Some(mo) = month(&s[i.min(s.len())..]) else {
        return Ok(None);
    };
    i += 3;
    if s.get(i) != Some(&b' ') {
        return Ok(None);
    }
    i += 1;
    if s.get(i) == Some(&b' ') {
        i += 1;
    }
    let d = if let Some(d) = digits::<2>(s, i) {
        i += 2;
        d
    } else if let Some(d) = digits::<1>(s, i) {
        i += 1;
        d
    } else {
        return Ok(None);
    };
    if s.get(i) != Some(&b' ') {
        return Ok(None);
    }
    i += 1;
    // From here on it is a timestamp; failures are errors, not "absent".
    let Some(h) = digits::<2>(s, i) else {
        return Ok(None);
    };
    if s.get(i + 2) != Some(&b':') {
        return Ok(None);
    }
    let bad = DecodeError::BadTimestamp;
    let mi = digits::<2>(s, i + 3).ok_or(bad)?;
    let se = (s.get(i + 5) == Some(&b':'))
        .then(|| digits::<2>(s, i + 6))
        .flatten()
        .ok_or(bad)?;
    i += 8;
    let (frac, flen) = fraction(s, i);
    i += flen;
    if year.is_none() && s.get(i) == Some(&b' ') {
        if let Some(y) = digits::<4>(s, i + 1) {
            if matches!(s.get(i + 5), None | Some(b' ' | b':')) {
                year = Some(y as i64);
                i += 5;
            }
        }
    }
    let mut offset_min = 0;
    if s.get(i) == Some(&b' ') {
        let start = i + 1;
        let mut j = start;
        while j < s.len() && j - start < 6 && s[j].is_ascii_uppercase() {
            j += 1;
        }
        let word = &s[start..j];
        let end_ok = matches!(s.get(j), None | Some(b' ' | b':'));
        if !word.is_empty() && end_ok {
            if let Some(off) = zone_offset(word) {
                offset_min = off;
                i = j;
            } else if (2..=5).contains(&word.len()) && s.get(j) == Some(&b':') {
                i = j;
            }
        }
    }
    let y = year.unwrap_or_else(|| infer_year(mo, d, h, mi, se, now_ms));
    let ms = to_ms(y, mo, d, h, mi, se, frac)?;
    Ok(Some((ms - offset_min * 60_000, i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_2025_03_14: i64 = 1_741_960_800_000; // 2025-03-14T14:00:00Z

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for d in (-800_000i64..800_000).step_by(997) {
            let y = year_of_ms(d * MS_PER_DAY);
            assert!(days_from_civil(y, 1, 1) <= d && d < days_from_civil(y + 1, 1, 1));
        }
    }

    #[test]
    fn rfc3339() {
        let (ms, n) = parse_rfc3339_ms(b"2003-10-11T22:14:15.003Z rest")
            .unwrap()
            .unwrap();
        assert_eq!(ms, 1_065_910_455_003);
        assert_eq!(n, 24);
        let (ms, _) = parse_rfc3339_ms(b"2003-08-24T05:14:15.000003-07:00")
            .unwrap()
            .unwrap();
        assert_eq!(ms, 1_061_727_255_000);
        let (ms2, _) = parse_rfc3339_ms(b"2003-08-24T12:14:15Z").unwrap().unwrap();
        assert_eq!(ms, ms2);
        assert_eq!(parse_rfc3339_ms(b"-").unwrap(), None);
        // Zoneless: an error for RFC 5424, UTC in the BSD header position.
        assert!(parse_rfc3339_ms(b"2003-08-24T12:14:15 host").is_err());
        assert_eq!(
            parse_iso_utc_default_ms(b"2003-08-24T12:14:15 host").unwrap(),
            Some((ms2, 19))
        );
        assert_eq!(
            parse_iso_utc_default_ms(b"2003-08-24T12:14:15Z").unwrap(),
            Some((ms2, 20))
        );
        assert!(parse_iso_utc_default_ms(b"2003-08-24T12:14:15x").is_err());
        assert_eq!(parse_rfc3339_ms(b"host").unwrap(), None);
        for bad in [
            &b"2003-13-11T22:14:15Z"[..],
            b"2003-02-30T22:14:15Z",
            b"2003-10-11T25:14:15Z",
            b"2003-10-11 22:14:15Z",
            b"2003-10-11T22:14:15",
            b"2003-10-11T22:14:15+5",
            b"2003-10",
        ] {
            assert_eq!(
                parse_rfc3339_ms(bad),
                Err(DecodeError::BadTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bsd() {
        let (ms, n) = parse_bsd_ms(b"Mar 14 03:12:07.412 UTC: %LINK", NOW_2025_03_14)
            .unwrap()
            .unwrap();
        assert_eq!(&b"Mar 14 03:12:07.412 UTC: %LINK"[n..], b": %LINK");
        assert_eq!(
            ms,
            parse_rfc3339_ms(b"2025-03-14T03:12:07.412Z")
                .unwrap()
                .unwrap()
                .0
        );
        let (ms, n) = parse_bsd_ms(b"Mar 14 03:12:41 2025 wlc-01", 0)
            .unwrap()
            .unwrap();
        assert_eq!(n, 20);
        assert_eq!(
            ms,
            parse_rfc3339_ms(b"2025-03-14T03:12:41Z")
                .unwrap()
                .unwrap()
                .0
        );
        let (ms, n) = parse_bsd_ms(b"*Mar  4 03:00:00 EST host", NOW_2025_03_14)
            .unwrap()
            .unwrap();
        assert_eq!(n, 20);
        assert_eq!(
            ms,
            parse_rfc3339_ms(b"2025-03-04T08:00:00Z")
                .unwrap()
                .unwrap()
                .0
        );
        // CORE is not a zone and is followed by a space: it is a hostname.
        let (_, n) = parse_bsd_ms(b"Mar 14 03:00:00 CORE x", NOW_2025_03_14)
            .unwrap()
            .unwrap();
        assert_eq!(n, 15);
        assert_eq!(parse_bsd_ms(b"May 3 people", 0).unwrap(), None);
        assert_eq!(parse_bsd_ms(b"Hello", 0).unwrap(), None);
        assert_eq!(
            parse_bsd_ms(b"Mar 14 25:00:00 x", 0),
            Err(DecodeError::BadTimestamp)
        );
        assert_eq!(
            parse_bsd_ms(b"Mar 34 03:00:00 x", 0),
            Err(DecodeError::BadTimestamp)
        );
    }

    #[test]
    fn year_rollover() {
        let jan1 = parse_rfc3339_ms(b"2026-01-01T00:10:00Z")
            .unwrap()
            .unwrap()
            .0;
        let (ms, _) = parse_bsd_ms(b"Dec 31 23:59:00", jan1).unwrap().unwrap();
        assert_eq!(
            ms,
            parse_rfc3339_ms(b"2025-12-31T23:59:00Z")
                .unwrap()
                .unwrap()
                .0
        );
        let dec31 = parse_rfc3339_ms(b"2025-12-31T23:59:00Z")
            .unwrap()
            .unwrap()
            .0;
        let (ms, _) = parse_bsd_ms(b"Jan  1 00:00:30", dec31).unwrap().unwrap();
        assert_eq!(
            ms,
            parse_rfc3339_ms(b"2026-01-01T00:00:30Z")
                .unwrap()
                .unwrap()
                .0
        );
    }
}
