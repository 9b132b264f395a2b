//! Civil time from Unix milliseconds, and the timestamp layouts of the log formats.

use super::out::W;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC date and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub ms: u32,
}

/// The civil date and time of `ts_ms` (the date from `seawatch_model::time`).
pub(crate) fn civil(ts_ms: i64) -> Civil {
    let secs = ts_ms.div_euclid(1000);
    let ms = ts_ms.rem_euclid(1000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = seawatch_model::time::civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        min: sod / 60 % 60,
        sec: sod % 60,
        ms,
    }
}

impl Civil {
    /// `2025-03-14T03:12:07.412Z` (RFC 5424 / RFC 3339).
    pub(crate) fn rfc3339(&self, w: &mut W) {
        self.date(w);
        w.b(b"T");
        self.clock(w);
        w.b(b".");
        w.pad3(self.ms);
        w.b(b"Z");
    }

    /// `2025-03-14`.
    pub(crate) fn date(&self, w: &mut W) {
        w.u(self.year as u64);
        w.b(b"-");
        w.pad2(self.month);
        w.b(b"-");
        w.pad2(self.day);
    }

    /// `03:12:07`.
    pub(crate) fn clock(&self, w: &mut W) {
        w.pad2(self.hour);
        w.b(b":");
        w.pad2(self.min);
        w.b(b":");
        w.pad2(self.sec);
    }

    /// `Mar 14 03:12:07` (RFC 3164, day padded with a space).
    pub(crate) fn bsd(&self, w: &mut W) {
        w.s(MONTHS[(self.month - 1) as usize]);
        w.b(b" ");
        if self.day < 10 {
            w.b(b" ");
        }
        w.u(u64::from(self.day));
        w.b(b" ");
        self.clock(w);
    }

    /// `Mar 14 03:12:07.412 UTC` (Cisco IOS `service timestamps log datetime msec`).
    pub(crate) fn cisco(&self, w: &mut W) {
        self.bsd(w);
        w.b(b".");
        w.pad3(self.ms);
        w.b(b" UTC");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_matches_known_dates() {
        // 2025-03-14T06:00:00Z
        let c = civil(1_741_932_000_000);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.min, c.sec),
            (2025, 3, 14, 6, 0, 0)
        );
        let c = civil(0);
        assert_eq!((c.year, c.month, c.day), (1970, 1, 1));
        let c = civil(951_782_400_000 + 1234); // 2000-02-29T00:00:01.234Z
        assert_eq!((c.year, c.month, c.day, c.sec, c.ms), (2000, 2, 29, 1, 234));
    }
}
