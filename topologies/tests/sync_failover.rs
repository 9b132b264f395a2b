//! The `wan-failover-to-leo` starter runbook end to end on a real ship node: its own
//! executor runs the execution through the builtin driver, which moves the ship's real
//! sync actor (supervised, over the embedded transport to an embedded shore) from the
//! VSAT link to the LEO link. Covered: a precheck refusing a LEO link that is down
//! (nothing changes), the move verified by the running sync and seen at shore in the
//! fleet view, the choice surviving a restart of the sync, and a verify that fails (no
//! sync running) rolling the move back.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seawatch_actors::push::{Push, PushKind};
use seawatch_actors::runbook::exec::{ExecState, Proposal};
use seawatch_actors::runbook::policy::ShipFacts;
use seawatch_actors::sync::actor::{sync_child, Connector, SyncArgs};
use seawatch_actors::sync::link::{LinkProfile, SimNet};
use seawatch_actors::sync::route::SyncRoute;
use seawatch_actors::sync::ship::SyncConfig;
use seawatch_actors::sync::shore::{run_shore, FleetView, MemFleetStore, Shore};
use seawatch_model::inventory::LinkSpec;
use seawatch_model::Inventory;
use seawatch_runtime::supervision::{start_root, SupervisorHandle, SupervisorSpec};
use seawatch_runtime::{Clock, ShardKey};
use seawatch_topologies::config::ShipConfig;
use seawatch_topologies::ship::ShipNode;
use seawatch_topologies::sync::LiveShipState;

const SHIP: &str = "aurora";

async fn until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ship's sync actor under its own supervisor, riding `route`, to the shore of `net`.
async fn start_sync(
    node: &ShipNode,
    net: &SimNet,
    data: &Path,
    route: SyncRoute,
) -> SupervisorHandle {
    let mut config = SyncConfig::new(data.join("sync.cursor"));
    config.snapshot_every = Duration::from_millis(200);
    let net2 = net.clone();
    let connect: Connector = Arc::new(move || {
        let c = net2.connect_ship(SHIP).map_err(|e| e.to_string());
        Box::pin(async move { c })
    });
    let (child, _) = sync_child(SyncArgs {
        log: node.log.clone(),
        config,
        connect,
        clock: Clock::system(),
        metrics: None,
        commands: None,
        snapshot: Some(Arc::new(LiveShipState {
            ship: SHIP.into(),
            board: node.incidents.clone(),
            push: node.push.clone(),
            roster: node.roster.clone(),
            route: Some(route.clone()),
        })),
        route: Some(route),
    });
    let spec = SupervisorSpec::new("sync-test", ShardKey::new(SHIP)).child(child);
    start_root(spec, node.runtime.clone()).await.unwrap().0
}

fn link_state(node: &ShipNode, link: &str, state: &str) {
    node.push.publish(Push {
        kind: PushKind::Link,
        ship: Some(SHIP.into()),
        body: serde_json::json!({"ship": SHIP, "link": link, "state": state, "up": state != "down"}),
    });
}

/// Proposes the failover off vsat-1 as alice, approved by bob; waits for its end.
async fn failover(node: &ShipNode) -> (ExecState, String) {
    let now = Clock::system().now_ms();
    let e = node
        .executions
        .propose(
            Proposal {
                runbook: "wan-failover-to-leo".into(),
                targets: vec!["vsat-1".into()],
                params: serde_json::Map::new(),
                requester: "alice".into(),
                role: "operator".into(),
                incident: None,
            },
            ShipFacts::default(),
            now,
        )
        .unwrap();
    assert_eq!(e.driver, seawatch_actors::runbook::spec::Driver::Builtin);
    node.executions.decide(&e.id, "bob", true).unwrap();
    let ex = node.executions.clone();
    let id = e.id.clone();
    let state = until("the execution's end", Duration::from_secs(60), || {
        ex.get(&id).map(|e| e.state).filter(|s| s.is_final())
    })
    .await;
    (state, e.id)
}

fn fleet_link(fleet: &FleetView) -> Option<String> {
    fleet.get(SHIP).and_then(|s| s.sync_link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failover_runbook_moves_the_real_sync_to_leo_verifies_it_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    // the shipped policy, with a change window all day (the shipped one is 02-04 h)
    let policies = data.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        repo.join("policies/remediation.rego"),
        policies.join("remediation.rego"),
    )
    .unwrap();
    let mut settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("policies/data.json")).unwrap())
            .unwrap();
    settings["seawatch"]["config"]["change_windows"] =
        serde_json::json!([{"start_hour": 0, "end_hour": 24}]);
    std::fs::write(policies.join("data.json"), settings.to_string()).unwrap();
    seawatch_topologies::remediation::provision_starters(
        &data.join("runbooks"),
        &data.join("unused"),
    )
    .unwrap();
    let mut cfg = ShipConfig::parse(
        &format!(
            "ship = \"{SHIP}\"\n[policy]\ndir = {:?}\n",
            policies.display().to_string()
        ),
        "test",
    )
    .unwrap();
    cfg.data = data.to_path_buf();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog = "127.0.0.1:0".parse().unwrap();
    let inventory = Inventory {
        ship: SHIP.into(),
        devices: vec![],
        links: vec![
            LinkSpec {
                id: "vsat-1".into(),
                kind: "vsat".into(),
                capacity_mbps: Some(50.0),
                primary: true,
                ..Default::default()
            },
            LinkSpec {
                id: "leo-1".into(),
                kind: "leo".into(),
                capacity_mbps: Some(200.0),
                ..Default::default()
            },
        ],
    };
    let node = ShipNode::start(&cfg, inventory, Clock::system())
        .await
        .unwrap();
    // the ship's sync to an embedded shore
    let net = SimNet::new();
    net.add_ship(SHIP, LinkProfile::new(8.0, Duration::from_millis(5)));
    let shore = Shore::new("shore-1", Arc::new(MemFleetStore::new(16)));
    let fleet = shore.fleet();
    let (stop_shore, stop_rx) = tokio::sync::watch::channel(false);
    let shore_task = tokio::spawn(run_shore(
        shore,
        net.connect_shore(),
        Clock::system(),
        stop_rx,
    ));
    let route = node.sync_route.clone();
    let sync = start_sync(&node, &net, data, route.clone()).await;
    until("sync on vsat-1", Duration::from_secs(20), || {
        (route.active().as_deref() == Some("vsat-1")).then_some(())
    })
    .await;
    until("shore sees vsat-1", Duration::from_secs(20), || {
        (fleet_link(&fleet).as_deref() == Some("vsat-1")).then_some(())
    })
    .await;

    // the LEO link is down: the precheck fails and nothing moves
    link_state(&node, "vsat-1", "degraded");
    link_state(&node, "leo-1", "down");
    let (state, id) = failover(&node).await;
    assert_eq!(state, ExecState::Failed);
    let e = node.executions.get(&id).unwrap();
    assert!(
        e.steps
            .iter()
            .all(|s| s.phase == seawatch_actors::runbook::spec::Phase::Precheck),
        "{:?}",
        e.steps
    );
    assert!(e
        .steps
        .last()
        .unwrap()
        .output
        .contains("leo-1 kind=leo state=down sync=standby"));
    assert_eq!(route.choice().link, "vsat-1");
    assert!(!data.join("sync.link").exists());

    // the LEO link is up: sync moves, the running sync reports it, shore sees it
    link_state(&node, "leo-1", "up");
    let (state, id) = failover(&node).await;
    let e = node.executions.get(&id).unwrap();
    assert_eq!(state, ExecState::Succeeded, "{:#?}", e.steps);
    assert_eq!(route.active().as_deref(), Some("leo-1"));
    assert!(e
        .steps
        .iter()
        .any(|s| s.output == "sync moved from vsat-1 to leo-1"));
    assert!(e
        .steps
        .last()
        .unwrap()
        .output
        .starts_with("sync link: active leo-1, chosen leo-1, previous vsat-1"));
    until("shore sees leo-1", Duration::from_secs(20), || {
        (fleet_link(&fleet).as_deref() == Some("leo-1")).then_some(())
    })
    .await;

    // durable: a restarted sync (a fresh route read from DATA/sync.link) rides leo-1
    sync.shutdown().await;
    assert_eq!(route.active(), None, "a stopped sync rides nothing");
    let reopened = SyncRoute::open(SHIP, data.join("sync.link"), route.links().to_vec(), None);
    assert_eq!(reopened.choice().link, "leo-1");
    let sync = start_sync(&node, &net, data, reopened.clone()).await;
    until(
        "the restarted sync on leo-1",
        Duration::from_secs(20),
        || (reopened.active().as_deref() == Some("leo-1")).then_some(()),
    )
    .await;
    sync.shutdown().await;

    // no sync running: the move cannot be verified, so it is rolled back
    route.move_sync("leo-1", "vsat-1", 0).unwrap();
    let (state, id) = failover(&node).await;
    let e = node.executions.get(&id).unwrap();
    assert_eq!(state, ExecState::RolledBack, "{:#?}", e.steps);
    assert!(e.steps.iter().any(
        |s| s.phase == seawatch_actors::runbook::spec::Phase::Rollback
            && s.output == "sync moved from leo-1 to vsat-1"
    ));
    assert_eq!(route.choice().link, "vsat-1");
    assert_eq!(
        SyncRoute::open(SHIP, data.join("sync.link"), route.links().to_vec(), None)
            .choice()
            .link,
        "vsat-1"
    );

    let _ = stop_shore.send(true);
    let _ = shore_task.await;
    node.shutdown().await;
}
