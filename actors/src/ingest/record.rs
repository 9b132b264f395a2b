//! What listeners hand to the event-log writer: decoded, owned observations.

use std::time::Instant;

use seawatch_runtime::event_log::{EventKind, NewEvent};

pub use seawatch_model::observation::{LogObs, ObsKind, Observation, DEFAULT_SEVERITY};

use super::decode::{SyslogRecord, VendorHint};

/// Where an observation came in (the `source` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Syslog over TCP.
    SyslogTcp,
    /// Syslog over UDP.
    SyslogUdp,
    /// `POST /ingest/ndjson`.
    Ndjson,
    /// `POST /api/v1/write`.
    RemoteWrite,
    /// The in-process simulator (`sim run`, demo).
    Simulator,
}

impl Source {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::SyslogTcp => "syslog-tcp",
            Source::SyslogUdp => "syslog-udp",
            Source::Ndjson => "ndjson",
            Source::RemoteWrite => "remote-write",
            Source::Simulator => "simulator",
        }
    }

    /// Every source, for pre-registering metric labels.
    pub const ALL: [Source; 5] = [
        Source::SyslogTcp,
        Source::SyslogUdp,
        Source::Ndjson,
        Source::RemoteWrite,
        Source::Simulator,
    ];
}

/// What ingest adds to an [`Observation`] (the type itself lives in `seawatch-model`):
/// building one from a decoded syslog record, and its event-log record.
pub trait ObservationExt: Sized {
    /// From a decoded syslog record; `None` when it names no host.
    fn from_syslog(rec: &SyslogRecord<'_>, now_ms: i64, peer: Option<&str>) -> Option<Self>;

    /// The event-log record for this observation.
    fn to_event(&self) -> NewEvent;
}

impl ObservationExt for Observation {
    fn from_syslog(rec: &SyslogRecord<'_>, now_ms: i64, peer: Option<&str>) -> Option<Self> {
        let device = rec.hostname.or(peer)?;
        // An Aruba controller's line is about the AP named in its `|AP name@ip proc|`
        // block, which the decoder lifts out of the message: put it back in front, so
        // the stored line and the device actor (who is down?) keep the AP's name.
        let text = match rec.vendor {
            VendorHint::Aruba {
                ap_name: Some(name),
                ap_ip,
                ap_process,
                ..
            } => {
                let mut t = String::with_capacity(rec.message.len() + name.len() + 32);
                t.push_str("|AP ");
                t.push_str(name);
                t.push('@');
                t.push_str(ap_ip.unwrap_or(""));
                if let Some(p) = ap_process {
                    t.push(' ');
                    t.push_str(p);
                }
                t.push_str("| ");
                t.push_str(rec.message);
                t
            }
            _ => rec.message.to_string(),
        };
        Some(Self {
            device: device.to_string(),
            ts_ms: rec.timestamp_ms.unwrap_or(now_ms),
            kind: ObsKind::Log(LogObs {
                severity: rec.severity.map(|s| s as u8).unwrap_or(DEFAULT_SEVERITY),
                app: rec.app_name.unwrap_or("").to_string(),
                msg_id: rec.msg_id.unwrap_or("").to_string(),
                text,
            }),
        })
    }

    fn to_event(&self) -> NewEvent {
        match &self.kind {
            ObsKind::Log(l) => {
                let mut body =
                    String::with_capacity(l.app.len() + l.msg_id.len() + l.text.len() + 4);
                if !l.app.is_empty() {
                    body.push_str(&l.app);
                    if !l.msg_id.is_empty() {
                        body.push('-');
                        body.push_str(&l.msg_id);
                    }
                    body.push_str(": ");
                }
                body.push_str(&l.text);
                NewEvent {
                    ts_ms: self.ts_ms,
                    kind: EventKind::Log,
                    source: self.device.clone(),
                    severity: l.severity,
                    body,
                }
            }
            ObsKind::Metric(m) => {
                // Prometheus exposition style: name{k="v",...} value
                let mut body = String::with_capacity(m.name.len() + 32);
                body.push_str(&m.name);
                if !m.labels.is_empty() {
                    body.push('{');
                    for (i, (k, v)) in m.labels.iter().enumerate() {
                        if i > 0 {
                            body.push(',');
                        }
                        body.push_str(k);
                        body.push_str("=\"");
                        body.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
                        body.push('"');
                    }
                    body.push('}');
                }
                body.push(' ');
                body.push_str(&m.value.to_string());
                NewEvent {
                    ts_ms: self.ts_ms,
                    kind: EventKind::Metric,
                    source: self.device.clone(),
                    severity: DEFAULT_SEVERITY,
                    body,
                }
            }
        }
    }
}

/// A batch of observations from one source, stamped when received.
#[derive(Debug)]
pub struct IngestBatch {
    /// Where it came in.
    pub source: Source,
    /// When the first byte of it was read (for receipt-to-actor latency).
    pub received: Instant,
    /// The observations.
    pub items: Vec<Observation>,
    /// Signalled once this batch is stored and routed (a barrier for tests and shutdown).
    pub done: Option<tokio::sync::oneshot::Sender<()>>,
    /// Signalled once this batch is durable in the event log (fsynced): an HTTP sender
    /// answers 2xx only then, so what a client was told is accepted survives a crash.
    pub stored: Option<tokio::sync::oneshot::Sender<()>>,
}
