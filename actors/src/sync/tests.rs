//! Sync over the embedded transport, on paused tokio time: outage cycles with ship and
//! shore restarts (nothing lost, nothing applied twice), lane priority behind a large
//! backlog, drain rate against the cap, batch compression.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use seawatch_model::ShipId;
use seawatch_runtime::event_log::{EventKind, EventLog, EventLogConfig, FsyncPolicy, NewEvent};
use seawatch_runtime::{ActorKey, Clock, Runtime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fleet::{mirror_id, MirrorMsg, ASK_TIMEOUT, MIRROR_KIND};
use super::link::{LinkProfile, SimNet};
use super::metrics::SyncMetrics;
use super::ship::{
    run_ship_sync, CommandHandler, ShipSyncParts, SnapshotSource, SyncConfig, SyncShip,
};
use super::shore::{run_shore, CommandState, FleetStore, FleetView, MemFleetStore, Shore};
use super::wire::{Action, Batch, Lane, LinkSnapshot, ShipSnapshot};
use crate::log_service::EventSource;
use seawatch_runtime::event_log::{Event, EventLogError};

const SHIP: &str = "aurora";

/// A vendor-like log line (Cisco, Aruba, FortiGate, Linux), seeded.
fn log_line(rng: &mut SmallRng, seq: u64) -> (String, String) {
    let port = rng.random_range(1..48);
    let sw = rng.random_range(1..40);
    match rng.random_range(0..5) {
        0 => (
            format!("d{sw}-acc-{:02}", sw % 7),
            format!(
                "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{port}, changed state to {}",
                if seq.is_multiple_of(2) { "down" } else { "up" }
            ),
        ),
        1 => (
            format!("d{sw}-acc-{:02}", sw % 7),
            format!("%LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet1/0/{port}, changed state to down"),
        ),
        2 => (
            "wlc-01".into(),
            format!(
                "stm[3411]: <404400> <NOTI> |AP D{sw}-FWD-{port:03}@10.40.{sw}.{port} sapd| AP is down (heartbeat timeout)"
            ),
        ),
        3 => (
            "FGT-SHIP-A".into(),
            format!(
                "date=2025-03-14 time=21:{:02}:{:02} devname=\"FGT-SHIP-A\" devid=\"FG3H0E0000000001\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" level=\"notice\" vd=\"root\" srcip=10.60.{sw}.{port} dstip=52.{port}.{sw}.7 action=\"accept\"",
                seq / 60 % 60,
                seq % 60
            ),
        ),
        _ => (
            "pms-db01".into(),
            format!("systemd[1]: Started Session {} of user pms.", 4000 + seq % 997),
        ),
    }
}

fn new_event(rng: &mut SmallRng, seq_hint: u64, ts_ms: i64, kind: EventKind) -> NewEvent {
    let (source, body) = match kind {
        EventKind::Log | EventKind::Other => log_line(rng, seq_hint),
        EventKind::Metric => (
            format!("core-sw-{}", rng.random_range(1..3)),
            format!(
                "{{\"metric\":\"device_cpu_percent\",\"value\":{:.1}}}",
                rng.random_range(5.0..60.0)
            ),
        ),
        EventKind::State => ("link:vsat-1".into(), "{\"status\":\"degraded\"}".into()),
        EventKind::Incident | EventKind::Control => (
            "correlator".into(),
            format!("{{\"incident\":\"inc-{seq_hint}\",\"root_cause\":\"core-sw-1\"}}"),
        ),
    };
    NewEvent {
        ts_ms,
        kind,
        source,
        severity: 5,
        body,
    }
}

fn random_kind(rng: &mut SmallRng) -> EventKind {
    match rng.random_range(0..100) {
        0 => EventKind::Incident,
        1 => EventKind::Control,
        2..=5 => EventKind::State,
        6..=30 => EventKind::Metric,
        _ => EventKind::Log,
    }
}

/// The `step`-th burst of five events of random kinds, stamped `now_ms`.
fn burst(rng: &mut SmallRng, step: u64, now_ms: i64) -> Vec<NewEvent> {
    (0..5)
        .map(|i| {
            let k = random_kind(rng);
            new_event(rng, step * 5 + i, now_ms, k)
        })
        .collect()
}

/// The sync engine's input: a plain log this test appends to directly (the engine
/// reads through [`EventSource`]; the ship's log service is not under test here, and
/// its writer thread would not run on paused time).
struct TestLog(Mutex<EventLog>);

impl TestLog {
    fn append_batch(&self, events: Vec<NewEvent>) -> std::ops::Range<u64> {
        self.0.lock().append_batch(events).unwrap()
    }
}

impl EventSource for TestLog {
    fn ship_id(&self) -> String {
        self.0.lock().ship_id().to_owned()
    }
    fn first_seq(&self) -> u64 {
        self.0.lock().first_seq()
    }
    fn durable_next_seq(&self) -> u64 {
        self.0.lock().durable_next_seq()
    }
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        self.0.lock().read_from(seq, max)
    }
}

fn open_log(dir: &std::path::Path) -> Arc<TestLog> {
    let mut cfg = EventLogConfig::new(SHIP);
    cfg.fsync = FsyncPolicy::Never;
    cfg.segment_max_bytes = 4 << 20;
    Arc::new(TestLog(Mutex::new(
        EventLog::open(dir.join("log"), cfg).unwrap(),
    )))
}

struct Harness {
    dir: tempfile::TempDir,
    net: SimNet,
    store: Arc<MemFleetStore>,
    log: Arc<TestLog>,
    clock: Clock,
    metrics: SyncMetrics,
    config: SyncConfig,
    ship: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    shore: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    commands: super::shore::Commands,
    runtime: Runtime,
    fleet: FleetView,
    snapshot: Option<Arc<dyn SnapshotSource>>,
}

struct EchoHandler(Arc<parking_lot::Mutex<u32>>);

impl CommandHandler for EchoHandler {
    fn apply(&self, action: &Action) -> Result<String, String> {
        *self.0.lock() += 1;
        Ok(format!("{action:?}"))
    }
}

impl Harness {
    fn new(profile: LinkProfile) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let net = SimNet::new();
        net.add_ship(SHIP, profile);
        let log = open_log(dir.path());
        let config = SyncConfig::new(dir.path().join("sync.cursor"));
        Self {
            dir,
            net,
            store: Arc::new(MemFleetStore::new(0)),
            log,
            clock: Clock::tokio(1_700_000_000_000),
            metrics: SyncMetrics::default(),
            config,
            ship: None,
            shore: None,
            commands: Default::default(),
            runtime: Runtime::new(Clock::tokio(1_700_000_000_000)),
            fleet: FleetView::default(),
            snapshot: None,
        }
    }

    fn start_ship(&mut self, handler: Option<Arc<dyn CommandHandler>>) {
        let source: Arc<dyn EventSource> = self.log.clone();
        let engine = SyncShip::open(source, self.config.clone()).unwrap();
        let parts = ShipSyncParts {
            engine,
            conn: self.net.connect_ship(SHIP).unwrap(),
            clock: self.clock.clone(),
            metrics: Some(self.metrics.clone()),
            commands: handler,
            snapshot: self.snapshot.clone(),
            route: None,
        };
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            run_ship_sync(parts, rx).await.unwrap();
        });
        self.ship = Some((tx, task));
    }

    /// Kills the ship's sync (as kill -9 would: nothing flushed).
    async fn kill_ship(&mut self) {
        if let Some((_tx, task)) = self.ship.take() {
            task.abort();
            let _ = task.await;
        }
    }

    fn start_shore(&mut self) {
        let store: Arc<dyn FleetStore> = self.store.clone();
        let shore = Shore::new("shore-1", store)
            .with_metrics(self.metrics.clone())
            .with_shared(self.fleet.clone(), self.commands.clone())
            .with_runtime(self.runtime.clone());
        let conn = self.net.connect_shore();
        let (tx, rx) = watch::channel(false);
        let clock = self.clock.clone();
        let task = tokio::spawn(run_shore(shore, conn, clock, rx));
        self.shore = Some((tx, task));
    }

    async fn kill_shore(&mut self) {
        if let Some((_tx, task)) = self.shore.take() {
            task.abort();
            let _ = task.await;
        }
    }

    fn append(&self, events: Vec<NewEvent>) -> std::ops::Range<u64> {
        self.log.append_batch(events)
    }

    /// Waits (simulated time) until shore holds every event of the log, or `limit`.
    async fn drained(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let want = self.log.durable_next_seq() - 1;
        while Instant::now() < deadline {
            if self.store.count(SHIP) >= want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// (lost, duplicates) measured at shore by identity.
    fn audit(&self) -> (u64, u64) {
        let end = self.log.durable_next_seq();
        let lost = (1..end).filter(|&s| !self.store.contains(SHIP, s)).count() as u64;
        (lost, self.store.duplicates(SHIP))
    }
}

#[tokio::test(start_paused = true)]
async fn hundred_outage_cycles_with_ship_and_shore_restarts_lose_and_duplicate_nothing() {
    let mut rng = SmallRng::seed_from_u64(0x5ea_0a7c);
    // 100 outages of 5..90 s separated by 5..40 s of link.
    let mut outages = Vec::new();
    let mut t = Duration::from_secs(5);
    for _ in 0..100 {
        let down = Duration::from_secs(rng.random_range(5..90));
        outages.push((t, t + down));
        t += down + Duration::from_secs(rng.random_range(5..40));
    }
    let end = t;
    let profile = LinkProfile::new(2.0, Duration::from_millis(300)).with_outages(outages.clone());
    let mut h = Harness::new(profile);
    h.config.ack_timeout = Duration::from_secs(5);
    h.start_shore();
    h.start_ship(None);

    let start = Instant::now();
    let mut step = 0u64;
    let mut ship_restarts = 0;
    let mut shore_restarts = 0;
    while Instant::now() - start < end {
        // ~10 events a second, in bursts every 500 ms.
        let now_ms = h.clock.now_ms();
        h.append(burst(&mut rng, step, now_ms));
        step += 1;
        // Now and then, crash the ship's sync or a shore node (in and out of outages).
        if step.is_multiple_of(173) {
            h.kill_ship().await;
            h.start_ship(None);
            ship_restarts += 1;
        }
        if step.is_multiple_of(251) {
            h.kill_shore().await;
            h.start_shore();
            shore_restarts += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        ship_restarts >= 10 && shore_restarts >= 10,
        "{ship_restarts} {shore_restarts}"
    );
    assert!(
        h.drained(Duration::from_secs(600)).await,
        "backlog did not drain"
    );
    let (lost, dups) = h.audit();
    let total = h.log.durable_next_seq() - 1;
    eprintln!(
        "chaos: {} outages, {total} events, {ship_restarts} ship restarts, {shore_restarts} shore restarts, lost {lost}, duplicates {dups}, frames lost on the link {}",
        outages.len(),
        h.net.stats().lost_frames
    );
    assert!(
        h.net.stats().lost_frames > 0,
        "the outages never cut a frame"
    );
    assert_eq!((lost, dups), (0, 0));
    assert_eq!(h.store.count(SHIP), total);
}

#[tokio::test(start_paused = true)]
async fn a_crashed_mirror_actor_is_restarted_from_the_store_and_shore_holds_each_event_once() {
    let mut rng = SmallRng::seed_from_u64(0x0c_5a_5e);
    let profile = LinkProfile::new(2.0, Duration::from_millis(300));
    let mut h = Harness::new(profile);
    h.config.ack_timeout = Duration::from_secs(5);
    h.start_shore();
    h.start_ship(None);
    let key = ActorKey::new(&ShipId::new(SHIP), MIRROR_KIND, &mirror_id(SHIP));
    let mut incarnations = std::collections::HashSet::new();
    let mut step = 0u64;
    const CRASHES: u64 = 6;
    for round in 0..CRASHES {
        // 3 s of events, ~50 a second, while frames are in flight and in the mailbox.
        for _ in 0..30 {
            let now_ms = h.clock.now_ms();
            h.append(burst(&mut rng, step, now_ms));
            step += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The running incarnation, as the supervisor registered it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let current = loop {
            if let Some(r) = h.runtime.registry().lookup::<MirrorMsg>(&key) {
                break r;
            }
            assert!(Instant::now() < deadline, "mirror not running again");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(
            incarnations.insert(current.get_id()),
            "round {round}: the same incarnation as before"
        );
        let stored_before = h.store.count(SHIP);
        h.fleet
            .mirror(SHIP)
            .expect("the mirror is in the fleet view")
            .send(MirrorMsg::Crash)
            .unwrap_or_else(|_| panic!("round {round}: mirror not running"));
        // Crashed mid-stream: nothing it stored is lost, and it is restarted.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(h.store.count(SHIP) >= stored_before);
    }
    assert!(
        h.drained(Duration::from_secs(120)).await,
        "backlog did not drain after the crashes"
    );
    let total = h.log.durable_next_seq() - 1;
    let stats = h.runtime.metrics().actors().kind(MIRROR_KIND, SHIP);
    eprintln!(
        "mirror crashes: {CRASHES}, restarts {}, panics {}, {total} events, stored {}, duplicates {}",
        stats.restarts(),
        stats.panics(),
        h.store.count(SHIP),
        h.store.duplicates(SHIP)
    );
    assert_eq!(stats.panics(), CRASHES, "every injected crash was a panic");
    assert_eq!(stats.restarts(), CRASHES, "every crash was restarted");
    assert_eq!(incarnations.len() as u64, CRASHES);
    let last = h.runtime.registry().lookup::<MirrorMsg>(&key).unwrap();
    assert!(
        !incarnations.contains(&last.get_id()),
        "a new incarnation runs"
    );
    // By identity: every event of the ship's log once, none twice.
    assert_eq!(h.audit(), (0, 0));
    assert_eq!(h.store.count(SHIP), total);
    // The fleet view, asked of the mirror actor, shows what the store holds.
    let views = h.fleet.collect(ASK_TIMEOUT).await;
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].ship, SHIP);
    assert_eq!(views[0].events_stored, total);
    assert!(views[0].last_sync_ms.is_some());
    h.kill_shore().await;
    // The node's actors died with it: nothing left registered.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        h.runtime.registry().is_empty(),
        "mirrors outlived their node: {:?}",
        h.runtime.registry().shard_keys(&ShipId::new(SHIP))
    );
}

#[tokio::test(start_paused = true)]
async fn an_incident_behind_a_large_backlog_reaches_shore_within_5s_and_the_backlog_drains_near_the_cap(
) {
    let mut rng = SmallRng::seed_from_u64(7);
    // 8 Mbit/s GEO link, 600 ms one way; down for the first 60 s.
    let profile = LinkProfile::new(8.0, Duration::from_millis(600))
        .with_outages(vec![(Duration::ZERO, Duration::from_secs(60))]);
    let mut h = Harness::new(profile);
    // Hours of backlog: 300,000 logs and metrics (about 3 h at 30 events/s), then an
    // incident at the very end.
    let base = h.clock.now_ms() - 3 * 3_600_000;
    for chunk in 0..300u64 {
        let batch: Vec<NewEvent> = (0..1_000u64)
            .map(|i| {
                let n = chunk * 1_000 + i;
                let kind = if n % 4 == 0 {
                    EventKind::Metric
                } else {
                    EventKind::Log
                };
                new_event(&mut rng, n, base + n as i64 * 36, kind)
            })
            .collect();
        h.append(batch);
    }
    let incident = h
        .append(vec![new_event(
            &mut rng,
            1,
            h.clock.now_ms(),
            EventKind::Incident,
        )])
        .start;
    h.start_shore();
    h.start_ship(None);
    let up_at = Instant::now() + Duration::from_secs(60);
    tokio::time::sleep_until(up_at).await;
    let bytes_before = h.net.stats().up_bytes;
    let deadline = up_at + Duration::from_secs(5);
    while !h.store.contains(SHIP, incident) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let incident_after = Instant::now() - up_at;
    assert!(
        h.store.contains(SHIP, incident),
        "incident not at shore 5 s after link-up"
    );

    // Drain: bytes delivered per second while the backlog drains, against the cap.
    assert!(h.drained(Duration::from_secs(3_600)).await);
    let drain = (Instant::now() - up_at).as_secs_f64();
    let bytes = (h.net.stats().up_bytes - bytes_before) as f64;
    let cap = 8e6 / 8.0 * h.config.link_share;
    let utilisation = bytes / drain / cap;
    let (lost, dups) = h.audit();
    let raw: u64 = Lane::ALL
        .iter()
        .map(|&l| h.metrics.bytes_sent_total(SHIP, l))
        .sum();
    eprintln!(
        "priority: incident at shore {:.2} s after link-up behind 300,000 events; drained in {drain:.1} s, {:.0} B/s = {:.1}% of the {cap:.0} B/s cap; {raw} batch bytes; lost {lost}, duplicates {dups}",
        incident_after.as_secs_f64(),
        bytes / drain,
        utilisation * 100.0
    );
    assert!(incident_after <= Duration::from_secs(5));
    assert!(
        utilisation >= 0.8,
        "drained at {:.1}% of the cap",
        utilisation * 100.0
    );
    assert!(
        utilisation <= 1.05,
        "exceeded the cap: {:.1}%",
        utilisation * 100.0
    );
    assert_eq!((lost, dups), (0, 0));
}

#[test]
fn log_batches_compress_at_least_10_to_1() {
    let mut rng = SmallRng::seed_from_u64(42);
    let events: Vec<_> = (1..=2_000u64)
        .map(|seq| {
            let e = new_event(
                &mut rng,
                seq,
                1_700_000_000_000 + seq as i64 * 50,
                EventKind::Log,
            );
            seawatch_runtime::event_log::Event {
                seq,
                ts_ms: e.ts_ms,
                kind: e.kind,
                source: e.source,
                severity: e.severity,
                body: e.body,
            }
        })
        .collect();
    let b = Batch::build(SHIP, Lane::Bulk, 1, 2_001, &events).unwrap();
    let ratio = b.raw_bytes as f64 / b.payload.len() as f64;
    eprintln!(
        "compression: 2,000 log events, {} B raw, {} B zstd, {ratio:.1}:1",
        b.raw_bytes,
        b.payload.len()
    );
    assert!(ratio >= 10.0, "ratio {ratio:.1}");
    assert_eq!(b.events().unwrap(), events);
    // Every level sync may choose (decision 0028) keeps the goal; level 2 for the record.
    let z = crate::sync::ship::BatchZstd::default();
    for level in [z.cheap, 2, z.dense] {
        let b = Batch::build_at(SHIP, Lane::Bulk, 1, 2_001, &events, level).unwrap();
        let ratio = b.raw_bytes as f64 / b.payload.len() as f64;
        eprintln!(
            "zstd level {level}: {} B raw, {} B zstd, {ratio:.1}:1",
            b.raw_bytes,
            b.payload.len()
        );
        assert!(ratio >= 10.0, "level {level}: ratio {ratio:.1}");
        assert_eq!(b.events().unwrap(), events);
    }
}

/// The level follows the link: cheap while the backlog crosses it within `cheap_drain`,
/// dense when it does not (a thin link, or a backlog after an outage).
#[test]
fn batch_level_follows_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    let mut rng = SmallRng::seed_from_u64(7);
    let batch: Vec<NewEvent> = (0..5_000u64)
        .map(|i| new_event(&mut rng, i, 1_700_000_000_000 + i as i64, EventKind::Log))
        .collect();
    log.append_batch(batch);
    let source: Arc<dyn EventSource> = log.clone();
    let mut ship = SyncShip::open(source, SyncConfig::new(dir.path().join("cursor"))).unwrap();
    let z = crate::sync::ship::BatchZstd::default();
    // 5,000 events of ≈ 256 B at 10:1 is ≈ 128 KB: 2 s of a 1 MB/s sync share …
    ship.set_rate(1 << 20);
    assert_eq!(ship.zstd_level(), z.cheap);
    // … but 6 s of a 640 kbit/s link's quarter (20 KB/s)
    ship.set_rate(20_000);
    assert_eq!(ship.zstd_level(), z.dense);
}

/// Acknowledged positions reach the cursor file at most once per `persist_every` while
/// acks keep coming (not on every 100 ms tick), and at once when sync stops.
#[tokio::test(start_paused = true)]
async fn positions_are_persisted_at_most_once_per_interval_and_at_stop() {
    use super::ship::read_positions;
    use super::wire::Down;
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    let mut rng = SmallRng::seed_from_u64(3);
    let batch: Vec<NewEvent> = (0..100u64)
        .map(|i| new_event(&mut rng, i, 1_700_000_000_000 + i as i64, EventKind::Log))
        .collect();
    log.append_batch(batch);
    let cursor = dir.path().join("cursor");
    let source: Arc<dyn EventSource> = log.clone();
    let config = SyncConfig::new(&cursor);
    let every = config.persist_every;
    assert_eq!(every, Duration::from_secs(1));
    let mut ship = SyncShip::open(source, config).unwrap();
    let bulk = |p: Option<[u64; 4]>| p.map(|p| p[Lane::Bulk.index()]);
    let ack = |ship: &mut SyncShip, next: u64| {
        ship.on_down(
            Down::Ack {
                lane: Lane::Bulk,
                next,
            },
            0,
            None,
        );
    };
    let t0 = Instant::now();
    // nothing acknowledged yet: nothing written
    ship.persist_due(t0).unwrap();
    assert_eq!(read_positions(&cursor, SHIP).unwrap(), None);
    // the first ack is written at once
    ack(&mut ship, 10);
    ship.persist_due(t0).unwrap();
    assert_eq!(bulk(read_positions(&cursor, SHIP).unwrap()), Some(10));
    // acks on every 100 ms tick of the next second stay in memory …
    for i in 1..10u64 {
        ack(&mut ship, 10 + i);
        ship.persist_due(t0 + Duration::from_millis(100 * i))
            .unwrap();
        assert_eq!(bulk(read_positions(&cursor, SHIP).unwrap()), Some(10));
    }
    assert_eq!(ship.acked()[Lane::Bulk.index()], 19);
    // … and the latest is written once the interval has passed
    ship.persist_due(t0 + every).unwrap();
    assert_eq!(bulk(read_positions(&cursor, SHIP).unwrap()), Some(19));
    assert_eq!(ship.persisted(), 2);
    // stopping writes whatever is acknowledged, without waiting
    ack(&mut ship, 42);
    ship.persist_due(t0 + every + Duration::from_millis(100))
        .unwrap();
    assert_eq!(bulk(read_positions(&cursor, SHIP).unwrap()), Some(19));
    ship.persist().unwrap();
    assert_eq!(bulk(read_positions(&cursor, SHIP).unwrap()), Some(42));
    assert_eq!(ship.persisted(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_command_queued_during_an_outage_is_applied_once_and_answered() {
    let profile = LinkProfile::new(2.0, Duration::from_millis(300))
        .with_outages(vec![(Duration::ZERO, Duration::from_secs(30))]);
    let mut h = Harness::new(profile);
    let applied = Arc::new(parking_lot::Mutex::new(0));
    h.start_shore();
    h.start_ship(Some(Arc::new(EchoHandler(applied.clone()))));
    let id = h.commands.submit(
        SHIP,
        Action::Recalibrate {
            detector: "core-sw-1".into(),
        },
        Duration::from_secs(600),
        h.clock.now_ms(),
    );
    let expired = h.commands.submit(
        SHIP,
        Action::AckIncident {
            incident: "i".into(),
        },
        Duration::from_secs(10),
        h.clock.now_ms(),
    );
    // Ship traffic while the link is down keeps nothing moving; after link-up the shore
    // sends the command with its first answer to the ship.
    let mut rng = SmallRng::seed_from_u64(1);
    h.append(vec![new_event(
        &mut rng,
        1,
        h.clock.now_ms(),
        EventKind::Log,
    )]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !matches!(
        h.commands.state(SHIP, id),
        Some(CommandState::Answered { .. })
    ) && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Keep the ship talking so shore resends (at most every 5 s) until answered.
        h.append(vec![new_event(
            &mut rng,
            2,
            h.clock.now_ms(),
            EventKind::Log,
        )]);
    }
    // Let resends that crossed the answer arrive, then check it ran once.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let Some(CommandState::Answered { reply }) = h.commands.state(SHIP, id) else {
        panic!("no answer: {:?}", h.commands.state(SHIP, id));
    };
    assert!(reply.ok, "{reply:?}");
    assert_eq!(*applied.lock(), 1);
    assert_eq!(h.commands.state(SHIP, expired), Some(CommandState::Expired));
    let _ = h.dir.path();
}

/// Shore as the downsampling sees it (decision 0058): lane positions with apply by
/// (ship, seq), and the rollup watermark with [`rollup_decision`]; it keeps what it
/// applied, counted, to find anything lost or doubled.
#[derive(Default)]
struct ModelShore {
    pos: [u64; 4],
    applied: std::collections::BTreeMap<u64, (u32, Event)>,
    rollup_next: u64,
    aggregates: Vec<crate::store::victoriametrics::VmSample>,
    rows: Vec<super::wire::AggRow>,
}

impl ModelShore {
    fn take(&mut self, up: &super::wire::Up) -> Option<super::wire::Down> {
        use super::downsample::{rollup_decision, samples_of, RollupDecision};
        use super::wire::{Down, Up};
        match up {
            Up::Batch(b) => {
                let p = &mut self.pos[b.lane.index()];
                if b.from_seq > *p {
                    return Some(Down::Resume {
                        lane: b.lane,
                        next: *p,
                    });
                }
                for e in b.events().unwrap().into_iter().filter(|e| e.seq >= *p) {
                    self.applied.entry(e.seq).or_insert((0, e.clone())).0 += 1;
                }
                *p = (*p).max(b.end_seq);
                Some(Down::Ack {
                    lane: b.lane,
                    next: *p,
                })
            }
            Up::Rollup(r) => {
                match rollup_decision(self.rollup_next, r.from_seq, r.end_seq) {
                    RollupDecision::Apply => {
                        let rows = r.decode_rows().unwrap();
                        self.aggregates.extend(rows.iter().flat_map(samples_of));
                        self.rows.extend(rows);
                        self.rollup_next = r.end_seq;
                    }
                    RollupDecision::Answer(_) => {}
                }
                Some(Down::RollupAck {
                    next: self.rollup_next,
                })
            }
            _ => None,
        }
    }
}

/// Samples of two families from 4 devices every 10 s over `minutes` from `t0`, with a
/// log line every 7th event: `if_in_octets` (downsampled) and `cpu_percent` (not).
fn samples(rng: &mut SmallRng, t0: i64, minutes: i64) -> Vec<NewEvent> {
    let mut out = Vec::new();
    for step in 0..minutes * 6 {
        for dev in 0..4 {
            for name in ["if_in_octets", "cpu_percent"] {
                out.push(NewEvent {
                    ts_ms: t0 + step * 10_000 + dev * 100,
                    kind: EventKind::Metric,
                    source: format!("sw-{dev}"),
                    severity: 0,
                    body: format!(
                        "{name}{{job=\"snmp\"}} {}",
                        rng.random_range(0..1_000_000u32)
                    ),
                });
            }
            if out.len() % 7 == 0 {
                let (source, body) = log_line(rng, step as u64);
                out.push(NewEvent {
                    ts_ms: t0 + step * 10_000,
                    kind: EventKind::Log,
                    source,
                    severity: 5,
                    body,
                });
            }
        }
    }
    out
}

/// Downsampling on a poor link (decision 0058), on the engine with an injected clock and a
/// model shore: the aggregates of the whole backlog go before any full-resolution metric
/// batch above them; a lost answer, a restart that cuts the ranges differently and a
/// link that turns good again lose and double nothing: every raw event once, each
/// aggregate point once, each raw sample of a downsampled family in exactly one
/// aggregate row; a link a link actor reports degraded gets aggregates first too.
#[tokio::test(start_paused = true)]
async fn a_poor_link_sends_aggregates_before_full_resolution_and_shore_gets_each_once() {
    use super::downsample::{DownsampleConfig, WINDOW_MS};
    use super::wire::Up;
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    let mut rng = SmallRng::seed_from_u64(58);
    let t0 = 1_700_000_040_000; // a minute boundary
    log.append_batch(samples(&mut rng, t0, 30));
    let mut now_ms = t0 + 35 * 60_000;
    let mut config = SyncConfig::new(dir.path().join("cursor"));
    let mut ds = DownsampleConfig::new(vec!["if_*".into()]);
    ds.frame_max_events = 700; // several rollups, minutes split between them
    config.downsample = Some(ds);
    config.batch_max_events = 300;
    let source: Arc<dyn EventSource> = log.clone();
    let mut ship = SyncShip::open(source.clone(), config.clone()).unwrap();
    // 2,400 events at ≈ 256 B and 10:1 over 500 B/s: ≈ 2 min of backlog, over 60 s.
    ship.set_rate(500);
    ship.fill().unwrap();
    let mut shore = ModelShore::default();
    let mut frames: Vec<&'static str> = Vec::new();
    // Sends and answers until nothing is left; `drop_answer` loses the n-th rollup's answer.
    let run = |ship: &mut SyncShip,
               shore: &mut ModelShore,
               frames: &mut Vec<&'static str>,
               now_ms: i64,
               mut drop_answer: Option<usize>| {
        let mut rollups = 0;
        for _ in 0..10_000 {
            ship.fill().unwrap();
            let now = Instant::now();
            let Some(up) = ship.poll_send(now, None, now_ms).unwrap() else {
                if ship.has_sendable(now) {
                    continue;
                }
                return;
            };
            // While poor, no full-resolution metrics above what shore has aggregates for.
            if let Up::Batch(b) = &up {
                if b.lane == Lane::Metrics && ship.link_poor() && b.count > 0 {
                    assert!(
                        b.end_seq <= shore.rollup_next,
                        "metrics batch [{}, {}) sent ahead of the aggregates (at {})",
                        b.from_seq,
                        b.end_seq,
                        shore.rollup_next
                    );
                }
            }
            frames.push(match &up {
                Up::Rollup(_) => "rollup",
                Up::Batch(b) if b.lane == Lane::Metrics => "metrics",
                Up::Batch(_) => "other",
                _ => "snapshot",
            });
            let answer = shore.take(&up);
            if let Up::Rollup(_) = up {
                rollups += 1;
                if drop_answer == Some(rollups) {
                    drop_answer = None;
                    // the answer is lost; the rollup is sent again after the ack timeout
                    ship.check_timeouts(now + Duration::from_secs(16));
                    continue;
                }
            }
            if let Some(d) = answer {
                ship.on_down(d, now_ms, None);
            }
        }
        panic!("sync never ran out of frames");
    };
    assert!(ship.link_poor(), "a 2-minute backlog is a poor link");
    // Half the rollups, the second answer lost, then a restart (rollup position not kept).
    {
        let mut rollups_seen = 0;
        for _ in 0..200 {
            let now = Instant::now();
            let Some(up) = ship.poll_send(now, None, now_ms).unwrap() else {
                break;
            };
            let is_rollup = matches!(up, Up::Rollup(_));
            frames.push(if is_rollup { "rollup" } else { "snapshot" });
            assert!(
                !matches!(&up, Up::Batch(b) if b.lane == Lane::Metrics),
                "no metrics batch before the aggregates"
            );
            let answer = shore.take(&up);
            if is_rollup {
                rollups_seen += 1;
                if rollups_seen == 2 {
                    // answer lost: sent again after the ack timeout
                    ship.check_timeouts(now + Duration::from_secs(16));
                    continue;
                }
                if rollups_seen == 3 {
                    break;
                }
            }
            if let Some(d) = answer {
                ship.on_down(d, now_ms, None);
            }
        }
        assert_eq!(rollups_seen, 3);
    }
    let applied_rollups = shore.rollup_next;
    assert!(applied_rollups > 0);
    // Restart: the new engine starts its aggregates at the metrics lane's position (below
    // shore's watermark), shore answers with its watermark, the ship goes on from there.
    let mut ship = SyncShip::open(source.clone(), config.clone()).unwrap();
    ship.set_rate(500);
    run(&mut ship, &mut shore, &mut frames, now_ms, Some(1));
    let first_metrics = frames.iter().position(|f| *f == "metrics").unwrap();
    let last_rollup = frames.iter().rposition(|f| *f == "rollup").unwrap();
    assert!(
        last_rollup < first_metrics,
        "every rollup of the backlog before the first metrics batch: {frames:?}"
    );
    let stats = ship.downsample_stats();
    assert!(stats.rollups >= 2 && stats.covered > 0, "{stats:?}");

    // Phase 2: the backlog is gone; a link actor reports the link degraded while 10 more
    // minutes arrive: aggregates first again. Then the link is good: full resolution
    // only, no rollup.
    let before = frames.len();
    ship.set_rate(1 << 20);
    ship.set_link_poor(true);
    log.append_batch(samples(&mut rng, t0 + 30 * 60_000, 10));
    now_ms += 10 * 60_000;
    run(&mut ship, &mut shore, &mut frames, now_ms, None);
    let phase2 = &frames[before..];
    let (r, m) = (
        phase2
            .iter()
            .rposition(|f| *f == "rollup")
            .expect("rollups while degraded"),
        phase2.iter().position(|f| *f == "metrics").unwrap(),
    );
    assert!(r < m, "{phase2:?}");
    let before = frames.len();
    ship.set_link_poor(false);
    log.append_batch(samples(&mut rng, t0 + 40 * 60_000, 5));
    now_ms += 5 * 60_000;
    run(&mut ship, &mut shore, &mut frames, now_ms, None);
    assert!(!ship.link_poor());
    assert!(
        !frames[before..].contains(&"rollup"),
        "a good link sends no aggregates"
    );
    assert!(frames[before..].contains(&"metrics"));

    // Every event of the log at shore once.
    let all = log.read_from(source.first_seq(), 1_000_000).unwrap();
    assert_eq!(shore.applied.len(), all.len(), "nothing lost");
    assert!(
        shore.applied.values().all(|(n, _)| *n == 1),
        "nothing doubled"
    );
    // Each aggregate point once.
    let mut points = std::collections::HashMap::new();
    for s in &shore.aggregates {
        *points
            .entry((
                crate::store::victoriametrics::series_key(&s.labels),
                s.ts_ms,
            ))
            .or_insert(0) += 1;
    }
    assert!(points.values().all(|n| *n == 1), "an aggregate point twice");
    // Each raw sample of `if_in_octets` up to the good phase in exactly one row, and the
    // rows agree with the raw samples of their minute.
    let raw: Vec<&Event> = all
        .iter()
        .filter(|e| e.body.starts_with("if_in_octets") && e.ts_ms < t0 + 40 * 60_000)
        .collect();
    let covered: u64 = shore.rows.iter().map(|r| r.count).sum();
    assert_eq!(
        covered,
        raw.len() as u64,
        "each raw sample in one aggregate row"
    );
    let value = |e: &Event| -> f64 { e.body.rsplit(' ').next().unwrap().parse().unwrap() };
    let mut by_minute: std::collections::BTreeMap<(String, i64), Vec<f64>> = Default::default();
    for e in &raw {
        by_minute
            .entry((e.source.clone(), e.ts_ms.div_euclid(WINDOW_MS)))
            .or_default()
            .push(value(e));
    }
    let mut split = 0;
    for ((dev, minute), values) in &by_minute {
        let rows: Vec<_> = shore
            .rows
            .iter()
            .filter(|r| {
                r.ts_ms.div_euclid(WINDOW_MS) == *minute
                    && r.labels.contains(&("device".into(), dev.clone()))
            })
            .collect();
        let max = values.iter().cloned().fold(f64::MIN, f64::max);
        let min = values.iter().cloned().fold(f64::MAX, f64::min);
        assert_eq!(
            rows.iter().map(|r| r.count).sum::<u64>(),
            values.len() as u64
        );
        assert_eq!(rows.iter().map(|r| r.max).fold(f64::MIN, f64::max), max);
        assert_eq!(rows.iter().map(|r| r.min).fold(f64::MAX, f64::min), min);
        if rows.len() == 1 {
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            assert!((rows[0].mean - mean).abs() < 1e-9);
            assert_eq!(rows[0].last, *values.last().unwrap());
        } else {
            split += 1;
        }
    }
    eprintln!(
        "[downsample] {} frames, {} rollups, {} rows ({} minutes split between rollups), {} raw events at shore",
        frames.len(),
        frames.iter().filter(|f| **f == "rollup").count(),
        shore.rows.len(),
        split,
        shore.applied.len()
    );
    // Only downsampled families have aggregates.
    assert!(shore.rows.iter().all(|r| r.labels[0].1 == "if_in_octets"));
}

/// A live link that stays poor (a link actor reports it degraded) while samples keep
/// arriving every 10 s, each at the ship clock's time: one rollup a minute, covering
/// whole minutes (one row per series and minute, none split), and the full resolution
/// of a minute only after its aggregates.
#[tokio::test(start_paused = true)]
async fn a_live_poor_link_rolls_up_whole_minutes_once_a_minute() {
    use super::downsample::{DownsampleConfig, WINDOW_MS};
    use super::wire::Up;
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    let mut rng = SmallRng::seed_from_u64(5_801);
    let mut config = SyncConfig::new(dir.path().join("cursor"));
    config.downsample = Some(DownsampleConfig::new(vec!["if_in_octets".into()]));
    let source: Arc<dyn EventSource> = log.clone();
    let mut ship = SyncShip::open(source.clone(), config).unwrap();
    ship.set_rate(1 << 20);
    ship.set_link_poor(true);
    let mut shore = ModelShore::default();
    let t0 = 1_700_000_040_000 + 5_000; // 5 s into a minute
    let mut rollups = 0;
    let mut first_metric_seen_after_rollup = true;
    // 10 minutes, a tick every second; samples every 10 s.
    for sec in 0..600i64 {
        tokio::time::advance(Duration::from_secs(1)).await;
        let now_ms = t0 + sec * 1_000;
        if sec % 10 == 0 {
            let batch: Vec<NewEvent> = (0..4)
                .map(|dev| NewEvent {
                    ts_ms: now_ms,
                    kind: EventKind::Metric,
                    source: format!("sw-{dev}"),
                    severity: 0,
                    body: format!(
                        "if_in_octets{{job=\"snmp\"}} {}",
                        rng.random_range(0..1_000u32)
                    ),
                })
                .collect();
            log.append_batch(batch);
        }
        ship.fill().unwrap();
        ship.check_poor();
        while let Some(up) = ship.poll_send(Instant::now(), None, now_ms).unwrap() {
            match &up {
                Up::Rollup(_) => rollups += 1,
                Up::Batch(b) if b.lane == Lane::Metrics && b.count > 0 => {
                    first_metric_seen_after_rollup &= b.end_seq <= shore.rollup_next;
                }
                _ => {}
            }
            if let Some(d) = shore.take(&up) {
                ship.on_down(d, now_ms, None);
            }
        }
    }
    assert!(
        first_metric_seen_after_rollup,
        "full resolution ahead of its aggregates"
    );
    // Minutes complete 10 s after they end: 9 whole minutes by the end, one rollup each.
    assert!((9..=10).contains(&rollups), "{rollups} rollups");
    let mut per: std::collections::BTreeMap<(String, i64), u32> = Default::default();
    for r in &shore.rows {
        *per.entry((format!("{:?}", r.labels), r.ts_ms.div_euclid(WINDOW_MS)))
            .or_default() += 1;
    }
    assert!(
        per.values().all(|n| *n == 1),
        "a minute split between rollups"
    );
    assert_eq!(shore.rows.len(), per.len());
    assert!(shore.rows.iter().all(|r| r.count <= 6));
    assert!(shore.rows.len() >= 4 * 9);
}

/// A shore that never answers rollups (one that predates them drops them as bad frames):
/// after three unanswered rollups the ship stops downsampling and the metrics lane's full
/// resolution is not held back behind aggregates that are never taken.
#[tokio::test(start_paused = true)]
async fn rollups_nobody_answers_do_not_hold_the_metrics_lane_back() {
    use super::downsample::DownsampleConfig;
    use super::wire::Up;
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    let mut rng = SmallRng::seed_from_u64(5_802);
    let t0 = 1_700_000_040_000;
    log.append_batch(samples(&mut rng, t0, 5));
    let mut config = SyncConfig::new(dir.path().join("cursor"));
    config.downsample = Some(DownsampleConfig::new(vec!["if_in_octets".into()]));
    let source: Arc<dyn EventSource> = log.clone();
    let mut ship = SyncShip::open(source.clone(), config).unwrap();
    ship.set_link_poor(true);
    let mut shore = ModelShore::default();
    let now_ms = t0 + 10 * 60_000;
    let mut rollups = 0;
    let mut now = Instant::now();
    for _ in 0..1_000 {
        ship.fill().unwrap();
        match ship.poll_send(now, None, now_ms).unwrap() {
            Some(Up::Rollup(_)) => {
                rollups += 1;
                now += Duration::from_secs(16);
                ship.check_timeouts(now);
            }
            Some(up) => {
                if let Some(d) = shore.take(&up) {
                    ship.on_down(d, now_ms, None);
                }
            }
            None => break,
        }
    }
    assert_eq!(rollups, 3);
    assert!(!ship.link_poor());
    let all = log.read_from(source.first_seq(), 1_000_000).unwrap();
    assert_eq!(shore.applied.len(), all.len(), "the metrics lane went on");
}

/// A ship whose VSAT state the test flips.
struct Vsat(Mutex<&'static str>, bool);

impl SnapshotSource for Vsat {
    fn snapshot(&self, now_ms: i64) -> ShipSnapshot {
        ShipSnapshot {
            at_ms: now_ms,
            links: vec![LinkSnapshot {
                id: "vsat-1".into(),
                status: (*self.0.lock()).into(),
            }],
            ..ShipSnapshot::default()
        }
    }
    fn fingerprint(&self) -> Option<u64> {
        self.1.then(|| u64::from(*self.0.lock() == "up"))
    }
}

/// How long (simulated) after the ship's VSAT goes down shore's fleet view says so.
async fn link_change_reaches_shore(fingerprint: bool) -> Duration {
    let mut h = Harness::new(LinkProfile::new(8.0, Duration::from_millis(600)));
    let vsat = Arc::new(Vsat(Mutex::new("up"), fingerprint));
    h.snapshot = Some(vsat.clone());
    h.start_shore();
    h.start_ship(None);
    let status = |h: &Harness| {
        h.fleet
            .get(SHIP)
            .and_then(|f| f.links.first().map(|l| l.status.clone()))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(&h).as_deref() != Some("up") {
        assert!(Instant::now() < deadline, "no first snapshot");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Well inside the 30 s between periodic snapshots.
    tokio::time::sleep(Duration::from_secs(5)).await;
    *vsat.0.lock() = "down";
    let changed = Instant::now();
    while status(&h).as_deref() != Some("down") {
        assert!(
            changed.elapsed() < Duration::from_secs(60),
            "never reached shore"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = changed.elapsed();
    h.kill_ship().await;
    h.kill_shore().await;
    took
}

#[tokio::test(start_paused = true)]
async fn a_link_change_reaches_the_fleet_view_within_two_seconds_not_at_the_next_periodic_snapshot()
{
    // checked once a second, sent at the next slot, 600 ms on the link
    let fast = link_change_reaches_shore(true).await;
    assert!(fast <= Duration::from_secs(2), "{fast:?}");
    // without a fingerprint it waits for the periodic snapshot (30 s after the first)
    let slow = link_change_reaches_shore(false).await;
    assert!(slow >= Duration::from_secs(20), "{slow:?}");
}

/// Ahead of an outage a link actor predicts on the sync's link (issue 23), on the engine
/// with an injected clock and a model shore: from the prediction until shortly after its
/// end the bulk lane sends nothing, the urgent and state lanes go first; once the outage
/// has passed the bulk backlog follows and shore holds every event once.
#[tokio::test(start_paused = true)]
async fn a_predicted_outage_sends_urgent_and_state_first_and_holds_bulk_until_it_passes() {
    use super::ship::OUTAGE_HOLD_AFTER_MS;
    use super::wire::Up;
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    let mut rng = SmallRng::seed_from_u64(23);
    let t0 = 1_700_000_000_000;
    // a backlog of logs with incidents, state changes and metrics among them
    let mut events = Vec::new();
    for i in 0..3_000u64 {
        let kind = match i % 10 {
            0 => EventKind::Incident,
            1 | 2 => EventKind::State,
            3 | 4 => EventKind::Metric,
            _ => EventKind::Log,
        };
        events.push(new_event(&mut rng, i, t0 + i as i64, kind));
    }
    log.append_batch(events);
    let mut config = SyncConfig::new(dir.path().join("cursor"));
    config.batch_max_events = 100;
    let source: Arc<dyn EventSource> = log.clone();
    let mut ship = SyncShip::open(source.clone(), config).unwrap();
    ship.set_rate(1 << 20);
    ship.fill().unwrap();
    let mut shore = ModelShore::default();
    // a blockage predicted 90 s ahead, lasting 2 min
    let now_ms = t0 + 10_000;
    let (start, end) = (now_ms + 90_000, now_ms + 210_000);
    ship.set_predicted_outage(Some((start, end)), now_ms);
    assert!(ship.bulk_held());
    let drain = |ship: &mut SyncShip, shore: &mut ModelShore, now_ms: i64| {
        let mut lanes = Vec::new();
        for _ in 0..10_000 {
            ship.fill().unwrap();
            let now = Instant::now();
            let Some(up) = ship.poll_send(now, None, now_ms).unwrap() else {
                break;
            };
            if let Up::Batch(b) = &up {
                lanes.push(b.lane);
            }
            if let Some(down) = shore.take(&up) {
                ship.on_down(down, now_ms, None);
            }
        }
        lanes
    };
    let before = drain(&mut ship, &mut shore, now_ms);
    assert!(!before.contains(&Lane::Bulk), "bulk held: {before:?}");
    let first = |l: Lane| before.iter().position(|x| *x == l).unwrap();
    let last = |l: Lane| before.iter().rposition(|x| *x == l).unwrap();
    assert!(last(Lane::Urgent) < first(Lane::State), "{before:?}");
    assert!(last(Lane::State) < first(Lane::Metrics), "{before:?}");
    assert_eq!(shore.pos[Lane::Urgent.index()], log.durable_next_seq());
    assert_eq!(shore.pos[Lane::State.index()], log.durable_next_seq());
    assert!(
        shore.pos[Lane::Bulk.index()] < 100,
        "nothing of bulk at shore"
    );
    // during the outage and just after it, still held
    let during = t0 + 200_000;
    ship.set_predicted_outage(Some((start, end)), during);
    assert!(drain(&mut ship, &mut shore, during).is_empty());
    ship.set_predicted_outage(Some((start, end)), end + OUTAGE_HOLD_AFTER_MS - 1);
    assert!(ship.bulk_held());
    // past it: the bulk lane drains, and shore holds every event exactly once
    let after = end + OUTAGE_HOLD_AFTER_MS;
    let lanes = drain(&mut ship, &mut shore, after);
    assert!(!ship.bulk_held());
    assert!(lanes.iter().all(|l| *l == Lane::Bulk), "{lanes:?}");
    assert_eq!(shore.pos[Lane::Bulk.index()], log.durable_next_seq());
    assert_eq!(shore.applied.len(), 3_000);
    assert!(shore.applied.values().all(|(n, _)| *n == 1));
    // a prediction withdrawn (the alert cleared) releases the lane at once
    ship.set_predicted_outage(Some((start, end)), now_ms);
    assert!(ship.bulk_held());
    ship.set_predicted_outage(None, now_ms);
    assert!(!ship.bulk_held());
}
