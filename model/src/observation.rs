//! Observations: what a ship hears about its devices, decoded and owned.

use crate::sample::MetricSample;
use crate::severity::Severity;

/// A decoded log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogObs {
    /// Syslog severity 0 (emergency) ..= 7 (debug); 6 (info) when unknown.
    pub severity: u8,
    /// App name or facility (Cisco `LINK`, `sshd`, ...), empty when none.
    pub app: String,
    /// Message id or mnemonic (`UPDOWN`, `LLDP_NEIGHBOR_DOWN`, ...), empty when none.
    pub msg_id: String,
    /// The message text.
    pub text: String,
}

/// One observation about a device.
#[derive(Debug, Clone, PartialEq)]
pub enum ObsKind {
    /// A log line.
    Log(LogObs),
    /// A metric sample (name, labels, value).
    Metric(MetricSample),
}

/// An observation attributed to a device, with its event time.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Device id.
    pub device: String,
    /// Event time, unix ms.
    pub ts_ms: i64,
    /// What was observed.
    pub kind: ObsKind,
}

/// Default severity for lines that carry none (informational).
pub const DEFAULT_SEVERITY: u8 = 6;

impl Observation {
    /// From a metric sample.
    pub fn from_metric(sample: MetricSample) -> Self {
        Self {
            device: sample.device.clone(),
            ts_ms: sample.ts_ms,
            kind: ObsKind::Metric(sample),
        }
    }

    /// A log line with an explicit severity.
    pub fn log(
        device: &str,
        ts_ms: i64,
        severity: Option<Severity>,
        app: &str,
        text: &str,
    ) -> Self {
        Self {
            device: device.to_string(),
            ts_ms,
            kind: ObsKind::Log(LogObs {
                severity: severity.map(|s| s as u8).unwrap_or(DEFAULT_SEVERITY),
                app: app.to_string(),
                msg_id: String::new(),
                text: text.to_string(),
            }),
        }
    }
}
