//! Telemetry generation: a deterministic [`Simulator`] stepped forward in simulated time.
//!
//! Each simulated second of every ship is generated into one reusable arena, sorted by
//! timestamp and handed out in time order, so the output is a single time-ordered stream
//! across ships. Nothing depends on wall time or thread-local randomness: the same
//! scenario and seed give the same bytes.
//!
//! Faults never appear in the output as such. They change the state of the simulated
//! devices and links (a switch powered off, a rain cell over the ship, the ship turning
//! into an antenna's blockage zone) and the telemetry shows the consequences through the
//! `depends_on` topology.

mod link;
mod motion;
mod noise;
mod out;
mod rng;
mod ship;
mod syslog;
mod time;

pub(crate) use link::lock_margin_db;
pub(crate) use motion::{bearing_deg, position_at};
pub use noise::true_topology;
use noise::Delivery;
use out::Batch;
pub(crate) use rng::Rng;
pub(crate) use ship::best_satellite_azimuth;
use ship::ShipSim;

use crate::scenario::Scenario;

/// 2025-03-14T06:00:00Z: the default wall-clock time of second 0 of a scenario.
pub const DEFAULT_START_MS: i64 = 1_741_932_000_000;

/// One piece of telemetry as a ship would receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    /// Unix time in milliseconds (the time in the line itself).
    pub ts_ms: i64,
    /// Ship id.
    pub ship: String,
    /// The bytes on the wire.
    pub payload: Payload,
}

/// The bytes of one piece of telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A complete syslog line (RFC 5424 or RFC 3164 framing, no trailing newline).
    Syslog(Vec<u8>),
    /// One NDJSON metric sample `{"metric":..,"value":..,"labels":{..},"ts":..}`, no
    /// trailing newline.
    Metric(Vec<u8>),
}

impl Payload {
    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Payload::Syslog(b) | Payload::Metric(b) => b,
        }
    }

    /// Which kind of payload this is.
    pub fn kind(&self) -> PayloadKind {
        match self {
            Payload::Syslog(_) => PayloadKind::Syslog,
            Payload::Metric(_) => PayloadKind::Metric,
        }
    }
}

/// Syslog line or metric sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// A syslog line.
    Syslog,
    /// An NDJSON metric sample.
    Metric,
}

/// A borrowed view of one piece of telemetry, valid during the callback of
/// [`Simulator::advance_with`] (no allocation per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelemetryRef<'a> {
    /// Unix time in milliseconds.
    pub ts_ms: i64,
    /// Ship id.
    pub ship: &'a str,
    /// Syslog or metric.
    pub kind: PayloadKind,
    /// The bytes on the wire (no trailing newline).
    pub bytes: &'a [u8],
}

impl TelemetryRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> Telemetry {
        let bytes = self.bytes.to_vec();
        Telemetry {
            ts_ms: self.ts_ms,
            ship: self.ship.to_owned(),
            payload: match self.kind {
                PayloadKind::Syslog => Payload::Syslog(bytes),
                PayloadKind::Metric => Payload::Metric(bytes),
            },
        }
    }
}

/// Options of a [`Simulator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOptions {
    /// Unix milliseconds of the scenario's second 0 (time of day drives the diurnal
    /// patterns, in each ship's local time).
    pub start_ms: i64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            start_ms: DEFAULT_START_MS,
        }
    }
}

/// Turns a [`Scenario`] into time-ordered telemetry.
pub struct Simulator {
    ships: Vec<ShipSim>,
    start_ms: i64,
    duration_s: u64,
    next_second: u64,
    batch: Batch,
    cursor: usize,
    delivery: Delivery,
}

impl Simulator {
    /// A simulator at second 0 of `scenario`, starting at [`DEFAULT_START_MS`].
    pub fn new(scenario: &Scenario) -> Simulator {
        Simulator::with_options(scenario, SimOptions::default())
    }

    /// A simulator with explicit options.
    pub fn with_options(scenario: &Scenario, options: SimOptions) -> Simulator {
        let ships = scenario
            .ship
            .iter()
            .enumerate()
            .map(|(i, s)| {
                // the ship as it really is; its inventory (the file) may be out of date
                let truth = true_topology(s, scenario.seed);
                let mut sim = ShipSim::new(
                    &truth,
                    &scenario.fault,
                    scenario.seed,
                    i as u32,
                    options.start_ms,
                );
                // the poller knows the inventory only: unlisted devices (appended to the
                // truth) are never probed or polled, they only log
                sim.polled = s.device.len();
                sim
            })
            .collect();
        Simulator {
            ships,
            start_ms: options.start_ms,
            duration_s: scenario.duration_s,
            next_second: 0,
            batch: Batch::default(),
            cursor: 0,
            delivery: Delivery::new(
                scenario.seed,
                scenario
                    .ship
                    .iter()
                    .map(|s| {
                        let n = &s.noise;
                        if n.enabled {
                            (n.late_fraction, n.late_max_s, n.duplicate_fraction)
                        } else {
                            (0.0, 0, 0.0)
                        }
                    })
                    .collect(),
            ),
        }
    }

    /// Unix milliseconds of the scenario's start.
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Unix milliseconds of the scenario's end (exclusive).
    pub fn end_ms(&self) -> i64 {
        self.start_ms + self.duration_s as i64 * 1000
    }

    /// Whether every record has been handed out.
    pub fn is_finished(&self) -> bool {
        self.next_second >= self.duration_s && self.cursor >= self.batch.recs.len()
    }

    /// Appends to `out` every record with `ts_ms < to_ms` not handed out yet, in time order.
    /// `to_ms` is Unix milliseconds (see [`Simulator::start_ms`]).
    pub fn advance(&mut self, to_ms: i64, out: &mut Vec<Telemetry>) {
        self.advance_with(to_ms, |t| out.push(t.to_owned()));
    }

    /// Calls `f` for every record with `ts_ms < to_ms` not handed out yet, in time order,
    /// without allocating per record.
    pub fn advance_with(&mut self, to_ms: i64, mut f: impl FnMut(TelemetryRef<'_>)) {
        loop {
            while self.cursor < self.batch.recs.len() {
                let rec = self.batch.recs[self.cursor];
                if rec.ts_ms >= to_ms {
                    return;
                }
                f(TelemetryRef {
                    ts_ms: rec.ts_ms,
                    ship: &self.ships[rec.ship as usize].id,
                    kind: if rec.metric {
                        PayloadKind::Metric
                    } else {
                        PayloadKind::Syslog
                    },
                    bytes: &self.batch.bytes[rec.start as usize..rec.end as usize],
                });
                self.cursor += 1;
            }
            if self.next_second >= self.duration_s
                || self.start_ms + self.next_second as i64 * 1000 >= to_ms
            {
                return;
            }
            self.generate_second();
        }
    }

    /// Hands out everything up to the end of the scenario.
    pub fn run_to_end(&mut self, f: impl FnMut(TelemetryRef<'_>)) {
        let end = self.end_ms();
        self.advance_with(end, f);
    }

    fn generate_second(&mut self) {
        let s = self.next_second;
        self.batch.clear();
        self.cursor = 0;
        for ship in &mut self.ships {
            ship.step(s, &mut self.batch);
        }
        let end_ms = self.start_ms + (s as i64 + 1) * 1000;
        self.delivery.apply(&mut self.batch, end_ms);
        self.batch.sort();
        self.next_second += 1;
    }
}

impl Iterator for Simulator {
    type Item = Telemetry;

    /// The next record in time order (allocates; prefer [`Simulator::advance_with`] for
    /// volume).
    fn next(&mut self) -> Option<Telemetry> {
        loop {
            if self.cursor < self.batch.recs.len() {
                let rec = self.batch.recs[self.cursor];
                self.cursor += 1;
                return Some(
                    TelemetryRef {
                        ts_ms: rec.ts_ms,
                        ship: &self.ships[rec.ship as usize].id,
                        kind: if rec.metric {
                            PayloadKind::Metric
                        } else {
                            PayloadKind::Syslog
                        },
                        bytes: &self.batch.bytes[rec.start as usize..rec.end as usize],
                    }
                    .to_owned(),
                );
            }
            if self.next_second >= self.duration_s {
                return None;
            }
            self.generate_second();
        }
    }
}
