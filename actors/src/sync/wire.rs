//! The messages that cross the ship-to-shore link, and their byte encoding.
//!
//! Every message is one frame: a JSON header line, then (for batches) the zstd-compressed
//! payload. The header is small; the payload is a batch of events, compressed as a whole
//! (batch-level zstd), so repetitive log lines compress well.

use seawatch_runtime::event_log::{Event, EventKind};
use serde::{Deserialize, Serialize};

/// Wire format version, in every header.
pub const WIRE_VERSION: u8 = 1;

/// A priority lane. Lower is more urgent: a free send slot always goes to the most
/// urgent lane with something to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Incidents and control events.
    Urgent = 0,
    /// State changes (device and link state).
    State = 1,
    /// Metric samples and rollups.
    Metrics = 2,
    /// Bulk logs and anything else.
    Bulk = 3,
}

impl Lane {
    /// All lanes, most urgent first.
    pub const ALL: [Lane; 4] = [Lane::Urgent, Lane::State, Lane::Metrics, Lane::Bulk];

    /// The lane an event of `kind` travels in.
    pub fn of(kind: EventKind) -> Lane {
        match kind {
            EventKind::Incident | EventKind::Control => Lane::Urgent,
            EventKind::State => Lane::State,
            EventKind::Metric => Lane::Metrics,
            EventKind::Log | EventKind::Other => Lane::Bulk,
        }
    }

    /// Index into per-lane arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The lane's label value in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Urgent => "urgent",
            Lane::State => "state",
            Lane::Metrics => "metrics",
            Lane::Bulk => "bulk",
        }
    }
}

/// A batch of one lane's events.
///
/// It covers the sequence range `[from_seq, end_seq)` of the ship's log: every event of
/// the lane's kinds in that range is in the batch (possibly none: an empty batch only
/// moves the lane's position forward).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The ship.
    pub ship: String,
    /// The lane.
    pub lane: Lane,
    /// First seq covered.
    pub from_seq: u64,
    /// Seq after the last covered.
    pub end_seq: u64,
    /// Number of events in the payload.
    pub count: u32,
    /// Uncompressed payload size, bytes.
    pub raw_bytes: u64,
    /// zstd-compressed JSON array of the events (not in the header; follows it).
    #[serde(skip)]
    pub payload: Vec<u8>,
}

/// zstd level used for batches.
pub const BATCH_ZSTD_LEVEL: i32 = 3;

/// Why bytes could not be turned into a message.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The header is not valid JSON of a known message.
    #[error("bad header: {0}")]
    Header(String),
    /// The payload does not decompress or decode.
    #[error("bad payload: {0}")]
    Payload(String),
    /// The header's version is not ours.
    #[error("wire version {0}, expected {WIRE_VERSION}")]
    Version(u8),
}

impl Batch {
    /// Builds and compresses a batch of `events` (all of `lane`, within the range).
    pub fn build(
        ship: &str,
        lane: Lane,
        from_seq: u64,
        end_seq: u64,
        events: &[Event],
    ) -> Result<Batch, WireError> {
        let raw = serde_json::to_vec(events).map_err(|e| WireError::Payload(e.to_string()))?;
        let payload = zstd::bulk::compress(&raw, BATCH_ZSTD_LEVEL)
            .map_err(|e| WireError::Payload(e.to_string()))?;
        Ok(Batch {
            ship: ship.to_owned(),
            lane,
            from_seq,
            end_seq,
            count: events.len() as u32,
            raw_bytes: raw.len() as u64,
            payload,
        })
    }

    /// Decompresses and decodes the events. Checks that they agree with the header.
    pub fn events(&self) -> Result<Vec<Event>, WireError> {
        // A bound on what we accept to decompress: the header's size, capped at 256 MiB.
        let cap = (self.raw_bytes as usize).min(256 << 20);
        let raw = zstd::bulk::decompress(&self.payload, cap)
            .map_err(|e| WireError::Payload(e.to_string()))?;
        let events: Vec<Event> =
            serde_json::from_slice(&raw).map_err(|e| WireError::Payload(e.to_string()))?;
        if events.len() != self.count as usize {
            return Err(WireError::Payload(format!(
                "{} events, header says {}",
                events.len(),
                self.count
            )));
        }
        let in_range = events.iter().all(|e| {
            e.seq >= self.from_seq && e.seq < self.end_seq && Lane::of(e.kind) == self.lane
        });
        if !in_range || !events.windows(2).all(|w| w[0].seq < w[1].seq) {
            return Err(WireError::Payload(
                "events out of the batch's range, lane or order".into(),
            ));
        }
        Ok(events)
    }
}

/// The link state of one ship link, as sent in snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSnapshot {
    /// Link id.
    pub id: String,
    /// `up`, `degraded`, `down` or `unknown`.
    pub status: String,
}

/// A ship's state as of `at_ms`, replacing the previous one in the shore mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipSnapshot {
    /// When it was taken (ship clock, unix ms).
    pub at_ms: i64,
    /// The ship's links.
    pub links: Vec<LinkSnapshot>,
    /// Ids of open incidents.
    pub open_incidents: Vec<String>,
    /// Devices currently down.
    pub devices_down: u32,
    /// Events in the ship's log not yet acknowledged by shore.
    pub backlog_events: u64,
}

/// What a shore controller asks a ship actor to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Recalibrate a detector.
    Recalibrate {
        /// Detector (device or series) id.
        detector: String,
    },
    /// Fetch a device's running configuration.
    FetchConfig {
        /// Device id.
        device: String,
    },
    /// Acknowledge an incident.
    AckIncident {
        /// Incident id.
        incident: String,
    },
}

/// A command from shore to a ship actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Unique per ship, assigned by shore.
    pub id: u64,
    /// Target ship.
    pub ship: String,
    /// Not applied after this time (shore clock, unix ms).
    pub expires_ms: i64,
    /// What to do.
    pub action: Action,
}

/// A ship's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandReply {
    /// The ship.
    pub ship: String,
    /// The command's id.
    pub id: u64,
    /// Whether it was applied.
    pub ok: bool,
    /// The result (a config, a message) or the reason it failed / expired.
    pub result: String,
}

/// Ship to shore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Up {
    /// A batch of events.
    Batch(Batch),
    /// The ship's state.
    Snapshot {
        /// The ship.
        ship: String,
        /// The state.
        snapshot: ShipSnapshot,
    },
    /// The answer to a command.
    Reply(CommandReply),
}

/// Shore to ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Down {
    /// Every event of `lane` below `next` is stored at shore.
    Ack {
        /// The lane.
        lane: Lane,
        /// Seq the shore needs next in this lane.
        next: u64,
    },
    /// Shore refused a batch that did not start where it stands; resend from `next`.
    Resume {
        /// The lane.
        lane: Lane,
        /// Seq the shore needs next in this lane.
        next: u64,
    },
    /// A command for a ship actor.
    Command(Command),
}

#[derive(Serialize, Deserialize)]
struct Header<T> {
    v: u8,
    #[serde(flatten)]
    msg: T,
}

fn encode_with<T: Serialize>(msg: &T, payload: &[u8]) -> Vec<u8> {
    let mut out = serde_json::to_vec(&Header {
        v: WIRE_VERSION,
        msg,
    })
    .expect("wire types always serialise");
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

fn split(bytes: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let nl =
        memchr::memchr(b'\n', bytes).ok_or_else(|| WireError::Header("no header line".into()))?;
    Ok((&bytes[..nl], &bytes[nl + 1..]))
}

fn decode_header<T: serde::de::DeserializeOwned>(head: &[u8]) -> Result<T, WireError> {
    let h: Header<T> =
        serde_json::from_slice(head).map_err(|e| WireError::Header(e.to_string()))?;
    if h.v != WIRE_VERSION {
        return Err(WireError::Version(h.v));
    }
    Ok(h.msg)
}

impl Up {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Up::Batch(b) => encode_with(self, &b.payload),
            _ => encode_with(self, &[]),
        }
    }

    /// Size of the frame on the wire, bytes.
    pub fn wire_len(&self) -> usize {
        let head = serde_json::to_vec(&Header {
            v: WIRE_VERSION,
            msg: self,
        })
        .map(|v| v.len())
        .unwrap_or(0);
        head + 1
            + match self {
                Up::Batch(b) => b.payload.len(),
                _ => 0,
            }
    }

    /// Parses a frame. Never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Up, WireError> {
        let (head, payload) = split(bytes)?;
        let mut up: Up = decode_header(head)?;
        if let Up::Batch(b) = &mut up {
            b.payload = payload.to_vec();
        }
        Ok(up)
    }

    /// The ship the message comes from.
    pub fn ship(&self) -> &str {
        match self {
            Up::Batch(b) => &b.ship,
            Up::Snapshot { ship, .. } => ship,
            Up::Reply(r) => &r.ship,
        }
    }
}

impl Down {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode_with(self, &[])
    }

    /// Size of the frame on the wire, bytes.
    pub fn wire_len(&self) -> usize {
        self.encode().len()
    }

    /// Parses a frame. Never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Down, WireError> {
        let (head, _) = split(bytes)?;
        decode_header(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            ts_ms: 1_700_000_000_000 + seq as i64,
            kind,
            source: "core-sw-1".into(),
            severity: 5,
            body: format!("%LINK-3-UPDOWN: Interface Gi1/0/{seq}, changed state to down"),
        }
    }

    #[test]
    fn batch_round_trips_through_bytes() {
        let events: Vec<Event> = (10..20).map(|s| ev(s, EventKind::Log)).collect();
        let b = Batch::build("aurora", Lane::Bulk, 8, 25, &events).unwrap();
        let up = Up::Batch(b.clone());
        let bytes = up.encode();
        assert_eq!(bytes.len(), up.wire_len());
        let back = Up::decode(&bytes).unwrap();
        assert_eq!(back, up);
        let Up::Batch(b2) = back else {
            panic!("not a batch")
        };
        assert_eq!(b2.events().unwrap(), events);
    }

    #[test]
    fn down_round_trips() {
        for d in [
            Down::Ack {
                lane: Lane::State,
                next: 7,
            },
            Down::Resume {
                lane: Lane::Urgent,
                next: 1,
            },
            Down::Command(Command {
                id: 3,
                ship: "aurora".into(),
                expires_ms: 9,
                action: Action::FetchConfig {
                    device: "fw-1".into(),
                },
            }),
        ] {
            assert_eq!(Down::decode(&d.encode()).unwrap(), d);
        }
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(Up::decode(b"").is_err());
        assert!(Up::decode(b"{\"v\":1,\"t\":\"nope\"}\n").is_err());
        assert!(matches!(
            Down::decode(b"{\"v\":9,\"t\":\"ack\",\"lane\":\"bulk\",\"next\":1}\n"),
            Err(WireError::Version(9))
        ));
        // A batch whose payload is garbage, or whose events lie outside its range.
        let events = vec![ev(5, EventKind::Log)];
        let mut b = Batch::build("a", Lane::Bulk, 0, 3, &events).unwrap();
        assert!(b.events().is_err());
        b.payload = vec![1, 2, 3];
        assert!(b.events().is_err());
        let wrong_lane = Batch::build("a", Lane::Urgent, 0, 9, &events).unwrap();
        assert!(wrong_lane.events().is_err());
    }
}
