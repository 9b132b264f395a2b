//! Rollouts over a real nats-server (`deploy/nats/single-test.conf`, JetStream domain
//! `shore`): shore's rollout controller and four ships' bundle agents, each under its
//! own supervision tree, so a ship goes offline by stopping its tree and a shore restart
//! is a new tree over the same journal.
//!
//! * two waves over four ships, one ship offline during its wave: the second wave goes
//!   on the first's success threshold, the offline ship finishes once it is back, and a
//!   second rollout of the same bundle applies nothing twice;
//! * a bundle failing its health check is rolled back on the ship and trips the error
//!   threshold: the rollout pauses before wave 2; abort skips the ships not sent;
//! * shore restarted mid-rollout: the new controller replays its journal and finishes
//!   with the report a ship sent while shore was down.
//!
//! The binary is `SEAWATCH_NATS_SERVER` or what `deploy/scripts/nats-test-server.sh bin`
//! finds; without one the test says so and passes, except under `CI=true`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seawatch_actors::rollout::agent::{agent_child, AgentArgs, AgentRecord, BundleTargets};
use seawatch_actors::rollout::bundle::{encode, BundleKind, BundleStore};
use seawatch_actors::rollout::controller::{
    controller_child, ControllerArgs, RolloutMetrics, RolloutMsg,
};
use seawatch_actors::rollout::nats::{NatsShipLink, NatsShoreLink, ShipLink, ShoreLink};
use seawatch_actors::rollout::state::{
    OnError, Op, Rollout, RolloutRequest, RolloutState, ShipState, WaveSpec, WaveState,
};
use seawatch_actors::rollout::ReportState;
use seawatch_runtime::supervision::{start_root, Addr, SupervisorHandle, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, ShardKey};
use seawatch_tests::nats::{single_server, NatsServer};

const GOOD_REGO: &str = "package seawatch.remediation\n\ndecision := {\"allow\": false, \"reasons\": [\"v2\"], \"approvals_required\": 0, \"max_parallel\": 1}\n";
const OLD_REGO: &str = "package seawatch.remediation\n\ndecision := {\"allow\": false, \"reasons\": [\"v1\"], \"approvals_required\": 0, \"max_parallel\": 1}\n";
const BAD_REGO: &str = "package seawatch.remediation\n\ndecision := {{{ not rego\n";

/// The nats-server, or `None` when there is none and the test may skip.
fn server() -> Option<(NatsServer, String)> {
    single_server("rollout test")
}

struct Shore {
    root: SupervisorHandle,
    addr: Addr<RolloutMsg>,
}

async fn start_shore(url: &str, data: &Path, fleet: &[&str]) -> Shore {
    let url = url.to_owned();
    let (child, addr) = controller_child(ControllerArgs {
        id_prefix: "shore-0".into(),
        dir: data.join("rollouts"),
        bundles: BundleStore::open(&data.join("bundles")).unwrap(),
        fleet: fleet.iter().map(|s| s.to_string()).collect(),
        clock: Clock::system(),
        tick: Duration::from_millis(100),
        grace_ms: 2_000,
        connect: Arc::new(move || {
            let url = url.clone();
            Box::pin(async move {
                let l = NatsShoreLink::connect(&url, 1, "shore-0").await?;
                Ok(Arc::new(l) as Arc<dyn ShoreLink>)
            })
        }),
        metrics: RolloutMetrics::default(),
        failover: false,
        push: None,
    });
    let (root, _) = start_root(
        SupervisorSpec::new("shore", ShardKey::new("shore")).child(child),
        Runtime::new(Clock::system()),
    )
    .await
    .unwrap();
    Shore { root, addr }
}

struct Ship {
    data: PathBuf,
    root: Option<SupervisorHandle>,
}

impl Ship {
    fn new(base: &Path, id: &str) -> Self {
        let data = base.join(id);
        std::fs::create_dir_all(data.join("policies")).unwrap();
        std::fs::write(data.join("policies/remediation.rego"), OLD_REGO).unwrap();
        Self { data, root: None }
    }

    async fn start(&mut self, url: &str, id: &str) {
        self.start_with(url, id, seawatch_actors::rollout::agent::no_incidents())
            .await
    }

    async fn start_with(
        &mut self,
        url: &str,
        id: &str,
        incidents: seawatch_actors::rollout::agent::IncidentProbe,
    ) {
        let (url, ship) = (url.to_owned(), id.to_owned());
        let (child, _) = agent_child(AgentArgs {
            ship: id.to_owned(),
            dir: self.data.join("bundles"),
            targets: BundleTargets::under(&self.data),
            connect: Arc::new(move || {
                let (url, ship) = (url.clone(), ship.clone());
                Box::pin(async move {
                    let l = NatsShipLink::connect(&url, &ship, Some("shore")).await?;
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
            SupervisorSpec::new(id, ShardKey::new(id)).child(child),
            Runtime::new(Clock::system()),
        )
        .await
        .unwrap();
        self.root = Some(root);
    }

    async fn stop(&mut self) {
        if let Some(r) = self.root.take() {
            r.shutdown().await;
        }
    }

    fn policy(&self) -> String {
        std::fs::read_to_string(self.data.join("policies/remediation.rego")).unwrap()
    }

    fn record(&self) -> AgentRecord {
        AgentRecord::load(&self.data.join("bundles")).unwrap()
    }
}

fn policy_bundle(rego: &str) -> Vec<u8> {
    encode(
        BundleKind::Policies,
        "policies",
        vec![("remediation.rego".into(), rego.as_bytes().to_vec())],
    )
}

fn wave(percent: f64, success: f64, error: f64) -> WaveSpec {
    WaveSpec {
        percent,
        success_threshold: success,
        error_threshold: error,
        timeout_s: 60,
        approval: false,
        incident_window_s: Some(0),
    }
}

async fn create(shore: &Shore, req: RolloutRequest) -> Rollout {
    shore
        .addr
        .call(
            |r| RolloutMsg::Create(req, "root".into(), r),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap()
}

async fn get(shore: &Shore, id: &str) -> Rollout {
    shore
        .addr
        .call(
            |r| RolloutMsg::Get(id.to_owned(), r),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap()
}

/// Waits (at most 30 s) until `ok` holds for the rollout; returns it.
async fn until(shore: &Shore, id: &str, what: &str, ok: impl Fn(&Rollout) -> bool) -> Rollout {
    let start = Instant::now();
    loop {
        let r = get(shore, id).await;
        if ok(&r) {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {}",
            serde_json::to_string_pretty(&r).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ship_state(r: &Rollout, ship: &str) -> ShipState {
    r.waves
        .iter()
        .flat_map(|w| &w.ships)
        .find(|s| s.ship == ship)
        .unwrap()
        .state
}

const FLEET: [&str; 4] = ["s1", "s2", "s3", "s4"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_waves_finish_across_an_offline_ship_and_apply_once() {
    let Some((_server, url)) = server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shore_data = dir.path().join("shore");
    let shore = start_shore(&url, &shore_data, &FLEET).await;
    let info = BundleStore::open(&shore_data.join("bundles"))
        .unwrap()
        .put(&policy_bundle(GOOD_REGO))
        .unwrap();
    let mut ships: Vec<Ship> = FLEET.iter().map(|s| Ship::new(dir.path(), s)).collect();
    // s2 is offline (its link is down) for the whole of its wave.
    for (i, s) in ships.iter_mut().enumerate() {
        if i != 1 {
            s.start(&url, FLEET[i]).await;
        }
    }
    let req = RolloutRequest {
        bundle: info.sha256.clone(),
        ships: None,
        all: Some(true),
        waves: vec![wave(50.0, 50.0, 50.0), wave(100.0, 100.0, 50.0)],
        on_error: OnError::Pause,
    };
    let r = create(&shore, req.clone()).await;
    assert_eq!(r.waves[0].ships.len(), 2);
    let id = r.id;

    // Wave 1 passes on s1 alone (50 %), wave 2 runs on s3 and s4; s2's delivery waits.
    let r = until(&shore, &id, "wave 2 done", |r| {
        r.waves[1].counts.succeeded == 2
    })
    .await;
    assert_eq!(r.waves[0].state, WaveState::Passed);
    assert_eq!(ship_state(&r, "s1"), ShipState::Succeeded);
    assert_eq!(
        ship_state(&r, "s2"),
        ShipState::Sent,
        "offline: waits, no timeout"
    );
    assert_eq!(r.state, RolloutState::Running);
    assert!(ships[1].policy().contains("v1"));

    // s2 is back: it takes the delivery from its queue and the rollout completes.
    ships[1].start(&url, "s2").await;
    let r = until(&shore, &id, "completed", |r| {
        r.state == RolloutState::Completed
    })
    .await;
    assert_eq!(r.counts.succeeded, 4);
    for s in &ships {
        assert!(s.policy().contains("v2"), "{}", s.data.display());
        assert_eq!(s.record().applied, 1);
    }
    let detail = r.waves[0].ships[1].detail.clone().unwrap();
    assert!(detail.contains("policy compiles"), "{detail}");

    // The same bundle again (a second rollout, and a restarted agent): applied once.
    ships[0].stop().await;
    ships[0].start(&url, "s1").await;
    let mut again = req;
    again.all = None;
    again.ships = Some(vec!["s1".into()]);
    again.waves = vec![wave(100.0, 100.0, 0.0)];
    let r2 = create(&shore, again).await;
    let r2 = until(&shore, &r2.id, "second completed", |r| {
        r.state == RolloutState::Completed
    })
    .await;
    assert!(r2.waves[0].ships[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("already in place"));
    assert_eq!(ships[0].record().applied, 1, "applied once");
    for s in &mut ships {
        s.stop().await;
    }
    shore.root.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_health_check_rolls_back_and_pauses_the_rollout() {
    let Some((_server, url)) = server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shore_data = dir.path().join("shore");
    let fleet = &FLEET[..3];
    let shore = start_shore(&url, &shore_data, fleet).await;
    let info = BundleStore::open(&shore_data.join("bundles"))
        .unwrap()
        .put(&policy_bundle(BAD_REGO))
        .unwrap();
    let mut ships: Vec<Ship> = fleet.iter().map(|s| Ship::new(dir.path(), s)).collect();
    for (i, s) in ships.iter_mut().enumerate() {
        s.start(&url, fleet[i]).await;
    }
    let r = create(
        &shore,
        RolloutRequest {
            bundle: info.sha256,
            ships: Some(fleet.iter().map(|s| s.to_string()).collect()),
            all: None,
            // The canary wave: one ship, any failure trips.
            waves: vec![wave(1.0, 100.0, 0.0), wave(100.0, 100.0, 50.0)],
            on_error: OnError::Pause,
        },
    )
    .await;
    let id = r.id;
    let r = until(&shore, &id, "paused", |r| r.state == RolloutState::Paused).await;
    assert_eq!(r.waves[0].state, WaveState::Tripped);
    let canary = &r.waves[0].ships[0];
    assert_eq!(
        (canary.ship.as_str(), canary.state),
        ("s1", ShipState::Failed)
    );
    let why = canary.detail.as_deref().unwrap();
    assert!(
        why.contains("does not compile") && why.contains("rolled back"),
        "{why}"
    );
    assert!(r.reason.as_deref().unwrap().contains("error threshold"));
    // Rolled back on the ship: the previous policy is in place.
    assert!(ships[0].policy().contains("v1"));
    // Wave 2 was never sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = get(&shore, &id).await;
    assert_eq!(r.waves[1].counts.pending, 2);
    for s in &ships[1..] {
        assert_eq!(s.record().outcomes.len(), 0);
    }
    let r = shore
        .addr
        .call(
            |p| RolloutMsg::Control(id.clone(), Op::Abort, "root".into(), p),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.state, RolloutState::Aborted);
    assert_eq!(r.counts.skipped, 2);
    for s in &mut ships {
        s.stop().await;
    }
    shore.root.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_shore_replays_its_journal_and_finishes_the_rollout() {
    let Some((_server, url)) = server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shore_data = dir.path().join("shore");
    let fleet = &FLEET[..3];
    let shore = start_shore(&url, &shore_data, fleet).await;
    let info = BundleStore::open(&shore_data.join("bundles"))
        .unwrap()
        .put(&policy_bundle(GOOD_REGO))
        .unwrap();
    let mut ships: Vec<Ship> = fleet.iter().map(|s| Ship::new(dir.path(), s)).collect();
    ships[0].start(&url, "s1").await;
    ships[1].start(&url, "s2").await;
    let r = create(
        &shore,
        RolloutRequest {
            bundle: info.sha256,
            ships: None,
            all: Some(true),
            waves: vec![wave(33.0, 100.0, 0.0), wave(100.0, 50.0, 50.0)],
            on_error: OnError::Pause,
        },
    )
    .await;
    let id = r.id;
    let before = until(&shore, &id, "wave 2 half done", |r| {
        r.waves[1].counts.succeeded == 1 && r.waves[1].counts.sent == 1
    })
    .await;
    // Shore goes down mid-rollout; s3 comes back meanwhile and reports into the stream.
    shore.root.shutdown().await;
    ships[2].start(&url, "s3").await;
    let start = Instant::now();
    while ships[2].record().outcomes.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "s3 never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shore = start_shore(&url, &shore_data, fleet).await;
    // The new controller knows the rollout from its journal alone (its first tick may
    // already have taken s3's report: wave 1 and s2 are as they were).
    let replayed = get(&shore, &id).await;
    assert_eq!(
        replayed.waves[0], before.waves[0],
        "the journal gives the same rollout"
    );
    assert_eq!(replayed.waves[1].ships[0], before.waves[1].ships[0]);
    assert_eq!(replayed.history[..before.history.len()], before.history[..]);
    let r = until(&shore, &id, "completed after restart", |r| {
        r.state == RolloutState::Completed
    })
    .await;
    assert_eq!(r.counts.succeeded, 3);
    assert!(ships[2].policy().contains("v2"));
    assert!(r.history.iter().any(|h| h.what == "completed"));
    for s in &mut ships {
        s.stop().await;
    }
    shore.root.shutdown().await;
}

/// A bundle over the inline limit travels in chunks: shore stores them once for every
/// ship, each ship fetches each chunk once into its chunk folder, gets the bundle whole
/// and checked, and the folder is gone once the delivery is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_over_the_inline_limit_travels_in_chunks_fetched_once() {
    use seawatch_actors::rollout::bundle::sha256_hex;
    use seawatch_actors::rollout::nats::{CHUNK_BYTES, INLINE_MAX};
    use seawatch_actors::rollout::Delivery;
    let Some((_server, url)) = server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A policy folder with a long comment: 2.3 MB, deterministic, not compressible away.
    let mut rego = String::from(GOOD_REGO);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while rego.len() < 2_300_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rego.push_str(&format!("# {x:016x}\n"));
    }
    let bundle = policy_bundle(&rego);
    assert!(bundle.len() > INLINE_MAX);
    let chunks = bundle.len().div_ceil(CHUNK_BYTES) as u64;
    let sha = sha256_hex(&bundle);
    let shore = NatsShoreLink::connect(&url, 1, "shore-0").await.unwrap();
    for ship in ["s1", "s2"] {
        let d = Delivery {
            rollout: "r-big".into(),
            ship: ship.into(),
            sha256: sha.clone(),
            kind: BundleKind::Policies,
            timeout_s: 60,
            chunks: 0,
            size: 0,
            incident_window_s: 0,
            attempt: 0,
        };
        shore.deliver(&d, &bundle).await.unwrap();
    }
    for ship in ["s1", "s2"] {
        let chunk_dir = dir.path().join(ship).join("chunks");
        let link = NatsShipLink::connect(&url, ship, Some("shore"))
            .await
            .unwrap()
            .with_chunk_dir(&chunk_dir);
        let msg = link.next().await.unwrap().expect("a delivery");
        let (d, bytes) = Delivery::decode(&msg).unwrap();
        assert_eq!((d.sha256.as_str(), d.chunks), (sha.as_str(), 0));
        assert!(bytes == &bundle[..], "the bundle arrives whole");
        assert_eq!(link.chunks_fetched(), chunks, "each chunk fetched once");
        assert_eq!(
            std::fs::read_dir(chunk_dir.join(&sha)).unwrap().count() as u64,
            chunks
        );
        // Asked again before the ack (the agent after a failed step): from what it holds.
        assert!(link.next().await.unwrap().unwrap() == msg);
        assert_eq!(link.chunks_fetched(), chunks);
        link.ack().await.unwrap();
        assert!(
            !chunk_dir.join(&sha).exists(),
            "chunks removed after the ack"
        );
        assert!(link.next().await.unwrap().is_none());
    }
}

/// A ship fails its incident watch once (a critical incident right after the first
/// apply), the rollout aborts; `retry` sends to it again (attempt 1, a new message), it
/// applies and passes, and the rollout completes with its history kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_an_abort_sends_again_and_completes() {
    let Some((_server, url)) = server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shore_data = dir.path().join("shore");
    let fleet = &FLEET[..2];
    let shore = start_shore(&url, &shore_data, fleet).await;
    let info = BundleStore::open(&shore_data.join("bundles"))
        .unwrap()
        .put(&policy_bundle(GOOD_REGO))
        .unwrap();
    let mut ships: Vec<Ship> = fleet.iter().map(|s| Ship::new(dir.path(), s)).collect();
    // s1: a critical incident opens after its first apply only.
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let probe: seawatch_actors::rollout::agent::IncidentProbe = Arc::new(move |_| {
        first
            .swap(false, std::sync::atomic::Ordering::Relaxed)
            .then(|| "s1-1: firewall down".to_string())
    });
    ships[0].start_with(&url, "s1", probe).await;
    let mut w1 = wave(50.0, 100.0, 0.0);
    w1.incident_window_s = Some(1);
    let r = create(
        &shore,
        RolloutRequest {
            bundle: info.sha256.clone(),
            ships: None,
            all: Some(true),
            waves: vec![w1, wave(100.0, 100.0, 0.0)],
            on_error: OnError::Abort,
        },
    )
    .await;
    let id = r.id;
    let r = until(&shore, &id, "aborted", |r| r.state == RolloutState::Aborted).await;
    assert_eq!(ship_state(&r, "s1"), ShipState::Failed);
    assert_eq!(ship_state(&r, "s2"), ShipState::Skipped, "never sent");
    assert!(ships[0].policy().contains("v1"), "rolled back");
    let r = shore
        .addr
        .call(
            |p| RolloutMsg::Control(id.clone(), Op::Retry, "root".into(), p),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.state, RolloutState::Running);
    ships[1].start(&url, "s2").await;
    let r = until(&shore, &id, "completed", |r| {
        r.state == RolloutState::Completed
    })
    .await;
    assert_eq!(r.counts.succeeded, 2);
    assert!(ships.iter().all(|s| s.policy().contains("v2")));
    let rec = ships[0].record();
    assert_eq!(rec.applied, 2, "rolled back once, applied again on retry");
    assert_eq!(rec.outcomes[&id].state, ReportState::Failed);
    assert_eq!(
        rec.outcomes[&format!("{id}#1")].state,
        ReportState::Succeeded
    );
    let h: Vec<&str> = r.history.iter().map(|h| h.what.as_str()).collect();
    assert!(
        h.iter().any(|w| w.starts_with("aborted by rollout")),
        "{h:?}"
    );
    assert!(h.contains(&"retried by root: 2 ships again"), "{h:?}");
    for s in &mut ships {
        s.stop().await;
    }
    shore.root.shutdown().await;
}
