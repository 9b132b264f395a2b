//! Ship-to-shore sync over real nats-server processes: a 3-node shore cluster (JetStream
//! domain `shore`) and a ship leaf node (domain `aurora`) whose leaf connection runs
//! through a TCP proxy this test can cut. Link cuts, a kill of the ship's sync mid-sync, a
//! kill -9 of the shore node serving the ship; afterwards shore holds exactly the ship's
//! events, each once, by identity.
//!
//! Servers are started by `deploy/scripts/nats-test-server.sh` from the configs in
//! `deploy/nats/`. The binary is `SEAWATCH_NATS_SERVER` (set by test-all.sh) or what the
//! script finds or installs; if there is none the test says so and passes, except under
//! `CI=true`, where it fails.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seawatch_actors::ingest::metrics::IngestMetrics;
use seawatch_actors::ingest::pipeline::PipelineConfig;
use seawatch_actors::log_service::{EventSource, LogService, WriterActor};
use seawatch_actors::sync::nats::{
    connect_ship, run_shore_node, stored_events, ShipSource, ShoreNodeConfig, ShoreShared,
};
use seawatch_actors::sync::ship::{run_ship_sync, ShipSyncParts, SyncConfig, SyncShip};
use seawatch_runtime::event_log::{EventKind, EventLog, EventLogConfig, FsyncPolicy, NewEvent};
use seawatch_runtime::Clock;
use seawatch_tests::free_port;
use seawatch_tests::nats::{certs, nats_binary, ship_leaf, Creds, Proxy, ShoreCluster};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const SHIP: &str = "aurora";
const PW_SHIP: &str = "ship-test-pw";
const PW_SHORE: &str = "shore-test-pw";
const LEAF_USER: &str = "leaf-aurora";
const PW_LEAF: &str = "leaf-test-pw";

struct ShoreNode {
    shared: ShoreShared,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn start_shore_node(url: String, node: &str, clock: &Clock) -> ShoreNode {
    let shared = ShoreShared::default();
    let cfg = ShoreNodeConfig {
        url,
        node: node.to_owned(),
        ships: vec![ShipSource {
            ship: SHIP.into(),
            domain: SHIP.into(),
        }],
        replicas: 3,
        lease: Duration::from_secs(3),
    };
    let (stop, rx) = watch::channel(false);
    let (s2, clock) = (shared.clone(), clock.clone());
    let task = tokio::spawn(async move {
        // The cluster's JetStream needs a moment to elect its meta leader: retry.
        loop {
            match run_shore_node(cfg.clone(), s2.clone(), clock.clone(), rx.clone()).await {
                Ok(()) => return,
                Err(e) => {
                    eprintln!("[nats test] shore node {}: {e}; retrying", cfg.node);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    ShoreNode { shared, stop, task }
}

/// The ship's log service with its writer running (until the test's runtime ends).
async fn log_service(dir: &Path, cfg: EventLogConfig) -> LogService {
    let pipeline = PipelineConfig::default();
    let svc = LogService::new(EventLog::open(dir, cfg).unwrap(), &pipeline);
    let metrics = IngestMetrics::register(&seawatch_runtime::Metrics::new(), SHIP);
    let args = svc.writer_args(metrics, pipeline, Clock::system());
    ractor::Actor::spawn(None, WriterActor, args).await.unwrap();
    svc
}

async fn append(log: &LogService, n: u64, at: u64) {
    let ev: Vec<NewEvent> = (0..n)
        .map(|i| NewEvent {
            ts_ms: 1_764_000_000_000 + (at + i) as i64,
            kind: [
                EventKind::Log,
                EventKind::Metric,
                EventKind::Log,
                EventKind::State,
                EventKind::Incident,
            ][((at + i) % 5) as usize],
            source: format!("dev-{}", (at + i) % 11),
            severity: 5,
            body: format!(
                "%LINK-3-UPDOWN: Interface Gi1/0/{}, changed state to down",
                (at + i) % 48
            ),
        })
        .collect();
    log.append(ev).await.unwrap();
}

async fn produce(log: &LogService, at: &mut u64, n: u64) {
    append(log, n, *at).await;
    *at += n;
}

fn start_ship_sync(
    log: &LogService,
    dir: &Path,
    leaf_url: String,
    clock: &Clock,
) -> (watch::Sender<bool>, JoinHandle<()>) {
    let source: Arc<dyn EventSource> = Arc::new(log.reader());
    let mut cfg = SyncConfig::new(dir.join("sync.cursor"));
    cfg.ack_timeout = Duration::from_secs(3);
    cfg.rate_bytes_per_s = Some(2 << 20);
    cfg.batch_max_events = 500;
    let (stop, rx) = watch::channel(false);
    let clock = clock.clone();
    let task = tokio::spawn(async move {
        let engine = SyncShip::open(source, cfg).unwrap();
        // The leaf's JetStream may still be starting: retry, as the sync actor does.
        let conn = loop {
            match connect_ship(&leaf_url, SHIP, None).await {
                Ok(c) => break c,
                Err(e) => {
                    eprintln!("[nats test] ship connect: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let parts = ShipSyncParts {
            engine,
            conn,
            clock,
            metrics: None,
            commands: None,
            snapshot: None,
            route: None,
        };
        run_ship_sync(parts, rx).await.unwrap();
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_ship_kill_and_shore_node_kill_leave_shore_with_exactly_the_ships_events() {
    if std::env::var("RUST_LOG").is_ok() {
        // Where the failover time goes: lease takeovers, mirror starts and errors.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let bin = match nats_binary() {
        Ok(b) => b,
        Err(e) if !ci => {
            eprintln!(
                "[nats test] SKIPPED: no nats-server ({e}); run deploy/scripts/services/nats.sh"
            );
            return;
        }
        Err(e) => panic!("no nats-server under CI: {e}"),
    };
    let clock = Clock::system();
    let proxy_port = free_port();
    let tls = certs();
    let creds = Creds {
        shore: PW_SHORE.into(),
        leaf_user: LEAF_USER.into(),
        leaf: PW_LEAF.into(),
        ship: PW_SHIP.into(),
    };
    // Ships are told the proxy, so every leaf connection can be cut.
    let mut cluster = ShoreCluster::start(3, &bin, creds.clone(), tls.path(), |_, _| {
        format!("127.0.0.1:{proxy_port}")
    });
    let leaf = cluster.leaf.clone();
    let proxy = Proxy::start(proxy_port, leaf.clone()).await;
    let leaf_client = free_port();
    let ship_leaf = |name: &str, port: u16, hub_url: String, ca: &Path| {
        ship_leaf(&bin, &creds, name, port, hub_url, tls.path(), ca)
    };
    // The ship's leaf connection: TLS (client certificate, hub verified by the CA) and
    // the ship's leaf credentials.
    let ship_server = ship_leaf(
        SHIP,
        leaf_client,
        format!("nats-leaf://{LEAF_USER}:{PW_LEAF}@127.0.0.1:{proxy_port}"),
        tls.path(),
    );
    ship_server.run("start").unwrap();
    let client = cluster.client.clone();
    let shore_url = |i: usize| format!("nats://shore:{PW_SHORE}@127.0.0.1:{}", client[i]);
    let leaf_url = format!("nats://ship:{PW_SHIP}@127.0.0.1:{leaf_client}");

    let mut nodes: Vec<Option<ShoreNode>> = (0..3)
        .map(|i| Some(start_shore_node(shore_url(i), &format!("node-{i}"), &clock)))
        .collect();

    let ship_dir = tempfile::tempdir().unwrap();
    let mut log_cfg = EventLogConfig::new(SHIP);
    log_cfg.fsync = FsyncPolicy::Never;
    let log = log_service(&ship_dir.path().join("log"), log_cfg).await;
    let mut ship = start_ship_sync(&log, ship_dir.path(), leaf_url.clone(), &clock);

    let mut at = 0u64;
    // Phase 1: link up, events flow; then three cuts of the leaf link.
    let t0 = Instant::now();
    for cut in 0..3 {
        for _ in 0..20 {
            produce(&log, &mut at, 20).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        proxy.set_cut(true);
        for _ in 0..20 {
            produce(&log, &mut at, 20).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if cut == 1 {
            // Kill the ship's sync mid-sync (during the cut, with frames in flight).
            ship.1.abort();
            let _ = (&mut ship.1).await;
            ship = start_ship_sync(&log, ship_dir.path(), leaf_url.clone(), &clock);
        }
        proxy.set_cut(false);
    }
    // Phase 2: kill -9 the shore node serving the ship (its server and its process side).
    // Generous: on a loaded machine the cluster's first leader election takes a while.
    // The owner: the node whose mirror has heard from the ship (a mirror publishes its
    // view as soon as it is rebuilt from the store, before any frame).
    let owner = wait_for(Duration::from_secs(60), || {
        nodes.iter().position(|n| {
            n.as_ref()
                .and_then(|n| n.shared.fleet.get(SHIP))
                .is_some_and(|f| f.last_sync_ms.is_some())
        })
    })
    .await
    .expect("no shore node serves the ship");
    let killed_at = Instant::now();
    eprintln!("[nats test] killing node-{owner} and its server");
    if let Some(n) = nodes[owner].take() {
        n.task.abort();
        drop(n.stop);
    }
    if let Some(s) = cluster.servers[owner].take() {
        s.run("kill").unwrap();
    }
    produce(&log, &mut at, 200).await;
    let next_owner = wait_for(Duration::from_secs(30), || {
        nodes.iter().position(|n| {
            n.as_ref()
                .and_then(|n| n.shared.fleet.get(SHIP))
                .is_some_and(|f| f.last_sync_ms.is_some())
        })
    })
    .await;
    let failover = killed_at.elapsed();
    if next_owner.is_none() {
        // What the ship's leaf and the fleet stream's source saw.
        let log = std::fs::read_to_string(ship_server.log()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(25).collect();
        eprintln!(
            "[nats test] ship leaf log (newest first):\n{}",
            tail.join("\n")
        );
        for (i, n) in nodes.iter().enumerate() {
            if n.is_none() {
                continue;
            }
            if let Ok(c) =
                async_nats::ConnectOptions::with_user_and_password("shore".into(), PW_SHORE.into())
                    .connect(format!("nats://127.0.0.1:{}", client[i]))
                    .await
            {
                let js = async_nats::jetstream::new(c);
                if let Ok(mut st) = js.get_stream("SW_FLEET").await {
                    if let Ok(info) = st.info().await {
                        eprintln!(
                            "[nats test] SW_FLEET via shore-{i}: cluster {:?}; sources {:?}",
                            info.cluster, info.sources
                        );
                    }
                    if let Ok(ci) = st.consumer_info(format!("mirror-{SHIP}")).await {
                        eprintln!(
                            "[nats test] consumer: pending {} ack-pending {} redelivered {} \
                             delivered {:?} acked {:?} waiting {} cluster {:?}",
                            ci.num_pending,
                            ci.num_ack_pending,
                            ci.num_redelivered,
                            ci.delivered,
                            ci.ack_floor,
                            ci.num_waiting,
                            ci.cluster
                        );
                    }
                }
                break;
            }
        }
    }
    assert!(next_owner.is_some(), "no node took the ship over");

    // Phase 3: drain, then audit by identity.
    produce(&log, &mut at, 200).await;
    let total = log.reader().durable_next_seq() - 1;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut stored = Default::default();
    let audit_url = shore_url(next_owner.unwrap_or(0));
    while Instant::now() < deadline {
        stored = stored_events(&audit_url, SHIP).await.unwrap_or_default();
        if stored.len() as u64 >= total {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let missing = (1..=total).filter(|s| !stored.contains_key(s)).count();
    let twice = stored.values().filter(|&&c| c > 1).count();
    eprintln!(
        "[nats test] {total} events, 3 link cuts, 1 ship sync kill, 1 shore node kill -9; \
         failover {:.1} s; at shore: {} distinct, {missing} missing, {twice} stored twice; {:.1} s in all",
        failover.as_secs_f64(),
        stored.len(),
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(missing, 0, "events lost");
    assert_eq!(twice, 0, "events stored twice");
    assert_eq!(stored.len() as u64, total);
    // The goal is 10 s. The floor is nats-server's raft election (4-9 s) of the streams
    // and consumer the killed server led; our part adds about 1.5 s (decision 0017).
    // Measured 1.8-8.2 s in 16 runs up to load average 12.7 (docs/benchmarks.md), but an
    // election drawn near 9 s can pass 10 s, so a 10 s bound would fail now and then; this
    // bound catches a failover that does not happen or stalls; the figure is printed above.
    assert!(
        failover < Duration::from_secs(20),
        "failover took {failover:?}"
    );

    // Phase 4: leaves that lack the credentials, or trust another CA, are refused: their
    // clients never reach shore (no ping answered), and their servers log why; the
    // ship's own leaf reaches shore over the same port.
    let pinger = |port: u16| async move {
        let c = async_nats::ConnectOptions::with_user_and_password("ship".into(), PW_SHIP.into())
            .connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(1),
            c.request("seawatch.ping", "x".into()),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    };
    let other_ca = certs();
    let rogues = [
        (
            "nocreds",
            format!("nats-leaf://127.0.0.1:{}", leaf[next_owner.unwrap_or(0)]),
            tls.path().to_owned(),
            "authorization",
        ),
        (
            "otherca",
            format!(
                "nats-leaf://{LEAF_USER}:{PW_LEAF}@127.0.0.1:{}",
                leaf[next_owner.unwrap_or(0)]
            ),
            other_ca.path().to_owned(),
            "certificate",
        ),
    ];
    for (name, url, ca, why) in rogues {
        let port = free_port();
        let rogue = ship_leaf(name, port, url, &ca);
        rogue.run("start").unwrap();
        let log = rogue.log();
        let refused = wait_for(Duration::from_secs(20), || {
            let text = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .to_lowercase();
            text.contains(why).then_some(())
        })
        .await;
        let mut answered = 0;
        for _ in 0..3 {
            answered += pinger(port).await as u32;
        }
        eprintln!(
            "[nats test] leaf {name}: {} ; pings answered {answered}/3",
            if refused.is_some() {
                format!("refused ({why} in its log)")
            } else {
                "no refusal logged".into()
            }
        );
        assert!(
            refused.is_some(),
            "leaf {name}: no {why:?} error in {}",
            log.display()
        );
        assert_eq!(answered, 0, "leaf {name} reached shore");
    }
    assert!(
        pinger(leaf_client).await,
        "the ship's own leaf does not reach shore"
    );

    let _ = ship.0.send(true);
    let _ = ship.1.await;
    for n in nodes.into_iter().flatten() {
        let _ = n.stop.send(true);
        let _ = n.task.await;
    }
}

async fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
