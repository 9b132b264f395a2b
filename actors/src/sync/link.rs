//! Transports between ships and shore, and the embedded one: an in-process network of
//! simulated links.
//!
//! A transport is a pair of ends. The ship's end sends [`Up`] frames and receives [`Down`]
//! frames; the shore's end receives every ship's [`Up`] frames and sends [`Down`] frames to
//! one ship. Frames may be lost (a link outage), never reordered within one direction of
//! one ship's link, and never duplicated by the transport itself.
//!
//! [`SimNet`] is the embedded transport used by `demo`, `sim run` and the tests: each
//! ship's link has a latency, a capacity in bytes per second (frames are serialised one
//! after another) and an outage schedule. A frame is lost when an outage overlaps the time
//! between its sending and its arrival. All timing is `tokio::time`, so under a paused
//! runtime hours of link time pass in milliseconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::wire::{Down, Up};

/// Why a frame was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The link is down; nothing was sent.
    #[error("link down")]
    LinkDown,
    /// The other end is not connected.
    #[error("not connected: {0}")]
    NotConnected(String),
}

/// The ship's end of a transport.
pub trait ShipTransport: Send + Sync + 'static {
    /// Queue a frame for shore. Returns at once; the frame may still be lost on the way.
    fn send(&self, up: Up) -> Result<(), TransportError>;
    /// Whether the link to shore is usable, and its changes.
    fn link_state(&self) -> watch::Receiver<bool>;
    /// The link's capacity in bytes per second, when known.
    fn capacity_bytes_per_s(&self) -> Option<u64>;
}

/// A connected ship end: the sender and the frames shore sends to this ship.
pub struct ShipConn {
    /// Sends to shore.
    pub tx: Arc<dyn ShipTransport>,
    /// Frames from shore.
    pub rx: mpsc::UnboundedReceiver<Down>,
}

/// The shore's end of a transport.
pub trait ShoreTransport: Send + Sync + 'static {
    /// Queue a frame for `ship`.
    fn send(&self, ship: &str, down: Down) -> Result<(), TransportError>;
}

/// A connected shore end: the sender and every ship's frames.
pub struct ShoreConn {
    /// Sends to ships.
    pub tx: Arc<dyn ShoreTransport>,
    /// Frames from ships.
    pub rx: mpsc::UnboundedReceiver<Up>,
}

/// One ship link's behaviour in the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkProfile {
    /// One-way latency.
    pub latency: Duration,
    /// Capacity in each direction, bytes per second.
    pub capacity_bytes_per_s: u64,
    /// Outages as (start, end) offsets from the moment the ship is added, sorted and
    /// disjoint.
    pub outages: Vec<(Duration, Duration)>,
}

impl LinkProfile {
    /// A link of `capacity_mbps` with a one-way latency and no outages.
    pub fn new(capacity_mbps: f64, latency: Duration) -> Self {
        Self {
            latency,
            capacity_bytes_per_s: ((capacity_mbps * 1e6 / 8.0) as u64).max(1),
            outages: Vec::new(),
        }
    }

    /// With these outages (sorted, merged here).
    pub fn with_outages(mut self, mut outages: Vec<(Duration, Duration)>) -> Self {
        outages.retain(|(a, b)| b > a);
        outages.sort();
        let mut merged: Vec<(Duration, Duration)> = Vec::new();
        for (a, b) in outages {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.outages = merged;
        self
    }

    fn up_at(&self, t: Duration) -> bool {
        !self.outages.iter().any(|&(a, b)| t >= a && t < b)
    }

    fn up_throughout(&self, from: Duration, to: Duration) -> bool {
        !self.outages.iter().any(|&(a, b)| a <= to && b > from)
    }
}

/// Counters of a simulated network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Frames delivered ship to shore.
    pub up_frames: u64,
    /// Bytes delivered ship to shore.
    pub up_bytes: u64,
    /// Frames delivered shore to ship.
    pub down_frames: u64,
    /// Frames lost to outages (both directions).
    pub lost_frames: u64,
    /// Frames refused at sending because the link was down.
    pub refused_frames: u64,
}

struct SimShip {
    profile: LinkProfile,
    t0: Instant,
    up_busy: Instant,
    down_busy: Instant,
    to_ship: Option<mpsc::UnboundedSender<Down>>,
    state: watch::Sender<bool>,
    up_q: mpsc::UnboundedSender<(Instant, Instant, Up)>,
    down_q: mpsc::UnboundedSender<(Instant, Instant, Down)>,
}

#[derive(Default)]
struct SimInner {
    ships: HashMap<String, SimShip>,
    to_shore: Option<mpsc::UnboundedSender<Up>>,
    stats: SimStats,
}

/// The embedded transport: an in-process network of simulated ship links to one shore.
#[derive(Clone, Default)]
pub struct SimNet {
    inner: Arc<Mutex<SimInner>>,
}

impl SimNet {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a ship's link; its outage schedule starts now. Spawns the link's tasks.
    pub fn add_ship(&self, ship: &str, profile: LinkProfile) {
        let now = Instant::now();
        let (state, _) = watch::channel(profile.up_at(Duration::ZERO));
        let (up_q, up_rx) = mpsc::unbounded_channel();
        let (down_q, down_rx) = mpsc::unbounded_channel();
        let sim = SimShip {
            profile: profile.clone(),
            t0: now,
            up_busy: now,
            down_busy: now,
            to_ship: None,
            state: state.clone(),
            up_q,
            down_q,
        };
        self.inner.lock().ships.insert(ship.to_owned(), sim);
        // Link state follows the schedule.
        tokio::spawn(async move {
            for (a, b) in profile.outages {
                // send_replace: the state changes even while nobody is watching.
                tokio::time::sleep_until(now + a).await;
                state.send_replace(false);
                tokio::time::sleep_until(now + b).await;
                state.send_replace(true);
            }
        });
        tokio::spawn(deliver(
            self.clone(),
            ship.to_owned(),
            up_rx,
            |inner, _ship, up| {
                inner
                    .to_shore
                    .as_ref()
                    .map(|tx| tx.send(up).is_ok())
                    .unwrap_or(false)
            },
        ));
        tokio::spawn(deliver(
            self.clone(),
            ship.to_owned(),
            down_rx,
            |inner, ship, down| {
                inner
                    .ships
                    .get(ship)
                    .and_then(|s| s.to_ship.as_ref())
                    .map(|tx| tx.send(down).is_ok())
                    .unwrap_or(false)
            },
        ));
    }

    /// Connects (or reconnects, after a restart) the ship's end. Frames sent to the
    /// previous connection are dropped from now on.
    pub fn connect_ship(&self, ship: &str) -> Result<ShipConn, TransportError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.inner.lock();
        let s = inner
            .ships
            .get_mut(ship)
            .ok_or_else(|| TransportError::NotConnected(ship.to_owned()))?;
        s.to_ship = Some(tx);
        Ok(ShipConn {
            tx: Arc::new(SimShipEnd {
                net: self.clone(),
                ship: ship.to_owned(),
            }),
            rx,
        })
    }

    /// Connects (or reconnects) the shore's end.
    pub fn connect_shore(&self) -> ShoreConn {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner.lock().to_shore = Some(tx);
        ShoreConn {
            tx: Arc::new(SimShoreEnd { net: self.clone() }),
            rx,
        }
    }

    /// Whether `ship`'s link is up now.
    pub fn is_up(&self, ship: &str) -> bool {
        let inner = self.inner.lock();
        inner
            .ships
            .get(ship)
            .map(|s| s.profile.up_at(Instant::now() - s.t0))
            .unwrap_or(false)
    }

    /// Counters so far.
    pub fn stats(&self) -> SimStats {
        self.inner.lock().stats
    }
}

/// Delivers one direction of one ship's link, in order, at each frame's arrival time.
async fn deliver<T>(
    net: SimNet,
    ship: String,
    mut q: mpsc::UnboundedReceiver<(Instant, Instant, T)>,
    hand_over: fn(&SimInner, &str, T) -> bool,
) {
    while let Some((sent, arrival, frame)) = q.recv().await {
        tokio::time::sleep_until(arrival).await;
        let mut inner = net.inner.lock();
        let Some(s) = inner.ships.get(&ship) else {
            return;
        };
        let ok =
            s.profile.up_throughout(sent - s.t0, arrival - s.t0) && hand_over(&inner, &ship, frame);
        if !ok {
            inner.stats.lost_frames += 1;
        }
    }
}

/// Reserves the link for `len` bytes from now (after what is already queued) and returns
/// (send time, arrival time), or `None` if the link is down now.
fn schedule(s: &mut SimShip, len: usize, up: bool) -> Option<(Instant, Instant)> {
    let now = Instant::now();
    if !s.profile.up_at(now - s.t0) {
        return None;
    }
    let busy = if up { &mut s.up_busy } else { &mut s.down_busy };
    let start = (*busy).max(now);
    let tx = Duration::from_secs_f64(len as f64 / s.profile.capacity_bytes_per_s as f64);
    *busy = start + tx;
    Some((now, *busy + s.profile.latency))
}

struct SimShipEnd {
    net: SimNet,
    ship: String,
}

impl ShipTransport for SimShipEnd {
    fn send(&self, up: Up) -> Result<(), TransportError> {
        let len = up.wire_len();
        let mut inner = self.net.inner.lock();
        let s = inner
            .ships
            .get_mut(&self.ship)
            .ok_or_else(|| TransportError::NotConnected(self.ship.clone()))?;
        match schedule(s, len, true) {
            Some((sent, arrival)) => {
                let _ = s.up_q.send((sent, arrival, up));
                inner.stats.up_frames += 1;
                inner.stats.up_bytes += len as u64;
                Ok(())
            }
            None => {
                inner.stats.refused_frames += 1;
                Err(TransportError::LinkDown)
            }
        }
    }

    fn link_state(&self) -> watch::Receiver<bool> {
        let inner = self.net.inner.lock();
        match inner.ships.get(&self.ship) {
            Some(s) => s.state.subscribe(),
            None => watch::channel(false).1,
        }
    }

    fn capacity_bytes_per_s(&self) -> Option<u64> {
        let inner = self.net.inner.lock();
        inner
            .ships
            .get(&self.ship)
            .map(|s| s.profile.capacity_bytes_per_s)
    }
}

struct SimShoreEnd {
    net: SimNet,
}

impl ShoreTransport for SimShoreEnd {
    fn send(&self, ship: &str, down: Down) -> Result<(), TransportError> {
        let len = down.wire_len();
        let mut inner = self.net.inner.lock();
        let s = inner
            .ships
            .get_mut(ship)
            .ok_or_else(|| TransportError::NotConnected(ship.to_owned()))?;
        match schedule(s, len, false) {
            Some((sent, arrival)) => {
                let _ = s.down_q.send((sent, arrival, down));
                inner.stats.down_frames += 1;
                Ok(())
            }
            None => {
                inner.stats.refused_frames += 1;
                Err(TransportError::LinkDown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::wire::Lane;

    #[tokio::test(start_paused = true)]
    async fn frames_arrive_after_latency_and_serialisation_and_die_in_outages() {
        let net = SimNet::new();
        let profile = LinkProfile {
            latency: Duration::from_millis(300),
            capacity_bytes_per_s: 1_000,
            outages: vec![],
        }
        .with_outages(vec![(Duration::from_secs(10), Duration::from_secs(20))]);
        net.add_ship("a", profile);
        let mut shore = net.connect_shore();
        let mut ship = net.connect_ship("a").unwrap();
        let t0 = Instant::now();
        let d = Down::Ack {
            lane: Lane::Bulk,
            next: 5,
        };
        let len = d.wire_len() as f64;
        shore.tx.send("a", d.clone()).unwrap();
        assert_eq!(ship.rx.recv().await.unwrap(), d);
        let took = (Instant::now() - t0).as_secs_f64();
        let expect = 0.3 + len / 1_000.0;
        assert!(
            (took - expect).abs() < 0.01,
            "took {took}, expected {expect}"
        );

        // Sent just before the outage, arriving inside it: lost.
        tokio::time::sleep_until(t0 + Duration::from_millis(9_900)).await;
        shore.tx.send("a", d.clone()).unwrap();
        tokio::time::sleep_until(t0 + Duration::from_secs(11)).await;
        assert!(!net.is_up("a"));
        assert_eq!(shore.tx.send("a", d.clone()), Err(TransportError::LinkDown));
        assert!(!*ship.tx.link_state().borrow());
        tokio::time::sleep_until(t0 + Duration::from_secs(21)).await;
        assert!(*ship.tx.link_state().borrow());
        assert!(ship.rx.try_recv().is_err());
        assert_eq!(net.stats().lost_frames, 1);
        assert_eq!(net.stats().refused_frames, 1);
        drop(shore.rx.try_recv());
    }
}
