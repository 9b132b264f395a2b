//! The shore console (issue 25 item 5, decision 0074) in headless Chromium against a real
//! `seawatch shore` process on real NATS (a 3-node shore cluster and the ship's leaf, as
//! `shore_proposals_nats`), with one real ship node syncing to it and running its bundle
//! agent.
//!
//! Signs in as the shore's first admin and checks: the console is the shore's (the fleet
//! map is the landing page, with the Natural Earth land and the ship in the fleet table
//! from the shore's fleet view; the ship-only pages are not offered; Rollouts is). Then a
//! rollout of an assistant bundle to the ship, created through the API with a first wave
//! that needs approval: the Rollouts page lists it, its page shows the wave awaiting
//! approval and the ship pending; the admin clicks Approve and, without any reload (a
//! marker set in the page survives) or any request of the page for rollouts, the ship's
//! state moves on as the shore pushes each change over the WebSocket, until the ship
//! applied the bundle and passed its health check (succeeded) and the rollout completed.
//! Last, the Models page: a model with two versions; the admin makes the second the
//! champion and rolls it back with the page's buttons, and the history shows both.
//!
//! Every wait polls the page with a deadline. Without a nats-server, chromium or
//! chromedriver the test prints `SKIPPED: ...` and passes, except under `CI=true`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use seawatch_actors::rollout::bundle::{encode, BundleKind};
use seawatch_model::Inventory;
use seawatch_runtime::Clock;
use seawatch_tests::free_port;
use seawatch_tests::nats::{certs, nats_binary, ship_leaf, Creds, ShoreCluster};
use seawatch_topologies::config::ShipConfig;
use seawatch_topologies::ship::ShipNode;
use support::browser::{click, sign_in, start_browser, text_of};
use support::{free_addr, http_with, skip_or_fail};

const SHIP: &str = "aurora";
const PW: &str = "test-pw";
/// How long the test waits for the ship to take, apply and check the bundle.
const ROLLOUT_WAIT: Duration = Duration::from_secs(120);
/// How long the test waits for the page to show something.
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// The `seawatch shore` process, killed on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_shore(cfg: &Path, url: &str, listen: SocketAddr) -> Reaped {
    let out = std::fs::File::create(cfg.with_file_name("shore.out")).unwrap();
    Reaped(
        Command::new(env!("CARGO_BIN_EXE_seawatch"))
            .args([
                "shore",
                "--nats",
                url,
                "--listen",
                &listen.to_string(),
                "--config",
            ])
            .arg(cfg)
            .arg("--data")
            .arg(cfg.with_file_name("shore-data"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    )
}

/// One request to the shore's API as `token`: (status, body).
async fn call(
    addr: SocketAddr,
    method: &'static str,
    path: String,
    token: &str,
    ctype: &'static str,
    body: Vec<u8>,
) -> (u16, String) {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: {ctype}\r\n");
    tokio::task::spawn_blocking(move || {
        http_with(addr, method, &path, &headers, &body).unwrap_or((0, String::new()))
    })
    .await
    .unwrap()
}

/// POSTs `v`; its answer. A 503 (the node has not read its JetStream state yet after
/// starting) is asked again, for up to a minute.
async fn post_json(
    addr: SocketAddr,
    token: &str,
    path: &str,
    v: serde_json::Value,
) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, text) = call(
            addr,
            "POST",
            path.into(),
            token,
            "application/json",
            v.to_string().into_bytes(),
        )
        .await;
        if code == 503 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        assert!(code == 200 || code == 201, "{path}: {code} {text}");
        return serde_json::from_str(&text).unwrap();
    }
}

/// Uploads a bundle file; its SHA-256.
async fn upload(addr: SocketAddr, token: &str, file: Vec<u8>) -> String {
    let (code, text) = call(
        addr,
        "POST",
        "/api/bundles".into(),
        token,
        "application/octet-stream",
        file,
    )
    .await;
    assert_eq!(code, 201, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["sha256"].as_str().unwrap().to_owned()
}

/// The shore's first admin password and a token, once its HTTP is up.
async fn admin_login(addr: SocketAddr, data: &Path) -> (String, String) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(pw) = std::fs::read_to_string(data.join("initial-admin-password")) {
            let pw = pw.trim().to_owned();
            let login = serde_json::json!({"user": "admin", "password": pw}).to_string();
            let (code, body) = call(
                addr,
                "POST",
                "/api/login".into(),
                "",
                "application/json",
                login.into_bytes(),
            )
            .await;
            if code == 200 {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                return (pw, v["token"].as_str().unwrap().to_owned());
            }
        }
        assert!(Instant::now() < end, "shore never let the admin in");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls the text at `css` until `ok` holds (or panics with what it last saw after
/// `limit`); every text seen, in order, without repeats.
async fn until_text(
    c: &Client,
    css: &str,
    limit: Duration,
    ok: impl Fn(&str) -> bool,
) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut seen: Vec<String> = Vec::new();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if seen.last() != Some(&t) {
                    seen.push(t.clone());
                }
                if ok(&t) {
                    return seen;
                }
            }
        }
        assert!(
            Instant::now() < end,
            "{css}: waited {limit:?}; saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the element at `css` exists and is displayed.
async fn shown(c: &Client, css: &str) -> bool {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shore_console_shows_the_fleet_a_live_rollout_and_the_models() {
    let bin = match nats_binary() {
        Ok(b) => b,
        Err(e) => return skip_or_fail(&format!("no nats-server: {e}")),
    };
    let tls = certs();
    let creds = Creds {
        shore: PW.into(),
        leaf_user: "leaf-aurora".into(),
        leaf: PW.into(),
        ship: PW.into(),
    };
    let cluster = ShoreCluster::start(3, &bin, creds.clone(), tls.path(), |_, port| {
        format!("127.0.0.1:{port}")
    });
    let leaf_client = free_port();
    let leaf = ship_leaf(
        &bin,
        &creds,
        SHIP,
        leaf_client,
        format!("nats-leaf://leaf-aurora:{PW}@127.0.0.1:{}", cluster.leaf[0]),
        tls.path(),
        tls.path(),
    );
    leaf.run("start").unwrap();

    // the shore process
    let tmp = tempfile::tempdir().unwrap();
    let shore_cfg = tmp.path().join("shore.toml");
    std::fs::write(
        &shore_cfg,
        format!("node = \"n0\"\nreplicas = 3\nlease_s = 3\n[[ship]]\nid = \"{SHIP}\"\n"),
    )
    .unwrap();
    let shore_data = tmp.path().join("shore-data");
    let shore_http = free_addr();
    let _shore = start_shore(&shore_cfg, &cluster.url(0), shore_http);
    let (admin_pw, token) = admin_login(shore_http, &shore_data).await;

    // the ship node, syncing to shore and running its bundle agent
    let data = tmp.path().join("ship");
    std::fs::create_dir_all(&data).unwrap();
    let mut cfg = ShipConfig::parse(
        &format!("ship = \"{SHIP}\"\n[nats]\nurl = \"nats://ship:{PW}@127.0.0.1:{leaf_client}\"\n"),
        "test",
    )
    .unwrap();
    cfg.data = data.clone();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog = "127.0.0.1:0".parse().unwrap();
    let node = ShipNode::start(&cfg, Inventory::default(), Clock::system())
        .await
        .unwrap();

    // a rollout of an assistant bundle to the ship, its wave waiting for approval
    let docs = upload(
        shore_http,
        &token,
        encode(
            BundleKind::Assistant,
            "docs",
            vec![(
                "faq.md".into(),
                b"# FAQ\n\nRestart the AP from the controller.\n".to_vec(),
            )],
        ),
    )
    .await;
    let rollout = post_json(
        shore_http,
        &token,
        "/api/rollouts",
        serde_json::json!({"bundle": docs, "ships": [SHIP], "waves": [{"percent": 100,
            "success_threshold": 100, "error_threshold": 100, "timeout_s": 120,
            "approval": true, "incident_window_s": 1}]}),
    )
    .await;
    let id = rollout["id"].as_str().unwrap().to_owned();
    assert_eq!(rollout["state"], "awaiting_approval");

    // a model with two versions, the first the champion
    let mut shas = Vec::new();
    for threshold in ["3.5", "4.0"] {
        let sha = upload(
            shore_http,
            &token,
            encode(
                BundleKind::Detectors,
                "detectors",
                vec![(
                    "ensemble.toml".into(),
                    format!("threshold = {threshold}\n").into_bytes(),
                )],
            ),
        )
        .await;
        post_json(
            shore_http,
            &token,
            "/api/models/det/versions",
            serde_json::json!({"bundle": sha, "kind": "detector-settings"}),
        )
        .await;
        shas.push(sha);
    }
    post_json(
        shore_http,
        &token,
        "/api/models/det/aliases/champion",
        serde_json::json!({"version": shas[0]}),
    )
    .await;

    let (_driver, c) = match start_browser().await {
        Ok(b) => b,
        Err(reason) => {
            node.shutdown().await;
            return skip_or_fail(&reason);
        }
    };
    let base = format!("http://{shore_http}");
    sign_in(&c, &base, "admin", &admin_pw).await;

    // The shore's console: the fleet map first, the ship's own pages not offered.
    assert_eq!(js(&c, "return document.body.dataset.node").await, "shore");
    until_text(
        &c,
        "#fleet-rows tr[data-ship='aurora'] td",
        PAGE_WAIT,
        |t| t == SHIP,
    )
    .await;
    assert!(
        shown(&c, "#fleet-map").await,
        "the fleet map is the landing page"
    );
    let land = js(
        &c,
        "return document.querySelectorAll('#fleet-land path').length",
    )
    .await;
    assert!(
        land.as_u64().unwrap_or(0) > 100,
        "Natural Earth land drawn: {land}"
    );
    for ship_only in [
        "incidents",
        "logs",
        "assistant",
        "links",
        "topology",
        "runbooks",
        "mail",
    ] {
        assert!(
            !shown(&c, &format!("nav a[data-page='{ship_only}']")).await,
            "{ship_only} is a ship's page"
        );
    }
    for shore_page in ["fleet", "rollouts", "models"] {
        assert!(
            shown(&c, &format!("nav a[data-page='{shore_page}']")).await,
            "{shore_page}"
        );
    }
    // a ship's page asked for at shore lands on the fleet
    c.goto(&format!("{base}/#/incidents")).await.unwrap();
    until_text(&c, "nav a.active", PAGE_WAIT, |t| t == "Fleet").await;
    assert_eq!(js(&c, "return location.hash").await, "#/fleet");

    // The rollout: listed, then its page.
    click(&c, "nav a[data-page='rollouts']").await;
    let row = format!("#rollout-rows tr[data-id='{id}'] td");
    until_text(&c, &row, PAGE_WAIT, |t| t == id).await;
    click(&c, &format!("#rollout-rows tr[data-id='{id}'] a")).await;
    until_text(&c, "#rollout-state", PAGE_WAIT, |t| {
        t == "awaiting approval"
    })
    .await;
    let ship_state = "#rollout-waves tr[data-ship='aurora'] td.ship-state";
    assert_eq!(text_of(&c, ship_state).await, "pending");
    assert_eq!(
        text_of(&c, "#rollout-waves tr[data-ship='aurora'] td.ship-attempt").await,
        "1"
    );
    assert_eq!(
        text_of(&c, "#rollout-waves .wave-state").await,
        "awaiting approval"
    );

    // From here on the page must not reload nor ask for rollouts: mark it, and count its
    // requests for /api/rollouts (GET) from now.
    js(
        &c,
        "window.__sameDocument = 'yes'; window.__rolloutGets = 0; const f = window.fetch; \
         window.fetch = (u, o) => { if (String(u).startsWith('/api/rollouts') && (!o || o.method === 'GET')) window.__rolloutGets++; return f(u, o); }; return null;",
    )
    .await;
    click(&c, "#rollout-approve").await;
    let seen = until_text(&c, ship_state, ROLLOUT_WAIT, |t| t == "succeeded").await;
    until_text(&c, "#rollout-state", PAGE_WAIT, |t| t == "completed").await;
    println!("the ship's state as the page showed it: {seen:?}");
    assert_eq!(
        seen.first().map(String::as_str),
        Some("pending"),
        "{seen:?}"
    );
    for s in &seen {
        assert!(
            ["pending", "sent", "applying", "succeeded"].contains(&s.as_str()),
            "the ship went through {seen:?}"
        );
    }
    assert_eq!(
        js(&c, "return window.__sameDocument").await,
        "yes",
        "the page was not reloaded"
    );
    assert_eq!(
        js(&c, "return window.__rolloutGets").await,
        0,
        "the page followed the rollout by pushes, not by asking"
    );
    let history = text_of(&c, "#rollout-history").await;
    assert!(history.contains("resumed by admin"), "{history}");
    assert!(history.contains("wave 1 started"), "{history}");
    assert!(text_of(&c, "#rollout-fields")
        .await
        .contains("1/1 succeeded"));
    // what the ship says it did
    assert!(
        data.join("assistant/docs/faq.md").exists(),
        "the ship applied the bundle"
    );

    // The Models page: make the second version the champion, then roll it back.
    click(&c, "nav a[data-page='models']").await;
    let card = ".model[data-model='det']";
    until_text(&c, &format!("{card} h2"), PAGE_WAIT, |t| {
        t.starts_with("det")
    })
    .await;
    click(
        &c,
        &format!("{card} tr[data-sha='{}'] button.set-champion", shas[1]),
    )
    .await;
    let (v1, v2) = (&shas[0][..12], &shas[1][..12]);
    let promoted = format!("champion {v1} → {v2} (set, admin)");
    until_text(&c, &format!("{card} .models-history"), PAGE_WAIT, |t| {
        t.contains(&promoted)
    })
    .await;
    click(&c, &format!("{card} button.rollback")).await;
    let rolled = format!("champion {v2} → {v1} (rollback, admin)");
    let history = until_text(&c, &format!("{card} .models-history"), PAGE_WAIT, |t| {
        t.contains(&rolled)
    })
    .await;
    let last = history.last().unwrap();
    assert!(last.contains(&promoted), "{last}");
    assert!(
        text_of(&c, &format!("{card} tr[data-sha='{}'] .state", shas[0])).await == "champion",
        "the first version is the champion again"
    );

    drop(c);
    node.shutdown().await;
}
