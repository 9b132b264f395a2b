//! Syslog severities (RFC 5424 §6.2.1) and vendor spellings of them.

/// Syslog severity, 0 (most severe) to 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Severity {
    /// 0: system is unusable.
    Emergency = 0,
    /// 1: action must be taken immediately.
    Alert = 1,
    /// 2: critical conditions.
    Critical = 2,
    /// 3: error conditions.
    Error = 3,
    /// 4: warning conditions.
    Warning = 4,
    /// 5: normal but significant condition.
    Notice = 5,
    /// 6: informational messages.
    Informational = 6,
    /// 7: debug-level messages.
    Debug = 7,
}

impl Severity {
    /// From the numeric code; only the low 3 bits are looked at.
    pub const fn from_code(code: u8) -> Severity {
        match code & 7 {
            0 => Severity::Emergency,
            1 => Severity::Alert,
            2 => Severity::Critical,
            3 => Severity::Error,
            4 => Severity::Warning,
            5 => Severity::Notice,
            6 => Severity::Informational,
            _ => Severity::Debug,
        }
    }

    /// The numeric code 0..=7.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Lower-case canonical name (`"critical"`, `"warning"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Emergency => "emergency",
            Severity::Alert => "alert",
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Informational => "info",
            Severity::Debug => "debug",
        }
    }

    /// Parses the spellings seen in the wild, case-insensitively: syslog
    /// keywords (`emerg`, `crit`, `err`, `warn`, ...), FortiOS `level=` values
    /// (`information`), Aruba four-letter codes (`NOTI`, `ERRS`, `DBUG`),
    /// Windows / NXLog (`AUDIT_FAILURE`, `verbose`), log-library names
    /// (`fatal`, `trace`), and a bare digit `0`..`7`.
    pub fn parse(s: &str) -> Option<Severity> {
        let s = s.trim();
        if s.len() == 1 {
            let b = s.as_bytes()[0];
            return (b'0'..=b'7')
                .contains(&b)
                .then(|| Severity::from_code(b - b'0'));
        }
        if s.len() > 16 {
            return None;
        }
        let mut buf = [0u8; 16];
        for (d, c) in buf.iter_mut().zip(s.bytes()) {
            *d = c.to_ascii_lowercase();
        }
        let lower = &buf[..s.len()];
        Some(match lower {
            b"emerg" | b"emergency" | b"panic" | b"emer" => Severity::Emergency,
            b"alert" | b"aler" => Severity::Alert,
            b"crit" | b"critical" | b"fatal" => Severity::Critical,
            b"err" | b"error" | b"errs" | b"audit_failure" => Severity::Error,
            b"warn" | b"warning" => Severity::Warning,
            b"notice" | b"noti" | b"audit_success" => Severity::Notice,
            b"info" | b"information" | b"informational" => Severity::Informational,
            b"debug" | b"dbug" | b"trace" | b"verbose" => Severity::Debug,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(Severity::parse("NOTI"), Some(Severity::Notice));
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
        assert_eq!(
            Severity::parse("information"),
            Some(Severity::Informational)
        );
        assert_eq!(Severity::parse("3"), Some(Severity::Error));
        assert_eq!(Severity::parse("8"), None);
        assert_eq!(Severity::parse("bogus"), None);
        assert_eq!(Severity::parse("a-very-long-unknown-severity-name"), None);
        for c in 0..8u8 {
            let s = Severity::from_code(c);
            assert_eq!(s.code(), c);
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
    }
}
