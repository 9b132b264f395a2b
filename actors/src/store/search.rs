//! The log search language of `GET /api/logs` (contracts §2), what an operator guesses:
//!
//! * `link down` — every word must be in the line (AND), as a whole word, any case;
//! * `"state to down"` — a quoted phrase: these words, in this order, next to each other;
//! * `-flap` or `-"admin down"` — lines without that word or phrase;
//! * `device:core-sw-1` (also `host:`) — one device (the event's source);
//! * `severity:warning` (also `sev:`, `level:`) — **that level or worse**: `warning`
//!   finds warnings, errors, critical, alert and emergency lines. Names are syslog's
//!   (`emerg`, `alert`, `crit`, `err`/`error`, `warn`/`warning`, `notice`, `info`,
//!   `debug`) or the numbers 0–7;
//! * `kind:incident` — stored events of another kind than log lines (`log`, the default,
//!   `metric`, `incident`, `state`, `control`, `other`, `any`).
//!
//! A word with punctuation inside (`ge-0/0/1`, `10.0.0.1`, `link:down`) is the phrase of
//! its parts. `AND` is allowed and changes nothing; `OR` and `NOT` are refused with a hint
//! (every word is required; negate with `-`).
//!
//! Times for `from`/`to`: RFC 3339 (`2025-03-14T06:00:00Z`, offsets allowed), `now`,
//! relative to now (`-15m`, `-1h`, `-2d`; units `s`, `m`, `h`, `d`, `w`) or unix
//! milliseconds.

use seawatch_runtime::event_log::EventKind;

use super::text::{tokens, TextQuery};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;
/// Most terms (words, phrases, fields) in one query.
pub const MAX_TERMS: usize = 32;

/// A parsed `q`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// `device:`.
    pub device: Option<String>,
    /// `severity:` as the largest syslog number wanted (that level or worse).
    pub min_severity: Option<u8>,
    /// `kind:`; `None` for `kind:any`.
    pub kind: Option<EventKind>,
    /// The words, phrases and negations.
    pub text: TextQuery,
}

impl Default for Search {
    fn default() -> Self {
        Self {
            device: None,
            min_severity: None,
            kind: Some(EventKind::Log),
            text: TextQuery::default(),
        }
    }
}

/// Why a query or a time was refused. `reason` is one of a fixed set (a metric label).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SearchError {
    /// `syntax`, `field`, `severity`, `kind`, `too_long`, `time`, `limit` or `ship`.
    pub reason: &'static str,
    /// For the operator.
    pub message: String,
}

impl SearchError {
    /// An error with a fixed reason and a message.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// Every reason a [`SearchError`] can have (exported at 0).
pub const REASONS: [&str; 8] = [
    "syntax", "field", "severity", "kind", "too_long", "time", "limit", "ship",
];

/// Syslog severity number of a level name or number.
pub fn severity_level(word: &str) -> Option<u8> {
    Some(match word.to_ascii_lowercase().as_str() {
        "0" | "emerg" | "emergency" | "panic" => 0,
        "1" | "alert" => 1,
        "2" | "crit" | "critical" => 2,
        "3" | "err" | "error" => 3,
        "4" | "warn" | "warning" => 4,
        "5" | "notice" => 5,
        "6" | "info" | "informational" => 6,
        "7" | "debug" => 7,
        _ => return None,
    })
}

/// The syslog name of a severity number.
pub fn severity_name(level: u8) -> &'static str {
    match level {
        0 => "emergency",
        1 => "alert",
        2 => "critical",
        3 => "error",
        4 => "warning",
        5 => "notice",
        6 => "info",
        _ => "debug",
    }
}

fn kind_of(word: &str) -> Result<Option<EventKind>, SearchError> {
    Ok(Some(match word.to_ascii_lowercase().as_str() {
        "log" | "logs" => EventKind::Log,
        "metric" | "metrics" => EventKind::Metric,
        "incident" | "incidents" => EventKind::Incident,
        "state" => EventKind::State,
        "control" => EventKind::Control,
        "other" => EventKind::Other,
        "any" | "all" => return Ok(None),
        _ => {
            return Err(SearchError::new(
                "kind",
                format!(
                    "kind:{word}: expected log, metric, incident, state, control, other or any"
                ),
            ))
        }
    }))
}

/// One whitespace-separated term: an optional `-`, an optional `field:`, and a value
/// that is quoted or not.
struct Term {
    negated: bool,
    field: Option<String>,
    value: String,
    quoted: bool,
}

fn split_terms(q: &str) -> Result<Vec<Term>, SearchError> {
    let mut out = Vec::new();
    let mut chars = q.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut negated = false;
        if c == '-' {
            negated = true;
            chars.next();
        }
        let mut field = None;
        let mut value = String::new();
        let mut quoted = false;
        loop {
            match chars.peek().copied() {
                None => break,
                Some((_, c)) if c.is_whitespace() => break,
                Some((at, '"')) => {
                    chars.next();
                    quoted = true;
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '"' {
                            closed = true;
                            break;
                        }
                        value.push(c);
                    }
                    if !closed {
                        return Err(SearchError::new(
                            "syntax",
                            format!(
                                "unterminated quote at character {}: close the phrase with \"",
                                q[..at].chars().count() + 1
                            ),
                        ));
                    }
                }
                Some((_, ':')) if field.is_none() && !quoted && is_field(&value) => {
                    chars.next();
                    field = Some(std::mem::take(&mut value).to_ascii_lowercase());
                }
                Some((_, c)) => {
                    chars.next();
                    value.push(c);
                }
            }
        }
        if !negated || !value.is_empty() || field.is_some() || quoted {
            out.push(Term {
                negated,
                field,
                value,
                quoted,
            });
        }
        let _ = start;
    }
    Ok(out)
}

fn is_field(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "device" | "host" | "severity" | "sev" | "level" | "kind"
    )
}

/// Parses `q` (see the [module docs](self)).
pub fn parse(q: &str) -> Result<Search, SearchError> {
    if q.len() > MAX_QUERY_BYTES {
        return Err(SearchError::new(
            "too_long",
            format!(
                "the query is {} bytes, at most {MAX_QUERY_BYTES} are accepted",
                q.len()
            ),
        ));
    }
    let terms = split_terms(q)?;
    if terms.len() > MAX_TERMS {
        return Err(SearchError::new(
            "too_long",
            format!(
                "the query has {} terms, at most {MAX_TERMS} are accepted",
                terms.len()
            ),
        ));
    }
    let mut s = Search::default();
    for t in terms {
        match t.field.as_deref() {
            Some(f) => {
                if t.negated {
                    return Err(SearchError::new(
                        "field",
                        format!("-{f}: is not supported: negate words or phrases only"),
                    ));
                }
                let v = t.value.trim();
                if v.is_empty() {
                    return Err(SearchError::new(
                        "field",
                        format!("{f}: needs a value, e.g. {f}:{}", example(f)),
                    ));
                }
                match f {
                    "device" | "host" => {
                        if s.device.as_deref().is_some_and(|d| d != v) {
                            return Err(SearchError::new(
                                "field",
                                "one device: per query (search each device on its own)",
                            ));
                        }
                        s.device = Some(v.to_owned());
                    }
                    "severity" | "sev" | "level" => {
                        let level = severity_level(v).ok_or_else(|| {
                            SearchError::new(
                                "severity",
                                format!(
                                    "{f}:{v}: expected emerg, alert, crit, err, warning, notice, info, debug or 0-7"
                                ),
                            )
                        })?;
                        s.min_severity = Some(s.min_severity.map_or(level, |m| m.min(level)));
                    }
                    _ => s.kind = kind_of(v)?,
                }
            }
            None => {
                if !t.quoted && !t.negated {
                    match t.value.as_str() {
                        "AND" => continue,
                        "OR" => {
                            return Err(SearchError::new(
                                "syntax",
                                "OR is not supported: every word is required; run one search per alternative",
                            ))
                        }
                        "NOT" => {
                            return Err(SearchError::new(
                                "syntax",
                                "NOT is not supported: put - before a word or phrase, e.g. -flap",
                            ))
                        }
                        _ => {}
                    }
                }
                let seq = tokens(&t.value);
                if seq.is_empty() {
                    if t.quoted {
                        return Err(SearchError::new(
                            "syntax",
                            "an empty phrase: put words between the quotes",
                        ));
                    }
                    // Punctuation alone (`*`, `/`): nothing to match on.
                    continue;
                }
                if t.negated {
                    s.text.none.push(seq);
                } else {
                    s.text.all.push(seq);
                }
            }
        }
    }
    Ok(s)
}

fn example(field: &str) -> &'static str {
    match field {
        "device" | "host" => "core-sw-1",
        "kind" => "incident",
        _ => "warning",
    }
}

/// Parses a `from`/`to` value against `now_ms` (see the [module docs](self)).
pub fn parse_time(name: &str, v: &str, now_ms: i64) -> Result<i64, SearchError> {
    let v = v.trim();
    let bad = || {
        SearchError::new(
            "time",
            format!(
                "{name}={v}: expected RFC 3339 (2025-03-14T06:00:00Z), now, -15m/-1h/-2d or unix ms"
            ),
        )
    };
    if v.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Some(rel) = v.strip_prefix('-') {
        let split = rel.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = rel.split_at(split);
        let n: i64 = n.parse().map_err(|_| bad())?;
        let unit_ms: i64 = match unit {
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(bad()),
        };
        return n
            .checked_mul(unit_ms)
            .and_then(|d| now_ms.checked_sub(d))
            .ok_or_else(bad);
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().map_err(|_| bad());
    }
    match crate::ingest::decode::parse_rfc3339_ms(v.as_bytes()) {
        Ok(Some((ms, used))) if used == v.len() => Ok(ms),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter()
            .map(|s| s.iter().map(|t| t.to_string()).collect())
            .collect()
    }

    #[test]
    fn words_phrases_fields_and_negation() {
        let s =
            parse(r#"Link DOWN "state to down" -flap device:core-sw-1 severity:warning"#).unwrap();
        assert_eq!(s.device.as_deref(), Some("core-sw-1"));
        assert_eq!(s.min_severity, Some(4));
        assert_eq!(s.kind, Some(EventKind::Log));
        assert_eq!(
            s.text.all,
            words(&[&["link"], &["down"], &["state", "to", "down"]])
        );
        assert_eq!(s.text.none, words(&[&["flap"]]));

        let s =
            parse(r#"ge-0/0/1 link:down -"admin down" AND host:"ap 7" sev:3 kind:any"#).unwrap();
        assert_eq!(s.device.as_deref(), Some("ap 7"));
        assert_eq!(s.min_severity, Some(3));
        assert_eq!(s.kind, None);
        assert_eq!(
            s.text.all,
            words(&[&["ge", "0", "0", "1"], &["link", "down"]])
        );
        assert_eq!(s.text.none, words(&[&["admin", "down"]]));

        // Two severities must both hold (AND): the stricter one; punctuation alone is
        // ignored.
        let s = parse("level:err severity:CRIT * - /").unwrap();
        assert_eq!(s.min_severity, Some(2));
        assert!(s.text.is_empty());
        assert_eq!(parse("").unwrap(), Search::default());
        assert_eq!(
            parse("kind:incident").unwrap().kind,
            Some(EventKind::Incident)
        );
    }

    #[test]
    fn bad_queries_say_why() {
        let cases = [
            (
                r#"link "down"#,
                "syntax",
                "unterminated quote at character 6",
            ),
            ("severity:loud", "severity", "expected emerg"),
            ("device:", "field", "needs a value"),
            ("device:a device:b", "field", "one device"),
            ("-device:a", "field", "not supported"),
            ("error OR warning", "syntax", "OR is not supported"),
            ("NOT flap", "syntax", "put - before"),
            (r#""""#, "syntax", "empty phrase"),
            ("kind:bogus", "kind", "expected log"),
        ];
        for (q, reason, msg) in cases {
            let e = parse(q).unwrap_err();
            assert_eq!(e.reason, reason, "{q}");
            assert!(e.message.contains(msg), "{q}: {}", e.message);
            assert!(REASONS.contains(&e.reason));
        }
        let long = "a ".repeat(600);
        assert_eq!(parse(&long).unwrap_err().reason, "too_long");
        let many = "w ".repeat(MAX_TERMS + 1);
        assert_eq!(parse(&many).unwrap_err().reason, "too_long");
    }

    #[test]
    fn times_absolute_relative_and_bad() {
        let now = 1_741_932_000_000;
        assert_eq!(parse_time("from", "now", now), Ok(now));
        assert_eq!(parse_time("from", "-1h", now), Ok(now - 3_600_000));
        assert_eq!(parse_time("from", "-15m", now), Ok(now - 900_000));
        assert_eq!(parse_time("from", "-2d", now), Ok(now - 2 * 86_400_000));
        assert_eq!(
            parse_time("from", "2025-03-14T06:00:00Z", now),
            Ok(1_741_932_000_000)
        );
        assert_eq!(
            parse_time("to", "2025-03-14T08:00:00+02:00", now),
            Ok(1_741_932_000_000)
        );
        assert_eq!(parse_time("to", "1741932000000", now), Ok(now));
        for bad in [
            "yesterday",
            "-1y",
            "-h",
            "2025-03-14",
            "2025-03-14T06:00:00Zjunk",
            "",
        ] {
            let e = parse_time("from", bad, now).unwrap_err();
            assert_eq!(e.reason, "time", "{bad}");
            assert!(e.message.starts_with("from="), "{}", e.message);
        }
        assert!(parse_time("from", "-99999999999999999w", now).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Any string, however mangled, parses or is refused with a known reason.
        #[test]
        fn random_queries_never_panic(q in r#"[ a-zA-Z0-9:"\-*/.é]{0,80}"#) {
            match parse(&q) {
                Ok(s) => {
                    for seq in s.text.all.iter().chain(&s.text.none) {
                        prop_assert!(!seq.is_empty());
                    }
                }
                Err(e) => prop_assert!(REASONS.contains(&e.reason)),
            }
        }

        #[test]
        fn arbitrary_unicode_never_panics(q in any::<String>(), t in any::<String>()) {
            let _ = parse(&q);
            let _ = parse_time("from", &t, 0);
        }
    }
}
