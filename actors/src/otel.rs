//! Traces over OpenTelemetry (contracts §11 `[otel] endpoint`, decision 0057).
//!
//! One trace follows a syslog batch that ends in an incident: its receipt (`ingest.batch`,
//! the root: from the first byte read to the batch handed to the roster once durable),
//! the incident it opens (`correlator.incident_open`, its child: from the first alert the
//! correlator took for it to the `opened` record durable in the event log), and that
//! record's arrival ashore (`shore.sync_apply`, the next child: the shore node's apply of
//! the sync frame that carried it).
//!
//! Only batches that end in an incident are exported: the router remembers, per
//! (ship, device), the *last* batch that carried an observation of the device (times and
//! size, no span yet; at most [`BATCHES_MAX`] devices); when the correlator opens an
//! incident it looks up the batch of the root cause (else of a member) and only then
//! builds the batch's span, with its recorded times, and the incident's under it. A batch
//! behind two incidents is exported once: both incidents hang under the same root. The
//! `opened` record carries the W3C `traceparent` of the incident's span, so the context
//! travels inside the event log and the sync frame; the shore reads it from the record.
//!
//! [`Traces::off`] (no `[otel]`) does nothing: no exporter, no thread, no table; each call
//! site pays one branch on an `Option`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SimpleSpanProcessor, SpanExporter,
    SpanProcessor,
};
use opentelemetry_sdk::Resource;
use parking_lot::Mutex;
use seawatch_runtime::event_log::{Event, EventKind};

use crate::ingest::record::Observation;

/// Devices whose last batch the router remembers; past it the table starts afresh (a
/// batch forgotten so is simply not linked to an incident).
pub const BATCHES_MAX: usize = 4096;

/// How long an export to the OTLP endpoint may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the batch processor sends what it holds.
const EXPORT_EVERY: Duration = Duration::from_secs(1);

/// Spans held for export at most; past it new spans are dropped by the SDK.
const QUEUE_MAX: usize = 2048;

/// The span names, one per hop of a trace.
pub mod span {
    /// A syslog (or other ingest) batch from receipt to the roster: the root.
    pub const INGEST: &str = "ingest.batch";
    /// The correlator opening an incident: child of [`INGEST`].
    pub const INCIDENT_OPEN: &str = "correlator.incident_open";
    /// The shore applying the sync frame that carried the `opened` record: child of
    /// [`INCIDENT_OPEN`].
    pub const SHORE_APPLY: &str = "shore.sync_apply";
}

/// Why traces could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    /// The endpoint is not `http://HOST:PORT`.
    #[error("otel.endpoint: expected http://HOST:PORT, got {0:?}")]
    Endpoint(String),
    /// The exporter could not be built.
    #[error("otel: cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

/// A batch the router saw: when it came in and when it reached the roster.
#[derive(Debug)]
pub struct BatchSeen {
    received: SystemTime,
    routed: SystemTime,
    events: usize,
    /// The batch's span, once an incident exported it.
    span: OnceLock<SpanContext>,
}

/// The trace handle of a node: off, or an exporter and the router's batch table. Cheap to
/// clone.
#[derive(Clone, Default)]
pub struct Traces(Option<Arc<Inner>>);

struct Inner {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    /// (ship, device) → the last batch that carried the device.
    batches: Mutex<HashMap<(String, String), Arc<BatchSeen>>>,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Traces(on)"
        } else {
            "Traces(off)"
        })
    }
}

/// Checks an `[otel] endpoint` (`http://HOST:PORT`, optionally with a path prefix).
pub fn check_endpoint(endpoint: &str) -> Result<hyper::Uri, OtelError> {
    let uri: hyper::Uri = traces_url(endpoint)
        .parse()
        .map_err(|_| OtelError::Endpoint(endpoint.to_string()))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
        return Err(OtelError::Endpoint(endpoint.to_string()));
    }
    Ok(uri)
}

/// The OTLP/HTTP traces URL of an endpoint's base URL (`…/v1/traces`).
fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

impl Traces {
    /// No traces: every call is a no-op.
    pub fn off() -> Self {
        Self(None)
    }

    /// Whether spans are exported.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Exports spans by OTLP over HTTP/protobuf to `endpoint` (the base URL, e.g.
    /// `http://127.0.0.1:4318`; spans go to `/v1/traces`) as `service` (`seawatch-ship`,
    /// `seawatch-shore`) of `node` (the ship id or shore node name). Must be called
    /// inside a tokio runtime: the exporter's requests run on it.
    pub fn start(endpoint: &str, service: &str, node: &str) -> Result<Self, OtelError> {
        check_endpoint(endpoint)?;
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| OtelError::Exporter("no tokio runtime".into()))?;
        let client = RuntimeHttp {
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            rt,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces_url(endpoint))
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(client)
            .build()
            .map_err(|e| OtelError::Exporter(e.to_string()))?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(EXPORT_EVERY)
                    .with_max_queue_size(QUEUE_MAX)
                    .build(),
            )
            .build();
        Ok(Self::with_processor(processor, service, node))
    }

    /// Spans handed to `exporter` as each ends, on the ending thread (tests; a real
    /// exporter goes through [`Traces::start`]'s batch processor).
    pub fn with_exporter<E: SpanExporter + 'static>(
        exporter: E,
        service: &str,
        node: &str,
    ) -> Self {
        Self::with_processor(SimpleSpanProcessor::new(exporter), service, node)
    }

    fn with_processor<P: SpanProcessor + 'static>(processor: P, service: &str, node: &str) -> Self {
        let resource = Resource::builder()
            .with_service_name(service.to_string())
            .with_attribute(KeyValue::new("seawatch.node", node.to_string()))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("seawatch");
        Self(Some(Arc::new(Inner {
            provider,
            tracer,
            batches: Mutex::new(HashMap::new()),
        })))
    }

    /// Exports what is held and stops the exporter (blocking: call it off the runtime's
    /// workers, e.g. in `spawn_blocking`). Later spans are dropped.
    pub fn shutdown(&self) {
        if let Some(inner) = &self.0 {
            let _ = inner.provider.force_flush();
            let _ = inner.provider.shutdown();
        }
    }

    /// The router hands `items`, received at `received`, to the roster now: remember the
    /// batch for each device it carries (see the [module docs](self)).
    pub fn batch_routed(&self, ship: &str, received: Instant, items: &[Observation]) {
        let Some(inner) = &self.0 else { return };
        if items.is_empty() {
            return;
        }
        let now = SystemTime::now();
        let seen = Arc::new(BatchSeen {
            received: now.checked_sub(received.elapsed()).unwrap_or(now),
            routed: now,
            events: items.len(),
            span: OnceLock::new(),
        });
        let devices: HashSet<&str> = items.iter().map(|o| o.device.as_str()).collect();
        let mut table = inner.batches.lock();
        if table.len() + devices.len() > BATCHES_MAX {
            table.clear();
        }
        for d in devices.into_iter().take(BATCHES_MAX) {
            table.insert((ship.to_string(), d.to_string()), seen.clone());
        }
    }

    /// The last batch that carried `device` of `ship`, if remembered.
    pub fn batch_of(&self, ship: &str, device: &str) -> Option<Arc<BatchSeen>> {
        let inner = self.0.as_ref()?;
        inner
            .batches
            .lock()
            .get(&(ship.to_string(), device.to_string()))
            .cloned()
    }

    /// Starts the span of incident `incident` of `ship` opening, under `batch`'s span
    /// (exported now if it was not yet), from `since` (the first alert taken for it).
    /// End it with [`IncidentSpan::end`] once the `opened` record is stored.
    pub fn incident_opened(
        &self,
        batch: &BatchSeen,
        ship: &str,
        incident: &str,
        root_cause: &str,
        since: SystemTime,
    ) -> Option<IncidentSpan> {
        let inner = self.0.as_ref()?;
        let root = batch.span.get_or_init(|| {
            let mut s = inner
                .tracer
                .span_builder(span::INGEST)
                .with_kind(SpanKind::Consumer)
                .with_start_time(batch.received)
                .with_attributes([
                    KeyValue::new("seawatch.ship", ship.to_string()),
                    KeyValue::new("seawatch.events", batch.events as i64),
                ])
                .start(&inner.tracer);
            let sc = s.span_context().clone();
            s.end_with_timestamp(batch.routed);
            sc
        });
        let cx = Context::new().with_remote_span_context(root.clone());
        let span = inner
            .tracer
            .span_builder(span::INCIDENT_OPEN)
            .with_kind(SpanKind::Internal)
            .with_start_time(since.max(batch.routed))
            .with_attributes([
                KeyValue::new("seawatch.ship", ship.to_string()),
                KeyValue::new("seawatch.incident", incident.to_string()),
                KeyValue::new("seawatch.root_cause", root_cause.to_string()),
            ])
            .start_with_context(&inner.tracer, &cx);
        Some(IncidentSpan(span))
    }

    /// The shore applied `events` of `ship` (a sync frame, its apply begun at
    /// `started`): a span under each `opened` incident record that carries a
    /// `traceparent`.
    pub fn shore_applied(&self, ship: &str, node: &str, events: &[Event], started: SystemTime) {
        let Some(inner) = &self.0 else { return };
        let now = SystemTime::now();
        for ev in events {
            if ev.kind != EventKind::Incident || !ev.body.contains("\"traceparent\"") {
                continue;
            }
            let Ok(rec) = serde_json::from_str::<TracedRecord>(&ev.body) else {
                continue;
            };
            let Some(parent) = parse_traceparent(&rec.traceparent) else {
                tracing::debug!(ship, seq = ev.seq, "shore: unreadable traceparent");
                continue;
            };
            let cx = Context::new().with_remote_span_context(parent);
            let mut span = inner
                .tracer
                .span_builder(span::SHORE_APPLY)
                .with_kind(SpanKind::Consumer)
                .with_start_time(started)
                .with_attributes([
                    KeyValue::new("seawatch.ship", ship.to_string()),
                    KeyValue::new("seawatch.node", node.to_string()),
                    KeyValue::new("seawatch.incident", rec.incident.id),
                    KeyValue::new("seawatch.seq", ev.seq as i64),
                ])
                .start_with_context(&inner.tracer, &cx);
            span.end_with_timestamp(now);
        }
    }
}

/// An incident's span, open until its `opened` record is stored.
pub struct IncidentSpan(opentelemetry_sdk::trace::Span);

impl IncidentSpan {
    /// The W3C `traceparent` of this span (`00-<trace>-<span>-01`).
    pub fn traceparent(&self) -> String {
        traceparent(self.0.span_context())
    }

    /// Ends the span now.
    pub fn end(mut self) {
        self.0.end();
    }
}

/// The W3C `traceparent` header value of `sc`.
pub fn traceparent(sc: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    )
}

/// Parses a W3C `traceparent` (version 00) into a remote span context.
pub fn parse_traceparent(s: &str) -> Option<SpanContext> {
    let mut parts = s.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || version != "00" || trace.len() != 32 || span.len() != 16 {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::NONE,
    ))
}

/// What the shore reads of an incident record.
#[derive(serde::Deserialize)]
struct TracedRecord {
    traceparent: String,
    incident: IncidentId,
}

#[derive(serde::Deserialize)]
struct IncidentId {
    id: String,
}

/// The exporter's HTTP client: hyper, its requests run on the node's tokio runtime (the
/// SDK's export thread only waits for them).
struct RuntimeHttp {
    client: Client<HttpConnector, Full<Bytes>>,
    rt: tokio::runtime::Handle,
}

impl std::fmt::Debug for RuntimeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuntimeHttp")
    }
}

/// Largest response body read from the endpoint.
const RESPONSE_MAX: usize = 1 << 20;

#[async_trait::async_trait]
impl HttpClient for RuntimeHttp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let (parts, body) = request.into_parts();
        let request = hyper::Request::from_parts(parts, Full::new(body));
        let task = self.rt.spawn(async move {
            let response = tokio::time::timeout(EXPORT_TIMEOUT, client.request(request))
                .await
                .map_err(|_| HttpError::from("OTLP export timed out"))?
                .map_err(|e| HttpError::from(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, RESPONSE_MAX);
            let body = tokio::time::timeout(EXPORT_TIMEOUT, body.collect())
                .await
                .map_err(|_| HttpError::from("OTLP response timed out"))?
                .map_err(|e| HttpError::from(e.to_string()))?
                .to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        });
        task.await.map_err(|e| HttpError::from(e.to_string()))?
    }
}

/// A span exporter that keeps what it is given, for tests.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Collect(pub Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

#[cfg(test)]
impl SpanExporter for Collect {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.lock().extend(batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_bad_ones_are_refused() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        let tp = traceparent(&sc);
        assert_eq!(
            tp,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let back = parse_traceparent(&tp).unwrap();
        assert_eq!(back.trace_id(), sc.trace_id());
        assert_eq!(back.span_id(), sc.span_id());
        assert!(back.is_sampled() && back.is_remote());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn endpoints_must_be_plain_http() {
        assert_eq!(
            check_endpoint("http://127.0.0.1:4318").unwrap().path(),
            "/v1/traces"
        );
        assert_eq!(
            check_endpoint("http://otel:4318/").unwrap().to_string(),
            "http://otel:4318/v1/traces"
        );
        for bad in ["127.0.0.1:4318", "https://otel:4318", "http://", "otel"] {
            assert!(check_endpoint(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn off_does_nothing() {
        let t = Traces::off();
        assert!(!t.is_on());
        t.batch_routed(
            "s",
            Instant::now(),
            &[Observation::log("sw1", 0, None, "", "down")],
        );
        assert!(t.batch_of("s", "sw1").is_none());
        t.shutdown();
    }

    #[tokio::test]
    async fn the_router_table_keeps_the_last_batch_per_device_and_is_bounded() {
        let t = Traces::start("http://127.0.0.1:9", "seawatch-test", "s").unwrap();
        let first = [Observation::log("sw1", 0, None, "", "a")];
        t.batch_routed("s", Instant::now(), &first);
        let a = t.batch_of("s", "sw1").unwrap();
        assert_eq!(a.events, 1);
        let second = [
            Observation::log("sw1", 0, None, "", "b"),
            Observation::log("sw2", 0, None, "", "c"),
        ];
        t.batch_routed("s", Instant::now(), &second);
        let b = t.batch_of("s", "sw1").unwrap();
        assert_eq!(b.events, 2);
        assert!(Arc::ptr_eq(&b, &t.batch_of("s", "sw2").unwrap()));
        assert!(t.batch_of("other", "sw1").is_none());
        // Past the bound the table starts afresh.
        let many: Vec<Observation> = (0..BATCHES_MAX)
            .map(|i| Observation::log(&format!("d{i}"), 0, None, "", "x"))
            .collect();
        t.batch_routed("s", Instant::now(), &many);
        assert!(t.batch_of("s", "sw2").is_none());
        assert!(t.batch_of("s", "d0").is_some());
        let t2 = t.clone();
        tokio::task::spawn_blocking(move || t2.shutdown())
            .await
            .unwrap();
    }

    #[test]
    fn a_batch_behind_two_incidents_is_one_root_and_the_shore_hangs_under_each() {
        let spans = Collect::default();
        let t = Traces::with_exporter(spans.clone(), "seawatch-test", "s");
        t.batch_routed(
            "s",
            Instant::now(),
            &[Observation::log("sw1", 0, None, "", "a")],
        );
        let batch = t.batch_of("s", "sw1").unwrap();
        let one = t
            .incident_opened(&batch, "s", "s-1", "sw1", SystemTime::now())
            .unwrap();
        let two = t
            .incident_opened(&batch, "s", "s-2", "sw1", SystemTime::now())
            .unwrap();
        let (tp1, tp2) = (one.traceparent(), two.traceparent());
        one.end();
        two.end();
        // The shore: an opened record with a traceparent, one without, a log line.
        let record = |id: &str, tp: Option<&str>| Event {
            seq: 7,
            ts_ms: 0,
            kind: EventKind::Incident,
            source: "sw1".into(),
            severity: 3,
            body: match tp {
                Some(tp) => format!(
                    r#"{{"event":"opened","traceparent":"{tp}","incident":{{"id":"{id}"}}}}"#
                ),
                None => format!(r#"{{"event":"opened","incident":{{"id":"{id}"}}}}"#),
            },
        };
        let mut log = record("s-3", None);
        log.kind = EventKind::Log;
        log.body = r#"{"traceparent":"x"}"#.into();
        t.shore_applied(
            "s",
            "n0",
            &[
                record("s-1", Some(&tp1)),
                record("s-3", None),
                log,
                record("s-2", Some(&tp2)),
            ],
            SystemTime::now(),
        );
        let got = spans.0.lock().clone();
        let named = |n: &str| got.iter().filter(|s| s.name == n).collect::<Vec<_>>();
        let (roots, opens, applies) = (
            named(span::INGEST),
            named(span::INCIDENT_OPEN),
            named(span::SHORE_APPLY),
        );
        assert_eq!((roots.len(), opens.len(), applies.len()), (1, 2, 2));
        let root = roots[0];
        assert_eq!(root.parent_span_id, SpanId::INVALID);
        for (open, apply, tp) in [(opens[0], applies[0], &tp1), (opens[1], applies[1], &tp2)] {
            assert_eq!(open.parent_span_id, root.span_context.span_id());
            assert_eq!(&traceparent(&open.span_context), tp);
            assert_eq!(apply.parent_span_id, open.span_context.span_id());
            for s in [open, apply] {
                assert_eq!(s.span_context.trace_id(), root.span_context.trace_id());
            }
        }
    }
}
