use std::time::Duration;

use futures::{SinkExt, StreamExt};
use seawatch_actors::push::PushKind;
use seawatch_model::ShipId;
use seawatch_runtime::supervision::start_root;
use seawatch_runtime::{Clock, Metrics, Runtime};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMsg;

use super::*;
use crate::auth::{AuthConfig, Role};
use crate::testutil::serve;

/// A snapshot source with fixed contents.
struct Fixed(Vec<Push>);

impl SnapshotSource for Fixed {
    fn ships(&self) -> Vec<String> {
        vec!["aurora".into(), "borealis".into()]
    }
    fn snapshot(&self, ship: Option<&str>) -> BoxFuture<'static, Vec<Push>> {
        let ship = ship.map(str::to_string);
        let items = self
            .0
            .iter()
            .filter(|p| ship.is_none() || p.ship == ship)
            .cloned()
            .collect();
        Box::pin(async move { items })
    }
}

fn incident(ship: &str, id: u64, pad: usize) -> Push {
    Push {
        kind: PushKind::Incident,
        ship: Some(ship.into()),
        body: serde_json::json!({"id": format!("inc-{id}"), "ship": ship, "pad": "x".repeat(pad)}),
    }
}

struct Node {
    addr: std::net::SocketAddr,
    bus: PushBus,
    metrics: Arc<Metrics>,
    viewer: String,
    admin: String,
    _root: seawatch_runtime::supervision::SupervisorHandle,
    _dir: tempfile::TempDir,
}

async fn node(cfg: WsConfig) -> Node {
    node_on(cfg, Clock::system()).await
}

/// A node whose tokens (12 h) expire on `clock`.
async fn node_on(cfg: WsConfig, clock: Clock) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(clock.clone());
    let cm = ConsoleMetrics::register(runtime.metrics());
    let auth = Auth::open(dir.path(), &AuthConfig::default(), clock, cm.clone()).unwrap();
    let ship = ShipId::new("aurora");
    let (spec, sessions) = sessions_supervisor(&ship);
    let (root, _join) = start_root(
        SupervisorSpec::new("root", &ship).child(spec),
        runtime.clone(),
    )
    .await
    .unwrap();
    let bus = PushBus::new(1024);
    let snapshots = Arc::new(Fixed(vec![
        incident("aurora", 0, 0),
        incident("borealis", 0, 0),
    ]));
    let hub = WsHub::new(bus.clone(), snapshots, sessions, cm, cfg);
    let addr = serve(auth.routes().merge(hub.routes(&auth))).await;
    let viewer = auth.issue("deck", Role::Viewer);
    let admin = auth.issue("root", Role::Admin);
    Node {
        addr,
        bus,
        metrics: runtime.metrics().clone(),
        viewer,
        admin,
        _root: root,
        _dir: dir,
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(n: &Node) -> Client {
    let url = format!("ws://{}/ws?token={}", n.addr, n.viewer);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next text message, within a deadline.
async fn next_json(c: &mut Client) -> serde_json::Value {
    next_json_within(c, Duration::from_secs(10)).await
}

/// The next text message, within `limit`.
async fn next_json_within(c: &mut Client, limit: Duration) -> serde_json::Value {
    loop {
        let m = tokio::time::timeout(limit, c.next())
            .await
            .expect("no message in time")
            .expect("stream ended")
            .unwrap();
        if let WsMsg::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// The close frame the server sends, within a deadline.
async fn close_of(c: &mut Client) -> (CloseCode, String) {
    close_within(c, Duration::from_secs(10)).await
}

/// The close frame the server sends, within `limit`.
async fn close_within(c: &mut Client, limit: Duration) -> (CloseCode, String) {
    loop {
        match tokio::time::timeout(limit, c.next())
            .await
            .expect("no close within 10 s")
        {
            Some(Ok(WsMsg::Close(Some(f)))) => return (f.code, f.reason.to_string()),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Waits (deadline 10 s) until the metrics text contains `series`.
async fn wait_metric(m: &Metrics, series: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = m.encode();
        if text.contains(series) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} not in\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn needs_a_token_then_pushes_follow_the_subscription() {
    let n = node(WsConfig::default()).await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws", n.addr))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 401),
        e => panic!("{e}"),
    }
    let mut c = connect(&n).await;
    c.send(WsMsg::text(r#"{"type":"subscribe","ship":"aurora"}"#))
        .await
        .unwrap();
    let snap = next_json(&mut c).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["ship"], "aurora");
    assert_eq!(snap["items"].as_array().unwrap().len(), 1);
    assert_eq!(snap["items"][0]["type"], "incident");
    assert_eq!(snap["items"][0]["ship"], "aurora");
    wait_metric(&n.metrics, r#"seawatch_ws_sessions{ship="aurora"} 1"#).await;

    n.bus.publish(incident("borealis", 1, 0));
    n.bus.publish(incident("aurora", 2, 0));
    let m = next_json(&mut c).await;
    assert_eq!(
        (m["type"].as_str(), m["id"].as_str()),
        (Some("incident"), Some("inc-2"))
    );

    // Unknown ships are refused without a new label; the session stays.
    c.send(WsMsg::text(r#"{"type":"subscribe","ship":"nope"}"#))
        .await
        .unwrap();
    let m = next_json(&mut c).await;
    assert_eq!(m["type"], "error");
    c.send(WsMsg::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next_json(&mut c).await["type"], "pong");
    assert!(!n.metrics.encode().contains(r#"ship="nope""#));

    c.close(None).await.unwrap();
    wait_metric(&n.metrics, r#"seawatch_ws_sessions{ship="aurora"} 0"#).await;
    wait_metric(
        &n.metrics,
        r#"seawatch_ws_closed_total{reason="client_closed"} 1"#,
    )
    .await;
}

#[tokio::test]
async fn hostile_frames_close_with_a_reason() {
    let cfg = WsConfig {
        max_message_bytes: 1024,
        client_burst: 5,
        client_per_s: 1,
        ..WsConfig::default()
    };
    let n = node(cfg).await;
    let cases: Vec<(WsMsg, CloseCode, &str)> = vec![
        (
            WsMsg::binary(vec![1u8, 2, 3]),
            CloseCode::Unsupported,
            "binary_frame",
        ),
        (WsMsg::text("x".repeat(4096)), CloseCode::Size, "oversized"),
        (WsMsg::text("{\"type\":"), CloseCode::Invalid, "bad_json"),
        (
            WsMsg::text(r#"{"type":"rm -rf"}"#),
            CloseCode::Policy,
            "unknown_message",
        ),
        (
            WsMsg::text(r#"{"type":"subscribe","ship":"aurora","x":1}"#),
            CloseCode::Policy,
            "unknown_message",
        ),
    ];
    for (frame, code, reason) in cases {
        let mut c = connect(&n).await;
        c.send(frame).await.unwrap();
        assert_eq!(
            close_of(&mut c).await,
            (code, reason.to_string()),
            "{reason}"
        );
    }
    // A flood: more than the burst at once.
    let mut c = connect(&n).await;
    for _ in 0..10 {
        if c.send(WsMsg::text(r#"{"type":"ping"}"#)).await.is_err() {
            break;
        }
    }
    assert_eq!(
        close_of(&mut c).await,
        (CloseCode::Policy, "flood".to_string())
    );
    for reason in ["binary_frame", "oversized", "bad_json", "flood"] {
        wait_metric(
            &n.metrics,
            &format!("seawatch_ws_closed_total{{reason=\"{reason}\"}} 1"),
        )
        .await;
    }
    wait_metric(
        &n.metrics,
        r#"seawatch_ws_closed_total{reason="unknown_message"} 2"#,
    )
    .await;
    wait_metric(&n.metrics, r#"seawatch_ws_sessions{ship="all"} 0"#).await;
}

#[tokio::test]
async fn a_stalled_client_gets_a_snapshot_instead_of_lost_deltas_and_slows_no_one() {
    let cfg = WsConfig {
        out_buffer: 64,
        ..WsConfig::default()
    };
    let n = node(cfg).await;
    let mut stalled = connect(&n).await;
    let mut fast = connect(&n).await;
    for c in [&mut stalled, &mut fast] {
        c.send(WsMsg::text(r#"{"type":"subscribe","ship":"aurora"}"#))
            .await
            .unwrap();
        assert_eq!(next_json(c).await["type"], "snapshot");
    }
    // The fast client reads everything as it comes and reports its progress; the
    // publisher keeps at most one batch ahead of it (under its 64-message buffer).
    const PUSHES: u64 = 800;
    const BATCH: u64 = 32;
    let (progress_tx, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let fast_task = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < PUSHES as usize {
            let m = next_json(&mut fast).await;
            assert_eq!(
                m["type"], "incident",
                "the fast client never needs a snapshot"
            );
            ids.push(m["id"].as_str().unwrap().to_string());
            let _ = progress_tx.send(ids.len() as u64);
        }
        ids
    });
    // 800 pushes of 64 KiB (50 MiB): far more than the socket buffers hold while the
    // stalled client reads nothing.
    let mut seen = 0;
    for batch in 0..PUSHES / BATCH {
        for i in 1..=BATCH {
            n.bus
                .publish(incident("aurora", batch * BATCH + i, 64 * 1024));
        }
        while seen < (batch + 1) * BATCH {
            seen = tokio::time::timeout(Duration::from_secs(10), progress.recv())
                .await
                .expect("fast client stuck behind the stalled one")
                .expect("fast client ended");
        }
    }
    let ids = fast_task.await.unwrap();
    let want: Vec<String> = (1..=PUSHES).map(|i| format!("inc-{i}")).collect();
    assert_eq!(ids, want);

    // Now the stalled client reads: some deltas, then a snapshot in place of the rest.
    let mut deltas = 0;
    loop {
        let m = next_json(&mut stalled).await;
        match m["type"].as_str() {
            Some("incident") => deltas += 1,
            Some("snapshot") => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(deltas < PUSHES, "deltas {deltas}");
    wait_metric(
        &n.metrics,
        r#"seawatch_ws_snapshots_total{reason="overflow"} 1"#,
    )
    .await;
    // Then every push after the snapshot was taken, in order: what the ring still held
    // when the session caught up, then live ones.
    n.bus.publish(incident("aurora", 999, 0));
    let mut last = 0;
    loop {
        let m = next_json(&mut stalled).await;
        assert_eq!(m["type"], "incident");
        let id: u64 = m["id"].as_str().unwrap()[4..].parse().unwrap();
        assert!(id > last, "in order: {id} after {last}");
        last = id;
        if id == 999 {
            break;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_session_closes_when_its_token_expires_on_the_injected_clock() {
    let clock = Clock::manual(1_741_932_000_000);
    let n = node_on(WsConfig::default(), clock.clone()).await;
    let ttl_ms = 12 * 3600 * 1000;
    // Paused time jumps to the next timer whenever the runtime waits on a socket, so the
    // waits here are generous in tokio time; none of them is reached.
    let long = Duration::from_secs(24 * 3600);
    let mut c = connect(&n).await;
    c.send(WsMsg::text(r#"{"type":"subscribe","ship":"aurora"}"#))
        .await
        .unwrap();
    assert_eq!(next_json_within(&mut c, long).await["type"], "snapshot");

    // A second before expiry, and however long tokio time runs, the session lives.
    clock.advance_ms(ttl_ms - 1000);
    tokio::time::advance(Duration::from_secs(60)).await;
    c.send(WsMsg::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next_json_within(&mut c, long).await["type"], "pong");
    n.bus.publish(incident("aurora", 7, 0));
    assert_eq!(next_json_within(&mut c, long).await["id"], "inc-7");

    // At expiry it is closed, with a reason, within one look at the clock.
    clock.advance_ms(1000);
    assert_eq!(
        close_within(&mut c, long).await,
        (CloseCode::Policy, "token_expired".to_string())
    );
    wait_metric(
        &n.metrics,
        r#"seawatch_ws_closed_total{reason="token_expired"} 1"#,
    )
    .await;
    wait_metric(&n.metrics, r#"seawatch_ws_sessions{ship="aurora"} 0"#).await;
    // and the token no longer opens one
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws?token={}", n.addr, n.viewer))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 401),
        e => panic!("{e}"),
    }
}

#[tokio::test(start_paused = true)]
async fn expiry_follows_the_injected_clock() {
    // A clock on tokio time: expiry lands exactly when the clock says so.
    let t0 = tokio::time::Instant::now();
    session::expired(Clock::tokio(1_000_000), Some(1_012_345)).await;
    assert_eq!(t0.elapsed(), Duration::from_millis(12_345));
    // A manual clock that does not move: no expiry however long tokio time runs...
    let clock = Clock::manual(1_000_000);
    let wait = session::expired(clock.clone(), Some(1_060_000));
    tokio::pin!(wait);
    assert!(tokio::time::timeout(Duration::from_secs(3600), &mut wait)
        .await
        .is_err());
    // ...and once it passes the expiry, the next look at it (≤ 5 s) ends the wait.
    clock.advance_ms(60_000);
    let t1 = tokio::time::Instant::now();
    wait.await;
    assert!(t1.elapsed() <= Duration::from_secs(5), "{:?}", t1.elapsed());
    // No expiry: never.
    assert!(tokio::time::timeout(
        Duration::from_secs(86_400),
        session::expired(Clock::tokio(0), None)
    )
    .await
    .is_err());
}

/// Rollout pushes (shore) go to admins' sessions only, as the rollout routes do; the
/// other kinds to everyone.
#[tokio::test]
async fn rollout_pushes_reach_admins_only() {
    let n = node(WsConfig::default()).await;
    let mut viewer = connect(&n).await;
    let url = format!("ws://{}/ws?token={}", n.addr, n.admin);
    let mut admin = tokio_tungstenite::connect_async(url).await.unwrap().0;
    for c in [&mut viewer, &mut admin] {
        c.send(WsMsg::text(r#"{"type":"subscribe","ship":null}"#))
            .await
            .unwrap();
        assert_eq!(next_json(c).await["type"], "snapshot");
    }
    n.bus.publish(Push {
        kind: PushKind::Rollout,
        ship: None,
        body: serde_json::json!({"id": "n0-000001", "state": "running"}),
    });
    n.bus.publish(incident("aurora", 7, 0));
    let m = next_json(&mut admin).await;
    assert_eq!(
        (m["type"].as_str(), m["id"].as_str()),
        (Some("rollout"), Some("n0-000001"))
    );
    assert_eq!(next_json(&mut admin).await["id"], "inc-7");
    let m = next_json(&mut viewer).await;
    assert_eq!(m["type"], "incident", "the viewer skips the rollout: {m}");
    assert_eq!(m["id"], "inc-7");
}
