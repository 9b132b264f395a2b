//! Simulated telemetry through the real decoders into a ship: nothing lost, every
//! inventoried device heard, and the link actor follows a blockage.

use std::path::Path;
use std::time::Duration;

use seawatch_actors::device::DeviceMsg;
use seawatch_actors::link::{LinkMsg, LinkStatus};
use seawatch_runtime::event_log::EventKind;
use seawatch_runtime::Clock;
use seawatch_simulators::generate::Simulator;
use seawatch_simulators::scenario::Scenario;
use seawatch_topologies::config::ShipConfig;
use seawatch_topologies::feed::{decode_into, send_all};
use seawatch_topologies::inventory::from_ship;
use seawatch_topologies::ship::ShipNode;

/// How long an actor may take to answer: only a bound on a hang. Under a loaded CI
/// machine a device actor can be tens of seconds behind its mailbox (a debug build
/// replaying an hour of firewall logs), so this is generous; it never paces the test.
const WAIT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blockage_scenario_replayed_through_the_decoders() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../simulators/scenarios/vsat-blockage.toml");
    let scenario = Scenario::load(&path).unwrap();
    let ship = &scenario.ship[0];
    let blockage = scenario
        .faults()
        .iter()
        .find(|f| f.kind.as_str() == "blockage")
        .expect("scenario has a blockage")
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let cfg = ShipConfig {
        ship: ship.id.clone(),
        data: dir.path().to_path_buf(),
        listen: loopback,
        syslog: loopback,
        ..ShipConfig::default()
    };
    let mut sim = Simulator::new(&scenario);
    let clock = Clock::manual(sim.start_ms());
    let node = ShipNode::start(&cfg, from_ship(ship), clock.clone())
        .await
        .unwrap();
    let link = node.roster.link(&blockage.target).expect("link actor");

    // Replay up to the middle of the blockage, one simulated minute at a time.
    let mid_ms = sim.start_ms() + (blockage.at_s as i64 + blockage.duration_s as i64 / 2) * 1000;
    let mut generated = 0u64;
    let mut t = sim.start_ms();
    let mut saw_up = false;
    while t < mid_ms {
        t = (t + 60_000).min(mid_ms);
        let mut items = Vec::new();
        sim.advance_with(t, |rec| {
            generated += 1;
            decode_into(&rec, &node.sender, &mut items);
        });
        clock.set_ms(t);
        send_all(&node.sender, items).await.unwrap();
        node.sender.barrier().await.unwrap();
        let st = link.call(LinkMsg::Snapshot, WAIT).await.unwrap();
        if t < sim.start_ms() + blockage.at_s as i64 * 1000 {
            saw_up |= st.status == LinkStatus::Up;
        }
    }
    assert!(saw_up, "the link was up before the blockage");
    let st = link.call(LinkMsg::Snapshot, WAIT).await.unwrap();
    assert!(
        matches!(st.status, LinkStatus::Down | LinkStatus::Degraded),
        "mid-blockage the link is not up: {st:?}"
    );

    // Nothing lost, nothing rejected: every generated record is a durable event.
    let malformed: u64 = node.metrics.malformed_samples().len() as u64;
    assert_eq!(malformed, 0, "{:?}", node.metrics.malformed_samples());
    tokio::time::timeout(WAIT, node.metrics.wait_durable(generated))
        .await
        .expect("durable");
    // The log holds every generated record plus the correlator's incident events.
    let (mut telemetry, mut seq) = (0u64, 1u64);
    loop {
        let batch = node.log.read_from(seq, 100_000).unwrap();
        let Some(last) = batch.last() else { break };
        seq = last.seq + 1;
        telemetry += batch
            .iter()
            .filter(|e| e.kind != EventKind::Incident)
            .count() as u64;
    }
    assert_eq!(seq, node.log.next_seq(), "every event readable");
    assert_eq!(telemetry, generated);

    // Every inventoried device that the simulator gives a voice was heard by its actor.
    let mut heard = 0;
    for d in &ship.device {
        let addr = node.roster.device(&d.id).await.unwrap();
        let s = addr.call(DeviceMsg::Snapshot, WAIT).await.unwrap();
        assert_eq!(s.kind, d.kind.to_string());
        if s.last_seen_ms.is_some() {
            heard += 1;
        }
    }
    assert!(
        heard * 10 >= ship.device.len() * 9,
        "{heard} of {} devices heard",
        ship.device.len()
    );
    node.shutdown().await;
}
