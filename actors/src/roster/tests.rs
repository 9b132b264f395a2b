use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use seawatch_model::ShipId;
use seawatch_runtime::supervision::{start_root, SupervisorSpec};
use seawatch_runtime::{ActorKey, Clock, Metrics, Runtime};

use super::*;
use crate::alert::AlertSink;
use crate::device::DeviceMsg;
use crate::ingest::metrics::IngestMetrics;
use crate::ingest::record::Observation;
use crate::inventory::{DeviceSpec, Inventory};
use crate::link::LinkMetrics;

const WAIT: Duration = Duration::from_secs(10);

fn args(runtime: &Runtime, registry: &Metrics, discovered: Discovered) -> RosterArgs {
    RosterArgs {
        ship: "s".into(),
        runtime: runtime.clone(),
        inventory: Arc::new(RwLock::new(Inventory {
            ship: "s".into(),
            devices: vec![DeviceSpec {
                id: "sw-1".into(),
                kind: "switch".into(),
                depends_on: vec![],
            }],
            links: vec![],
        })),
        discovered,
        alerts: AlertSink::none(),
        push: None,
        ingest_metrics: IngestMetrics::register(registry, "s"),
        link_metrics: LinkMetrics::register(registry),
        link_risk: Default::default(),
        detectors: Some(DetectorSetup::new(Default::default(), None)),
        metrics: RosterMetrics::register(registry),
        view: RosterView::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_roster_recreates_inventoried_and_discovered_devices() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster").join("s.discovered");
    let runtime = Runtime::new(Clock::system());
    let (spec, roster) = roster_child(args(
        &runtime,
        &Metrics::new(),
        Discovered::persisted(file.clone()),
    ));
    let (root, _join) = start_root(
        SupervisorSpec::new("root", &ShipId::new("s")).child(spec),
        runtime.clone(),
    )
    .await
    .unwrap();
    assert!(roster.detector_of("sw-1").is_some(), "inventoried at start");
    roster
        .route(
            Instant::now(),
            vec![Observation::log("stranger", 1, None, "app", "hello")],
        )
        .await;
    roster.flush().await.unwrap();
    let before = roster.device("stranger").await.expect("discovered");
    let st = before.call(DeviceMsg::Snapshot, WAIT).await.unwrap();
    assert_eq!(
        (st.kind.as_str(), st.logs_by_severity.iter().sum::<u64>()),
        ("discovered", 1)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "stranger\n",
        "persisted"
    );

    // Kill the roster: its supervisors and their children go with it, and the next
    // incarnation starts them all again.
    let key = ActorKey::new(&ShipId::new("s"), "roster", "roster");
    let old = runtime.registry().get(&key).unwrap();
    old.kill();
    let deadline = Instant::now() + WAIT;
    loop {
        let fresh = roster.devices().iter().all(|(_, a)| a.is_running())
            && runtime
                .registry()
                .get(&key)
                .is_some_and(|c| c.get_id() != old.get_id());
        if fresh && roster.devices().len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "roster not back within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ids: Vec<String> = roster.devices().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["stranger", "sw-1"], "sorted by id");
    let after = roster.device("stranger").await.unwrap();
    let st = after.call(DeviceMsg::Snapshot, WAIT).await.unwrap();
    assert_eq!(
        st.kind, "discovered",
        "a discovered device comes back discovered"
    );
    assert!(roster
        .detector_of("stranger")
        .is_some_and(|d| d.is_running()));
    assert!(
        !before.is_running(),
        "the old incarnation's address is not reused"
    );
    root.shutdown().await;
    assert!(runtime.registry().is_empty(), "nothing left behind");

    // A new process reads the file back; junk lines never make it fail.
    std::fs::write(&file, "stranger\n\n  other \n").unwrap();
    assert_eq!(Discovered::persisted(file).ids(), ["other", "stranger"]);
}

#[test]
fn a_batch_for_a_roster_that_is_not_running_is_counted() {
    let runtime = Runtime::new(Clock::system());
    let registry = Metrics::new();
    let (_spec, roster) = roster_child(args(&runtime, &registry, Discovered::in_memory()));
    let items = vec![
        Observation::log("sw-1", 1, None, "app", "a"),
        Observation::log("sw-1", 2, None, "app", "b"),
    ];
    roster.try_route(Instant::now(), items);
    assert_eq!(roster.metrics().undelivered_total("s", "roster"), 2);
    assert!(registry
        .encode()
        .contains("seawatch_roster_undelivered_total{ship=\"s\",to=\"roster\"} 2"));
}
