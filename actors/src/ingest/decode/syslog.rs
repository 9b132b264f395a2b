//! Syslog line decoding: RFC 5424, RFC 3164 and the vendor dialects of
//! domain.md §3, auto-detected, zero-copy.
//!
//! # Detection order
//!
//! 1. `<PRI>` if the line starts with `<` (malformed → [`DecodeError::BadPriority`]).
//!    **Lenient by default**: relays often strip PRI, so a line without one
//!    is still decoded (priority/facility `None`, severity from the vendor
//!    payload if any). Set [`SyslogOptions::require_priority`] to reject such
//!    lines with [`DecodeError::MissingPriority`] instead.
//! 2. `1 ` right after PRI (or at the start of a PRI-less line followed by an
//!    RFC 3339 date) → RFC 5424. Other version numbers → `UnsupportedVersion`.
//! 3. Otherwise a BSD header, each part optional: Cisco sequence number
//!    (`000123: `), timestamp (BSD `Mmm dd HH:MM:SS[.fff][ YYYY][ ZONE]` with
//!    Cisco's `*`/`.` markers and `UTC:` terminator, or RFC 3339), HOSTNAME,
//!    TAG `app[pid]:`. A line with no recognisable header is a bare message.
//! 4. The message is then inspected for vendor payloads ([`VendorHint`]):
//!    Cisco `%FAC-SEV-MNEMONIC:`, Junos `UPPER_SNAKE_EVENT:`, Aruba
//!    `<msgid> <SEV> |AP name@ip proc|`, FortiOS `key=value` (host from
//!    `devname`), Windows event JSON.
//!
//! # Severity precedence
//! When the payload carries its own severity (Cisco SEV digit, FortiOS
//! `level=`, Aruba `<SEV>`, Windows `Severity`/`Level`) it wins over the PRI
//! severity, because relays and FortiGates commonly send one fixed PRI.
//! The raw PRI stays available in [`SyslogRecord::priority`].
//!
//! # Time
//! RFC 3164 stamps carry no year and usually no zone: the year comes from
//! [`SyslogOptions::now_ms`] (with New-Year rollover), zoneless times are
//! taken as UTC (ships run their network gear on UTC; see domain.md §3).

use std::borrow::Cow;

use super::time::{parse_bsd_ms, parse_iso_utc_default_ms, parse_rfc3339_ms};
use super::{DecodeError, Severity};

/// Default maximum accepted line length in bytes (matches the framer).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Decoder settings. Cheap to copy; build one per listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyslogOptions {
    /// "Now" in unix ms, used to pick the year for year-less RFC 3164 stamps.
    pub now_ms: i64,
    /// Reject lines without `<PRI>` (strict RFC behaviour). Default `false`.
    pub require_priority: bool,
    /// Lines longer than this many bytes are rejected with `TooLong`.
    pub max_len: usize,
}

impl SyslogOptions {
    /// Lenient options with the given clock.
    pub const fn at(now_ms: i64) -> Self {
        SyslogOptions {
            now_ms,
            require_priority: false,
            max_len: DEFAULT_MAX_LINE,
        }
    }
}

impl Default for SyslogOptions {
    /// Lenient, 64 KiB lines, clock = the system clock at construction.
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        SyslogOptions::at(now)
    }
}

/// Which header grammar the line matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyslogFormat {
    /// RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`).
    Rfc5424,
    /// RFC 3164 / BSD-style header, including Cisco IOS timestamp-only lines.
    Rfc3164,
    /// No header recognised: the whole line (after PRI) is the message;
    /// vendor payloads (FortiOS, Windows JSON) may still have been found.
    Bare,
}

/// Vendor-specific fields found in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VendorHint<'a> {
    /// Nothing vendor-specific recognised.
    #[default]
    None,
    /// Cisco IOS / IOS-XE / NX-OS / ASA `%FACILITY[-SUB]-SEVERITY-MNEMONIC: text`.
    Cisco {
        /// e.g. `LINK`, `LINEPROTO`, `SYS` (with sub-facility if any: `LINEPROTO-SP`).
        facility: &'a str,
        /// The SEVERITY digit, 0..=7.
        severity: u8,
        /// e.g. `UPDOWN`, `CONFIG_I`.
        mnemonic: &'a str,
        /// The `000123:` message sequence number, when the device sends it.
        sequence: Option<u64>,
    },
    /// Junos-style `EVENT_TAG: text` (`SNMP_TRAP_LINK_DOWN`, `LLDP_NEIGHBOR_DOWN`).
    /// Any UPPER_SNAKE tag with at least one `_` lands here.
    Juniper {
        /// The event tag.
        event: &'a str,
    },
    /// Aruba WLC `<msgid> <SEV> |AP name@ip proc| text`.
    Aruba {
        /// Numeric message id, e.g. `404400`.
        msg_id: &'a str,
        /// Four-letter level as sent (`NOTI`, `ERRS`, ...).
        level: &'a str,
        /// AP name from the `|AP name@ip proc|` block.
        ap_name: Option<&'a str>,
        /// AP address from the same block.
        ap_ip: Option<&'a str>,
        /// AP process from the same block (`sapd`).
        ap_process: Option<&'a str>,
    },
    /// FortiOS `key=value` log; iterate all pairs with [`fortinet_kv`]`(kv)`.
    Fortinet {
        /// `logid` (10 digits).
        logid: Option<&'a str>,
        /// `type` (`event`, `traffic`, `utm`).
        log_type: Option<&'a str>,
        /// `subtype` (`system`, `vpn`, ...).
        subtype: Option<&'a str>,
        /// `level` as sent.
        level: Option<&'a str>,
        /// `devid` serial number.
        devid: Option<&'a str>,
        /// The whole key=value text.
        kv: &'a str,
    },
    /// Windows event rendered as JSON (NXLog `to_json`, winlogbeat-like).
    /// The message stays the full JSON text.
    WindowsEvent {
        /// `EventID`.
        event_id: Option<u32>,
        /// `SourceName` / `ProviderName`, when unescaped.
        provider: Option<&'a str>,
        /// `Channel`, when unescaped.
        channel: Option<&'a str>,
    },
}

/// One decoded syslog message, borrowing from the input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyslogRecord<'a> {
    /// Header grammar that matched.
    pub format: SyslogFormat,
    /// Raw PRI value 0..=191, if the line had one.
    pub priority: Option<u8>,
    /// PRI / 8.
    pub facility: Option<u8>,
    /// Effective severity (vendor payload, else PRI % 8), see module docs.
    pub severity: Option<Severity>,
    /// Event time in unix ms, when a timestamp was present and parsed.
    pub timestamp_ms: Option<i64>,
    /// HOSTNAME (or FortiOS `devname`, Windows `Hostname`).
    pub hostname: Option<&'a str>,
    /// APP-NAME / BSD tag (Cisco: the facility).
    pub app_name: Option<&'a str>,
    /// PROCID / the `[pid]` of a BSD tag.
    pub proc_id: Option<&'a str>,
    /// MSGID (Cisco mnemonic, Junos event tag, Aruba message id).
    pub msg_id: Option<&'a str>,
    /// Raw RFC 5424 STRUCTURED-DATA (`[id k="v"]...`); see [`sd_params`].
    pub structured_data: Option<&'a str>,
    /// The free text (vendor prefix such as `%LINK-3-UPDOWN:` removed).
    pub message: &'a str,
    /// Vendor-specific fields.
    pub vendor: VendorHint<'a>,
}

impl<'a> SyslogRecord<'a> {
    fn bare(priority: Option<u8>, message: &'a str) -> Self {
        SyslogRecord {
            format: SyslogFormat::Bare,
            priority,
            facility: priority.map(|p| p >> 3),
            severity: priority.map(Severity::from_code),
            timestamp_ms: None,
            hostname: None,
            app_name: None,
            proc_id: None,
            msg_id: None,
            structured_data: None,
            message,
            vendor: VendorHint::None,
        }
    }
}

/// Decodes one syslog message (a UDP datagram or one framed TCP message).
///
/// Trailing `\n`, `\r` and NUL are ignored. Never panics.
pub fn parse_syslog<'a>(
    input: &'a [u8],
    opts: &SyslogOptions,
) -> Result<SyslogRecord<'a>, DecodeError> {
    if input.len() > opts.max_len {
        return Err(DecodeError::TooLong);
    }
    let s = std::str::from_utf8(input).map_err(|_| DecodeError::BadUtf8)?;
    let s = s
        .trim_end_matches(['\n', '\r', '\0'])
        .trim_start_matches([' ', '\t', '\n', '\r', '\0']);
    if s.trim_end().is_empty() {
        return Err(DecodeError::Empty);
    }
    let (pri, rest) = if s.starts_with('<') {
        let (p, r) = parse_pri(s)?;
        (Some(p), r)
    } else if opts.require_priority {
        return Err(DecodeError::MissingPriority);
    } else {
        (None, s)
    };
    if rest.is_empty() {
        return Err(DecodeError::Truncated);
    }
    let (mut rec, seq) = match version(rest) {
        Some((1, body)) => (parse_5424(pri, body)?, None),
        Some(_) if pri.is_some() => return Err(DecodeError::UnsupportedVersion),
        _ => parse_bsd(pri, rest, opts.now_ms)?,
    };
    enrich(&mut rec, seq);
    Ok(rec)
}

fn parse_pri(s: &str) -> Result<(u8, &str), DecodeError> {
    let b = s.as_bytes();
    let mut v: u32 = 0;
    let mut i = 1;
    while i < b.len() && i <= 4 && b[i].is_ascii_digit() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    if i == 1 || i > 4 || b.get(i) != Some(&b'>') || v > 191 {
        return Err(DecodeError::BadPriority);
    }
    Ok((v as u8, &s[i + 1..]))
}

/// `VERSION SP` followed by something RFC 5424-shaped (`-` or a date).
fn version(s: &str) -> Option<(u32, &str)> {
    let b = s.as_bytes();
    let n = b.iter().take(4).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 3 || b[0] == b'0' || b.get(n) != Some(&b' ') {
        return None;
    }
    let body = &s[n + 1..];
    let bb = body.as_bytes();
    let looks_5424 = (bb.first() == Some(&b'-') && bb.get(1) == Some(&b' '))
        || (bb.len() >= 5 && bb[..4].iter().all(u8::is_ascii_digit) && bb[4] == b'-');
    if !looks_5424 {
        return None;
    }
    Some((s[..n].parse().ok()?, body))
}

/// Next SP-terminated header field; `None` if the input ended.
fn field<'a>(s: &mut &'a str) -> Option<&'a str> {
    if s.is_empty() {
        return None;
    }
    match memchr::memchr(b' ', s.as_bytes()) {
        Some(i) => {
            let f = &s[..i];
            *s = &s[i + 1..];
            Some(f)
        }
        None => {
            let f = *s;
            *s = "";
            Some(f)
        }
    }
}

fn header_value(f: &str, max: usize) -> Result<Option<&str>, DecodeError> {
    if f == "-" {
        return Ok(None);
    }
    if f.is_empty() || f.len() > max || !f.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(DecodeError::BadHeader);
    }
    Ok(Some(f))
}

fn parse_5424(pri: Option<u8>, body: &str) -> Result<SyslogRecord<'_>, DecodeError> {
    let mut s = body;
    let ts = field(&mut s).ok_or(DecodeError::Truncated)?;
    let timestamp_ms = if ts == "-" {
        None
    } else {
        match parse_rfc3339_ms(ts.as_bytes())? {
            Some((ms, n)) if n == ts.len() => Some(ms),
            _ => return Err(DecodeError::BadTimestamp),
        }
    };
    let hostname = header_value(field(&mut s).ok_or(DecodeError::Truncated)?, 255)?;
    let app_name = header_value(field(&mut s).ok_or(DecodeError::Truncated)?, 48)?;
    let proc_id = header_value(field(&mut s).ok_or(DecodeError::Truncated)?, 128)?;
    let msg_id = header_value(field(&mut s).ok_or(DecodeError::Truncated)?, 32)?;
    // STRUCTURED-DATA is mandatory (`-` when empty).
    if s.is_empty() {
        return Err(DecodeError::Truncated);
    }
    let (structured_data, message) = if let Some(rest) = s.strip_prefix('-') {
        match rest.as_bytes().first() {
            None => (None, ""),
            Some(b' ') => (None, &rest[1..]),
            _ => (None, s), // message that happens to start with '-'
        }
    } else if s.starts_with('[') {
        let end = sd_end(s.as_bytes()).ok_or(DecodeError::BadStructuredData)?;
        let (sd, rest) = s.split_at(end);
        match rest.as_bytes().first() {
            None => (Some(sd), ""),
            Some(b' ') => (Some(sd), &rest[1..]),
            _ => return Err(DecodeError::BadStructuredData),
        }
    } else {
        // Lenient: sloppy senders omit the SD field and go straight to MSG.
        (None, s)
    };
    let message = message.strip_prefix('\u{FEFF}').unwrap_or(message);
    Ok(SyslogRecord {
        format: SyslogFormat::Rfc5424,
        priority: pri,
        facility: pri.map(|p| p >> 3),
        severity: pri.map(Severity::from_code),
        timestamp_ms,
        hostname,
        app_name,
        proc_id,
        msg_id,
        structured_data,
        message,
        vendor: VendorHint::None,
    })
}

fn is_sd_name_byte(b: u8) -> bool {
    (33..=126).contains(&b) && !matches!(b, b'=' | b' ' | b']' | b'"')
}

/// Byte length of the SD-ELEMENT run starting at `s[0] == b'['`, if valid.
fn sd_end(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while s.get(i) == Some(&b'[') {
        i += 1;
        let id_start = i;
        while i < s.len() && is_sd_name_byte(s[i]) {
            i += 1;
        }
        if i == id_start || i - id_start > 32 {
            return None;
        }
        loop {
            match s.get(i)? {
                b']' => {
                    i += 1;
                    break;
                }
                b' ' => {
                    i += 1;
                    let name_start = i;
                    while i < s.len() && is_sd_name_byte(s[i]) {
                        i += 1;
                    }
                    if i == name_start || i - name_start > 32 || s.get(i) != Some(&b'=') {
                        return None;
                    }
                    if s.get(i + 1) != Some(&b'"') {
                        return None;
                    }
                    i += 2;
                    loop {
                        match s.get(i)? {
                            b'\\' => i += 2,
                            b'"' => {
                                i += 1;
                                break;
                            }
                            _ => i += 1,
                        }
                    }
                }
                _ => return None,
            }
        }
    }
    Some(i)
}

/// Iterates RFC 5424 SD-PARAMs as `(sd_id, param_name, raw_value)`.
///
/// Values are returned as sent, with `\"`, `\\` and `\]` escapes left in.
/// Stops quietly at the first malformed byte; never panics.
pub fn sd_params(sd: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    let b = sd.as_bytes();
    let mut i = 0usize;
    let mut id: &str = "";
    std::iter::from_fn(move || loop {
        match b.get(i)? {
            b'[' => {
                let start = i + 1;
                i = start;
                while i < b.len() && is_sd_name_byte(b[i]) {
                    i += 1;
                }
                id = sd.get(start..i)?;
            }
            b']' => i += 1,
            b' ' => {
                let ns = i + 1;
                i = ns;
                while i < b.len() && is_sd_name_byte(b[i]) {
                    i += 1;
                }
                let name = sd.get(ns..i)?;
                if b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                    return None;
                }
                i += 2;
                let vs = i;
                loop {
                    match b.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                let value = sd.get(vs..i)?;
                i += 1;
                return Some((id, name, value));
            }
            _ => return None,
        }
    })
}

/// `000123: ` Cisco sequence number prefix.
fn cisco_seq(s: &str) -> Option<(u64, &str)> {
    let b = s.as_bytes();
    let n = b.iter().take(21).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 20 || b.get(n) != Some(&b':') || b.get(n + 1) != Some(&b' ') {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n + 2..]))
}

/// Timestamp at the start of `s` in any 3164-position format.
/// Unparseable RFC 3339-looking text counts as "no timestamp" here.
fn bsd_timestamp(s: &str, now_ms: i64) -> Result<Option<(i64, usize)>, DecodeError> {
    let b = s.as_bytes();
    if b.len() >= 5 && b[4] == b'-' {
        return Ok(parse_iso_utc_default_ms(b).ok().flatten());
    }
    parse_bsd_ms(b, now_ms)
}

fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'@')
}

/// `app[pid]: ` or `app: ` at the start of `s`: (app, pid, rest after ": ").
fn tag(s: &str) -> Option<(&str, Option<&str>, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && i <= 64 && is_tag_byte(b[i]) {
        i += 1;
    }
    if i == 0 || i > 64 {
        return None;
    }
    let app = &s[..i];
    let mut pid = None;
    if b.get(i) == Some(&b'[') {
        let ps = i + 1;
        let pe = ps + memchr::memchr(b']', b.get(ps..)?)?;
        if pe == ps || pe - ps > 128 || b[ps..pe].contains(&b' ') {
            return None;
        }
        pid = Some(&s[ps..pe]);
        i = pe + 1;
    }
    if b.get(i) != Some(&b':') {
        return None;
    }
    match b.get(i + 1) {
        None => Some((app, pid, "")),
        Some(b' ') => Some((app, pid, &s[i + 2..])),
        _ => None,
    }
}

fn looks_like_hostname(tok: &str) -> bool {
    !tok.is_empty()
        && tok.len() <= 255
        && !tok.ends_with(':')
        && !tok.starts_with('%')
        && !tok.starts_with('<')
        && !tok.starts_with('{')
        && !tok.contains(['[', '='])
}

/// BSD-style header. Returns the record and the Cisco sequence number, if any.
fn parse_bsd(
    pri: Option<u8>,
    rest: &str,
    now_ms: i64,
) -> Result<(SyslogRecord<'_>, Option<u64>), DecodeError> {
    let mut rec = SyslogRecord::bare(pri, rest);
    let mut r = rest;
    let mut seq = None;
    if let Some((n, after)) = cisco_seq(r) {
        seq = Some(n);
        r = after;
    }
    let mut header_done = false;
    let mut have_ts = false;
    match bsd_timestamp(r, now_ms)? {
        Some((ms, n)) => {
            let after = &r[n..];
            if let Some(a) = after.strip_prefix(':') {
                // Cisco: `Mar 14 03:12:07.412 UTC: %LINK-...` — no hostname.
                rec.timestamp_ms = Some(ms);
                r = a.trim_start_matches(' ');
                header_done = true;
                have_ts = true;
            } else if let Some(a) = after.strip_prefix(' ') {
                rec.timestamp_ms = Some(ms);
                r = a.trim_start_matches(' ');
                have_ts = true;
            } else if after.is_empty() {
                rec.timestamp_ms = Some(ms);
                r = after;
                header_done = true;
                have_ts = true;
            }
        }
        None => {
            // Cisco origin-id: `host: [seq: ]*Mar 14 ...: %FAC-...`
            if let Some(sp) = memchr::memchr(b' ', r.as_bytes()) {
                let tok = &r[..sp];
                if tok.len() > 1 && tok.ends_with(':') && !tok[..tok.len() - 1].contains(':') {
                    let mut a = &r[sp + 1..];
                    let mut seq2 = None;
                    if let Some((n, aa)) = cisco_seq(a) {
                        seq2 = Some(n);
                        a = aa;
                    }
                    if let Ok(Some((ms, n))) = bsd_timestamp(a, now_ms) {
                        if let Some(aa) = a[n..].strip_prefix(':') {
                            rec.hostname = Some(&tok[..tok.len() - 1]);
                            rec.timestamp_ms = Some(ms);
                            seq = seq.or(seq2);
                            r = aa.trim_start_matches(' ');
                            header_done = true;
                            have_ts = true;
                        }
                    }
                }
            }
        }
    }
    if have_ts {
        rec.format = SyslogFormat::Rfc3164;
    }
    if !header_done {
        // HOSTNAME: with a timestamp, any plausible token; without one, only
        // when followed by a real `app[pid]:` tag (else it is just text).
        if let Some(sp) = memchr::memchr(b' ', r.as_bytes()) {
            let tok = &r[..sp];
            let after = &r[sp + 1..];
            if looks_like_hostname(tok) && (have_ts || matches!(tag(after), Some((_, Some(_), _))))
            {
                rec.hostname = Some(tok);
                rec.format = SyslogFormat::Rfc3164;
                r = after;
                // Relayed Cisco: `host 000123: *Mar 14 03:12:07.412 UTC: %...`
                let mut a = r;
                let mut seq2 = None;
                if let Some((n, aa)) = cisco_seq(a) {
                    seq2 = Some(n);
                    a = aa;
                }
                if let Ok(Some((ms, n))) = bsd_timestamp(a, now_ms) {
                    if let Some(aa) = a[n..].strip_prefix(':') {
                        rec.timestamp_ms = Some(ms);
                        seq = seq.or(seq2);
                        r = aa.trim_start_matches(' ');
                    }
                } else if seq2.is_some() && a.starts_with('%') {
                    seq = seq.or(seq2);
                    r = a;
                }
            }
        } else if have_ts && looks_like_hostname(r) {
            rec.hostname = Some(r);
            r = "";
        }
        if have_ts || rec.hostname.is_some() {
            if let Some((app, pid, msg)) = tag(r) {
                rec.app_name = Some(app);
                rec.proc_id = pid;
                r = msg;
            }
        }
    }
    rec.message = r;
    Ok((rec, seq))
}

fn enrich(rec: &mut SyslogRecord<'_>, seq: Option<u64>) {
    let m = rec.message;
    match m.as_bytes().first() {
        Some(b'%') => cisco(rec, seq),
        Some(b'<') => aruba(rec),
        Some(b'{') => windows(rec),
        Some(b'A'..=b'Z') => juniper(rec),
        _ => {}
    }
    if matches!(rec.vendor, VendorHint::None)
        && (m.starts_with("date=") || m.starts_with("logver=") || m.starts_with("eventtime="))
    {
        fortinet(rec);
    }
}

fn cisco<'a>(rec: &mut SyslogRecord<'a>, seq: Option<u64>) {
    let m = rec.message;
    let Some(colon) = memchr::memchr(b':', m.as_bytes()) else {
        return;
    };
    let tok = &m[1..colon];
    if tok.len() < 5
        || tok.len() > 96
        || !tok
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return;
    }
    let Some(last_dash) = tok.rfind('-') else {
        return;
    };
    let mnemonic = &tok[last_dash + 1..];
    let head = &tok[..last_dash];
    let Some(sev_dash) = head.rfind('-') else {
        return;
    };
    let sev = &head[sev_dash + 1..];
    let facility = &head[..sev_dash];
    if mnemonic.is_empty() || facility.is_empty() || sev.len() != 1 {
        return;
    }
    let sb = sev.as_bytes()[0];
    if !(b'0'..=b'7').contains(&sb) {
        return;
    }
    let severity = sb - b'0';
    rec.vendor = VendorHint::Cisco {
        facility,
        severity,
        mnemonic,
        sequence: seq,
    };
    rec.severity = Some(Severity::from_code(severity));
    rec.app_name = rec.app_name.or(Some(facility));
    rec.msg_id = rec.msg_id.or(Some(mnemonic));
    rec.message = m[colon + 1..].trim_start_matches(' ');
}

fn juniper(rec: &mut SyslogRecord<'_>) {
    let m = rec.message;
    let b = m.as_bytes();
    let n = b
        .iter()
        .take(65)
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_')
        .count();
    if !(3..=64).contains(&n) || b.get(n) != Some(&b':') || !b[..n].contains(&b'_') {
        return;
    }
    if !matches!(b.get(n + 1), None | Some(b' ')) {
        return;
    }
    let event = &m[..n];
    rec.vendor = VendorHint::Juniper { event };
    rec.msg_id = rec.msg_id.or(Some(event));
    rec.message = m[n + 1..].trim_start_matches(' ');
}

fn aruba(rec: &mut SyslogRecord<'_>) {
    let m = rec.message;
    let b = m.as_bytes();
    let n = b
        .iter()
        .skip(1)
        .take(13)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 || n > 12 || b.get(n + 1) != Some(&b'>') || b.get(n + 2) != Some(&b' ') {
        return;
    }
    let msg_id = &m[1..n + 1];
    let r = &m[n + 3..];
    let Some(lv) = r.strip_prefix('<') else {
        return;
    };
    let Some(close) = lv.find('>') else {
        return;
    };
    let level = &lv[..close];
    let Some(sev) = Severity::parse(level) else {
        return;
    };
    let mut r = lv[close + 1..].trim_start_matches(' ');
    let (mut ap_name, mut ap_ip, mut ap_process) = (None, None, None);
    if let Some(inner) = r.strip_prefix('|') {
        if let Some(end) = inner.find('|') {
            let block = &inner[..end];
            let block = block.strip_prefix("AP ").unwrap_or(block);
            let (who, process) = match block.rfind(' ') {
                Some(sp) => (&block[..sp], Some(&block[sp + 1..])),
                None => (block, None),
            };
            match who.split_once('@') {
                Some((name, ip)) => {
                    ap_name = Some(name);
                    ap_ip = Some(ip);
                }
                None => ap_name = Some(who),
            }
            ap_process = process.filter(|p| !p.is_empty());
            r = inner[end + 1..].trim_start_matches(' ');
        }
    }
    rec.vendor = VendorHint::Aruba {
        msg_id,
        level,
        ap_name: ap_name.filter(|s| !s.is_empty()),
        ap_ip: ap_ip.filter(|s| !s.is_empty()),
        ap_process,
    };
    rec.severity = Some(sev);
    rec.msg_id = rec.msg_id.or(Some(msg_id));
    rec.message = r;
}

/// Iterates FortiOS `key=value` / `key="quoted value"` pairs, quotes removed.
///
/// Never panics; stops at the first token without `=`.
///
/// One forward pass over the bytes: keys and values are a few bytes long, so a plain
/// loop beats a `memchr` call per delimiter (FortiGate traffic lines carry ≈ 30 pairs
/// and are most of a ship's syslog volume; see decision 0032).
pub fn fortinet_kv(s: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let (key, value, next) = fortinet_pair(rest)?;
        rest = next;
        Some((key, value))
    })
}

/// The first `key=value` pair of `s` (leading spaces skipped) and what follows it.
#[inline]
fn fortinet_pair(s: &str) -> Option<(&str, &str, &str)> {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| c != b' ')?;
    // the key ends at the first `=`; a space before it (or no `=`) ends the pairs
    let len = b[start..].iter().position(|&c| c == b'=' || c == b' ')?;
    let eq = start + len;
    if len == 0 || b[eq] == b' ' {
        return None;
    }
    // every cut below is at an ASCII delimiter or an end: a char boundary
    let key = &s[start..eq];
    let after = &s[eq + 1..];
    let ab = after.as_bytes();
    Some(if ab.first() == Some(&b'"') {
        match ab[1..].iter().position(|&c| c == b'"') {
            Some(e) => (key, &after[1..1 + e], &after[2 + e..]),
            None => (key, &after[1..], ""),
        }
    } else {
        match ab.iter().position(|&c| c == b' ') {
            Some(e) => (key, &after[..e], &after[e..]),
            None => (key, after, ""),
        }
    })
}

fn fortinet(rec: &mut SyslogRecord<'_>) {
    let kv = rec.message;
    let (mut devname, mut devid, mut logid, mut log_type, mut subtype, mut level) =
        (None, None, None, None, None, None);
    let (mut date, mut time, mut tz, mut eventtime, mut msg, mut logdesc) =
        (None, None, None, None, None, None);
    for (k, v) in fortinet_kv(kv) {
        // by length first: most of a traffic line's ≈ 30 keys are none of these
        let slot = match (k.len(), k.as_bytes()) {
            (2, b"tz") => &mut tz,
            (3, b"msg") => &mut msg,
            (4, b"date") => &mut date,
            (4, b"time") => &mut time,
            (4, b"type") => &mut log_type,
            (5, b"devid") => &mut devid,
            (5, b"logid") => &mut logid,
            (5, b"level") => &mut level,
            (7, b"devname") => &mut devname,
            (7, b"subtype") => &mut subtype,
            (7, b"logdesc") => &mut logdesc,
            (9, b"eventtime") => &mut eventtime,
            _ => continue,
        };
        *slot = Some(v);
    }
    let Some(devname) = devname.filter(|d| !d.is_empty()) else {
        return;
    };
    rec.hostname = Some(devname);
    if let Some(sev) = level.and_then(Severity::parse) {
        rec.severity = Some(sev);
    }
    if rec.timestamp_ms.is_none() {
        rec.timestamp_ms = fortinet_time(date, time, tz, eventtime);
    }
    rec.msg_id = rec.msg_id.or(logid);
    rec.message = msg.or(logdesc).unwrap_or(kv);
    rec.vendor = VendorHint::Fortinet {
        logid,
        log_type,
        subtype,
        level,
        devid,
        kv,
    };
}

fn fortinet_time(
    date: Option<&str>,
    time: Option<&str>,
    tz: Option<&str>,
    eventtime: Option<&str>,
) -> Option<i64> {
    if let (Some(d), Some(t)) = (date, time) {
        // Build `YYYY-MM-DDTHH:MM:SS±HH:MM` on the stack.
        let mut buf = [0u8; 32];
        let tzs = tz.filter(|z| z.len() == 5 && matches!(z.as_bytes()[0], b'+' | b'-'));
        let tzs = tzs.unwrap_or("Z");
        let total = d.len() + 1 + t.len() + tzs.len();
        if d.len() == 10 && t.len() == 8 && total <= buf.len() {
            buf[..10].copy_from_slice(d.as_bytes());
            buf[10] = b'T';
            buf[11..19].copy_from_slice(t.as_bytes());
            buf[19..19 + tzs.len()].copy_from_slice(tzs.as_bytes());
            if let Ok(Some((ms, n))) = parse_rfc3339_ms(&buf[..total]) {
                if n == total {
                    return Some(ms);
                }
            }
        }
    }
    let e: i64 = eventtime?.parse().ok()?;
    Some(match e {
        0..=99_999_999_999 => e * 1000,                           // seconds
        100_000_000_000..=99_999_999_999_999 => e,                // ms
        100_000_000_000_000..=99_999_999_999_999_999 => e / 1000, // µs
        _ => e / 1_000_000,                                       // ns (FortiOS 6.2+)
    })
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum NumOrStr<'a> {
    Num(f64),
    #[serde(borrow)]
    Str(Cow<'a, str>),
}

impl NumOrStr<'_> {
    fn as_u32(&self) -> Option<u32> {
        match self {
            NumOrStr::Num(n) if *n >= 0.0 && *n <= u32::MAX as f64 => Some(*n as u32),
            NumOrStr::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// A JSON string borrowed from the input when it has no escapes.
/// (serde only borrows a `Cow` that is a field's whole type, not inside `Option`.)
#[derive(serde::Deserialize)]
struct BStr<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(serde::Deserialize)]
struct WinEvent<'a> {
    #[serde(borrow, alias = "EventId", alias = "event_id")]
    #[serde(rename = "EventID")]
    event_id: Option<NumOrStr<'a>>,
    #[serde(borrow, alias = "Computer")]
    #[serde(rename = "Hostname")]
    hostname: Option<BStr<'a>>,
    #[serde(borrow, alias = "ProviderName")]
    #[serde(rename = "SourceName")]
    provider: Option<BStr<'a>>,
    #[serde(borrow, rename = "Channel")]
    channel: Option<BStr<'a>>,
    #[serde(borrow, rename = "Severity")]
    severity: Option<BStr<'a>>,
    #[serde(borrow, rename = "Level")]
    level: Option<NumOrStr<'a>>,
    #[serde(borrow, rename = "EventType")]
    event_type: Option<BStr<'a>>,
}

fn borrowed<'a>(c: &Option<BStr<'a>>) -> Option<&'a str> {
    match c {
        Some(BStr(Cow::Borrowed(s))) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn windows(rec: &mut SyslogRecord<'_>) {
    let m = rec.message.trim_end();
    if !m.ends_with('}') {
        return;
    }
    let Ok(ev) = serde_json::from_str::<WinEvent<'_>>(m) else {
        return;
    };
    if ev.event_id.is_none() && ev.channel.is_none() {
        return;
    }
    let sev = ev
        .severity
        .as_ref()
        .and_then(|s| Severity::parse(&s.0))
        .or_else(|| match &ev.level {
            // Windows levels: 1 critical, 2 error, 3 warning, 4 info, 5 verbose.
            Some(NumOrStr::Num(n)) => Some(match *n as i64 {
                1 => Severity::Critical,
                2 => Severity::Error,
                3 => Severity::Warning,
                5 => Severity::Debug,
                _ => Severity::Informational,
            }),
            Some(NumOrStr::Str(s)) => Severity::parse(s),
            None => None,
        })
        .or_else(|| ev.event_type.as_ref().and_then(|s| Severity::parse(&s.0)));
    if let Some(sev) = sev {
        rec.severity = Some(sev);
    }
    rec.hostname = rec.hostname.or(borrowed(&ev.hostname));
    rec.message = m;
    rec.vendor = VendorHint::WindowsEvent {
        event_id: ev.event_id.as_ref().and_then(NumOrStr::as_u32),
        provider: borrowed(&ev.provider),
        channel: borrowed(&ev.channel),
    };
}
