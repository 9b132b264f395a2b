//! Chaos on a running ship: one part of its supervision tree after another is killed (or
//! panics), and after each, new telemetry over the real listeners still reaches the
//! device and detector actors and still opens an incident; `/healthz` says 503 while a
//! listener waits for its restart and 200 once it is back.
//!
//! Waits poll with a deadline; nothing sleeps for a fixed time to "let things settle".

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use seawatch_actors::detect::actor::DetectorMsg;
use seawatch_actors::device::DeviceMsg;
use seawatch_actors::incident::StateFilter;
use seawatch_actors::link::LinkMsg;
use seawatch_model::{Inventory, ShipId};
use seawatch_runtime::{ActorKey, Clock};
use seawatch_topologies::config::ShipConfig;
use seawatch_topologies::ship::ShipNode;

const SHIP: &str = "aurora";
/// A bound on every wait (a hang fails the test), never a pace.
const WAIT: Duration = Duration::from_secs(30);
/// How often a wait polls.
const POLL: Duration = Duration::from_millis(20);

fn inventory() -> Inventory {
    support::switches(SHIP, 10)
}

fn config(dir: &std::path::Path) -> ShipConfig {
    let mut cfg = ShipConfig::parse(&format!("ship = \"{SHIP}\"\n"), "test").unwrap();
    cfg.data = dir.to_path_buf();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog = "127.0.0.1:0".parse().unwrap();
    cfg
}

/// One request to the node; `(status, body)`.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String) {
    support::http_with(addr, method, path, headers, body).unwrap()
}

/// Round `r`'s telemetry for `sw-r`: a syslog line over TCP, and over NDJSON a log line
/// and two CPU samples at 95 % a second apart (CPU saturation: an incident at once).
async fn feed(node: &ShipNode, r: usize) {
    let (tcp, http_addr) = (node.syslog_tcp_addr, node.http_addr);
    let token = node.auth.ingest_token().to_string();
    let now = Clock::system().now_ms();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(tcp).unwrap();
        writeln!(
            s,
            "<190>1 2026-12-06T20:00:00.000Z sw-{r} app - - - chaos round {r} over syslog"
        )
        .unwrap();
        drop(s);
        let body = format!(
            "{{\"host\":\"sw-{r}\",\"message\":\"chaos round {r}\",\"severity\":\"info\"}}\n\
             {{\"metric\":\"device_cpu_percent\",\"value\":95,\"labels\":{{\"device\":\"sw-{r}\"}},\"ts\":{}}}\n\
             {{\"metric\":\"device_cpu_percent\",\"value\":96,\"labels\":{{\"device\":\"sw-{r}\"}},\"ts\":{}}}\n",
            now - 1000,
            now
        );
        let auth = format!("Authorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\n");
        let (code, text) = http(http_addr, "POST", "/ingest/ndjson", &auth, body.as_bytes());
        assert_eq!(code, 200, "{text}");
    })
    .await
    .unwrap();
}

/// [`support::eventually`] with this test's bound and poll.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    support::eventually(what, WAIT, POLL, check).await
}

/// Round `r`'s telemetry reached `sw-r`'s device and detector actors and opened an
/// incident rooted at `sw-r`; every device and the link still answer a snapshot.
async fn reached(node: &ShipNode, r: usize) {
    let device = format!("sw-{r}");
    eventually(
        &format!("round {r}: telemetry at {device}'s actors"),
        || async {
            let addr = node.roster.device(&device).await.ok_or("no device actor")?;
            let st = addr
                .call(DeviceMsg::Snapshot, WAIT)
                .await
                .map_err(|e| format!("device snapshot: {e}"))?;
            let logs: u64 = st.logs_by_severity.iter().sum();
            if logs < 2 || st.samples < 2 {
                return Err(format!("device saw {logs} logs, {} samples", st.samples));
            }
            let det = node
                .roster
                .detector_of(&device)
                .ok_or("no detector actor")?;
            let ds = det
                .call(DetectorMsg::Snapshot, WAIT)
                .await
                .map_err(|e| format!("detector snapshot: {e}"))?;
            if ds.samples < 2 {
                return Err(format!("detector saw {} samples", ds.samples));
            }
            let open = node.incidents.list(Some(SHIP), StateFilter::All);
            if !open.iter().any(|i| i.root_cause == device) {
                return Err(format!(
                    "no incident rooted at {device}; incidents: {:?}",
                    open.iter().map(|i| &i.root_cause).collect::<Vec<_>>()
                ));
            }
            Ok(())
        },
    )
    .await;
    for (id, addr) in node.roster.devices() {
        addr.call(DeviceMsg::Snapshot, WAIT)
            .await
            .unwrap_or_else(|e| panic!("round {r}: device {id} snapshot: {e}"));
    }
    let link = node.roster.link("vsat-1").expect("link actor");
    link.call(LinkMsg::Snapshot, WAIT)
        .await
        .unwrap_or_else(|e| panic!("round {r}: link snapshot: {e}"));
}

/// Kills the running incarnation registered as (ship, kind, id) and waits until a new
/// one is registered.
async fn kill(node: &ShipNode, kind: &str, id: &str) {
    support::kill_registered(&node.runtime, SHIP, kind, id, WAIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_part_of_the_ship_tree_can_crash_and_telemetry_still_gets_through() {
    let dir = tempfile::tempdir().unwrap();
    let node = ShipNode::start(&config(dir.path()), inventory(), Clock::system())
        .await
        .unwrap();
    assert_eq!(healthz(&node).await, 200);

    // Round 0: nothing crashed yet.
    feed(&node, 0).await;
    reached(&node, 0).await;

    // Each round crashes one part, then feeds a new device and checks it end to end.
    let crashes: Vec<(&str, &str)> = vec![
        ("correlator", "correlator"),
        ("device", "sw-0"),
        ("link", "vsat-1"),
        ("detector", "sw-0"),
        ("peer", "_peers"),
        ("eventlog", "eventlog-writer"),
        ("eventlog", "eventlog-router"),
        ("roster", "roster"),
    ];
    let rounds = crashes.len();
    for (r, (kind, id)) in crashes.into_iter().enumerate() {
        let r = r + 1;
        if kind == "detector" {
            // a real panic inside a handler
            let det = node.roster.detector_of(id).expect("detector");
            let old = det.current().map(|a| a.get_id());
            assert!(old.is_some(), "detector running");
            det.send(DetectorMsg::Crash).ok().expect("detector running");
            eventually("the detector restarted", || async {
                match node.roster.detector_of(id).and_then(|d| d.current()) {
                    Some(a) if Some(a.get_id()) != old => Ok(()),
                    _ => Err("not yet".to_string()),
                }
            })
            .await;
        } else {
            kill(&node, kind, id).await;
        }
        feed(&node, r).await;
        reached(&node, r).await;
    }

    // The syslog listener crashes twice in a row: the first restart is immediate, the
    // second waits out the edge's backoff, and /healthz says so until it is back.
    let round = rounds + 1;
    kill(&node, "listener", "syslog-tcp").await;
    let key = ActorKey::new(&ShipId::new(SHIP), "listener", "syslog-tcp");
    let mut saw_down = false;
    for _ in 0..4 {
        node.runtime.registry().get(&key).expect("listener").kill();
        let old = Instant::now();
        // the backoff is at least 80 ms (100 ms, -20 % jitter), and doubles each time
        while old.elapsed() < Duration::from_millis(60) {
            if healthz(&node).await == 503 {
                saw_down = true;
                break;
            }
        }
        if saw_down {
            break;
        }
    }
    assert!(
        saw_down,
        "/healthz never said 503 while the listener was down"
    );
    eventually("/healthz back to 200", || async {
        match healthz(&node).await {
            200 => Ok(()),
            code => Err(format!("{code}")),
        }
    })
    .await;
    feed(&node, round).await;
    reached(&node, round).await;

    let text = node.runtime.metrics().encode();
    assert!(
        text.contains("# TYPE seawatch_actor_messages counter"),
        "{text}"
    );
    assert!(text.contains("# TYPE seawatch_actor_handle_seconds histogram"));
    assert!(
        text.contains("seawatch_roster_undelivered_total{ship=\"aurora\",to=\"device\"}"),
        "{text}"
    );
    node.shutdown().await;
    assert!(
        node.runtime.registry().is_empty(),
        "nothing left registered after shutdown"
    );
    assert_eq!(node.runtime.children_down(), 0);
    assert!(!node.health.is_up(), "unhealthy once the tree is down");
}

async fn healthz(node: &ShipNode) -> u16 {
    let a = node.http_addr;
    tokio::task::spawn_blocking(move || http(a, "GET", "/healthz", "", b"").0)
        .await
        .unwrap()
}
