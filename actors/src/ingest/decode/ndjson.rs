//! `POST /ingest/ndjson`: one JSON object per line, log or metric (contracts §2).
//!
//! - log: `{"host": "...", "message": "...", "ts"?: ..., "severity"?: ..., "app"?: ...}`
//! - metric: `{"metric": "...", "value": ..., "labels"?: {...}, "ts"?: ...}`
//!   (an object with a `metric` key is a metric, whatever else it has).
//!
//! `ts` is RFC 3339 text, or a number (or numeric string) whose magnitude says
//! the unit: < 1e11 seconds (fractions allowed), < 1e14 ms, < 1e17 µs, else ns.
//! `severity` is a name ([`Severity::parse`]) or a number 0..=7. A metric's
//! `value` may be a number, a numeric string (`"NaN"`, `"+Inf"` included) or a
//! boolean (1/0). Its device is the `device` label, else `instance` without
//! port, else a top-level `device`/`host` field; none of those → error.
//!
//! Errors are per line (1-based line numbers); good lines are never lost.
//! Blank lines are skipped; a UTF-8 BOM at the start of the body and `\r`
//! line ends are accepted.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::{device_from_labels, parse_rfc3339_ms, DecodeError, MetricSample, Severity};

/// Longest accepted line (1 MiB); longer lines fail with `TooLong`.
pub const MAX_NDJSON_LINE: usize = 1024 * 1024;

/// A log event from NDJSON.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Device id (the `host` field).
    pub host: String,
    /// Event time, unix ms, when given.
    pub ts_ms: Option<i64>,
    /// Severity, when given.
    pub severity: Option<Severity>,
    /// Optional application / source name (`app`).
    pub app: Option<String>,
    /// The text.
    pub message: String,
}

/// One decoded NDJSON line.
#[derive(Debug, Clone, PartialEq)]
pub enum NdjsonRecord {
    /// A log event.
    Log(LogRecord),
    /// A metric sample. `ts_ms` is 0 when the line had no `ts`; callers stamp
    /// it with the receive time.
    Metric(MetricSample),
}

/// A rejected line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdjsonLineError {
    /// 1-based line number in the body.
    pub line: usize,
    /// Why (use `error.reason()` for metrics).
    pub error: DecodeError,
    /// Human-readable detail for the HTTP response (field name, serde message).
    pub detail: String,
}

/// All records and all errors of one body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NdjsonBatch {
    /// Good lines, in order.
    pub records: Vec<NdjsonRecord>,
    /// Bad lines, in order.
    pub errors: Vec<NdjsonLineError>,
}

/// Decodes a whole body; see [`NdjsonLines`] for streaming use.
pub fn decode_ndjson(body: &[u8]) -> NdjsonBatch {
    let mut out = NdjsonBatch::default();
    for (line, r) in NdjsonLines::new(body) {
        match r {
            Ok(rec) => out.records.push(rec),
            Err((error, detail)) => out.errors.push(NdjsonLineError {
                line,
                error,
                detail,
            }),
        }
    }
    out
}

/// Iterator over `(line_number, result)` for each non-blank line.
pub struct NdjsonLines<'a> {
    rest: &'a [u8],
    line: usize,
}

impl<'a> NdjsonLines<'a> {
    /// Starts at the beginning of `body`.
    pub fn new(body: &'a [u8]) -> Self {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        NdjsonLines {
            rest: body,
            line: 0,
        }
    }
}

impl Iterator for NdjsonLines<'_> {
    type Item = (usize, Result<NdjsonRecord, (DecodeError, String)>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (line, rest) = match memchr::memchr(b'\n', self.rest) {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &b""[..]),
            };
            self.rest = rest;
            self.line += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Some((self.line, decode_line(line)));
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar<'a> {
    Num(f64),
    Bool(bool),
    #[serde(borrow)]
    Str(Cow<'a, str>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LabelValue<'a> {
    #[serde(borrow)]
    Str(Cow<'a, str>),
    Num(serde_json::Number),
    Bool(bool),
    Null(()),
}

/// A JSON string borrowed from the input when it has no escapes
/// (serde only borrows a `Cow` that is a field's whole type, not inside `Option`).
#[derive(Deserialize)]
struct BStr<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(borrow)]
    host: Option<BStr<'a>>,
    #[serde(borrow)]
    device: Option<BStr<'a>>,
    #[serde(borrow)]
    ts: Option<Scalar<'a>>,
    #[serde(borrow)]
    severity: Option<Scalar<'a>>,
    #[serde(borrow, alias = "msg")]
    message: Option<BStr<'a>>,
    #[serde(borrow)]
    app: Option<BStr<'a>>,
    #[serde(borrow)]
    metric: Option<BStr<'a>>,
    #[serde(borrow)]
    value: Option<Scalar<'a>>,
    #[serde(borrow)]
    labels: Option<BTreeMap<Cow<'a, str>, LabelValue<'a>>>,
}

type LineResult = Result<NdjsonRecord, (DecodeError, String)>;

fn err(e: DecodeError, detail: impl Into<String>) -> (DecodeError, String) {
    (e, detail.into())
}

fn decode_line(line: &[u8]) -> LineResult {
    if line.len() > MAX_NDJSON_LINE {
        return Err(err(DecodeError::TooLong, "line longer than 1 MiB"));
    }
    let text = std::str::from_utf8(line).map_err(|e| err(DecodeError::BadUtf8, e.to_string()))?;
    let raw: RawLine<'_> =
        serde_json::from_str(text).map_err(|e| err(DecodeError::BadJson, e.to_string()))?;
    let ts_ms = match &raw.ts {
        None => None,
        Some(t) => Some(ts_ms(t).ok_or_else(|| err(DecodeError::BadTimestamp, "ts"))?),
    };
    if let Some(name) = raw.metric {
        return metric(
            name.0,
            raw.value,
            raw.labels,
            raw.device.map(|d| d.0),
            raw.host.map(|h| h.0),
            ts_ms,
        );
    }
    let host = raw
        .host
        .or(raw.device)
        .map(|h| h.0)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| err(DecodeError::MissingField, "host"))?;
    let message = raw
        .message
        .map(|m| m.0)
        .ok_or_else(|| err(DecodeError::MissingField, "message"))?;
    let severity = match &raw.severity {
        None => None,
        Some(Scalar::Num(n)) if n.fract() == 0.0 && (0.0..=7.0).contains(n) => {
            Some(Severity::from_code(*n as u8))
        }
        Some(Scalar::Str(s)) => {
            Some(Severity::parse(s).ok_or_else(|| err(DecodeError::BadValue, "severity"))?)
        }
        Some(_) => return Err(err(DecodeError::BadValue, "severity")),
    };
    Ok(NdjsonRecord::Log(LogRecord {
        host: host.into_owned(),
        ts_ms,
        severity,
        app: raw.app.map(|a| a.0.into_owned()),
        message: message.into_owned(),
    }))
}

fn metric(
    name: Cow<'_, str>,
    value: Option<Scalar<'_>>,
    labels: Option<BTreeMap<Cow<'_, str>, LabelValue<'_>>>,
    device: Option<Cow<'_, str>>,
    host: Option<Cow<'_, str>>,
    ts_ms: Option<i64>,
) -> LineResult {
    if name.is_empty() {
        return Err(err(DecodeError::BadValue, "metric"));
    }
    let value = match value.ok_or_else(|| err(DecodeError::MissingField, "value"))? {
        Scalar::Num(n) => n,
        Scalar::Bool(b) => f64::from(u8::from(b)),
        Scalar::Str(s) => parse_float(&s).ok_or_else(|| err(DecodeError::BadValue, "value"))?,
    };
    let labels: Vec<(String, String)> = labels
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| {
            let v = match v {
                LabelValue::Str(s) => s.into_owned(),
                LabelValue::Num(n) => n.to_string(),
                LabelValue::Bool(b) => b.to_string(),
                LabelValue::Null(()) => return None,
            };
            Some((k.into_owned(), v))
        })
        .filter(|(k, _)| k != "__name__")
        .collect();
    let device = device_from_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map(str::to_owned)
        .or_else(|| {
            device
                .or(host)
                .filter(|d| !d.is_empty())
                .map(Cow::into_owned)
        })
        .or_else(|| {
            // A series of a link or of the ship (contracts: modem KPIs and ship state are
            // "one series per link or ship") needs no device: an exporter that labels
            // only the link is attributed by that label, as in remote write.
            labels
                .iter()
                .any(|(k, v)| (k == "link" || k == "ship") && !v.is_empty())
                .then(String::new)
        })
        .ok_or_else(|| err(DecodeError::MissingField, "labels.device"))?;
    Ok(NdjsonRecord::Metric(MetricSample {
        device,
        name: name.into_owned(),
        labels,
        value,
        ts_ms: ts_ms.unwrap_or(0),
    }))
}

fn parse_float(s: &str) -> Option<f64> {
    match s.trim() {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

fn number_ts(n: f64) -> Option<i64> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    Some(if n < 1e11 {
        (n * 1000.0) as i64
    } else if n < 1e14 {
        n as i64
    } else if n < 1e17 {
        (n / 1e3) as i64
    } else if n < 1e20 {
        (n / 1e6) as i64
    } else {
        return None;
    })
}

fn ts_ms(t: &Scalar<'_>) -> Option<i64> {
    match t {
        Scalar::Num(n) => number_ts(*n),
        Scalar::Str(s) => {
            let b = s.as_bytes();
            match parse_rfc3339_ms(b) {
                Ok(Some((ms, n))) if n == b.len() => Some(ms),
                _ => number_ts(s.trim().parse().ok()?),
            }
        }
        Scalar::Bool(_) => None,
    }
}
