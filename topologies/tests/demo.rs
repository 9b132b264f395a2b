//! `seawatch demo` (contracts §1): the demo machinery itself (built-in scenario, ships
//! through the real pipeline, embedded shore, console) played on simulated time.
//!
//! The scenario is played as fast as the machine allows (`speed: None`: no sleeping, the
//! scenario clock is the simulator's), and the shore's sync runs on a paused tokio
//! runtime stepped to every barrier's scenario time, exactly as in real time. Then the
//! console is asked over HTTP on a loopback listener what a user would see after 120
//! scenario seconds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use seawatch_simulators::scenario::FaultKind;
use seawatch_topologies::demo::{Demo, DemoOptions};

/// `(status, body)` of one request with an optional bearer token.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .find("\r\n\r\n")
        .map(|i| out[i + 4..].to_string())
        .unwrap_or_default();
    (status, body)
}

async fn call(
    addr: SocketAddr,
    method: &'static str,
    path: &'static str,
    token: Option<String>,
    body: String,
) -> (u16, String) {
    tokio::task::spawn_blocking(move || request(addr, method, path, token.as_deref(), &body))
        .await
        .unwrap()
}

const START_MS: i64 = 1_795_000_000_000;

/// The items of the first snapshot a WebSocket session gets after subscribing to every ship.
async fn ws_snapshot(addr: SocketAddr, token: &str) -> Vec<serde_json::Value> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"subscribe","ship":null}"#))
        .await
        .unwrap();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("no snapshot within 20 s")
            .expect("the session closed before its snapshot")
            .unwrap();
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "snapshot" {
                return v["items"].as_array().cloned().unwrap_or_default();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_two_minutes_the_console_shows_an_incident_with_its_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().to_path_buf(),
        speed: None,
        start_ms: Some(START_MS),
        ..DemoOptions::new()
    };
    let demo = Demo::start(&opts).await.unwrap();
    let addr = demo.http_addr;
    assert_eq!(demo.scenario.ship.len(), 3);
    // The faults of the first two minutes, on different ships.
    let early: Vec<_> = demo
        .scenario
        .faults()
        .iter()
        .filter(|f| f.at_s < 120)
        .cloned()
        .collect();
    let ships: std::collections::BTreeSet<_> = early.iter().map(|f| f.ship.clone()).collect();
    assert_eq!(ships.len(), 3, "{early:?}");

    demo.play(Some(START_MS + 120_000)).await.unwrap();

    // Nothing but /healthz, /metrics and /api/login without a token.
    assert_eq!(
        call(addr, "GET", "/api/incidents", None, String::new())
            .await
            .0,
        401
    );
    assert_eq!(
        call(addr, "GET", "/api/fleet", None, String::new()).await.0,
        401
    );
    assert_eq!(
        call(addr, "GET", "/healthz", None, String::new()).await.0,
        200
    );
    let (code, metrics) = call(addr, "GET", "/metrics", None, String::new()).await;
    assert_eq!(code, 200);
    // every metric of contracts §6
    for name in [
        "seawatch_actor_messages_total",
        "seawatch_actor_restarts_total",
        "seawatch_actor_mailbox_depth",
        "seawatch_actor_handle_seconds",
        "seawatch_ingest_events_total",
        "seawatch_incidents_open",
        "seawatch_link_up",
        "seawatch_link_outage_risk",
        "seawatch_sync_backlog_events",
        "seawatch_eventlog_events_total",
        "seawatch_shore_events_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    // the ingest series of every ship share one registry
    for ship in ["ship-1", "ship-2", "ship-3"] {
        let series = format!("seawatch_eventlog_events_total{{ship=\"{ship}\"}}");
        assert!(metrics.contains(&series), "{series} missing from /metrics");
    }

    // Sign in as the first admin, with the password the demo wrote (mode 0600).
    let pw = std::fs::read_to_string(&demo.password_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&demo.password_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let login = serde_json::json!({"user": "admin", "password": pw.trim()}).to_string();
    let (code, body) = call(addr, "POST", "/api/login", None, login).await;
    assert_eq!(code, 200, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let (code, body) = call(
        addr,
        "GET",
        "/api/incidents?state=open",
        Some(token.clone()),
        String::new(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let incidents: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    println!("{}", serde_json::to_string_pretty(&incidents).unwrap());
    let dist = early
        .iter()
        .find(|f| f.kind == FaultKind::Down)
        .expect("a distribution switch goes down in the first two minutes");
    assert!(
        incidents.iter().any(|i| i["ship"] == dist.ship.as_str()
            && i["root_cause"] == dist.target.as_str()
            && i["state"] == "open"),
        "no open incident with root cause {} on {}: {incidents:?}",
        dist.target,
        dist.ship
    );

    // A console session opened now sees every ship's links in its first snapshot,
    // though no link changed since it connected.
    let snapshot = ws_snapshot(addr, &token).await;
    for ship in ["ship-1", "ship-2", "ship-3"] {
        assert!(
            snapshot
                .iter()
                .any(|i| i["type"] == "link" && i["ship"] == ship && i["link"].is_string()),
            "no link of {ship} in the snapshot: {snapshot:?}"
        );
    }

    let (code, body) = call(addr, "GET", "/api/fleet", Some(token), String::new()).await;
    assert_eq!(code, 200, "{body}");
    let fleet: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    println!("{}", serde_json::to_string_pretty(&fleet).unwrap());
    assert_eq!(fleet.len(), 3, "{fleet:?}");
    for s in &fleet {
        let last = s["last_sync_ms"].as_i64().expect("every ship has synced");
        assert!(last > START_MS && last <= START_MS + 120_000, "{s}");
        assert!(s["events_stored"].as_u64().unwrap() > 0, "{s}");
        // Each ship reports where it is (its ACU's GPS feed): on its route off Florida
        // and the Bahamas (topologies/assets/demo-ship.toml), with a heading.
        let (lat, lon) = (
            s["position"]["lat"].as_f64().expect("a position"),
            s["position"]["lon"].as_f64().expect("a position"),
        );
        assert!(
            (24.5..=26.5).contains(&lat) && (-80.5..=-77.0).contains(&lon),
            "{s}"
        );
        assert!(s["position"]["heading_deg"].as_f64().is_some(), "{s}");
        assert!(!s["links"].as_array().unwrap().is_empty(), "{s}");
    }
    // The ship whose incident opened has told shore about it (snapshot).
    let ship = fleet
        .iter()
        .find(|s| s["ship"] == dist.ship.as_str())
        .unwrap();
    assert!(
        !ship["open_incidents"].as_array().unwrap().is_empty(),
        "{ship}"
    );
    demo.shutdown().await;
}

/// The command itself: prints the console URL, the user and where the password is (the
/// password itself never appears on the terminal), and SIGINT stops it cleanly.
#[cfg(unix)]
#[test]
fn the_command_prints_where_to_sign_in_and_stops_on_ctrl_c() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_seawatch"))
            .args(["demo", "--ships", "2", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = child.0.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(out).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        let done = line.contains("password:");
        seen.push(line);
        if done {
            break;
        }
    }
    let text = seen.join("\n");
    let pw_file = dir.path().join("initial-admin-password");
    let pw = std::fs::read_to_string(&pw_file).unwrap();
    assert!(text.contains("console:  http://127.0.0.1:"), "{text}");
    assert!(text.contains("user:     admin"), "{text}");
    assert!(text.contains(&pw_file.display().to_string()), "{text}");
    assert!(
        !text.contains(pw.trim()),
        "the password must not be printed"
    );
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("console:  http://"))
        .unwrap()
        .trim_end_matches('/');
    let addr: SocketAddr = url.parse().unwrap();
    assert_eq!(request(addr, "GET", "/healthz", None, "").0, 200);
    assert_eq!(request(addr, "GET", "/api/incidents", None, "").0, 401);
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = wait_exit(&mut child.0, Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

/// Kills the child process when dropped (a failed test leaves nothing running).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child's exit status once it has exited, `None` if it is still running after
/// `timeout`.
fn wait_exit(c: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let t = std::time::Instant::now();
    while t.elapsed() < timeout {
        if let Some(status) = c.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `(status, JSON body)` of one request (blocking, off the runtime's threads).
async fn call_json(
    addr: SocketAddr,
    method: &'static str,
    path: String,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let token = token.to_string();
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (code, text) =
        tokio::task::spawn_blocking(move || request(addr, method, &path, Some(&token), &body))
            .await
            .unwrap();
    let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (code, v)
}

async fn login(addr: SocketAddr, user: &str, password: &str) -> String {
    let body = serde_json::json!({"user": user, "password": password}).to_string();
    let (code, body) = call(addr, "POST", "/api/login", None, body).await;
    assert_eq!(code, 200, "{user}: {body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The execution `id` once it has ended (polled: the executor runs it on its own).
async fn ended(addr: SocketAddr, token: &str, id: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (code, e) = call_json(
            addr,
            "GET",
            format!("/api/runbooks/executions/{id}"),
            token,
            serde_json::Value::Null,
        )
        .await;
        assert_eq!(code, 200, "{e}");
        let state = e["state"].as_str().unwrap_or_default().to_string();
        if ["succeeded", "rolled_back", "failed", "rejected", "expired"].contains(&state.as_str()) {
            return e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never ended: {e}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The demo runs the ship's remediation service: from outside, over HTTP, an incident of
/// the scenario suggests the starter runbooks; operator alice proposes the builtin mail
/// silence, cannot approve it herself, operator bob does (the starter policy asks one
/// approval of someone else), and it runs to `succeeded`. An ssh runbook against the
/// simulated switch cannot read its configuration for the dry run and fails at its first
/// step, nothing sent (no address to reach), instead of pretending. The ship's audit log verifies, and a console session's snapshot has the
/// executions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_suggests_runbooks_and_an_approved_silence_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(&DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().to_path_buf(),
        speed: None,
        start_ms: Some(START_MS),
        ..DemoOptions::new()
    })
    .await
    .unwrap();
    let addr = demo.http_addr;
    let dist = demo
        .scenario
        .faults()
        .iter()
        .find(|f| f.at_s < 120 && f.kind == FaultKind::Down)
        .expect("a distribution switch goes down in the first two minutes")
        .clone();
    demo.play(Some(START_MS + 120_000)).await.unwrap();

    let pw = std::fs::read_to_string(&demo.password_file).unwrap();
    let admin = login(addr, "admin", pw.trim()).await;
    for user in ["alice", "bob"] {
        let (code, body) = call_json(
            addr,
            "POST",
            "/api/users".into(),
            &admin,
            serde_json::json!({"user": user, "password": format!("{user}-on-watch-7"), "role": "operator"}),
        )
        .await;
        assert_eq!(code, 200, "{body}");
    }
    let alice = login(addr, "alice", "alice-on-watch-7").await;
    let bob = login(addr, "bob", "bob-on-watch-7").await;

    let (code, incidents) = call_json(
        addr,
        "GET",
        "/api/incidents?state=open".into(),
        &alice,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(code, 200, "{incidents}");
    let incident = incidents
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ship"] == dist.ship.as_str() && i["root_cause"] == dist.target.as_str())
        .unwrap_or_else(|| panic!("no incident rooted at {}: {incidents}", dist.target))["id"]
        .as_str()
        .unwrap()
        .to_string();

    // the incident suggests the starter runbooks for a switch, target filled in
    let (code, suggested) = call_json(
        addr,
        "GET",
        format!("/api/incidents/{incident}/runbooks"),
        &alice,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(code, 200, "{suggested}");
    println!("{incident}: {suggested}");
    let silence = suggested
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["runbook"] == "silence-device-mail")
        .unwrap_or_else(|| panic!("no mail silence suggested: {suggested}"));
    assert_eq!(silence["targets"], serde_json::json!([dist.target]));
    assert_eq!(silence["missing"], serde_json::json!([]));

    // alice proposes it: the dry run and the policy's decision come back
    let (code, e) = call_json(
        addr,
        "POST",
        "/api/runbooks/silence-device-mail/executions".into(),
        &alice,
        serde_json::json!({"targets": silence["targets"], "params": {"minutes": 30}, "incident": incident}),
    )
    .await;
    assert_eq!(code, 201, "{e}");
    let id = e["id"].as_str().unwrap().to_string();
    assert_eq!(e["ship"], dist.ship.as_str());
    assert_eq!(e["state"], "awaiting_approval", "{e}");
    assert_eq!(e["policy"]["allow"], true, "{e}");
    assert_eq!(e["policy"]["approvals_required"], 1, "{e}");
    let action = format!("silence {} 30", dist.target);
    assert!(
        e["plan"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["phase"] == "action" && s["command"] == action.as_str()),
        "{e}"
    );
    let approve = format!("/api/runbooks/executions/{id}/approve");
    let (code, body) = call_json(
        addr,
        "POST",
        approve.clone(),
        &alice,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(code, 403, "the requester may not approve: {body}");
    let (code, body) = call_json(addr, "POST", approve, &bob, serde_json::Value::Null).await;
    assert_eq!(code, 200, "{body}");
    let done = ended(addr, &bob, &id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let outputs: Vec<&str> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["output"].as_str())
        .collect();
    assert!(
        outputs
            .iter()
            .any(|o| o.starts_with(&format!("silenced {}", dist.target))),
        "{done}"
    );

    // an ssh runbook on the simulated switch: allowed and approved, then refused at its
    // first step because nothing says how to reach the device; nothing changed
    let (code, e) = call_json(
        addr,
        "POST",
        "/api/runbooks/bounce-access-port/executions".into(),
        &alice,
        serde_json::json!({"targets": [dist.target], "params": {"interface": "Gi1/0/7"}, "incident": incident}),
    )
    .await;
    assert_eq!(code, 201, "{e}");
    let ssh_id = e["id"].as_str().unwrap().to_string();
    // its dry run tries to read the switch's configuration first, and says why it cannot
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let preview = loop {
        let (_, e) = call_json(
            addr,
            "GET",
            format!("/api/runbooks/executions/{ssh_id}"),
            &bob,
            serde_json::Value::Null,
        )
        .await;
        if let Some(p) = e["preview"].as_array().filter(|p| !p.is_empty()) {
            break p[0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no preview: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        preview["error"]
            .as_str()
            .is_some_and(|e| e.contains("no address")),
        "{preview}"
    );
    let (code, body) = call_json(
        addr,
        "POST",
        format!("/api/runbooks/executions/{ssh_id}/approve"),
        &bob,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let failed = ended(addr, &bob, &ssh_id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let steps = failed["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["phase"] == "precheck"),
        "no action ran: {failed}"
    );
    assert!(
        steps.iter().any(|s| s["output"]
            .as_str()
            .is_some_and(|o| o.contains("no address"))),
        "{failed}"
    );

    // the audit log: every decision and transition, hash-chained, and it verifies
    let (code, recs) = call_json(
        addr,
        "GET",
        format!("/api/audit?ship={}", dist.ship),
        &admin,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(code, 200, "{recs}");
    let recs = recs.as_array().unwrap();
    for w in recs.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["hash"], "{w:?}");
    }
    for kind in [
        "policy.decision",
        "execution.proposed",
        "execution.approval",
        "execution.transition",
        "execution.step",
    ] {
        assert!(
            recs.iter().any(|r| r["kind"] == kind),
            "no {kind} record: {recs:?}"
        );
    }
    let file = seawatch_actors::runbook::audit::AuditLog::file_in(
        &dir.path().join("demo").join("audit").join(&dist.ship),
    );
    let report = seawatch_actors::runbook::audit::verify(&file).unwrap();
    assert!(report.ok(), "{report:?}");

    // a console session opened now gets the executions in its snapshot
    let snapshot = ws_snapshot(addr, &admin).await;
    for x in [&id, &ssh_id] {
        assert!(
            snapshot
                .iter()
                .any(|i| i["type"] == "runbook" && i["id"] == x.as_str()),
            "{x} not in the snapshot"
        );
    }
    demo.shutdown().await;
}
