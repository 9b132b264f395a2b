//! The rollout goal run (issue 25) over a real nats-server: two shore nodes in failover
//! mode (journal in JetStream, a lease per rollout) and 50 ships' bundle agents, each
//! under its own supervision tree; 30 % of the ships (drawn by a seed, printed) are
//! offline while the rollout runs and for six hours of shore time after it.
//!
//! 1. A good bundle (chunked, fetched at the bulk lane's share) in three waves: canary,
//!    50 %, 100 %. Three ships are cut off in the middle of their chunk fetches and come
//!    back; the shore node running the rollout is killed in wave 2 and the other node
//!    takes it over; after six hours the offline ships come back. Every ship applies the
//!    bundle once, every chunk is fetched once (0 fetched again after it was stored),
//!    every ship's delivery is in the stream once, each ship's `sent` and `succeeded`
//!    are journaled once, and a stale writer is fenced off the journal.
//! 2. A bad bundle: it compiles, but the canary opens a critical incident right after
//!    the apply. The canary's incident watch fails, it rolls back by itself, and the
//!    rollout pauses before wave 2 (no ship of wave 2 sent).
//!
//! Figures are printed (`--nocapture`) for docs/benchmarks.md. The binary is
//! `SEAWATCH_NATS_SERVER` or what `deploy/scripts/nats-test-server.sh bin` finds; without
//! one the test says so and passes, except under `CI=true`. `SEAWATCH_SEED` fixes the
//! offline draw (otherwise drawn fresh from the time).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use seawatch_actors::rollout::agent::{
    agent_child, AgentArgs, AgentMsg, AgentRecord, BundleTargets, IncidentProbe,
};
use seawatch_actors::rollout::bundle::{encode, BundleKind, BundleStore};
use seawatch_actors::rollout::controller::{
    controller_child, ControllerArgs, RolloutMetrics, RolloutMsg,
};
use seawatch_actors::rollout::nats::{
    Fenced, NatsShipLink, NatsShoreLink, ShipLink, ShoreLink, CHUNK_BYTES, INLINE_MAX,
};
use seawatch_actors::rollout::state::{
    Ev, OnError, Op, Rollout, RolloutRequest, RolloutState, ShipState, WaveSpec, WaveState,
};
use seawatch_runtime::supervision::{start_root, Addr, SupervisorHandle, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, ShardKey};
use seawatch_tests::nats::{single_server, NatsServer};

const SHIPS: usize = 50;
const OFFLINE_SHARE: f64 = 0.3;
const LEASE: Duration = Duration::from_secs(3);

const OLD_REGO: &str = "package seawatch.remediation\n\ndecision := {\"allow\": false, \"reasons\": [\"v1\"], \"approvals_required\": 0, \"max_parallel\": 1}\n";

fn rego(version: &str) -> String {
    format!("package seawatch.remediation\n\ndecision := {{\"allow\": false, \"reasons\": [\"{version}\"], \"approvals_required\": 0, \"max_parallel\": 1}}\n")
}

fn server() -> Option<(NatsServer, String)> {
    single_server("rollout fleet")
}

struct Shore {
    root: SupervisorHandle,
    addr: Addr<RolloutMsg>,
}

async fn start_shore(url: &str, data: &Path, node: &str, fleet: &[String], clock: &Clock) -> Shore {
    let (url, n) = (url.to_owned(), node.to_owned());
    let (child, addr) = controller_child(ControllerArgs {
        id_prefix: node.into(),
        dir: data.join("rollouts"),
        bundles: BundleStore::open(&data.join("bundles")).unwrap(),
        fleet: fleet.to_vec(),
        clock: clock.clone(),
        tick: Duration::from_millis(200),
        grace_ms: 2_000,
        connect: Arc::new(move || {
            let (url, n) = (url.clone(), n.clone());
            Box::pin(async move {
                let l = NatsShoreLink::connect(&url, 1, &n)
                    .await?
                    .with_leases(LEASE, 1)
                    .await?;
                Ok(Arc::new(l) as Arc<dyn ShoreLink>)
            })
        }),
        metrics: RolloutMetrics::default(),
        failover: true,
        push: None,
    });
    let (root, _) = start_root(
        SupervisorSpec::new(node, ShardKey::new(node)).child(child),
        Runtime::new(Clock::system()),
    )
    .await
    .unwrap();
    Shore { root, addr }
}

struct Ship {
    id: String,
    data: PathBuf,
    root: Option<SupervisorHandle>,
    agent: Option<Addr<AgentMsg>>,
}

impl Ship {
    fn new(base: &Path, id: &str) -> Self {
        let data = base.join(id);
        std::fs::create_dir_all(data.join("policies")).unwrap();
        std::fs::write(data.join("policies/remediation.rego"), OLD_REGO).unwrap();
        Self {
            id: id.into(),
            data,
            root: None,
            agent: None,
        }
    }

    /// Starts the ship's agent; the bulk lane gets 256 KiB/s; `chunks` counts fetches.
    async fn start(&mut self, url: &str, chunks: Arc<AtomicU64>, incidents: IncidentProbe) {
        let (url, ship, dir) = (
            url.to_owned(),
            self.id.clone(),
            self.data.join("bundle-chunks"),
        );
        let (child, agent) = agent_child(AgentArgs {
            ship: self.id.clone(),
            dir: self.data.join("bundles"),
            targets: BundleTargets::under(&self.data),
            connect: Arc::new(move || {
                let (url, ship, dir, chunks) =
                    (url.clone(), ship.clone(), dir.clone(), chunks.clone());
                Box::pin(async move {
                    let l = NatsShipLink::connect(&url, &ship, Some("shore"))
                        .await?
                        .with_chunk_dir(dir)
                        .with_chunk_counter(chunks)
                        .with_bulk_rate(Some(CHUNK_BYTES as u64));
                    Ok(Arc::new(l) as Arc<dyn ShipLink>)
                })
            }),
            clock: Clock::system(),
            poll: Duration::from_millis(100),
            health: Arc::new(|| Ok(())),
            on_applied: seawatch_actors::rollout::agent::reload_nothing(),
            incidents,
        });
        let (root, _) = start_root(
            SupervisorSpec::new(&self.id, ShardKey::new(&self.id)).child(child),
            Runtime::new(Clock::system()),
        )
        .await
        .unwrap();
        self.root = Some(root);
        self.agent = Some(agent);
    }

    /// The agent crashes where it stands (its supervisor starts it again).
    fn crash(&self) {
        if let Some(a) = self.agent.as_ref().and_then(|a| a.current()) {
            a.kill();
        }
    }

    async fn stop(&mut self) {
        if let Some(r) = self.root.take() {
            r.shutdown().await;
        }
    }

    fn policy(&self) -> String {
        std::fs::read_to_string(self.data.join("policies/remediation.rego")).unwrap()
    }

    fn applied(&self) -> u64 {
        AgentRecord::load(&self.data.join("bundles"))
            .unwrap()
            .applied
    }
}

/// A ship whose new policy `bad` opens a critical incident on board once it is in place.
fn incidents_when(data: PathBuf, bad: Option<&'static str>) -> IncidentProbe {
    Arc::new(move |since| {
        let bad = bad?;
        let p = std::fs::read_to_string(data.join("policies/remediation.rego")).ok()?;
        let now = Clock::system().now_ms();
        (p.contains(bad) && now >= since).then(|| format!("inc-1: core switch down after {bad}"))
    })
}

async fn get(shore: &Shore, id: &str) -> Option<Rollout> {
    shore
        .addr
        .call(
            |r| RolloutMsg::Get(id.to_owned(), r),
            Duration::from_secs(10),
        )
        .await
        .ok()
        .flatten()
}

async fn until(
    shore: &Shore,
    id: &str,
    what: &str,
    secs: u64,
    ok: impl Fn(&Rollout) -> bool,
) -> Rollout {
    let start = Instant::now();
    loop {
        if let Some(r) = get(shore, id).await {
            if ok(&r) {
                return r;
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}: {:?} {:?} {:?}",
                r.state,
                r.counts,
                r.waves
                    .iter()
                    .flat_map(|w| &w.ships)
                    .find(|s| s.state == ShipState::Failed)
                    .and_then(|s| s.detail.clone())
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn seed() -> u64 {
    std::env::var("SEAWATCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000
        })
}

/// The offline ships: 30 % of the fleet drawn by `seed` (xorshift), never the canary.
fn offline(seed: u64, fleet: &[String]) -> Vec<usize> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rest: Vec<usize> = (1..fleet.len()).collect();
    let n = (fleet.len() as f64 * OFFLINE_SHARE).round() as usize;
    let mut out = Vec::new();
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(rest.remove((x % rest.len() as u64) as usize));
    }
    out.sort();
    out
}

fn wave(percent: f64, success: f64) -> WaveSpec {
    WaveSpec {
        percent,
        success_threshold: success,
        error_threshold: 10.0,
        timeout_s: 60,
        approval: false,
        incident_window_s: Some(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_ships_thirty_percent_offline_a_shore_node_killed_and_a_bad_canary() {
    let Some((_server, url)) = server() else {
        return;
    };
    let seed = seed();
    let dir = tempfile::tempdir().unwrap();
    let fleet: Vec<String> = (0..SHIPS).map(|i| format!("ship-{i:02}")).collect();
    let off = offline(seed, &fleet);
    println!("[rollout fleet] seed {seed}: offline {off:?}");
    // Shore time: runs with the wall clock, jumps six hours while ships are away.
    let clock = Clock::manual(1_800_000_000_000);
    let ticker = {
        let c = clock.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                c.advance_ms(50);
            }
        })
    };
    let shore0 = start_shore(&url, &dir.path().join("shore-0"), "shore-0", &fleet, &clock).await;
    let shore1 = start_shore(&url, &dir.path().join("shore-1"), "shore-1", &fleet, &clock).await;

    // The good bundle: over INLINE_MAX, so it travels in chunks (a policy with comments
    // and its notes; a policy file may not pass 1 MiB).
    let (mut good, mut notes) = (rego("v2"), String::new());
    let mut x = seed | 1;
    while good.len() + notes.len() <= INLINE_MAX + CHUNK_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let line = format!("# {x:016x}\n");
        if good.len() < 100_000 {
            good.push_str(&line);
        } else {
            notes.push_str(&line);
        }
    }
    let good = encode(
        BundleKind::Policies,
        "policies",
        vec![
            ("remediation.rego".into(), good.into_bytes()),
            ("notes.txt".into(), notes.into_bytes()),
        ],
    );
    let chunks_per_ship = good.len().div_ceil(CHUNK_BYTES) as u64;
    // Uploaded to shore-0 only: shore-1 reads it from the shared store after the takeover.
    let info = BundleStore::open(&dir.path().join("shore-0/bundles"))
        .unwrap()
        .put(&good)
        .unwrap();

    let fetched = Arc::new(AtomicU64::new(0));
    let mut ships: Vec<Ship> = fleet.iter().map(|s| Ship::new(dir.path(), s)).collect();
    for (i, s) in ships.iter_mut().enumerate() {
        if !off.contains(&i) {
            let probe = incidents_when(s.data.clone(), None);
            s.start(&url, fetched.clone(), probe).await;
        }
    }
    let t0 = Instant::now();
    let req = RolloutRequest {
        bundle: info.sha256.clone(),
        ships: None,
        all: Some(true),
        // canary, half, all; a wave passes on the ships that are online (≥ 60 %)
        waves: vec![wave(2.0, 100.0), wave(50.0, 60.0), wave(100.0, 60.0)],
        on_error: OnError::Pause,
    };
    let r = shore0
        .addr
        .call(
            |p| RolloutMsg::Create(req, "root".into(), p),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap();
    let id = r.id.clone();
    assert_eq!(r.node.as_deref(), Some("shore-0"));

    // Three online ships of wave 2 lose their link in the middle of their chunks.
    let cut: Vec<usize> = (1..SHIPS / 2)
        .filter(|i| !off.contains(i))
        .take(3)
        .collect();
    until(&shore0, &id, "wave 2 started", 60, |r| {
        r.waves[1].state == WaveState::Running
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut cut_done = Vec::new();
    while cut_done.len() < cut.len() && Instant::now() < deadline {
        for &i in &cut {
            let part = ships[i].data.join("bundle-chunks").join(&info.sha256);
            let n = std::fs::read_dir(&part).map(|d| d.count()).unwrap_or(0);
            if !cut_done.contains(&i) && n >= 1 && (n as u64) < chunks_per_ship {
                ships[i].crash();
                cut_done.push(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "[rollout fleet] crashed mid-transfer (chunks kept, the rest fetched later): {cut_done:?}"
    );

    // Kill shore-0 (no clean hand-over: its lease runs out) early in wave 2: shore-1
    // must see wave 2 through and run wave 3.
    until(&shore0, &id, "wave 2 under way", 60, |r| {
        r.waves[1].counts.applying + r.waves[1].counts.succeeded >= 3
    })
    .await;
    let before = get(&shore0, &id).await.unwrap();
    let killed = Instant::now();
    shore0.root.shutdown().await;
    let r = until(&shore1, &id, "takeover by shore-1", 30, |r| {
        r.node.as_deref() == Some("shore-1")
    })
    .await;
    let takeover = killed.elapsed();
    assert_eq!(
        before.waves[2].state,
        WaveState::Pending,
        "killed before wave 3"
    );
    println!(
        "[rollout fleet] shore-0 killed in wave 2 with {} ships succeeded; shore-1 took over after {:.2} s",
        before.counts.succeeded,
        takeover.as_secs_f64()
    );
    assert!(
        takeover < Duration::from_secs(10),
        "takeover took {takeover:?}"
    );
    assert!(
        r.counts.succeeded >= before.counts.succeeded,
        "nothing lost"
    );

    // Every online ship of the waves that can start is done (the three cut off wait out
    // their delivery's ack wait). Wave 2 passes on its online ships only when the draw
    // left it at least 60 % of them; otherwise the rollout rightly holds wave 3 back
    // until the offline ships of wave 2 are back.
    let w2 = &r.waves[1].ships;
    let w2_online = w2
        .iter()
        .filter(|s| !off.contains(&fleet.iter().position(|f| *f == s.ship).unwrap()))
        .count();
    let w2_passes = (w2_online * 100) as f64 >= 60.0 * w2.len() as f64;
    let online = SHIPS - off.len();
    let (expect, offline_sent) = if w2_passes {
        (online, off.len())
    } else {
        (1 + w2_online, w2.len() - w2_online)
    };
    println!(
        "[rollout fleet] wave 2: {w2_online} of {} ships online, so it {} before the offline ships are back",
        w2.len(),
        if w2_passes { "passes" } else { "waits" }
    );
    let r = until(&shore1, &id, "online ships done", 150, |r| {
        r.counts.succeeded == expect
    })
    .await;
    assert_eq!(
        r.counts.sent, offline_sent,
        "offline ships wait, no timeout"
    );
    if !w2_passes {
        // Held, not tripped: nothing of wave 3 goes out while wave 2 waits.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let r = get(&shore1, &id).await.unwrap();
        assert_eq!(r.state, RolloutState::Running);
        assert_eq!(r.waves[1].state, WaveState::Running);
        assert_eq!(r.waves[2].state, WaveState::Pending);
        assert_eq!(r.counts.succeeded, expect);
    }
    // Six hours of shore time pass; the offline ships come back.
    clock.advance_ms(6 * 3_600_000);
    let back = Instant::now();
    for &i in &off {
        let probe = incidents_when(ships[i].data.clone(), None);
        ships[i].start(&url, fetched.clone(), probe).await;
    }
    let r = until(&shore1, &id, "completed", 120, |r| {
        r.state == RolloutState::Completed
    })
    .await;
    let total = t0.elapsed();
    let after_back = back.elapsed();
    assert_eq!(r.counts.succeeded, SHIPS);
    for s in &ships {
        assert!(s.policy().contains("\"v2\""), "{}", s.id);
        assert_eq!(s.applied(), 1, "{} applied once", s.id);
    }
    let fetched_n = fetched.load(Ordering::Relaxed);
    let needed = SHIPS as u64 * chunks_per_ship;
    println!(
        "[rollout fleet] good bundle: {} ships ({} offline 6 h), {} chunks each; chunks fetched {fetched_n} of {needed} needed ({} again); {:.1} s in all, {:.1} s after the offline ships came back",
        SHIPS,
        off.len(),
        chunks_per_ship,
        fetched_n - needed.min(fetched_n),
        total.as_secs_f64(),
        after_back.as_secs_f64()
    );
    assert_eq!(fetched_n, needed, "0 chunks fetched again once stored");

    // Nothing sent twice: one delivery a ship in the stream, one `sent` and one
    // `succeeded` a ship in the journal.
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let mut subjects = js
        .get_stream("SW_ROLLOUT")
        .await
        .unwrap()
        .info_with_subjects("seawatch.rollout.to.*")
        .await
        .unwrap();
    let mut deliveries = 0;
    while let Some(x) = subjects.next().await {
        let (subject, n) = x.unwrap();
        assert_eq!(n, 1, "{subject}");
        deliveries += 1;
    }
    assert_eq!(deliveries, SHIPS);
    let link = NatsShoreLink::connect(&url, 1, "check").await.unwrap();
    let journal = link.journal_read(&id, 0).await.unwrap();
    for s in &fleet {
        let sent = journal
            .iter()
            .filter(|(_, e)| matches!(e, Ev::Sent { ship, .. } if ship == s))
            .count();
        let ok = journal
            .iter()
            .filter(|(_, e)| matches!(e, Ev::Succeeded { ship, .. } if ship == s))
            .count();
        assert_eq!((sent, ok), (1, 1), "{s}");
    }
    assert!(r
        .history
        .iter()
        .any(|h| h.what == "taken over by shore-1 from shore-0"));
    // Fencing: a node that lost the rollout (it read up to an older event) cannot write,
    // and an id in use is not created again.
    let stale = journal[journal.len() - 2].0;
    let late = Ev::Completed {
        id: id.clone(),
        at_ms: 0,
    };
    assert_eq!(
        link.journal_append(&late, Some(stale)).await,
        Err(Fenced::Lost)
    );
    assert_eq!(link.journal_append(&late, Some(0)).await, Err(Fenced::Lost));
    assert_eq!(
        link.journal_read(&id, 0).await.unwrap().len(),
        journal.len()
    );

    // A bad bundle: it compiles, but the canary opens a critical incident once it is in
    // place. The canary rolls back by itself and the rollout stops before wave 2.
    for s in &mut ships {
        s.stop().await;
    }
    let bad = encode(
        BundleKind::Policies,
        "policies",
        vec![("remediation.rego".into(), rego("v3").into_bytes())],
    );
    let info = BundleStore::open(&dir.path().join("shore-1/bundles"))
        .unwrap()
        .put(&bad)
        .unwrap();
    for s in &mut ships {
        let probe = incidents_when(s.data.clone(), Some("\"v3\""));
        s.start(&url, fetched.clone(), probe).await;
    }
    let req = RolloutRequest {
        bundle: info.sha256.clone(),
        ships: None,
        all: Some(true),
        waves: vec![wave(2.0, 100.0), wave(50.0, 60.0), wave(100.0, 60.0)],
        on_error: OnError::Pause,
    };
    let t_bad = Instant::now();
    let r = shore1
        .addr
        .call(
            |p| RolloutMsg::Create(req, "root".into(), p),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap();
    let bad_id = r.id.clone();
    let r = until(&shore1, &bad_id, "paused on the canary", 60, |r| {
        r.state == RolloutState::Paused
    })
    .await;
    println!(
        "[rollout fleet] bad bundle: canary failed and the rollout paused after {:.1} s: {}",
        t_bad.elapsed().as_secs_f64(),
        r.waves[0].ships[0].detail.as_deref().unwrap_or_default()
    );
    assert_eq!(r.waves[0].state, WaveState::Tripped);
    assert_eq!(r.waves[0].ships[0].state, ShipState::Failed);
    let detail = r.waves[0].ships[0].detail.clone().unwrap();
    assert!(
        detail.contains("critical incident") && detail.contains("rolled back"),
        "{detail}"
    );
    assert!(
        ships[0].policy().contains("\"v2\""),
        "the canary rolled back"
    );
    assert!(r.waves[1..]
        .iter()
        .flat_map(|w| &w.ships)
        .all(|s| s.state == ShipState::Pending));
    // Paused: nothing more goes out; abort ends it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = shore1
        .addr
        .call(
            |p| RolloutMsg::Control(bad_id.clone(), Op::Abort, "root".into(), p),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.counts.skipped, SHIPS - 1);
    for s in &ships[1..] {
        assert!(s.policy().contains("\"v2\""));
    }

    for s in &mut ships {
        s.stop().await;
    }
    shore1.root.shutdown().await;
    ticker.abort();
}
