//! The console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver with fantoccini, against the real
//! `seawatch demo` (shore, three simulated ships, built-in scenario).
//!
//! Signs in as `admin` with the first-start password while the scenario plays, watches
//! the incident of the scenario's distribution switch failure (ship-1, ~40 s into the
//! scenario) appear live in the list, opens it (root cause and topology), saves a
//! screenshot of the incident page (`CARGO_TARGET_TMPDIR/console-incident.png`), then
//! reads its timeline, follows the link to the root device's log lines around the incident
//! and searches them (`CARGO_TARGET_TMPDIR/console-logs.png`), then
//! opens the root's device page from the incident (a sparkline of its probe RTT), the links
//! page (a sparkline per link) and vsat-1's Es/No chart, and, while the incident is open,
//! the ship's topology grouped by layer with the root coloured (screenshots
//! `console-{topology,device,link}.png`),
//! asks the assistant panel a
//! question its SOP index (a small one built in the demo's data folder before the start)
//! covers, opens a citation from the keyboard and finds the quoted excerpt marked in the
//! cited section (`CARGO_TARGET_TMPDIR/console-assistant.png`), sees a question nothing
//! covers shown as "Not covered" and both questions in the session's history, then
//! approves as admin, from the runbooks page, a mail silence operator alice proposed on
//! ship-1's remediation engine and watches it run to `succeeded`, sees an ssh runbook's dry
//! run say why the simulated switch's configuration could not be read, signs in as a viewer and
//! checks that the approval is neither offered nor accepted (403). To keep the test short
//! the demo plays at 8× real time (`DemoOptions::speed`, used only by tests; the command
//! always plays in real time). If chromium or chromedriver is missing the test prints
//! `SKIPPED: ...` and passes, unless `CI=true`.

mod support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use seawatch_actors::runbook::exec::Proposal;
use seawatch_actors::runbook::policy::ShipFacts;
use seawatch_console::Role;
use seawatch_topologies::demo::{Demo, DemoOptions};
use support::browser::{click, sign_in, start_browser, text_of, WAIT};
use support::skip_or_fail;

/// Wall time the demo may take to open its first incident at 8× (≈ 70 s of scenario).
const INCIDENT_WAIT: Duration = Duration::from_secs(90);

/// The number of points of the first polyline matching `css`, once it has two or more
/// (the page refreshes as data arrives), or what it had at the deadline.
async fn polyline_points(c: &fantoccini::Client, css: &str) -> usize {
    let deadline = Instant::now() + INCIDENT_WAIT;
    loop {
        let mut n = 0;
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(Some(p)) = e.attr("points").await {
                n = p.split_whitespace().count();
            }
        }
        if n >= 2 || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_watch_an_incident_live_and_a_viewer_cannot_approve() {
    let dir = tempfile::tempdir().unwrap();
    // The assistant's SOPs (the demo adds its resolved incidents to them); embedded when
    // the model is installed, else BM25 alone.
    let embedder = seawatch_assistant::embed::resolve_model_dir(None)
        .filter(|d| d.join("model.safetensors").is_file())
        .map(|d| seawatch_assistant::Embedder::load(&d).unwrap());
    seawatch_assistant::AssistantIndex::build(&sops(), embedder, Some(dir.path())).unwrap();
    let demo = Demo::start(&DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().to_path_buf(),
        speed: Some(8.0),
        ..DemoOptions::new()
    })
    .await
    .unwrap();
    let (_driver, c) = match start_browser().await {
        Ok(b) => b,
        Err(reason) => {
            demo.shutdown().await;
            return skip_or_fail(&reason);
        }
    };
    let base = format!("http://{}", demo.http_addr);
    let admin_pw = std::fs::read_to_string(&demo.password_file).unwrap();
    let dist = demo
        .scenario
        .faults()
        .iter()
        .find(|f| f.at_s < 120 && f.kind.as_str() == "down")
        .expect("the scenario takes a switch down in its first two minutes")
        .clone();
    assert_eq!(dist.ship, "ship-1");

    let browse = async {
        sign_in(&c, &base, "admin", admin_pw.trim()).await;
        // The scenario's first incident on ship-1 opens while the page is open: it appears
        // without a reload, with the failed switch as its root cause.
        c.wait()
            .at_most(INCIDENT_WAIT)
            .for_element(Locator::Css("tr[data-id='ship-1-1']"))
            .await
            .expect("the incident never appeared live");
        // the list re-renders on every push: read the row afresh until it holds still
        let row_text = text_of(&c, "tr[data-id='ship-1-1']").await;
        assert!(row_text.contains(&dist.target), "{row_text}");
        // The topology of ship-1 while the incident is open: the elements grouped by
        // layer, the failed switch drawn as the root of the incident.
        c.goto(&format!("{base}/#/topology?ship=ship-1"))
            .await
            .unwrap();
        let root_node = format!("#topo-svg a.root[data-id='{}']", dist.target);
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&root_node))
            .await
            .expect("the incident's root coloured in the topology");
        for layer in [
            "links",
            "wan",
            "perimeter",
            "core",
            "distribution",
            "access",
            "edge",
        ] {
            let n = c
                .find_all(Locator::Css(&format!(
                    "#topo-svg g.layer[data-layer='{layer}'] a[data-id]"
                )))
                .await
                .unwrap()
                .len();
            assert!(n > 0, "layer {layer} has no element");
        }
        let in_core = c
            .find_all(Locator::Css(
                "#topo-svg g.layer[data-layer='core'] a[data-id^='core-sw']",
            ))
            .await
            .unwrap()
            .len();
        assert_eq!(in_core, 2, "both core switches in the core layer");
        assert!(
            !c.find_all(Locator::Css("#topo-svg line.path"))
                .await
                .unwrap()
                .is_empty(),
            "the way in from the links is drawn"
        );
        let png = c.screenshot().await.unwrap();
        let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-topology.png");
        std::fs::write(&shot, &png).unwrap();
        println!("screenshot: {}", shot.display());
        // The fleet page: each ship on the map at the position it reported (land drawn
        // from the built-in outlines), and a row each.
        c.goto(&format!("{base}/#/fleet")).await.unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let ships = c
                .find_all(Locator::Css("#fleet-map circle[data-ship]"))
                .await
                .map(|n| n.len())
                .unwrap_or(0);
            let land = c
                .find_all(Locator::Css("#fleet-map path.land"))
                .await
                .map(|n| n.len())
                .unwrap_or(0);
            if ships == 3 && land > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "fleet map: {ships} ship(s), {land} land outline(s)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            c.find_all(Locator::Css("#fleet-rows tr[data-ship]"))
                .await
                .unwrap()
                .len(),
            3
        );
        let row = text_of(&c, "#fleet-rows tr[data-ship='ship-1']").await;
        assert!(
            row.contains("25.") && row.contains(", -"),
            "position in the row: {row}"
        );
        c.goto(&format!("{base}/#/incident/ship-1-1"))
            .await
            .unwrap();
        let root = c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#inc-root"))
            .await
            .unwrap();
        drop(root);
        assert_eq!(text_of(&c, "#inc-root").await, dist.target);
        // An incident opens as soon as its root is known; the devices behind it attach
        // as their own symptoms arrive, and the open page redraws with them.
        let deadline = Instant::now() + INCIDENT_WAIT;
        loop {
            let nodes = c
                .find_all(Locator::Css("#inc-topology circle"))
                .await
                .map(|n| n.len())
                .unwrap_or(0);
            if nodes > 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "root cause plus the devices behind it: {nodes} node(s)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-incident.png");
        std::fs::write(&shot, &png).unwrap();
        println!("screenshot: {}", shot.display());

        // The timeline says when it opened and about what; one click on "logs of the
        // root device around the incident" shows that device's stored lines.
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#inc-timeline li[data-kind='opened']"))
            .await
            .expect("the timeline shows the opening");
        let opened = text_of(&c, "#inc-timeline li[data-kind='opened']").await;
        assert!(opened.contains(&dist.target), "{opened}");
        // The root's own lines (a dead switch may have logged none in the window: the
        // search answers, every line listed is the root's).
        click(&c, "#inc-logs").await;
        let deadline = Instant::now() + WAIT;
        while !text_of(&c, "#logs-count").await.contains("line") {
            assert!(
                Instant::now() < deadline,
                "the root device's search never answered"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            c.find(Locator::Css("#logs-device"))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some(dist.target.as_str())
        );
        for d in c
            .find_all(Locator::Css("#logs-rows td:nth-child(3)"))
            .await
            .unwrap()
        {
            assert_eq!(d.text().await.unwrap(), dist.target);
        }
        // Its parent's lines of the same window, one click from the incident: the port
        // to the dead switch going down is there.
        c.back().await.unwrap();
        let parent_link = "#inc-parent-logs a.parent-logs";
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(parent_link))
            .await
            .expect("the incident links its root's parent's logs");
        let parent = c
            .find(Locator::Css(parent_link))
            .await
            .unwrap()
            .attr("data-device")
            .await
            .unwrap()
            .expect("the parent's id");
        click(&c, parent_link).await;
        let first = "#logs-rows tr:first-child td:nth-child(3)";
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(first))
            .await
            .expect("the parent's lines are listed");
        assert_eq!(text_of(&c, first).await, parent);
        // A search from the box: a word of the first line, on that device.
        let line = text_of(&c, "#logs-rows tr:first-child td.line").await;
        let word = line
            .split(|ch: char| !ch.is_alphabetic())
            .find(|w| w.len() >= 4)
            .unwrap_or_else(|| panic!("a word in {line}"))
            .to_string();
        let q = c.find(Locator::Css("#logs-q")).await.unwrap();
        q.clear().await.unwrap();
        q.send_keys(&word).await.unwrap();
        click(&c, "#logs-search").await;
        let deadline = Instant::now() + WAIT;
        loop {
            let count = text_of(&c, "#logs-count").await;
            let lines = c
                .find_all(Locator::Css("#logs-rows td.line"))
                .await
                .unwrap_or_default();
            let mut all_have = !lines.is_empty();
            for l in &lines {
                let t = l.text().await.unwrap_or_default().to_lowercase();
                all_have &= t.contains(&word.to_lowercase());
            }
            if all_have && count.contains("line") {
                break;
            }
            assert!(Instant::now() < deadline, "search {word}: {count}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let png = c.screenshot().await.unwrap();
        let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-logs.png");
        std::fs::write(&shot, &png).unwrap();
        println!("screenshot: {}", shot.display());

        // The incident's root links to its device page: state, incidents and a
        // sparkline of its probe RTT drawn from the event log.
        c.goto(&format!("{base}/#/incident/ship-1-1"))
            .await
            .unwrap();
        click(&c, "#inc-root-link").await;
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#device-body a[href='#/incident/ship-1-1']"))
            .await
            .expect("the device page lists the incident");
        assert!(text_of(&c, "#device-title").await.contains(&dist.target));
        let drawn = polyline_points(
            &c,
            "#device-body [data-metric='probe_rtt_ms'] svg.spark polyline",
        )
        .await;
        assert!(drawn >= 2, "probe RTT sparkline: {drawn} point(s)");
        let png = c.screenshot().await.unwrap();
        let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-device.png");
        std::fs::write(&shot, &png).unwrap();
        println!("screenshot: {}", shot.display());

        // The links page: a sparkline per link; a row opens the link's chart of Es/No
        // (and risk) over the last hour.
        c.goto(&format!("{base}/#/links")).await.unwrap();
        let sparked = polyline_points(
            &c,
            "#link-rows tr[data-ship='ship-1'][data-link='vsat-1'] svg.spark polyline",
        )
        .await;
        assert!(sparked >= 2, "links page sparkline: {sparked} point(s)");
        click(
            &c,
            "#link-rows tr[data-ship='ship-1'][data-link='vsat-1'] a",
        )
        .await;
        let charted = polyline_points(&c, "#link-chart polyline.esno").await;
        assert!(charted >= 2, "Es/No chart: {charted} point(s)");
        assert!(
            !c.find_all(Locator::Css("#link-chart polyline.risk"))
                .await
                .unwrap()
                .is_empty(),
            "the risk line is drawn"
        );
        let png = c.screenshot().await.unwrap();
        let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-link.png");
        std::fs::write(&shot, &png).unwrap();
        println!("screenshot: {}", shot.display());

        // The assistant panel: the status line says what the index holds; a question
        // asked with Enter is answered with citations, the first one focused; Enter on
        // it opens the cited section with the excerpt marked.
        c.goto(&format!("{base}/#/assistant")).await.unwrap();
        let deadline = Instant::now() + WAIT;
        while !text_of(&c, "#asst-status").await.contains("6 SOPs") {
            assert!(
                Instant::now() < deadline,
                "{}",
                text_of(&c, "#asst-status").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let q = c.find(Locator::Css("#asst-q")).await.unwrap();
        q.send_keys("Rain fade: may I power-cycle modem-vsat-1 during rain fade?\u{E007}")
            .await
            .unwrap();
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#asst-thread .qa .cite"))
            .await
            .expect("an answer with citations");
        let answer = text_of(&c, "#asst-thread .qa:first-child pre.a").await;
        assert!(answer.contains("power-cycle"), "{answer}");
        let focused = c.active_element().await.unwrap();
        assert_eq!(
            focused.attr("class").await.unwrap().as_deref(),
            Some("cite")
        );
        let cited = text_of(&c, "#asst-thread .qa:first-child .cites li:first-child").await;
        focused.send_keys("\u{E007}").await.unwrap();
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#asst-source-text mark"))
            .await
            .expect("the cited section opens with the excerpt marked");
        let excerpt = text_of(&c, "#asst-source-text mark").await;
        let section = text_of(&c, "#asst-source-text").await;
        let source = text_of(&c, "#asst-source-name").await;
        assert!(!excerpt.is_empty() && section.contains(&excerpt));
        assert!(answer.contains(&excerpt), "{excerpt} quoted in {answer}");
        assert!(cited.ends_with(&source), "{cited} cites {source}");
        let png = c.screenshot().await.unwrap();
        let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-assistant.png");
        std::fs::write(&shot, &png).unwrap();
        println!("screenshot: {}", shot.display());
        // nothing covers this: shown as an abstention; both questions in the history
        let q = c.find(Locator::Css("#asst-q")).await.unwrap();
        q.clear().await.unwrap();
        q.send_keys("Who won the ship's karaoke night?")
            .await
            .unwrap();
        click(&c, "#asst-ask").await;
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#asst-thread .qa.abstained .not-covered"))
            .await
            .expect("an abstention shown as such");
        assert_eq!(
            c.find_all(Locator::Css("#asst-history li"))
                .await
                .unwrap()
                .len(),
            2
        );

        // A viewer sees the runbook but is not offered the approval.
        let admin = demo.auth.issue("admin", Role::Admin);
        let created = tokio::task::spawn_blocking({
            let addr = demo.http_addr;
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

        // The admin approves, from the runbooks page, an execution operator alice proposed
        // for the incident on ship-1's remediation engine (the builtin mail silence: it
        // runs without a device), and it runs to `succeeded`.
        let propose = |minutes: i64| {
            demo.executions[0]
                .propose(
                    Proposal {
                        runbook: "silence-device-mail".into(),
                        targets: vec![dist.target.clone()],
                        params: serde_json::json!({ "minutes": minutes })
                            .as_object()
                            .cloned()
                            .unwrap(),
                        requester: "alice".into(),
                        role: "operator".into(),
                        incident: Some("ship-1-1".into()),
                    },
                    ShipFacts::default(),
                    demo.fleet.runtime.clock().now_ms(),
                )
                .unwrap()
        };
        let first = propose(30);
        c.goto(&format!("{base}/#/runbooks")).await.unwrap();
        click(
            &c,
            &format!("#runbooks button.approve[data-id='{}']", first.id),
        )
        .await;
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&format!(
                "#runbooks .runbook[data-id='{}'] .state-succeeded",
                first.id
            )))
            .await
            .unwrap();
        let done = demo.executions[0].get(&first.id).unwrap();
        assert_eq!(done.approvals[0].by, "admin");

        // An ssh runbook's dry run tries to read the simulated switch's configuration and
        // the page says why it could not (the device has no address), before approval.
        let mut params = serde_json::Map::new();
        params.insert("interface".into(), "Gi1/0/7".into());
        let bounce = demo.executions[0]
            .propose(
                Proposal {
                    runbook: "bounce-access-port".into(),
                    targets: vec![dist.target.clone()],
                    params,
                    requester: "alice".into(),
                    role: "operator".into(),
                    incident: Some("ship-1-1".into()),
                },
                ShipFacts::default(),
                demo.fleet.runtime.clock().now_ms(),
            )
            .unwrap();
        let preview = format!(
            "#runbooks .runbook[data-id='{}'] details.preview",
            bounce.id
        );
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&preview))
            .await
            .unwrap();
        let said = text_of(&c, &preview).await;
        assert!(said.contains("no address"), "{said}");

        // A viewer sees a pending execution listed but gets no Approve button, and the
        // server refuses the viewer's approval anyway.
        click(&c, "#logout").await;
        sign_in(&c, &base, "deck", "watch-keeper-2").await;
        assert!(text_of(&c, "#who").await.contains("viewer"));
        let exec = propose(45);
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
        assert!(offered.is_empty(), "a viewer must not be offered approval");
        let viewer = demo.auth.issue("deck", Role::Viewer);
        let refused = tokio::task::spawn_blocking({
            let addr = demo.http_addr;
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
        c.clone().close().await.unwrap();
    };
    tokio::select! {
        r = demo.play(None) => panic!("the demo's scenario ended early: {r:?}"),
        () = browse => {}
    }
    demo.shutdown().await;
}

/// Six short SOPs for the assistant panel.
fn sops() -> Vec<(String, String)> {
    let mut docs = vec![(
        "rain-fade.md".to_string(),
        "# Rain fade\n\n## Procedure\n1. Do not power-cycle modem-vsat-1 during rain fade.\n2. Confirm the rain cell on the weather radar.\n"
            .to_string(),
    )];
    for topic in [
        "Disk full",
        "Guest Wi-Fi",
        "PBX storm",
        "Uplink flap",
        "Backups",
    ] {
        docs.push((
            format!("{topic}.md"),
            format!("# {topic}\n\n## Procedure\n1. Check {topic}.\n"),
        ));
    }
    docs
}
