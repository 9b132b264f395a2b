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
use super::ship::{run_ship_sync, CommandHandler, ShipSyncParts, SyncConfig, SyncShip};
use super::shore::{run_shore, CommandState, FleetStore, FleetView, MemFleetStore, Shore};
use super::wire::{Action, Batch, Lane};
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
            snapshot: None,
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
