//! Record types stored in the event log.

use serde::{Deserialize, Serialize};

/// Coarse classification of an event.
///
/// Archived by rkyv as a one-byte tag; serialised by serde as a snake_case
/// string.
#[derive(
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum EventKind {
    /// A log line (syslog, journald, application log).
    Log = 0,
    /// A metric sample or metric batch.
    Metric = 1,
    /// An incident raised or updated by the platform.
    Incident = 2,
    /// A state change (device up/down, configuration applied, ...).
    State = 3,
    /// A control-plane action (command issued, acknowledgement, ...).
    Control = 4,
    /// Anything else.
    Other = 5,
}

/// An event as stored in the log.
///
/// `seq` is assigned by the log: dense, strictly increasing, starting at 1
/// for a fresh log. Together with the log's ship id it forms the event's
/// stable identity, see [`EventId`].
#[derive(
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    PartialEq,
    Eq,
)]
pub struct Event {
    /// Sequence number assigned by the log (dense, starts at 1).
    pub seq: u64,
    /// Event time, unix milliseconds (as reported by the producer).
    pub ts_ms: i64,
    /// Kind of event.
    pub kind: EventKind,
    /// Producing device or host name.
    pub source: String,
    /// Severity, syslog-style (0 = emergency ... 7 = debug).
    pub severity: u8,
    /// Payload (log line, JSON document, ...).
    pub body: String,
}

impl Event {
    /// The stable identity of this event on the given ship.
    pub fn id(&self, ship: &str) -> EventId {
        EventId {
            ship: ship.to_owned(),
            seq: self.seq,
        }
    }
}

/// A borrowed view of a stored event, as [`EventLog::visit`](super::EventLog::visit)
/// hands it out: the strings point into the decoded frame, nothing is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Event time, unix milliseconds.
    pub ts_ms: i64,
    /// Kind of event.
    pub kind: EventKind,
    /// Producing device or host name.
    pub source: &'a str,
    /// Severity, syslog-style.
    pub severity: u8,
    /// Payload.
    pub body: &'a str,
}

impl EventRef<'_> {
    /// An owned copy.
    pub fn to_event(&self) -> Event {
        Event {
            seq: self.seq,
            ts_ms: self.ts_ms,
            kind: self.kind,
            source: self.source.to_owned(),
            severity: self.severity,
            body: self.body.to_owned(),
        }
    }
}

impl<'a> From<&'a Event> for EventRef<'a> {
    fn from(e: &'a Event) -> Self {
        Self {
            seq: e.seq,
            ts_ms: e.ts_ms,
            kind: e.kind,
            source: &e.source,
            severity: e.severity,
            body: &e.body,
        }
    }
}

impl<'a> From<&'a ArchivedEvent> for EventRef<'a> {
    fn from(e: &'a ArchivedEvent) -> Self {
        Self {
            seq: e.seq.to_native(),
            ts_ms: e.ts_ms.to_native(),
            kind: match e.kind {
                ArchivedEventKind::Log => EventKind::Log,
                ArchivedEventKind::Metric => EventKind::Metric,
                ArchivedEventKind::Incident => EventKind::Incident,
                ArchivedEventKind::State => EventKind::State,
                ArchivedEventKind::Control => EventKind::Control,
                ArchivedEventKind::Other => EventKind::Other,
            },
            source: e.source.as_str(),
            severity: e.severity,
            body: e.body.as_str(),
        }
    }
}

/// An event handed to [`EventLog::append_batch`](super::EventLog::append_batch);
/// the log assigns its sequence number.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Event time, unix milliseconds.
    pub ts_ms: i64,
    /// Kind of event.
    pub kind: EventKind,
    /// Producing device or host name.
    pub source: String,
    /// Severity, syslog-style (0 = emergency ... 7 = debug).
    pub severity: u8,
    /// Payload.
    pub body: String,
}

impl NewEvent {
    /// Attach a sequence number, producing the stored form.
    pub(crate) fn with_seq(self, seq: u64) -> Event {
        Event {
            seq,
            ts_ms: self.ts_ms,
            kind: self.kind,
            source: self.source,
            severity: self.severity,
            body: self.body,
        }
    }
}

/// Stable, globally unique identity of an event: `(ship, seq)`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    /// Ship id of the log the event was appended to.
    pub ship: String,
    /// Sequence number within that ship's log.
    pub seq: u64,
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.ship, self.seq)
    }
}
