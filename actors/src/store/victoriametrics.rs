//! VictoriaMetrics: the device samples of a ship's event log, written by Prometheus remote
//! write, each once (decision 0043).
//!
//! * [`VmClient`] talks to one VictoriaMetrics (single node) over plain HTTP/1.1:
//!   [`write`](VmClient::write) sends a snappy-compressed protobuf `WriteRequest` (the
//!   ingest decoder's `prost` types, [`crate::ingest::decode::WriteRequest`]) to
//!   `/api/v1/write`; [`flush`](VmClient::flush) makes what it took searchable
//!   (`/internal/force_flush`); [`export`](VmClient::export) reads raw samples back
//!   (`/api/v1/export`).
//! * [`sample_of`] turns a Metric event back into a sample: the series is the metric's own
//!   labels plus `ship` (the log's ship) and `device` (the event's source), the point is
//!   the event's value and **original timestamp**.
//! * [`VmExporter`] follows the ship's event log like the ClickHouse exporter does: it
//!   reads a batch from its acknowledged position, writes the batch's samples, and only
//!   after VictoriaMetrics answered 2xx (and the answer has *settled*, below) persists the
//!   next position in a cursor file (write, fsync, rename). While VictoriaMetrics is
//!   unreachable it retries with exponential backoff and jitter; the event log is the
//!   buffer.
//!
//! **Each once.** VictoriaMetrics keeps a sample written twice twice (unless it runs with
//! `-dedup.minScrapeInterval`, which seawatch does not rely on). The cursor advances only
//! after a 2xx, so an ordinary retry never re-sends an acknowledged batch. What remains is
//! the window in which VictoriaMetrics took a write whose answer was lost (timeout, crash,
//! kill -9 before the cursor was written): after a start and after every failed attempt
//! the exporter is *in doubt*, and before writing it flushes VictoriaMetrics and asks it
//! which of the batch's samples (series and timestamp) it already holds, and writes only
//! the rest ([`drop_present`]); it stays in doubt until a batch finds none of its samples
//! there.
//!
//! **A 2xx is not yet durable.** VictoriaMetrics 1.79 answers a write from memory and
//! writes it to disk seconds later: killed with SIGKILL it loses its last 5 to 10 seconds
//! (measured). So the cursor file trails the confirmed position by
//! [`VmExporterConfig::settle`] (30 s), and after any failed attempt the exporter goes back
//! to the cursor and checks from there: what a crashed server lost is written again, what
//! it kept is found and not written twice. The shore applies the same check behind its
//! own watermark
//! ([`crate::sync::victoriametrics`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use seawatch_runtime::event_log::{Event, EventKind, EventLogError};
use seawatch_runtime::Metrics;
use tokio::sync::watch;

use super::clickhouse::{jittered, read_cursor, write_cursor};
use crate::ingest::decode::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use crate::log_service::EventSource;

/// Where and how to write samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8428`.
    pub url: String,
    /// Most events read (and samples written) per request.
    pub batch_max_events: usize,
    /// Upper bound on each request (write, flush, export).
    pub request_timeout: Duration,
}

impl VmConfig {
    /// Defaults for a server at `url`: 10,000 events per batch, 30 s per request.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            batch_max_events: 10_000,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Errors of the VictoriaMetrics client and exporter.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The configuration is unusable.
    #[error("invalid victoriametrics config: {0}")]
    InvalidConfig(String),
    /// The request did not get an answer (connection refused or reset, bad response).
    #[error("victoriametrics: {0}")]
    Http(String),
    /// The server answered with a status other than 2xx.
    #[error("victoriametrics answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// A request took longer than [`VmConfig::request_timeout`].
    #[error("victoriametrics request timed out after {0:?}")]
    Timeout(Duration),
    /// Reading the event log failed.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// Reading or writing the cursor file failed.
    #[error("{0}")]
    Cursor(String),
}

/// One series' raw samples as `/api/v1/export` returns them.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ExportedSeries {
    /// Labels, `__name__` included.
    pub metric: std::collections::BTreeMap<String, String>,
    /// Values (numbers; VictoriaMetrics writes special values as strings or null).
    pub values: Vec<serde_json::Value>,
    /// Unix ms, one per value.
    pub timestamps: Vec<i64>,
}

impl ExportedSeries {
    /// The series' identity: its labels in name order (see [`series_key`]).
    pub fn key(&self) -> String {
        let labels: Vec<(String, String)> = self
            .metric
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        series_key(&labels)
    }
}

/// A VictoriaMetrics server over HTTP. Cheap to clone. See the [module docs](self).
#[derive(Clone)]
pub struct VmClient {
    base: String,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for VmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmClient")
            .field("url", &self.base)
            .finish_non_exhaustive()
    }
}

impl VmClient {
    /// A client of the server at `url` (`http://HOST:PORT`); does not connect.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, VmError> {
        if url.starts_with("https://") {
            return Err(VmError::InvalidConfig(format!(
                "url {url:?}: https is not built in; reach VictoriaMetrics over http (e.g. \
                 through a local TLS tunnel)"
            )));
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(VmError::InvalidConfig(format!(
                "url {url:?}: expected http://HOST:PORT"
            )));
        };
        if rest.trim_end_matches('/').is_empty() {
            return Err(VmError::InvalidConfig(format!(
                "url {url:?}: expected http://HOST:PORT"
            )));
        }
        if timeout.is_zero() {
            return Err(VmError::InvalidConfig("request timeout must be > 0".into()));
        }
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(timeout));
        conn.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(conn);
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            timeout,
            client,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, Bytes), VmError> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(body))
            .map_err(|e| VmError::InvalidConfig(e.to_string()))?;
        let call = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| VmError::Http(format!("{method} {path}: {e}")))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| VmError::Http(format!("{method} {path}: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| VmError::Timeout(self.timeout))?
    }

    async fn expect_2xx(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Bytes, VmError> {
        let (status, body) = self.request(method, path, headers, body).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            Err(VmError::Status { status, body: text })
        }
    }

    /// `GET /health`: `Ok` when the server answers 2xx.
    pub async fn health(&self) -> Result<(), VmError> {
        self.expect_2xx("GET", "/health", &[], Bytes::new())
            .await
            .map(drop)
    }

    /// Writes `req` by remote write; returns once the server answered 2xx.
    pub async fn write(&self, req: &WriteRequest) -> Result<(), VmError> {
        let body = Bytes::from(encode_write_request(req));
        self.expect_2xx(
            "POST",
            "/api/v1/write",
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "snappy"),
                ("x-prometheus-remote-write-version", "0.1.0"),
            ],
            body,
        )
        .await
        .map(drop)
    }

    /// Makes every sample the server took searchable (`/internal/force_flush`).
    pub async fn flush(&self) -> Result<(), VmError> {
        self.expect_2xx("GET", "/internal/force_flush", &[], Bytes::new())
            .await
            .map(drop)
    }

    /// Raw samples of the series matching `selector` (PromQL series selector) between
    /// `start_ms` and `end_ms` inclusive.
    pub async fn export(
        &self,
        selector: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<ExportedSeries>, VmError> {
        let form = format!(
            "match[]={}&start={}&end={}",
            percent_encode(selector),
            secs(start_ms),
            secs(end_ms)
        );
        let body = self
            .expect_2xx(
                "POST",
                "/api/v1/export",
                &[("content-type", "application/x-www-form-urlencoded")],
                Bytes::from(form),
            )
            .await?;
        let mut out = Vec::new();
        for line in body.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            out.push(
                serde_json::from_slice(line)
                    .map_err(|e| VmError::Http(format!("/api/v1/export: unexpected line ({e})")))?,
            );
        }
        Ok(out)
    }
}

/// Unix ms as the seconds with a fraction VictoriaMetrics' query args take.
fn secs(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms.div_euclid(1000);
    let f = ms.rem_euclid(1000);
    format!("{s}.{f:03}")
}

/// `application/x-www-form-urlencoded` value encoding.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A label value quoted for a PromQL selector.
pub fn quote_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One sample as VictoriaMetrics gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct VmSample {
    /// The series: labels sorted by name, `__name__` included, no empty values.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The original timestamp, unix ms.
    pub ts_ms: i64,
}

/// A Metric event whose body is not `name{k="v",...} value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {seq}: metric body not understood")]
pub struct BadSample {
    /// The event's seq.
    pub seq: u64,
}

/// Label pairs, name then value.
pub type Labels = Vec<(String, String)>;

/// Splits a Metric event's body (`name{k="v",...} value`, as ingest writes it) into the
/// name, the labels and the value. `None` if it is not of that form.
pub fn parse_metric_body(body: &str) -> Option<(&str, Labels, f64)> {
    let name_end = body.find(['{', ' '])?;
    let name = &body[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &body[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            }
            let eq = rest.find("=\"")?;
            let key = &rest[..eq];
            if key.is_empty() || key.contains([',', '}', '"']) {
                return None;
            }
            rest = &rest[eq + 2..];
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => value.push(chars.next()?.1),
                    (i, '"') => break i,
                    (_, c) => value.push(c),
                }
            };
            rest = &rest[end + 1..];
            labels.push((key.to_owned(), value));
        }
    }
    let value: f64 = rest.strip_prefix(' ')?.trim_end().parse().ok()?;
    Some((name, labels, value))
}

/// The sample of a Metric event of `ship`'s log; `Ok(None)` for any other kind of event.
///
/// Its series is the metric's own labels plus `ship` and `device` (the event's source);
/// a metric label of either name with another value is kept as `exported_ship` or
/// `exported_device` (Prometheus' convention for a clash). Labels with empty values are
/// left out (VictoriaMetrics drops them too).
pub fn sample_of(ship: &str, e: &Event) -> Result<Option<VmSample>, BadSample> {
    if e.kind != EventKind::Metric {
        return Ok(None);
    }
    let (name, own, value) = parse_metric_body(&e.body).ok_or(BadSample { seq: e.seq })?;
    let mut labels = Vec::with_capacity(own.len() + 3);
    labels.push(("__name__".to_owned(), name.to_owned()));
    labels.push(("ship".to_owned(), ship.to_owned()));
    labels.push(("device".to_owned(), e.source.clone()));
    for (k, v) in own {
        match k.as_str() {
            "__name__" => {}
            "ship" if v != ship => labels.push(("exported_ship".into(), v)),
            "device" if v != e.source => labels.push(("exported_device".into(), v)),
            "ship" | "device" => {}
            _ => labels.push((k, v)),
        }
    }
    labels.retain(|(_, v)| !v.is_empty());
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    Ok(Some(VmSample {
        labels,
        value,
        ts_ms: e.ts_ms,
    }))
}

/// A series' identity as one string: its labels (in name order) joined with separators
/// that cannot occur in them.
pub fn series_key(labels: &[(String, String)]) -> String {
    let mut k = String::with_capacity(labels.iter().map(|(a, b)| a.len() + b.len() + 2).sum());
    for (n, v) in labels {
        k.push_str(n);
        k.push('\u{1}');
        k.push_str(v);
        k.push('\u{0}');
    }
    k
}

/// The remote-write request carrying `samples`, one time series per distinct series.
pub fn write_request(samples: &[VmSample]) -> WriteRequest {
    let mut index: HashMap<&[(String, String)], usize> = HashMap::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for s in samples {
        let i = *index.entry(s.labels.as_slice()).or_insert_with(|| {
            timeseries.push(TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                samples: Vec::new(),
            });
            timeseries.len() - 1
        });
        timeseries[i].samples.push(Sample {
            value: s.value,
            timestamp: s.ts_ms,
        });
    }
    WriteRequest { timeseries }
}

/// Removes from `samples` those the server already holds for `ship` (same series and
/// timestamp, counted as a multiset, so a sample received twice on the ship is kept
/// twice), after a flush so that recent writes are visible; returns how many it removed.
pub async fn drop_present(
    client: &VmClient,
    ship: &str,
    samples: &mut Vec<VmSample>,
) -> Result<usize, VmError> {
    let Some(lo) = samples.iter().map(|s| s.ts_ms).min() else {
        return Ok(0);
    };
    let hi = samples.iter().map(|s| s.ts_ms).max().unwrap_or(lo);
    client.flush().await?;
    // A label no sample has, with a value never asked before: VictoriaMetrics 1.79 keeps
    // the series a filter matched over a time range in a cache that a series written
    // after the question does not always invalidate, so asking `{ship=..}` again over a
    // range it saw empty (the check at the exporter's first start) could answer "none"
    // for samples it holds, and the exporter would write them twice (measured: 3 of 14
    // kill -9 runs of `topologies/tests/victoriametrics.rs`). This filter makes every
    // check a new question.
    static CHECKS: AtomicU64 = AtomicU64::new(0);
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        CHECKS.fetch_add(1, Ordering::Relaxed)
    );
    let selector = format!(
        "{{ship={},seawatch_check!={}}}",
        quote_label_value(ship),
        quote_label_value(&nonce)
    );
    let mut have: HashMap<(String, i64), u32> = HashMap::new();
    for s in client.export(&selector, lo, hi).await? {
        let key = s.key();
        for &t in &s.timestamps {
            *have.entry((key.clone(), t)).or_default() += 1;
        }
    }
    if have.is_empty() {
        return Ok(0);
    }
    let before = samples.len();
    samples.retain(|s| match have.get_mut(&(series_key(&s.labels), s.ts_ms)) {
        Some(n) if *n > 0 => {
            *n -= 1;
            false
        }
        _ => true,
    });
    Ok(before - samples.len())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShipLabels {
    ship: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    ship: String,
    kind: String,
}

/// Kinds of [`VmMetrics::error`]: a write or check VictoriaMetrics did not answer with
/// 2xx (`write`), and a Metric event whose body could not be read (`bad_sample`).
pub const ERROR_KINDS: [&str; 2] = ["write", "bad_sample"];

/// `seawatch_victoriametrics_*` (contracts §6): samples written, events not yet
/// confirmed, errors. Labels: ship, kind. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct VmMetrics {
    exported: Family<ShipLabels, Counter>,
    lag: Family<ShipLabels, Gauge>,
    errors: Family<ErrorLabels, Counter>,
    aggregates: Family<ShipLabels, Counter>,
}

impl VmMetrics {
    /// Registers the families into `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        metrics.register(
            "seawatch_victoriametrics_exported",
            "Samples VictoriaMetrics confirmed (remote write 2xx), by ship.",
            m.exported.clone(),
        );
        metrics.register(
            "seawatch_victoriametrics_lag_events",
            "Events of the ship's log not yet confirmed by VictoriaMetrics (ship node).",
            m.lag.clone(),
        );
        metrics.register(
            "seawatch_victoriametrics_errors",
            "Failed VictoriaMetrics requests (kind=write) and unreadable metric events \
             (kind=bad_sample), by ship.",
            m.errors.clone(),
        );
        metrics.register(
            "seawatch_victoriametrics_aggregates",
            "Aggregate samples (NAME:1m_min|max|mean|last|count) of a poor link's rollups \
             VictoriaMetrics confirmed (shore), by ship (decision 0058).",
            m.aggregates.clone(),
        );
        m
    }

    /// `n` aggregate samples confirmed for `ship` (shore).
    pub fn aggregates(&self, ship: &str, n: u64) {
        self.aggregates
            .get_or_create(&ShipLabels { ship: ship.into() })
            .inc_by(n);
    }

    /// Creates `ship`'s series so they export 0 before anything happens.
    pub fn ship(&self, ship: &str) {
        let l = ShipLabels { ship: ship.into() };
        let _ = self.exported.get_or_create(&l);
        let _ = self.aggregates.get_or_create(&l);
        for kind in ERROR_KINDS {
            let _ = self.errors.get_or_create(&ErrorLabels {
                ship: ship.into(),
                kind: kind.into(),
            });
        }
    }

    /// `n` samples confirmed for `ship`.
    pub fn exported(&self, ship: &str, n: u64) {
        self.exported
            .get_or_create(&ShipLabels { ship: ship.into() })
            .inc_by(n);
    }

    /// The ship node's lag.
    pub fn set_lag(&self, ship: &str, events: u64) {
        self.lag
            .get_or_create(&ShipLabels { ship: ship.into() })
            .set(events.min(i64::MAX as u64) as i64);
    }

    /// `n` errors of `kind` (one of [`ERROR_KINDS`]).
    pub fn error(&self, ship: &str, kind: &'static str, n: u64) {
        self.errors
            .get_or_create(&ErrorLabels {
                ship: ship.into(),
                kind: kind.into(),
            })
            .inc_by(n);
    }
}

/// How the exporter runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmExporterConfig {
    /// File holding the acknowledged position (`SHIP SEQ`): the next seq to export.
    pub cursor_path: PathBuf,
    /// Wait between polls of the log when there is nothing new.
    pub poll_interval: Duration,
    /// First retry delay after a failure (doubled per failure, with jitter).
    pub backoff_initial: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
    /// How long a confirmed write must be old before the cursor file moves past it.
    /// VictoriaMetrics answers a write before it is on disk (1.79 loses its last 5 to 10
    /// seconds on SIGKILL), so the cursor trails by this much, and after a failed attempt
    /// the exporter goes back to the cursor and checks from there: what a crashed server
    /// lost is written again, what it kept is not.
    pub settle: Duration,
}

impl VmExporterConfig {
    /// Defaults: poll every 200 ms, back off from 200 ms to 30 s, settle 30 s.
    pub fn new(cursor_path: impl Into<PathBuf>) -> Self {
        Self {
            cursor_path: cursor_path.into(),
            poll_interval: Duration::from_millis(200),
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            settle: Duration::from_secs(30),
        }
    }
}

/// Counters of a [`VmExporter`].
#[derive(Debug, Default)]
pub struct VmStats {
    exported: AtomicU64,
    requests: AtomicU64,
    failed_attempts: AtomicU64,
    skipped_present: AtomicU64,
    bad_samples: AtomicU64,
    evicted_unshipped: AtomicU64,
    acked_next_seq: AtomicU64,
    log_next_seq: AtomicU64,
}

impl VmStats {
    /// Samples VictoriaMetrics confirmed.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }
    /// Write requests VictoriaMetrics confirmed.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Failed attempts (flush, check or write), each followed by a backoff.
    pub fn failed_attempts(&self) -> u64 {
        self.failed_attempts.load(Ordering::Relaxed)
    }
    /// Samples not written again because VictoriaMetrics already held them.
    pub fn skipped_present(&self) -> u64 {
        self.skipped_present.load(Ordering::Relaxed)
    }
    /// Metric events whose body could not be read (not exported).
    pub fn bad_samples(&self) -> u64 {
        self.bad_samples.load(Ordering::Relaxed)
    }
    /// Events the log's retention removed before they were exported.
    pub fn evicted_unshipped(&self) -> u64 {
        self.evicted_unshipped.load(Ordering::Relaxed)
    }
    /// Next seq to export: everything before it is confirmed (since the last failure).
    pub fn acked_next_seq(&self) -> u64 {
        self.acked_next_seq.load(Ordering::Relaxed)
    }
    /// Durable events not yet confirmed (as of the last poll).
    pub fn lag(&self) -> u64 {
        self.log_next_seq
            .load(Ordering::Relaxed)
            .saturating_sub(self.acked_next_seq())
    }
}

/// Follows an event log and writes its samples to VictoriaMetrics. See the
/// [module docs](self).
pub struct VmExporter<S: EventSource> {
    client: VmClient,
    batch_max: usize,
    source: Arc<S>,
    config: VmExporterConfig,
    ship: String,
    stats: Arc<VmStats>,
    metrics: Option<VmMetrics>,
}

impl<S: EventSource> std::fmt::Debug for VmExporter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmExporter")
            .field("client", &self.client)
            .field("ship", &self.ship)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A batch read from the log: its samples and the seq after its last event.
struct Batch {
    samples: Vec<VmSample>,
    next: u64,
}

impl<S: EventSource> VmExporter<S> {
    /// An exporter of `source` per `vm`, resuming from the cursor file if there is one
    /// (else from the oldest event in the log). Fails if the config is unusable or the
    /// cursor file unreadable or another ship's.
    pub fn new(
        vm: &VmConfig,
        source: Arc<S>,
        config: VmExporterConfig,
        metrics: Option<VmMetrics>,
    ) -> Result<Self, VmError> {
        if vm.batch_max_events == 0 {
            return Err(VmError::InvalidConfig(
                "batch_max_events must be > 0".into(),
            ));
        }
        let client = VmClient::new(&vm.url, vm.request_timeout)?;
        let ship = source.ship_id();
        let start = read_cursor(&config.cursor_path, &ship)
            .map_err(|e| VmError::Cursor(e.to_string()))?
            .unwrap_or_else(|| source.first_seq());
        let stats = Arc::new(VmStats::default());
        stats.acked_next_seq.store(start, Ordering::Relaxed);
        stats
            .log_next_seq
            .store(source.durable_next_seq(), Ordering::Relaxed);
        if let Some(m) = &metrics {
            m.ship(&ship);
            m.set_lag(&ship, stats.lag());
        }
        Ok(Self {
            client,
            batch_max: vm.batch_max_events,
            source,
            config,
            ship,
            stats,
            metrics,
        })
    }

    /// The counters.
    pub fn stats(&self) -> Arc<VmStats> {
        self.stats.clone()
    }

    /// Exports until `shutdown` turns `true` (or its sender is dropped). Returns `Err`
    /// only for what retrying cannot fix: a cursor file that cannot be written, or a log
    /// that cannot be read.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), VmError> {
        let stop = |rx: &watch::Receiver<bool>| *rx.borrow() || rx.has_changed().is_err();
        // After a start or a failed attempt VictoriaMetrics may hold (part of) the next
        // batch already: check before writing.
        let mut in_doubt = true;
        let mut backoff = self.config.backoff_initial;
        let mut pending: Option<Batch> = None;
        // Positions confirmed but not yet settled (see `VmExporterConfig::settle`), oldest
        // first; and the position in the cursor file.
        let mut unsettled: std::collections::VecDeque<(tokio::time::Instant, u64)> =
            std::collections::VecDeque::new();
        let mut durable = self.stats.acked_next_seq();
        loop {
            if stop(&shutdown) {
                return Ok(());
            }
            let attempt: Result<bool, VmError> = async {
                let batch = match pending.take() {
                    Some(b) => b,
                    None => match self.read_batch().await? {
                        Some(b) => b,
                        None => return Ok(false),
                    },
                };
                let batch = pending.insert(batch);
                let mut send = std::borrow::Cow::Borrowed(&batch.samples);
                // A batch without samples tells nothing about the server: stay as we are.
                let mut still_in_doubt = in_doubt && send.is_empty();
                if in_doubt && !send.is_empty() {
                    let mut rest = batch.samples.clone();
                    let present = drop_present(&self.client, &self.ship, &mut rest).await?;
                    still_in_doubt = present > 0;
                    self.stats
                        .skipped_present
                        .fetch_add(present as u64, Ordering::Relaxed);
                    send = std::borrow::Cow::Owned(rest);
                }
                if !send.is_empty() {
                    self.client.write(&write_request(&send)).await?;
                    let n = send.len() as u64;
                    self.stats.exported.fetch_add(n, Ordering::Relaxed);
                    self.stats.requests.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = &self.metrics {
                        m.exported(&self.ship, n);
                    }
                }
                in_doubt = still_in_doubt;
                let next = batch.next;
                pending = None;
                self.stats.acked_next_seq.store(next, Ordering::Relaxed);
                unsettled.push_back((tokio::time::Instant::now(), next));
                Ok(true)
            }
            .await;
            // Move the cursor file to the newest settled position.
            let now = tokio::time::Instant::now();
            let mut settled = None;
            while unsettled
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) >= self.config.settle)
            {
                settled = unsettled.pop_front().map(|(_, next)| next);
            }
            if let Some(next) = settled.filter(|&n| n != durable) {
                self.save_cursor(next).await?;
                durable = next;
            }
            if let Some(m) = &self.metrics {
                m.set_lag(&self.ship, self.stats.lag());
            }
            match attempt {
                Ok(true) => backoff = self.config.backoff_initial,
                Ok(false) => {
                    backoff = self.config.backoff_initial;
                    let _ =
                        tokio::time::timeout(self.config.poll_interval, shutdown.changed()).await;
                }
                Err(e @ (VmError::Cursor(_) | VmError::Log(_) | VmError::InvalidConfig(_))) => {
                    tracing::error!(error = %e, "victoriametrics exporter stopped");
                    return Err(e);
                }
                Err(e) => {
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = &self.metrics {
                        m.error(&self.ship, "write", 1);
                    }
                    // The server may have restarted and lost what it confirmed last: go
                    // back to the settled position and check from there.
                    in_doubt = true;
                    pending = None;
                    unsettled.clear();
                    self.stats.acked_next_seq.store(durable, Ordering::Relaxed);
                    let delay = jittered(backoff);
                    tracing::warn!(error = %e, retry_in = ?delay, "victoriametrics export failed");
                    backoff = (backoff * 2).min(self.config.backoff_max);
                    let _ = tokio::time::timeout(delay, shutdown.changed()).await;
                }
            }
        }
    }

    /// The next batch from the acknowledged position, as samples (other events skipped);
    /// `None` when the log has nothing new. Skips (and counts) events the log's retention
    /// removed before they were exported.
    async fn read_batch(&self) -> Result<Option<Batch>, VmError> {
        let source = self.source.clone();
        let from = self.stats.acked_next_seq();
        let max = self.batch_max;
        let ship = self.ship.clone();
        let (res, log_next, first) = tokio::task::spawn_blocking(move || {
            let res = source.read_from(from, max).map(|events| {
                let next = events.last().map(|e| e.seq + 1);
                let mut bad = 0u64;
                let samples: Vec<VmSample> = events
                    .iter()
                    .filter_map(|e| match sample_of(&ship, e) {
                        Ok(s) => s,
                        Err(_) => {
                            bad += 1;
                            None
                        }
                    })
                    .collect();
                (next, samples, bad)
            });
            (res, source.durable_next_seq(), source.first_seq())
        })
        .await
        .map_err(|e| VmError::Log(EventLogError::Encode(format!("reader task: {e}"))))?;
        self.stats.log_next_seq.store(log_next, Ordering::Relaxed);
        match res {
            Ok((None, _, _)) => Ok(None),
            Ok((Some(next), samples, bad)) => {
                if bad > 0 {
                    tracing::warn!(bad, "metric events not understood; not exported");
                    self.stats.bad_samples.fetch_add(bad, Ordering::Relaxed);
                    if let Some(m) = &self.metrics {
                        m.error(&self.ship, "bad_sample", bad);
                    }
                }
                Ok(Some(Batch { samples, next }))
            }
            Err(EventLogError::Evicted { .. }) => {
                tracing::error!(
                    from,
                    first,
                    "event log retention removed events before they reached victoriametrics"
                );
                self.stats
                    .evicted_unshipped
                    .fetch_add(first.saturating_sub(from), Ordering::Relaxed);
                self.stats.acked_next_seq.store(first, Ordering::Relaxed);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn save_cursor(&self, next: u64) -> Result<(), VmError> {
        let path = self.config.cursor_path.clone();
        let ship = self.ship.clone();
        tokio::task::spawn_blocking(move || write_cursor(&path, &ship, next))
            .await
            .map_err(|e| VmError::Cursor(format!("cursor task: {e}")))?
            .map_err(|e| VmError::Cursor(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric_event(seq: u64, source: &str, body: &str) -> Event {
        Event {
            seq,
            ts_ms: 1_700_000_000_000 + seq as i64,
            kind: EventKind::Metric,
            source: source.into(),
            severity: 6,
            body: body.into(),
        }
    }

    #[test]
    fn bodies_written_by_ingest_are_read_back() {
        use crate::ingest::decode::MetricSample;
        use crate::ingest::record::{ObsKind, Observation, ObservationExt};
        let obs = Observation {
            device: "core-sw-1".into(),
            ts_ms: 5,
            kind: ObsKind::Metric(MetricSample {
                device: "core-sw-1".into(),
                ts_ms: 5,
                name: "ifHCInOctets".into(),
                labels: vec![
                    ("ifName".into(), "Te1/1/1".into()),
                    ("descr".into(), "say \"hi\" \\ there, {ok}".into()),
                ],
                value: 1.25e10,
            }),
        };
        let body = obs.to_event().body;
        let (name, labels, value) = parse_metric_body(&body).unwrap();
        assert_eq!(name, "ifHCInOctets");
        assert_eq!(labels[1].1, "say \"hi\" \\ there, {ok}");
        assert_eq!(value, 1.25e10);
        assert_eq!(parse_metric_body("up 1").unwrap(), ("up", vec![], 1.0));
        assert!(parse_metric_body("x NaN").unwrap().2.is_nan());
        assert_eq!(parse_metric_body("x -inf").unwrap().2, f64::NEG_INFINITY);
        for bad in [
            "",
            " 1",
            "x",
            "x{a=\"1\" 2",
            "x{a=1} 2",
            "x{a=\"1\"}",
            "x 1a",
        ] {
            assert_eq!(parse_metric_body(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_sample_is_labelled_with_ship_and_device() {
        let e = metric_event(
            7,
            "modem-1",
            "modem_esno_db{device=\"modem-1\",link=\"vsat-1\",ship=\"other\",job=\"\"} 9.5",
        );
        let s = sample_of("aurora", &e).unwrap().unwrap();
        let names: Vec<&str> = s.labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["__name__", "device", "exported_ship", "link", "ship"]
        );
        assert!(s.labels.contains(&("ship".into(), "aurora".into())));
        assert!(s.labels.contains(&("device".into(), "modem-1".into())));
        assert_eq!((s.value, s.ts_ms), (9.5, e.ts_ms));
        let mut log = e.clone();
        log.kind = EventKind::Log;
        assert_eq!(sample_of("aurora", &log), Ok(None));
        let bad = metric_event(9, "x", "garbage");
        assert_eq!(sample_of("aurora", &bad), Err(BadSample { seq: 9 }));
    }

    #[test]
    fn samples_of_one_series_share_a_time_series() {
        let a = sample_of("s", &metric_event(1, "d", "m{k=\"1\"} 1"))
            .unwrap()
            .unwrap();
        let b = sample_of("s", &metric_event(2, "d", "m{k=\"1\"} 2"))
            .unwrap()
            .unwrap();
        let c = sample_of("s", &metric_event(3, "d", "m{k=\"2\"} 3"))
            .unwrap()
            .unwrap();
        let req = write_request(&[a, b, c]);
        assert_eq!(req.timeseries.len(), 2);
        assert_eq!(req.timeseries[0].samples.len(), 2);
        assert_eq!(req.timeseries[1].samples[0].value, 3.0);
    }

    #[test]
    fn urls_and_encodings() {
        assert!(VmClient::new("http://127.0.0.1:8428/", Duration::from_secs(1)).is_ok());
        for bad in ["127.0.0.1:8428", "https://vm:8428", "http://"] {
            assert!(VmClient::new(bad, Duration::from_secs(1)).is_err(), "{bad}");
        }
        assert_eq!(secs(1_700_000_000_123), "1700000000.123");
        assert_eq!(secs(-1), "0.000");
        assert_eq!(percent_encode("{ship=\"a b\"}"), "%7Bship%3D%22a%20b%22%7D");
        assert_eq!(quote_label_value("a\"b\\"), "\"a\\\"b\\\\\"");
    }
}
