//! The console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver with fantoccini, against a ship node.
//!
//! Signs in as `admin` with the first-start password, watches an incident pushed over the
//! WebSocket appear live in the list, opens it (root cause and topology), saves a
//! screenshot of the incident page (`CARGO_TARGET_TMPDIR/console-incident.png`), then signs
//! in as a viewer and checks that the runbook approval is not offered. The incident and
//! runbook pushes are published on the node's push bus by the test, standing in for the
//! incident and runbook actors of later issues. If chromium or chromedriver is missing the
//! test prints `SKIPPED: ...` and passes, unless `CI=true`.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use seawatch_actors::inventory::Inventory;
use seawatch_actors::push::{Push, PushKind};
use seawatch_actors::runbook::ExecutionRequest;
use seawatch_console::Role;
use seawatch_runtime::Clock;
use seawatch_topologies::config::ShipConfig;
use seawatch_topologies::ship::ShipNode;
use support::{free_port, skip_or_fail};

const WAIT: Duration = Duration::from_secs(20);

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_browser() -> Result<(Driver, Client), String> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("chromium not installed (Debian package chromium)")?;
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Driver)
        .map_err(|e| format!("chromedriver: {e} (Debian package chromium-driver)"))?;
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,900", "--no-first-run"]
        }
    }))
    .unwrap();
    // chromedriver takes a moment to listen: retry the session until a deadline.
    let deadline = Instant::now() + WAIT;
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return Ok((driver, c)),
            Err(e) if Instant::now() > deadline => return Err(format!("webdriver session: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn sign_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/#/login")).await.unwrap();
    let form = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#user"))
        .await
        .unwrap();
    form.clear().await.unwrap();
    form.send_keys(user).await.unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("#login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Signed in and the WebSocket is live.
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#live.on"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_watch_an_incident_live_and_a_viewer_cannot_approve() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ShipConfig::parse("ship = \"aurora\"\n", "test").unwrap();
    cfg.data = dir.path().to_path_buf();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog = "127.0.0.1:0".parse().unwrap();
    let node = ShipNode::start(&cfg, Inventory::default(), Clock::system())
        .await
        .unwrap();
    let (_driver, c) = match start_browser().await {
        Ok(b) => b,
        Err(reason) => return skip_or_fail(&reason),
    };
    let base = format!("http://{}", node.http_addr);
    let admin_pw = std::fs::read_to_string(dir.path().join("initial-admin-password")).unwrap();
    sign_in(&c, &base, "admin", admin_pw.trim()).await;

    // An incident opens while the page is open: it appears without a reload.
    node.push.publish(Push {
        kind: PushKind::Incident,
        ship: Some("aurora".into()),
        body: serde_json::json!({
            "id": "inc-42", "ship": "aurora", "root_cause": "core-sw-1", "severity": "critical",
            "state": "open", "alerts": 7, "opened_at": "2026-11-30T02:10:00Z", "resolved_at": null,
            "affected": ["ap-0412", "ap-0413", "cctv-7", "pos-3"],
            "timeline": [
                {"at": "2026-11-30T02:10:00Z", "source": "core-sw-1", "kind": "interface down"},
                {"at": "2026-11-30T02:10:04Z", "source": "ap-0412", "kind": "unreachable"}
            ]
        }),
    });
    let row = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("tr[data-id='inc-42']"))
        .await
        .expect("the incident never appeared live");
    assert!(row.text().await.unwrap().contains("core-sw-1"));
    row.click().await.unwrap();
    let root = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#inc-root"))
        .await
        .unwrap();
    assert_eq!(root.text().await.unwrap(), "core-sw-1");
    let nodes = c
        .find_all(Locator::Css("#inc-topology circle"))
        .await
        .unwrap();
    assert_eq!(nodes.len(), 5, "root cause plus four affected devices");
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-incident.png");
    std::fs::write(&shot, &png).unwrap();
    println!("screenshot: {}", shot.display());

    // The admin approves a pending runbook execution from the runbooks page.
    let first = node.runbooks.request(ExecutionRequest {
        ship: "aurora".into(),
        runbook: "restart-interface".into(),
        target: "core-sw-1".into(),
        incident: Some("inc-42".into()),
    });
    c.goto(&format!("{base}/#/runbooks")).await.unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!(
            "#runbooks button.approve[data-id='{}']",
            first.id
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!(
            "#runbooks .runbook[data-id='{}'] .state-approved",
            first.id
        )))
        .await
        .unwrap();
    let approved = node.runbooks.get(&first.id).unwrap();
    assert_eq!(approved.decided_by.as_deref(), Some("admin"));

    // A viewer sees the runbooks but is not offered the approval.
    let admin = node.auth.issue("admin", Role::Admin);
    let created = tokio::task::spawn_blocking({
        let addr = node.http_addr;
        move || {
            use std::io::{Read, Write};
            let body = r#"{"user":"deck","password":"watch-keeper-2","role":"viewer"}"#;
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(s, "POST /api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        }
    })
    .await
    .unwrap();
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    c.find(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    sign_in(&c, &base, "deck", "watch-keeper-2").await;
    assert!(c
        .find(Locator::Css("#who"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("viewer"));
    // A pending execution on the node's approval board: the viewer sees it listed but
    // gets no Approve button, and the server refuses the viewer's approval anyway.
    let exec = node.runbooks.request(ExecutionRequest {
        ship: "aurora".into(),
        runbook: "bounce-uplink".into(),
        target: "core-sw-1".into(),
        incident: Some("inc-42".into()),
    });
    c.goto(&format!("{base}/#/runbooks")).await.unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!(
            "#runbooks .runbook[data-id='{}']",
            exec.id
        )))
        .await
        .unwrap();
    let offered = c.find_all(Locator::Css("button.approve")).await.unwrap();
    let mut html = Vec::new();
    for b in &offered {
        html.push(b.html(false).await.unwrap_or_default());
    }
    assert!(
        offered.is_empty(),
        "a viewer must not be offered approval: {html:?}"
    );
    let viewer = node.auth.issue("deck", Role::Viewer);
    let refused = tokio::task::spawn_blocking({
        let addr = node.http_addr;
        let path = format!("/api/runbooks/executions/{}/approve", exec.id);
        move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {viewer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        }
    })
    .await
    .unwrap();
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    c.close().await.unwrap();
    node.shutdown().await;
}
