//! The Grafana dashboards and the Prometheus config in `deploy/`, checked against a real
//! node and Debian's Prometheus (Grafana itself cannot be installed here).
//!
//! A `seawatch ship` process gets some telemetry (with the ingest token), a login and a
//! WebSocket session; Prometheus, started from `deploy/prometheus/prometheus.yml` with only
//! its target and interval changed, scrapes it every second. Then every dashboard's JSON
//! structure is checked, and every PromQL expression of every panel is evaluated through
//! Prometheus' HTTP API and must return data, except the ones listed in [`PENDING`],
//! whose metrics only exist once incidents and shore sync are built: those must return
//! nothing (so the list cannot go stale silently). If Prometheus cannot be had the test
//! prints `SKIPPED: ...` and passes, unless `CI=true`.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::*;

/// Metrics the node under test does not emit (it runs without sync to shore):
/// expressions over them are expected empty. `seawatch_incidents_open` is exported at 0
/// from the start, so its panels have data.
const PENDING: &[&str] = &[
    "seawatch_sync_backlog_events",
    "seawatch_shore_events_total",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Result count of an instant query, or the error.
fn query(prom: std::net::SocketAddr, expr: &str) -> Result<usize, String> {
    let body = get(prom, &format!("/api/v1/query?query={}", urlencode(expr)))
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body:.200}"))?;
    if v["status"] != "success" {
        return Err(body);
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}

/// Checks a dashboard's structure; returns its PromQL expressions.
fn check_dashboard(name: &str, d: &serde_json::Value) -> Vec<String> {
    for key in ["uid", "title"] {
        assert!(
            d[key].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: no {key}"
        );
    }
    assert!(
        d["schemaVersion"].as_u64().is_some(),
        "{name}: no schemaVersion"
    );
    let vars: HashSet<String> = d["templating"]["list"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|v| format!("${}", v["name"].as_str().unwrap()))
        .collect();
    let panels = d["panels"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no panels"));
    assert!(!panels.is_empty(), "{name}: no panels");
    let mut ids = HashSet::new();
    let mut exprs = Vec::new();
    for p in panels {
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: panel without id"));
        assert!(ids.insert(id), "{name}: duplicate panel id {id}");
        let title = p["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "{name}: panel {id} has no title");
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
        assert!(
            x + w <= 24 && g["h"].as_u64().unwrap() > 0,
            "{name}: {title}: bad gridPos"
        );
        assert_eq!(
            p["datasource"]["uid"], "seawatch-prometheus",
            "{name}: {title}: datasource"
        );
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {title}: no targets"));
        assert!(!targets.is_empty(), "{name}: {title}: no targets");
        let mut refs = HashSet::new();
        for t in targets {
            assert!(
                refs.insert(t["refId"].as_str().unwrap().to_string()),
                "{name}: {title}: refId"
            );
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {title}: no expr"));
            for var in expr
                .split(['"', ' ', '(', ')', '[', ']', ','])
                .filter(|w| w.starts_with('$'))
            {
                assert!(
                    var == "$__rate_interval" || vars.contains(var),
                    "{name}: {title}: unknown variable {var}"
                );
            }
            exprs.push(expr.to_string());
        }
    }
    exprs
}

fn ndjson(addr: std::net::SocketAddr, token: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /ingest/ndjson HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out[9..12].parse().unwrap()
}

#[test]
fn every_dashboard_query_returns_data_from_a_running_node() {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(90);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let inventory = repo().join("simulators/scenarios/core-switch-down.toml");
    let ship = ShipProc::start(
        &data,
        Some(&format!(
            "ship = \"aurora\"\ninventory = {:?}\n",
            inventory.display().to_string()
        )),
    );
    let token = std::fs::read_to_string(data.join("ingest-token")).unwrap();
    let token = token.trim();
    let telemetry = "{\"metric\":\"modem_esno_db\",\"value\":9.5,\"labels\":{\"device\":\"modem-1\",\"link\":\"vsat-1\"}}\n\
        {\"metric\":\"device_cpu_percent\",\"value\":41,\"labels\":{\"device\":\"core-sw-1\"}}\n\
        {\"host\":\"core-sw-1\",\"message\":\"fan ok\",\"severity\":\"info\"}\n{broken\n";
    assert_eq!(ndjson(ship.http, token, telemetry), 200);
    // A login and a live WebSocket session, so the console's metrics have series.
    let pw = std::fs::read_to_string(data.join("initial-admin-password")).unwrap();
    let mut s = TcpStream::connect(ship.http).unwrap();
    let login = format!(r#"{{"user":"admin","password":"{}"}}"#, pw.trim());
    write!(s, "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{login}", login.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1).unwrap();
    let user_token = v["token"].as_str().unwrap();
    let mut ws = TcpStream::connect(ship.http).unwrap();
    write!(ws, "GET /ws?token={user_token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    ws.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");

    // The shipped Prometheus config, pointed at this node and scraping every second.
    let shipped = std::fs::read_to_string(repo().join("deploy/prometheus/prometheus.yml")).unwrap();
    let config = shipped
        .replace("127.0.0.1:8080", &ship.http.to_string())
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("scrape_timeout: 10s", "scrape_timeout: 1s");
    assert!(config.contains(&ship.http.to_string()) && config.contains("scrape_interval: 1s"));
    let prom = match Prometheus::start(&config) {
        Ok(p) => p,
        Err(reason) => return skip_or_fail(&reason),
    };
    let version = prom.run("version").unwrap_or_default();
    // At least four scrapes, so that rate() and increase() over 1m have points.
    while query(
        prom.addr(),
        "count_over_time(up{job=\"seawatch\"}[1m]) >= 4",
    ) != Ok(1)
    {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape the node:\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        query(prom.addr(), "up{job=\"seawatch\"} == 1"),
        Ok(1),
        "target down"
    );

    let mut empty = BTreeSet::new();
    let mut pending_with_data = BTreeSet::new();
    let mut pending_empty = BTreeSet::new();
    let mut total = 0;
    for name in ["ship-overview", "actor-runtime", "fleet"] {
        let path = repo().join(format!("deploy/grafana/dashboards/{name}.json"));
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for var in d["templating"]["list"].as_array().unwrap() {
            // label_values(METRIC, LABEL): the metric must have series.
            let q = var["query"]["query"].as_str().unwrap();
            let metric = q
                .trim_start_matches("label_values(")
                .split(',')
                .next()
                .unwrap();
            assert!(
                query(prom.addr(), metric).unwrap() > 0,
                "{name}: variable query {q}"
            );
        }
        for expr in check_dashboard(name, &d) {
            total += 1;
            let q = expr
                .replace("$__rate_interval", "1m")
                .replace("$ship", ".*");
            let n = query(prom.addr(), &q).unwrap_or_else(|e| panic!("{name}: {expr}: {e}"));
            let pending = PENDING.iter().any(|m| expr.contains(m));
            match (n > 0, pending) {
                (false, false) => {
                    empty.insert(format!("{name}: {expr}"));
                }
                (true, true) => {
                    pending_with_data.insert(format!("{name}: {expr}"));
                }
                (false, true) => {
                    pending_empty.insert(format!("{name}: {expr}"));
                }
                (true, false) => {}
            }
        }
    }
    drop(ws);
    println!(
        "{version}: {total} dashboard expressions evaluated in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    println!("no data (sync metrics: the node runs without sync): {pending_empty:#?}");
    assert!(
        empty.is_empty(),
        "expressions without data:\n{empty:#?}\n{}",
        ship.metrics()
    );
    assert!(
        pending_with_data.is_empty(),
        "these now return data: take their metrics out of PENDING:\n{pending_with_data:#?}"
    );
}

#[test]
fn shipped_prometheus_config_passes_promtool() {
    let Ok(out) = std::process::Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(repo().join("deploy/prometheus/prometheus.yml"))
        .output()
    else {
        return skip_or_fail("promtool not installed (Debian package prometheus)");
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
