//! The messages that cross the ship-to-shore link, and their byte encoding.
//!
//! Every message is one frame: a JSON header line, then (for batches) the zstd-compressed
//! payload. The header is small; the payload is a batch of events in a columnar binary
//! layout ([`encode_events`]: sequence and time deltas as varints, kinds, severities,
//! then every source, then every body), compressed as a whole (batch-level zstd), so
//! repetitive log lines compress well. Columns compress better than JSON objects or an
//! rkyv archive and cost no per-event JSON on either side (decision 0012).

use seawatch_runtime::event_log::{Event, EventKind};
use serde::{Deserialize, Serialize};

/// Wire format version, in every header.
pub const WIRE_VERSION: u8 = 2;

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

/// Encodes events (strictly increasing seqs, all ≥ `base_seq`) column by column: a
/// varint count; per event the seq delta from the previous (the first from `base_seq`)
/// and the zigzag time delta as varints, the kind and the severity; then every source
/// and then every body, each as a varint length and its bytes.
pub fn encode_events(base_seq: u64, events: &[Event]) -> Vec<u8> {
    let text: usize = events.iter().map(|e| e.source.len() + e.body.len()).sum();
    let mut out = Vec::with_capacity(text + events.len() * 16 + 8);
    put_varint(&mut out, events.len() as u64);
    let (mut seq, mut ts) = (base_seq, 0i64);
    for e in events {
        put_varint(&mut out, e.seq.wrapping_sub(seq));
        let d = e.ts_ms.wrapping_sub(ts);
        put_varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
        out.push(e.kind as u8);
        out.push(e.severity);
        seq = e.seq;
        ts = e.ts_ms;
    }
    for e in events {
        put_varint(&mut out, e.source.len() as u64);
        out.extend_from_slice(e.source.as_bytes());
    }
    for e in events {
        put_varint(&mut out, e.body.len() as u64);
        out.extend_from_slice(e.body.as_bytes());
    }
    out
}

/// Decodes [`encode_events`]; any truncation, bad kind or bad UTF-8 is an error.
pub fn decode_events(base_seq: u64, mut raw: &[u8]) -> Result<Vec<Event>, String> {
    let n = get_varint(&mut raw)?;
    // every event takes at least 6 bytes: a count beyond that is a lie
    if n > raw.len() as u64 / 6 + 1 {
        return Err(format!("{n} events cannot fit in {} bytes", raw.len()));
    }
    let mut events = Vec::with_capacity(n as usize);
    let (mut seq, mut ts) = (base_seq, 0i64);
    for _ in 0..n {
        seq = seq
            .checked_add(get_varint(&mut raw)?)
            .ok_or("seq overflows")?;
        let z = get_varint(&mut raw)?;
        ts = ts.wrapping_add(((z >> 1) as i64) ^ -((z & 1) as i64));
        let [kind, severity, rest @ ..] = raw else {
            return Err("truncated event".into());
        };
        let kind = match kind {
            0 => EventKind::Log,
            1 => EventKind::Metric,
            2 => EventKind::Incident,
            3 => EventKind::State,
            4 => EventKind::Control,
            5 => EventKind::Other,
            k => return Err(format!("unknown event kind {k}")),
        };
        events.push(Event {
            seq,
            ts_ms: ts,
            kind,
            source: String::new(),
            severity: *severity,
            body: String::new(),
        });
        raw = rest;
    }
    for e in events.iter_mut() {
        e.source = get_str(&mut raw)?;
    }
    for e in events.iter_mut() {
        e.body = get_str(&mut raw)?;
    }
    if !raw.is_empty() {
        return Err(format!("{} trailing bytes", raw.len()));
    }
    Ok(events)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(raw: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = raw.split_first().ok_or("truncated varint")?;
        *raw = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

fn get_str(raw: &mut &[u8]) -> Result<String, String> {
    let len = get_varint(raw)?;
    if len > raw.len() as u64 {
        return Err("truncated string".into());
    }
    let (s, rest) = raw.split_at(len as usize);
    *raw = rest;
    String::from_utf8(s.to_vec()).map_err(|e| format!("bad UTF-8: {e}"))
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
    /// zstd-compressed columnar encoding of the events (not in the header; follows it).
    #[serde(skip)]
    pub payload: Vec<u8>,
}

/// zstd level for batches when the link is the bottleneck (decision 0028): the default
/// of [`Batch::build`], and the dense level of [`SyncConfig`](super::ship::SyncConfig).
pub const BATCH_ZSTD_LEVEL: i32 = 3;

/// zstd level for batches while the link keeps up with the cheap encoding (decision
/// 0028): about half the CPU of level 3 for about a tenth more bytes on log batches.
pub const BATCH_ZSTD_CHEAP_LEVEL: i32 = 1;

thread_local! {
    /// One context per thread and the level it is set to.
    static BATCH_COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static BATCH_DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

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
    /// Builds and compresses a batch of `events` (all of `lane`, within the range) at
    /// [`BATCH_ZSTD_LEVEL`].
    pub fn build(
        ship: &str,
        lane: Lane,
        from_seq: u64,
        end_seq: u64,
        events: &[Event],
    ) -> Result<Batch, WireError> {
        Self::build_at(ship, lane, from_seq, end_seq, events, BATCH_ZSTD_LEVEL)
    }

    /// [`build`](Self::build) at zstd level `level` (the receiver needs no level: any
    /// level decompresses the same way).
    pub fn build_at(
        ship: &str,
        lane: Lane,
        from_seq: u64,
        end_seq: u64,
        events: &[Event],
        level: i32,
    ) -> Result<Batch, WireError> {
        let raw = encode_events(from_seq, events);
        // one zstd context per thread, reused (the same bytes as a fresh one; creating
        // and clearing a context per batch cost as much as a small batch's compression)
        let payload = BATCH_COMPRESSOR
            .with(|c| {
                let mut slot = c.borrow_mut();
                match &mut *slot {
                    Some((at, c)) => {
                        if *at != level {
                            c.set_compression_level(level)?;
                            *at = level;
                        }
                        c.compress(&raw)
                    }
                    None => {
                        let mut c = zstd::bulk::Compressor::new(level)?;
                        let out = c.compress(&raw);
                        *slot = Some((level, c));
                        out
                    }
                }
            })
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
        let raw = BATCH_DECOMPRESSOR
            .with(|d| match &mut *d.borrow_mut() {
                Some(d) => d.decompress(&self.payload, cap),
                slot => {
                    let mut d = zstd::bulk::Decompressor::new()?;
                    let out = d.decompress(&self.payload, cap);
                    *slot = Some(d);
                    out
                }
            })
            .map_err(|e| WireError::Payload(e.to_string()))?;
        let events = decode_events(self.from_seq, &raw).map_err(WireError::Payload)?;
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

/// One series' aggregate over (part of) one window, in a [`Rollup`] (decision 0058).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggRow {
    /// The raw samples' series: labels sorted by name, `__name__` included, `ship` and
    /// `device` as the VictoriaMetrics exporters label them.
    pub labels: Vec<(String, String)>,
    /// The newest raw sample's timestamp in the group (unix ms): the aggregate's time.
    pub ts_ms: i64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean of the values.
    pub mean: f64,
    /// The value of the newest sample (the later seq on a tie).
    pub last: f64,
    /// Raw samples aggregated.
    pub count: u64,
}

/// The 1-minute aggregates of a range of the metrics lane, sent ahead of its full
/// resolution while the link is poor (decision 0058).
///
/// It covers the raw seq range `[from_seq, end_seq)` of the ship's log: each raw sample
/// of a downsampled family in the range is in exactly one row. The rows travel as the
/// zstd-compressed JSON array after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// The ship.
    pub ship: String,
    /// First raw seq covered.
    pub from_seq: u64,
    /// Raw seq after the last covered.
    pub end_seq: u64,
    /// Rows in the payload.
    pub rows: u32,
    /// Raw samples the rows aggregate.
    pub covered: u64,
    /// Uncompressed payload size, bytes.
    pub raw_bytes: u64,
    /// zstd-compressed JSON array of [`AggRow`] (not in the header; follows it).
    #[serde(skip)]
    pub payload: Vec<u8>,
}

impl Rollup {
    /// Builds and compresses a rollup of `rows`.
    pub fn build(
        ship: &str,
        from_seq: u64,
        end_seq: u64,
        rows: &[AggRow],
    ) -> Result<Rollup, WireError> {
        let json = serde_json::to_vec(rows).map_err(|e| WireError::Payload(e.to_string()))?;
        let payload = zstd::bulk::compress(&json, BATCH_ZSTD_LEVEL)
            .map_err(|e| WireError::Payload(e.to_string()))?;
        Ok(Rollup {
            ship: ship.to_owned(),
            from_seq,
            end_seq,
            rows: rows.len() as u32,
            covered: rows.iter().map(|r| r.count).sum(),
            raw_bytes: json.len() as u64,
            payload,
        })
    }

    /// Decompresses and decodes the rows; checks them against the header.
    pub fn decode_rows(&self) -> Result<Vec<AggRow>, WireError> {
        // A bound on what we accept to decompress: the header's size, capped at 256 MiB.
        let cap = (self.raw_bytes as usize).min(256 << 20);
        let json = zstd::bulk::decompress(&self.payload, cap)
            .map_err(|e| WireError::Payload(e.to_string()))?;
        if json.len() as u64 != self.raw_bytes {
            return Err(WireError::Payload(format!(
                "{} bytes, header says {}",
                json.len(),
                self.raw_bytes
            )));
        }
        let rows: Vec<AggRow> =
            serde_json::from_slice(&json).map_err(|e| WireError::Payload(e.to_string()))?;
        if rows.len() != self.rows as usize
            || rows.iter().map(|r| r.count).sum::<u64>() != self.covered
            || self.end_seq < self.from_seq
        {
            return Err(WireError::Payload(
                "rollup rows disagree with the header".into(),
            ));
        }
        Ok(rows)
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Where the ship is, when it reports its position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<seawatch_model::ShipPosition>,
    /// The link the ship's sync rides, as the running sync reports it (absent: the ship
    /// does not say; see `sync::route`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_link: Option<String>,
}

/// What a shore controller asks a ship actor to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Propose a runbook execution on the ship (contracts §7): the ship's own policy
    /// decides, exactly as for a proposal made on the ship; the reply's `result` is the
    /// JSON `{"execution", "state", "reasons"}` (`ok` false when denied or invalid).
    ProposeExecution {
        /// The runbook's name.
        runbook: String,
        /// Target ids.
        targets: Vec<String>,
        /// Parameters, as the ship's `POST /api/runbooks/{name}/executions` takes them.
        #[serde(default)]
        params: serde_json::Map<String, serde_json::Value>,
        /// The shore user asking: the execution's requester.
        requester: String,
        /// Their role on shore (`viewer`, `operator`, `admin`): the policy's `role`.
        role: String,
        /// The incident it remedies, if any.
        #[serde(default)]
        incident: Option<String>,
    },
}

/// A command from shore to a ship actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Aggregates sent ahead of the metrics lane while the link is poor (decision 0058).
    Rollup(Rollup),
}

/// Shore to ship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Shore's rollup watermark for the ship after a [`Up::Rollup`]: it holds the
    /// aggregates of every rollup it applied, the last one ending at `next`.
    RollupAck {
        /// Raw seq the next rollup applied must start at or above.
        next: u64,
    },
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
            Up::Rollup(r) => encode_with(self, &r.payload),
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
                Up::Rollup(r) => r.payload.len(),
                _ => 0,
            }
    }

    /// Parses a frame. Never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Up, WireError> {
        let (head, payload) = split(bytes)?;
        let mut up: Up = decode_header(head)?;
        match &mut up {
            Up::Batch(b) => b.payload = payload.to_vec(),
            Up::Rollup(r) => r.payload = payload.to_vec(),
            _ => {}
        }
        Ok(up)
    }

    /// The ship the message comes from.
    pub fn ship(&self) -> &str {
        match self {
            Up::Batch(b) => &b.ship,
            Up::Snapshot { ship, .. } => ship,
            Up::Reply(r) => &r.ship,
            Up::Rollup(r) => &r.ship,
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
    fn rollups_round_trip_and_bad_ones_are_errors() {
        let row = AggRow {
            labels: vec![
                ("__name__".into(), "if_in_octets".into()),
                ("device".into(), "sw-1".into()),
            ],
            ts_ms: 1_700_000_050_000,
            min: 1.0,
            max: 9.0,
            mean: 5.0,
            last: 9.0,
            count: 3,
        };
        let r = Rollup::build("aurora", 10, 20, std::slice::from_ref(&row)).unwrap();
        let up = Up::decode(&Up::Rollup(r.clone()).encode()).unwrap();
        let Up::Rollup(back) = &up else {
            panic!("{up:?}")
        };
        assert_eq!(back, &r);
        assert_eq!(back.decode_rows().unwrap(), vec![row]);
        assert_eq!(up.ship(), "aurora");
        let mut lying = r.clone();
        lying.covered = 4;
        assert!(lying.decode_rows().is_err());
        let mut short = r.clone();
        short.raw_bytes -= 1;
        assert!(short.decode_rows().is_err());
        let mut garbage = r;
        garbage.payload = vec![1, 2, 3];
        assert!(garbage.decode_rows().is_err());
        let ack = Down::RollupAck { next: 20 };
        assert_eq!(Down::decode(&ack.encode()).unwrap(), ack);
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

    proptest::proptest! {
        #[test]
        fn columns_round_trip(
            base in 0u64..1_000_000,
            rows in proptest::collection::vec(
                (1u64..1_000, proptest::num::i64::ANY, 0u8..6, proptest::num::u8::ANY, ".{0,20}", ".{0,200}"),
                0..40,
            ),
        ) {
            let mut seq = base;
            let events: Vec<Event> = rows
                .into_iter()
                .map(|(gap, ts_ms, kind, severity, source, body)| {
                    seq += gap;
                    let kind = [EventKind::Log, EventKind::Metric, EventKind::Incident,
                        EventKind::State, EventKind::Control, EventKind::Other][kind as usize];
                    Event { seq, ts_ms, kind, source, severity, body }
                })
                .collect();
            let raw = encode_events(base, &events);
            proptest::prop_assert_eq!(decode_events(base, &raw).unwrap(), events);
        }

        #[test]
        fn hostile_columns_are_errors_not_panics(
            base in proptest::num::u64::ANY,
            raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let _ = decode_events(base, &raw);
        }
    }
}
