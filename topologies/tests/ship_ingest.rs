//! A ship node end to end: real sockets in, durable event log and device/link actors out.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use seawatch_actors::detect::actor::DetectorMsg;
use seawatch_actors::device::DeviceMsg;
use seawatch_actors::ingest::decode::{
    encode_write_request, Label, Sample, TimeSeries, WriteRequest,
};
use seawatch_actors::link::{LinkMsg, LinkStatus};
use seawatch_model::{DeviceSpec, Inventory, LinkSpec};
use seawatch_runtime::event_log::EventKind;
use seawatch_runtime::Clock;
use seawatch_topologies::config::ShipConfig;
use seawatch_topologies::ship::ShipNode;

const WAIT: Duration = Duration::from_secs(20);

fn inventory() -> Inventory {
    Inventory {
        ship: "aurora".into(),
        devices: vec![
            DeviceSpec {
                id: "core-sw-1".into(),
                kind: "switch".into(),
                depends_on: vec![],
            },
            DeviceSpec {
                id: "modem-1".into(),
                kind: "modem".into(),
                depends_on: vec!["core-sw-1".into()],
            },
        ],
        links: vec![LinkSpec {
            id: "vsat-1".into(),
            kind: "vsat".into(),
            band: Some("Ku".into()),
            capacity_mbps: Some(50.0),
            primary: true,
            ..Default::default()
        }],
    }
}

fn config(dir: &std::path::Path) -> ShipConfig {
    let mut cfg = ShipConfig::parse(
        "ship = \"aurora\"\n[eventlog]\nfsync = \"every_batch\"\n",
        "test",
    )
    .unwrap();
    cfg.data = dir.to_path_buf();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog = "127.0.0.1:0".parse().unwrap();
    cfg
}

fn http_post(addr: SocketAddr, path: &str, ctype: &str, extra: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    (text[9..12].parse().unwrap(), text)
}

fn remote_write_body() -> Vec<u8> {
    let series = |name: &str, labels: &[(&str, &str)], v: f64| TimeSeries {
        labels: std::iter::once(("__name__", name))
            .chain(labels.iter().copied())
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect(),
        samples: vec![Sample {
            value: v,
            timestamp: 1_764_460_800_000,
        }],
    };
    let req = WriteRequest {
        timeseries: vec![
            series(
                "modem_lock",
                &[("instance", "modem-1:9100"), ("link", "vsat-1")],
                1.0,
            ),
            series(
                "modem_esno_db",
                &[("instance", "modem-1:9100"), ("link", "vsat-1")],
                3.2,
            ),
            series(
                "ifOperStatus",
                &[("device", "core-sw-1"), ("ifName", "Te1/1/1")],
                2.0,
            ),
        ],
    };
    encode_write_request(&req)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_over_every_listener_reaches_the_log_and_the_actors() {
    let dir = tempfile::tempdir().unwrap();
    let node = ShipNode::start(&config(dir.path()), inventory(), Clock::system())
        .await
        .unwrap();
    let (tcp, udp, http) = (node.syslog_tcp_addr, node.syslog_udp_addr, node.http_addr);
    let auth = format!("Authorization: Bearer {}\r\n", node.auth.ingest_token());

    let sent = tokio::task::spawn_blocking(move || {
        // Syslog over TCP: newline framing and octet counting, RFC 5424, RFC 3164 and
        // a Cisco line, plus one malformed line.
        let mut s = TcpStream::connect(tcp).unwrap();
        let l1 = "<187>1 2025-03-14T03:12:07.412Z core-sw-1 LINK - UPDOWN - Interface Te1/1/1, changed state to down";
        let l2 = "<30>Mar 14 03:12:07 core-sw-1 lldpd[411]: neighbour lost on Te1/1/1";
        let l3 = "<189>core-sw-1: 000123: Mar 14 03:12:08.415 UTC: %LINEPROTO-5-UPDOWN: Line protocol on Interface TenGigabitEthernet1/1/1, changed state to down";
        write!(s, "{l1}\n{} {l2}\n{l3}\n<999>1 bad\n", l2.len()).unwrap();
        drop(s);
        // UDP: one datagram.
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.send_to(b"<13>1 2025-03-14T03:12:09Z fw-1 sshd 22 - - accepted publickey", udp).unwrap();
        // NDJSON: a log, a metric and a broken line.
        let body = b"{\"host\":\"core-sw-1\",\"message\":\"fan ok\",\"severity\":\"info\"}\n{\"metric\":\"device_cpu_percent\",\"value\":41.5,\"labels\":{\"device\":\"core-sw-1\"}}\n{broken\n";
        // Without the ingest token: 401, nothing ingested.
        let (code, _) = http_post(http, "/ingest/ndjson", "application/x-ndjson", "", body);
        assert_eq!(code, 401);
        let (code, _) = http_post(http, "/api/v1/write", "application/x-protobuf", "Authorization: Bearer nope\r\n", &remote_write_body());
        assert_eq!(code, 401);
        let (code, text) = http_post(http, "/ingest/ndjson", "application/x-ndjson", &auth, body);
        assert_eq!(code, 200, "{text}");
        assert!(text.contains("\"accepted\":2") && text.contains("\"rejected\":1"), "{text}");
        // Remote write, as Prometheus sends it.
        let (code, text) = http_post(
            http,
            "/api/v1/write",
            "application/x-protobuf",
            &format!("{auth}Content-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n"),
            &remote_write_body(),
        );
        assert_eq!(code, 204, "{text}");
        let (code, _) = http_post(http, "/api/v1/write", "application/x-protobuf", &auth, b"not snappy");
        assert_eq!(code, 400);
        3 + 1 + 2 + 3
    })
    .await
    .unwrap();

    tokio::time::timeout(WAIT, node.metrics.wait_accepted(sent))
        .await
        .expect("all accepted");
    tokio::time::timeout(WAIT, node.sender.barrier())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(WAIT, node.metrics.wait_durable(sent))
        .await
        .expect("all durable");

    // Durable log: every event, with a dense identity.
    // The log is shared: the incident actor may append an incident (the link is
    // degraded) and the audit follower control records, so count what was ingested.
    let all = node.log.read_from(1, 100).unwrap();
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let events: Vec<_> = all
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Log | EventKind::Metric))
        .collect();
    assert_eq!(events.len() as u64, sent);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == EventKind::Metric)
            .count(),
        4
    );
    assert!(
        events.iter().any(|e| e.source == "fw-1"),
        "discovered sender stored"
    );

    // Actors: the switch saw its logs and metrics, the link its KPIs.
    let sw = node.roster.device("core-sw-1").await.unwrap();
    let st = sw.call(DeviceMsg::Snapshot, WAIT).await.unwrap();
    assert_eq!(st.kind, "switch");
    assert_eq!(st.logs_by_severity.iter().sum::<u64>(), 4);
    assert_eq!(st.samples, 2);
    // ...and forwarded its metric samples to its detector actor.
    let det = node.roster.detector_of("core-sw-1").expect("detector");
    let ds = det.call(DetectorMsg::Snapshot, WAIT).await.unwrap();
    assert_eq!((ds.series, ds.samples), (2, 2));
    let fw = node.roster.device("fw-1").await.unwrap();
    assert_eq!(
        fw.call(DeviceMsg::Snapshot, WAIT).await.unwrap().kind,
        "discovered"
    );
    let link = node.roster.link("vsat-1").unwrap();
    let ls = link.call(LinkMsg::Snapshot, WAIT).await.unwrap();
    assert_eq!(
        ls.status,
        LinkStatus::Degraded,
        "Es/No 3.2 dB is below 5 dB"
    );

    // Malformed input is counted by reason; nothing panicked.
    let text = node.runtime.metrics().encode();
    assert!(text.contains("seawatch_ingest_malformed_total{source=\"syslog-tcp\",reason=\"bad_priority\",ship=\"aurora\"} 1"), "{text}");
    assert!(text.contains("seawatch_ingest_malformed_total{source=\"remote-write\""));
    let logged: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("seawatch_eventlog_events_total{ship=\"aurora\"} "))
        .and_then(|v| v.trim().parse().ok())
        .expect("event log counter exported");
    let appended = node.log.next_seq() - 1;
    assert!(
        (sent..=appended).contains(&logged),
        "counter {logged}, ingested {sent}, log holds {appended}"
    );
    assert!(text.contains("seawatch_ingest_events_total{source=\"syslog-tcp\",ship=\"aurora\"} 3"));
    assert!(text.contains("seawatch_link_up{ship=\"aurora\",link=\"vsat-1\"} 1"));
    assert!(text.contains("seawatch_detector_samples_total{ship=\"aurora\"}"));
    node.shutdown().await;

    // Restart on the same data: the log continues where it stopped.
    let node = ShipNode::start(&config(dir.path()), inventory(), Clock::system())
        .await
        .unwrap();
    assert!(
        node.log.next_seq() > appended,
        "the log continues after {appended}"
    );
    let again = node.log.read_from(1, 100).unwrap();
    assert_eq!(
        again
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Log | EventKind::Metric))
            .count() as u64,
        sent
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_reload_adds_and_removes_actors_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = ShipNode::start(&config(dir.path()), inventory(), Clock::system())
        .await
        .unwrap();
    let mut inv = inventory();
    inv.devices.retain(|d| d.id != "modem-1");
    inv.devices.push(DeviceSpec {
        id: "ap-7".into(),
        kind: "ap".into(),
        depends_on: vec!["core-sw-1".into()],
    });
    inv.links.clear();
    let before = node.runtime.registry().len();
    node.roster.reload(inv).await.unwrap();
    let devices: Vec<String> = node
        .roster
        .devices()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(devices.contains(&"ap-7".to_string()));
    assert!(!devices.contains(&"modem-1".to_string()));
    assert!(node.roster.link("vsat-1").is_none());
    assert_eq!(
        node.runtime.registry().len(),
        before - 1,
        "+ap-7, -modem-1, -vsat-1"
    );
    assert!(node.runtime.registry().dead_entries().is_empty());
    node.shutdown().await;
}

/// Every label set known up front is on `/metrics` at 0 from the first scrape (Grafana
/// shows 0, not "No data", before the first incident, event or restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_label_sets_are_exported_at_0_right_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // Sync configured, its server unreachable: the backlog is still known.
    cfg.nats = Some(seawatch_topologies::config::NatsSection {
        url: "nats://127.0.0.1:1".into(),
        bulk_bytes_per_s: None,
    });
    let node = ShipNode::start(&cfg, inventory(), Clock::system())
        .await
        .unwrap();
    let mut s = TcpStream::connect(node.http_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let mut expected = vec![
        "seawatch_link_up{ship=\"aurora\",link=\"vsat-1\"} 0".to_string(),
        "seawatch_link_outage_risk{ship=\"aurora\",link=\"vsat-1\"} 0.0".to_string(),
        "seawatch_sync_backlog_events{ship=\"aurora\"} 0".to_string(),
        "seawatch_eventlog_events_total{ship=\"aurora\"} 0".to_string(),
        "seawatch_eventlog_route_shed_total{ship=\"aurora\"} 0".to_string(),
        "seawatch_eventlog_route_lag_events{ship=\"aurora\"} 0".to_string(),
    ];
    for severity in ["minor", "major", "critical"] {
        expected.push(format!(
            "seawatch_incidents_open{{ship=\"aurora\",severity=\"{severity}\"}} 0"
        ));
    }
    for source in ["syslog-tcp", "syslog-udp", "ndjson", "remote-write"] {
        expected.push(format!(
            "seawatch_ingest_events_total{{source=\"{source}\",ship=\"aurora\"}} 0"
        ));
    }
    for kind in ["device", "link", "detector", "correlator", "sync"] {
        expected.push(format!(
            "seawatch_actor_restarts_total{{kind=\"{kind}\",ship=\"aurora\"}} 0"
        ));
    }
    for series in &expected {
        assert!(
            text.lines().any(|l| l == series),
            "{series} missing in:\n{text}"
        );
    }
    node.shutdown().await;
}

/// What the ship tells shore in its sync snapshots: its links as last pushed, its open
/// incidents and its position from its own `ship_lat`/`ship_lon`/`ship_heading_deg`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_snapshot_carries_the_links_incidents_and_position() {
    use seawatch_actors::sync::ship::SnapshotSource;
    let dir = tempfile::tempdir().unwrap();
    let node = ShipNode::start(&config(dir.path()), inventory(), Clock::system())
        .await
        .unwrap();
    let http = node.http_addr;
    let auth = format!("Authorization: Bearer {}\r\n", node.auth.ingest_token());
    let auth2 = auth.clone();
    tokio::task::spawn_blocking(move || {
        let body = b"{\"metric\":\"ship_lat\",\"value\":25.77,\"labels\":{\"device\":\"modem-1\"}}\n{\"metric\":\"ship_lon\",\"value\":-80.19,\"labels\":{\"device\":\"modem-1\"}}\n{\"metric\":\"ship_heading_deg\",\"value\":95,\"labels\":{\"device\":\"modem-1\"}}\n{\"metric\":\"modem_esno_db\",\"value\":3.2,\"labels\":{\"device\":\"modem-1\",\"link\":\"vsat-1\"}}\n";
        let (code, text) = http_post(http, "/ingest/ndjson", "application/x-ndjson", &auth, body);
        assert_eq!(code, 200, "{text}");
    })
    .await
    .unwrap();
    let live = seawatch_topologies::sync::LiveShipState {
        ship: "aurora".into(),
        board: node.incidents.clone(),
        push: node.push.clone(),
        roster: node.roster.clone(),
        route: None,
    };
    let deadline = std::time::Instant::now() + WAIT;
    let snap = loop {
        let s = live.snapshot(1_000);
        if s.position.is_some() && !s.links.is_empty() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no position or link: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let p = snap.position.unwrap();
    assert_eq!((p.lat, p.lon, p.heading_deg), (25.77, -80.19, Some(95.0)));
    assert_eq!(snap.links.len(), 1);
    assert_eq!(
        (snap.links[0].id.as_str(), snap.links[0].status.as_str()),
        ("vsat-1", "degraded")
    );
    assert_eq!(snap.at_ms, 1_000);
    // The link actor's `degraded` is what makes the link poor for downsampling (decision
    // 0058); a good Es/No again ends it.
    assert!(live.link_degraded());
    tokio::task::spawn_blocking(move || {
        let body = b"{\"metric\":\"modem_esno_db\",\"value\":15.0,\"labels\":{\"device\":\"modem-1\",\"link\":\"vsat-1\"}}\n";
        let (code, text) = http_post(http, "/ingest/ndjson", "application/x-ndjson", &auth2, body);
        assert_eq!(code, 200, "{text}");
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while live.link_degraded() {
        assert!(
            std::time::Instant::now() < deadline,
            "still degraded: {:?}",
            live.snapshot(2_000).links
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(live.snapshot(2_000).links[0].status, "up");
    node.shutdown().await;
}

/// The detector settings of `text` over the defaults: the fingerprint detectors report.
fn fingerprint(text: &str) -> String {
    seawatch_actors::detect::settings::DetectorSettings::from_files([("d.toml", text.as_bytes())])
        .unwrap()
        .detector_config(&Default::default())
        .fingerprint()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ship_starts_with_its_detector_settings_and_a_new_bundle_reaches_the_running_detectors() {
    use seawatch_actors::rollout::bundle::BundleKind;
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("detectors");
    std::fs::create_dir_all(&settings).unwrap();
    const TOUCHY: &str = "alert_threshold = 0.05\nsustain = [1, 1]\n";
    const DEAF: &str = "alert_threshold = 1.0\nsustain = [32, 32]\n";
    std::fs::write(settings.join("d.toml"), TOUCHY).unwrap();
    let node = ShipNode::start(&config(dir.path()), inventory(), Clock::system())
        .await
        .unwrap();
    let running = || async {
        let mut out = Vec::new();
        for (id, d) in node.roster.detectors() {
            let s = d.call(DetectorMsg::Snapshot, WAIT).await.unwrap();
            out.push((id, s.settings));
        }
        out
    };
    let touchy = fingerprint(TOUCHY);
    assert_eq!(
        running().await,
        vec![
            ("core-sw-1".to_string(), touchy.clone()),
            ("modem-1".to_string(), touchy.clone())
        ],
        "read from DATA/detectors at start"
    );

    // What the bundle agent does after a swap: the running detectors get the new
    // settings, and the reload says so.
    std::fs::write(settings.join("d.toml"), DEAF).unwrap();
    let deaf = fingerprint(DEAF);
    let said = (node.bundle_reload)(BundleKind::Detectors).await.unwrap();
    assert_eq!(said, format!("2 detectors run settings {deaf}"));
    assert!(running().await.iter().all(|(_, s)| *s == deaf));

    // Settings that do not load fail the reload (and so the health check), naming the
    // key; the running detectors keep what they run.
    std::fs::write(settings.join("d.toml"), "sustain = [5, 2]\n").unwrap();
    let e = (node.bundle_reload)(BundleKind::Detectors)
        .await
        .unwrap_err();
    assert!(e.contains("sustain"), "{e}");
    assert!(running().await.iter().all(|(_, s)| *s == deaf));
    node.shutdown().await;
}

/// The fingerprint a link with the default thresholds reports for link-risk `json`.
fn link_risk_fingerprint(json: &str) -> String {
    use seawatch_actors::link::settings::{live_risk_config, LinkRiskSettings};
    let s = LinkRiskSettings::from_json("t.json", json.as_bytes()).unwrap();
    live_risk_config(&s, &Default::default()).fingerprint()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ship_starts_its_links_with_the_link_risk_model_and_a_new_one_reaches_the_running_links()
{
    use seawatch_actors::rollout::bundle::BundleKind;
    let dir = tempfile::tempdir().unwrap();
    // the champion's folder, as the bundle agent leaves it, beside another model
    let model = dir.path().join("models").join("vsat-risk");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::create_dir_all(dir.path().join("models/llm")).unwrap();
    std::fs::write(dir.path().join("models/llm/meta.json"), "{}").unwrap();
    const EARLY: &str = r#"{"fire_at": 0.4}"#;
    const LATE: &str = r#"{"fire_at": 0.8, "t50_s": 90}"#;
    std::fs::write(model.join("link-risk.json"), EARLY).unwrap();
    let node = ShipNode::start(&config(dir.path()), inventory(), Clock::system())
        .await
        .unwrap();
    let link = node.roster.link("vsat-1").unwrap();
    let running = || async {
        link.call(LinkMsg::RiskRunning, WAIT)
            .await
            .unwrap()
            .fingerprint
    };
    assert_eq!(
        running().await,
        link_risk_fingerprint(EARLY),
        "read from DATA/models at start"
    );

    // What the bundle agent does after a swap: the running link gets the new model.
    std::fs::write(model.join("link-risk.json"), LATE).unwrap();
    let said = (node.bundle_reload)(BundleKind::Model).await.unwrap();
    let late = link_risk_fingerprint(LATE);
    assert_eq!(
        said,
        format!("1 links run link-risk {late} (model vsat-risk)")
    );
    assert_eq!(running().await, late);

    // Settings that do not load fail the reload, naming the key; the link keeps what it
    // runs.
    std::fs::write(model.join("link-risk.json"), r#"{"t50_s": -3}"#).unwrap();
    let e = (node.bundle_reload)(BundleKind::Model).await.unwrap_err();
    assert!(e.contains("t50_s"), "{e}");
    assert_eq!(running().await, late);
    node.shutdown().await;
}
