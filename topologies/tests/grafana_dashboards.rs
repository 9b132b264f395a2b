//! The Grafana dashboards, their datasources and the Prometheus config in `deploy/`,
//! checked against a real node, Debian's Prometheus and Debian's VictoriaMetrics (Grafana
//! itself cannot be installed here).
//!
//! A `seawatch ship` process with `[victoriametrics]` pointed at a VictoriaMetrics started
//! by `deploy/scripts/victoriametrics-test-server.sh` gets five minutes of device samples by
//! remote write (node_exporter, snmp_exporter IF-MIB, blackbox, device CPU and temperature,
//! modems, and one family no detector knows), some NDJSON telemetry, a login and a
//! WebSocket session; its exporter writes the samples to VictoriaMetrics. Prometheus,
//! started from `deploy/prometheus/prometheus.yml` with only its target and interval
//! changed, scrapes the node every second.
//!
//! Then every dashboard of `deploy/grafana/dashboards/` is checked: its JSON structure, that
//! each panel and query names a datasource of `deploy/grafana/provisioning/datasources/`,
//! and its template variables are resolved against their datasource the way Grafana does
//! (`label_values(SELECTOR, LABEL)` through `/api/v1/label/LABEL/values?match[]=`), each
//! over the values of the ones before it. Every expression of every panel is evaluated
//! against the server behind the datasource it names, once for every combination of real
//! variable values, as an instant query and over the last five minutes at a 15 s step
//! (the two must agree on having data); each must return data for at least one
//! combination, and every combination must show data in at least one panel. Data links
//! must open an existing dashboard with variables it has, and every result must carry the
//! labels its panel's links read. The exceptions are the expressions
//! over [`PENDING`] metrics, which only exist with shore sync: those must return nothing
//! for every combination (so the list cannot go stale silently). If Prometheus or
//! VictoriaMetrics cannot be had the test prints `SKIPPED: ...` and passes, unless
//! `CI=true`.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use seawatch_actors::ingest::decode::{
    encode_write_request, Label, Sample, TimeSeries, WriteRequest,
};
use seawatch_tests::victoriametrics::Managed;
use support::*;

/// Metrics the node under test does not emit (it runs without sync to shore):
/// expressions over them are expected empty. `seawatch_incidents_open` is exported at 0
/// from the start, so its panels have data.
const PENDING: &[&str] = &[
    "seawatch_sync_backlog_events",
    "seawatch_shore_events_total",
    // downsampling for a poor link (decision 0058): ship sync and shore only
    "seawatch_sync_link_poor",
    "seawatch_sync_downsample_total",
    ":1m_(min|max|mean)",
];

/// The datasource uids the dashboards may name.
const PROMETHEUS: &str = "seawatch-prometheus";
const VICTORIAMETRICS: &str = "seawatch-victoriametrics";

const SHIP_ID: &str = "aurora";

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

/// The `data` of a successful Prometheus-API answer, or the error.
fn api(server: SocketAddr, path: &str) -> Result<serde_json::Value, String> {
    let body = get(server, path).map_err(|e| e.to_string())?;
    let mut v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body:.200}"))?;
    if v["status"] != "success" {
        return Err(body);
    }
    Ok(v["data"].take())
}

/// The label sets of an instant query's result, or the error; with `range` (start and
/// end, Unix s), of a range query at Grafana's 15 s step instead, as a time-series panel
/// asks.
fn query_series(
    server: SocketAddr,
    expr: &str,
    range: Option<(u64, u64)>,
) -> Result<Vec<serde_json::Value>, String> {
    let path = match range {
        None => format!("/api/v1/query?query={}", urlencode(expr)),
        Some((start, end)) => format!(
            "/api/v1/query_range?query={}&start={start}&end={end}&step=15",
            urlencode(expr)
        ),
    };
    let mut data = api(server, &path)?;
    Ok(data["result"]
        .as_array_mut()
        .map(|r| r.iter_mut().map(|s| s["metric"].take()).collect())
        .unwrap_or_default())
}

/// Result count of an instant query, or the error.
fn query(server: SocketAddr, expr: &str) -> Result<usize, String> {
    query_series(server, expr, None).map(|r| r.len())
}

/// The labels a panel's data links read (`${__field.labels.NAME}`), and the dashboards
/// and variables they open (`/d/UID/...?var-NAME=`).
fn panel_links(p: &serde_json::Value) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let mut labels = Vec::new();
    let mut targets = Vec::new();
    for l in p["fieldConfig"]["defaults"]["links"]
        .as_array()
        .unwrap_or(&Vec::new())
    {
        let url = l["url"].as_str().unwrap_or_default();
        labels.extend(
            url.split("${__field.labels.")
                .skip(1)
                .map(|r| r.split('}').next().unwrap().to_owned()),
        );
        if let Some(rest) = url.strip_prefix("/d/") {
            let uid = rest.split('/').next().unwrap().to_owned();
            let vars = url
                .split("var-")
                .skip(1)
                .map(|r| r.split('=').next().unwrap().to_owned())
                .collect();
            targets.push((uid, vars));
        }
    }
    (labels, targets)
}

/// What a `label_values(SELECTOR, LABEL)` or `label_values(LABEL)` variable query offers,
/// asked the way Grafana's Prometheus datasource asks it.
fn label_values(server: SocketAddr, q: &str) -> Result<Vec<String>, String> {
    let inner = q
        .trim()
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("not a label_values() query: {q}"))?;
    let (selector, label) = match inner.rsplit_once(',') {
        Some((sel, label)) => (Some(sel.trim()), label.trim()),
        None => (None, inner.trim()),
    };
    let mut path = format!("/api/v1/label/{label}/values");
    if let Some(sel) = selector {
        path += &format!("?match[]={}", urlencode(sel));
    }
    let data = api(server, &path)?;
    Ok(data
        .as_array()
        .ok_or("label values: not an array")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect())
}

/// The datasources of the provisioning file: uid → type.
fn provisioned_datasources() -> BTreeMap<String, String> {
    let path = repo().join("deploy/grafana/provisioning/datasources/seawatch.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = BTreeMap::new();
    let mut uid = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("- name:") {
            uid = None;
        } else if let Some(u) = line.strip_prefix("uid:") {
            uid = Some(u.trim().to_owned());
        } else if let Some(t) = line.strip_prefix("type:") {
            let u = uid
                .clone()
                .expect("uid before type in the provisioning file");
            out.insert(u, t.trim().to_owned());
        }
    }
    out
}

/// One query of a panel: the datasource uid it runs on, its expression, and the labels
/// its panel's data links need in each result.
struct Query {
    panel: String,
    uid: String,
    expr: String,
    link_labels: Vec<String>,
}

/// What a dashboard's data links open: (panel, dashboard uid, variables).
type Links = Vec<(String, String, Vec<String>)>;

/// Checks a dashboard's structure and datasources; returns its queries.
fn check_dashboard(
    name: &str,
    d: &serde_json::Value,
    sources: &HashSet<&str>,
) -> (Vec<Query>, Links) {
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
    let mut queries = Vec::new();
    let mut links = Vec::new();
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
        let uid = p["datasource"]["uid"].as_str().unwrap_or_default();
        assert!(
            sources.contains(uid),
            "{name}: {title}: datasource {uid:?} is not provisioned"
        );
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {title}: no targets"));
        assert!(!targets.is_empty(), "{name}: {title}: no targets");
        let (link_labels, opens) = panel_links(p);
        links.extend(
            opens
                .into_iter()
                .map(|(uid, vars)| (title.to_owned(), uid, vars)),
        );
        let mut refs = HashSet::new();
        for t in targets {
            assert!(
                refs.insert(t["refId"].as_str().unwrap().to_string()),
                "{name}: {title}: refId"
            );
            // A query may name its own datasource; Grafana then runs it there.
            let quid = t["datasource"]["uid"].as_str().unwrap_or(uid);
            assert!(
                sources.contains(quid),
                "{name}: {title}: query datasource {quid:?} is not provisioned"
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
            queries.push(Query {
                panel: title.to_owned(),
                uid: quid.to_owned(),
                expr: expr.to_string(),
                link_labels: link_labels.clone(),
            });
        }
    }
    (queries, links)
}

/// `text` with `$__rate_interval` and the variables of `values` substituted (longest
/// names first, so `$ship` never eats the start of `$shipx`).
fn substitute(text: &str, values: &[(String, String)]) -> String {
    let mut vars: Vec<&(String, String)> = values.iter().collect();
    vars.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut out = text.replace("$__rate_interval", "1m");
    for (n, v) in vars {
        out = out.replace(&format!("${n}"), v);
    }
    out
}

/// Every combination of real values of the dashboard's variables, each variable's query
/// run on its datasource with the variables before it substituted.
fn variable_combinations(
    name: &str,
    d: &serde_json::Value,
    servers: &BTreeMap<&str, SocketAddr>,
) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for var in d["templating"]["list"].as_array().unwrap_or(&Vec::new()) {
        let var_name = var["name"].as_str().unwrap();
        let uid = var["datasource"]["uid"].as_str().unwrap_or_default();
        let server = *servers
            .get(uid)
            .unwrap_or_else(|| panic!("{name}: variable {var_name}: datasource {uid:?}"));
        let q = var["query"]["query"].as_str().unwrap();
        let mut next = Vec::new();
        for combo in &combos {
            let values = label_values(server, &substitute(q, combo))
                .unwrap_or_else(|e| panic!("{name}: variable {var_name} ({q}): {e}"));
            assert!(
                !values.is_empty(),
                "{name}: variable {var_name} ({q}) offers nothing for {combo:?}"
            );
            for v in values {
                let mut c = combo.clone();
                c.push((var_name.to_owned(), v));
                next.push(c);
            }
        }
        combos = next;
    }
    combos
}

fn ndjson(addr: SocketAddr, token: &str, body: &str) -> u16 {
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

/// Points of a scrape every 15 s over the five minutes up to now.
const POINTS: i64 = 21;

/// A device's series: device, metric, extra labels, value at point `i`.
type DeviceSeries = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    fn(i64) -> f64,
);

/// Five minutes of what a ship's exporters report, as Prometheus (or vmagent) would
/// remote-write it: a core switch by snmp_exporter (IF-MIB, one interface down, CPU,
/// temperature), a host by node_exporter, two modems (one losing lock), a UPS nobody
/// has a detector for, and a blackbox probe of each. Values are fixed functions of the
/// point index; counters grow.
fn device_samples(now_ms: i64) -> WriteRequest {
    #[rustfmt::skip]
    let series: Vec<DeviceSeries> = vec![
        ("core-sw-1", "ifOperStatus", vec![("ifName", "Gi1/0/1")], |_| 1.0),
        ("core-sw-1", "ifOperStatus", vec![("ifName", "Gi1/0/2")], |_| 2.0),
        ("core-sw-1", "ifHCInOctets", vec![("ifName", "Gi1/0/1")], |i| (i * 18_750_000) as f64),
        ("core-sw-1", "ifHCInOctets", vec![("ifName", "Gi1/0/2")], |_| 9_000.0),
        ("core-sw-1", "ifHCOutOctets", vec![("ifName", "Gi1/0/1")], |i| (i * 6_000_000) as f64),
        ("core-sw-1", "ifHCOutOctets", vec![("ifName", "Gi1/0/2")], |_| 4_000.0),
        ("core-sw-1", "ifInErrors", vec![("ifName", "Gi1/0/1")], |i| (i * 3) as f64),
        ("core-sw-1", "ifOutErrors", vec![("ifName", "Gi1/0/1")], |_| 0.0),
        ("core-sw-1", "ifInDiscards", vec![("ifName", "Gi1/0/1")], |i| i as f64),
        ("core-sw-1", "device_cpu_percent", vec![], |i| (20 + i % 5) as f64),
        ("core-sw-1", "device_temperature_celsius", vec![("sensor", "inlet")], |_| 31.0),
        ("vms-1", "node_cpu_seconds_total", vec![("cpu", "0"), ("mode", "idle")], |i| (i * 12) as f64),
        ("vms-1", "node_cpu_seconds_total", vec![("cpu", "0"), ("mode", "user")], |i| i as f64 * 2.5),
        ("vms-1", "node_cpu_seconds_total", vec![("cpu", "1"), ("mode", "idle")], |i| (i * 11) as f64),
        ("vms-1", "node_cpu_seconds_total", vec![("cpu", "1"), ("mode", "user")], |i| i as f64 * 3.5),
        ("vms-1", "node_memory_MemAvailable_bytes", vec![], |_| 3.2e9),
        ("vms-1", "node_memory_MemTotal_bytes", vec![], |_| 8.0e9),
        ("vms-1", "node_filesystem_avail_bytes", vec![("mountpoint", "/")], |_| 21e9),
        ("vms-1", "node_filesystem_size_bytes", vec![("mountpoint", "/")], |_| 50e9),
        ("vms-1", "node_filesystem_avail_bytes", vec![("mountpoint", "/var/lib/pms")], |i| 9e9 - i as f64 * 1e8),
        ("vms-1", "node_filesystem_size_bytes", vec![("mountpoint", "/var/lib/pms")], |_| 100e9),
        ("modem-vsat-1", "modem_esno_db", vec![("link", "vsat-1")], |i| 9.5 - (i % 3) as f64 * 0.2),
        ("modem-vsat-1", "modem_snr_db", vec![("link", "vsat-1")], |_| 11.0),
        ("modem-vsat-1", "modem_ber", vec![("link", "vsat-1")], |_| 1e-7),
        ("modem-vsat-1", "modem_rx_power_dbm", vec![("link", "vsat-1")], |_| -42.0),
        ("modem-vsat-1", "modem_lock", vec![("link", "vsat-1")], |_| 1.0),
        ("modem-leo-1", "modem_esno_db", vec![("link", "leo-1")], |i| 6.0 - i as f64 * 0.3),
        ("modem-leo-1", "modem_snr_db", vec![("link", "leo-1")], |i| 8.0 - i as f64 * 0.3),
        ("modem-leo-1", "modem_ber", vec![("link", "leo-1")], |i| 1e-6 * (i + 1) as f64),
        ("modem-leo-1", "modem_rx_power_dbm", vec![("link", "leo-1")], |_| -55.0),
        ("modem-leo-1", "modem_lock", vec![("link", "leo-1")], |i| f64::from(u8::from(i < 17))),
        ("ups-1", "ups_battery_charge_percent", vec![], |_| 100.0),
    ];
    let mut timeseries = Vec::new();
    let ts = |i: i64| now_ms - (POINTS - 1 - i) * 15_000;
    let mut push = |labels: Vec<(&str, String)>, value: &dyn Fn(i64) -> f64| {
        let mut labels: Vec<Label> = labels
            .into_iter()
            .map(|(name, value)| Label {
                name: name.into(),
                value,
            })
            .collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        timeseries.push(TimeSeries {
            labels,
            samples: (0..POINTS)
                .map(|i| Sample {
                    value: value(i),
                    timestamp: ts(i),
                })
                .collect(),
        });
    };
    for (device, metric, extra, value) in &series {
        let job = if metric.starts_with("node_") {
            "node"
        } else {
            "snmp"
        };
        let mut labels = vec![
            ("__name__", metric.to_string()),
            ("device", device.to_string()),
            ("job", job.to_owned()),
        ];
        labels.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        push(labels, value);
    }
    // The blackbox exporter probes every device; the LEO modem stops answering.
    for device in ["core-sw-1", "vms-1", "modem-vsat-1", "modem-leo-1", "ups-1"] {
        let failing = device == "modem-leo-1";
        let labels = |m: &str| {
            vec![
                ("__name__", m.to_owned()),
                ("device", device.to_owned()),
                ("job", "blackbox".to_owned()),
            ]
        };
        push(labels("probe_success"), &move |i| {
            if failing && i >= 17 {
                0.0
            } else {
                1.0
            }
        });
        push(labels("probe_duration_seconds"), &move |i| {
            0.002 + (i % 4) as f64 * 0.0005 + if failing { 0.6 } else { 0.0 }
        });
    }
    WriteRequest { timeseries }
}

#[test]
fn every_dashboard_query_returns_data_from_a_running_node() {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(90);
    let (vm, vm_url) = match Managed::start() {
        Ok(v) => v,
        Err(e) => return skip_or_fail(&format!("no VictoriaMetrics: {e}")),
    };
    let vm_addr: SocketAddr = vm_url.trim_start_matches("http://").parse().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let inventory = repo().join("simulators/scenarios/core-switch-down.toml");
    let ship = ShipProc::start(
        &data,
        Some(&format!(
            "ship = \"{SHIP_ID}\"\ninventory = {:?}\n[victoriametrics]\nurl = \"{vm_url}\"\n",
            inventory.display().to_string()
        )),
    );
    let token = std::fs::read_to_string(data.join("ingest-token")).unwrap();
    let token = token.trim();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Two one-off samples of a minute ago (a lone sample newer than the last 15 s step of
    // a range query is not drawn yet), a log line and a malformed line.
    let ts = now_ms - 60_000;
    let telemetry = format!(
        "{{\"metric\":\"modem_esno_db\",\"value\":9.5,\"labels\":{{\"device\":\"modem-1\",\"link\":\"vsat-1\"}},\"ts\":{ts}}}\n\
        {{\"metric\":\"device_cpu_percent\",\"value\":41,\"labels\":{{\"device\":\"core-sw-1\"}},\"ts\":{ts}}}\n\
        {{\"host\":\"core-sw-1\",\"message\":\"fan ok\",\"severity\":\"info\"}}\n{{broken\n"
    );
    assert_eq!(ndjson(ship.http, token, &telemetry), 200);
    let request = device_samples(now_ms);
    let samples: usize = request.timeseries.iter().map(|t| t.samples.len()).sum();
    let headers = format!(
        "Authorization: Bearer {token}\r\nContent-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\n"
    );
    let (code, body) = http_with(
        ship.http,
        "POST",
        "/api/v1/write",
        &headers,
        &encode_write_request(&request),
    )
    .unwrap();
    assert!((200..300).contains(&code), "remote write: {code} {body}");
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

    // The exporter has written every device sample (the two NDJSON ones too) to
    // VictoriaMetrics; a flush makes them searchable.
    let exported = format!("seawatch_victoriametrics_exported_total{{ship=\"{SHIP_ID}\"}}");
    let lag = format!("seawatch_victoriametrics_lag_events{{ship=\"{SHIP_ID}\"}}");
    ship.wait_metrics(
        "the exporter wrote every sample",
        deadline.saturating_duration_since(Instant::now()),
        |m| {
            metric(m, &exported).unwrap_or(0.0) >= (samples + 2) as f64
                && metric(m, &lag) == Some(0.0)
        },
    );
    // A write VictoriaMetrics confirmed is searchable after a flush, but 1.79 may
    // take a moment more for its last rows: wait (bounded) for every series and sample,
    // then require exactly them (none doubled).
    let want = (request.timeseries.len() + 2, samples + 2);
    let counts = || {
        let stored = vm.samples(&format!("{{ship=\"{SHIP_ID}\"}}")).unwrap();
        let n: u32 = stored.values().flat_map(|p| p.values()).sum();
        (stored.len(), n as usize)
    };
    let mut have = counts();
    while have.1 < want.1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        have = counts();
    }
    assert_eq!(have, want, "series and samples in VictoriaMetrics");

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

    let provisioned = provisioned_datasources();
    assert_eq!(
        provisioned.keys().map(String::as_str).collect::<Vec<_>>(),
        [PROMETHEUS, VICTORIAMETRICS],
        "provisioned datasources"
    );
    assert!(
        provisioned.values().all(|t| t == "prometheus"),
        "{provisioned:?}"
    );
    let servers = BTreeMap::from([(PROMETHEUS, prom.addr()), (VICTORIAMETRICS, vm_addr)]);
    let sources: HashSet<&str> = servers.keys().copied().collect();

    let dir = repo().join("deploy/grafana/dashboards");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert_eq!(names, ["actor-runtime", "device", "fleet", "ship-overview"]);

    let mut empty = BTreeSet::new();
    let mut pending_with_data = BTreeSet::new();
    let mut pending_empty = BTreeSet::new();
    let mut blank = BTreeSet::new();
    let mut per_source = BTreeMap::<&str, usize>::new();
    let mut dashboards = BTreeMap::new();
    let mut links = Vec::new();
    let (mut total, mut evaluations) = (0, 0);
    for name in &names {
        let path = dir.join(format!("{name}.json"));
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (queries, opens) = check_dashboard(name, &d, &sources);
        links.extend(opens.into_iter().map(|(p, uid, vars)| (name, p, uid, vars)));
        let vars: Vec<String> = d["templating"]["list"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        dashboards.insert(d["uid"].as_str().unwrap().to_owned(), vars);
        let combos = variable_combinations(name, &d, &servers);
        let mut combo_has_data = vec![false; combos.len()];
        for q in &queries {
            total += 1;
            *per_source
                .entry(servers.get_key_value(q.uid.as_str()).unwrap().0)
                .or_default() += 1;
            let server = servers[q.uid.as_str()];
            let mut with_data = 0;
            for (i, combo) in combos.iter().enumerate() {
                evaluations += 1;
                let expr = substitute(&q.expr, combo);
                let run = |range| {
                    query_series(server, &expr, range).unwrap_or_else(|e| {
                        panic!("{name}: {}: {} on {}: {e}", q.panel, q.expr, q.uid)
                    })
                };
                // The last five minutes, as the panel draws them, and now, as a stat
                // shows it: data in one and not the other is a failure too.
                let end = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let result = run(None);
                let drawn = run(Some((end - 300, end)));
                if result.is_empty() != drawn.is_empty() {
                    empty.insert(format!(
                        "{name}: {}: {} for {combo:?}: {} series now, {} over the last 5 min",
                        q.panel,
                        q.expr,
                        result.len(),
                        drawn.len()
                    ));
                }
                for series in result.iter().chain(&drawn) {
                    for l in &q.link_labels {
                        assert!(
                            series[l].is_string(),
                            "{name}: {}: a data link reads label {l}, missing in {series} of {}",
                            q.panel,
                            q.expr
                        );
                    }
                }
                if !result.is_empty() {
                    with_data += 1;
                    combo_has_data[i] = true;
                }
            }
            let what = format!("{name}: {}: {}", q.panel, q.expr);
            let pending = PENDING.iter().any(|m| q.expr.contains(m));
            match (with_data > 0, pending) {
                (false, false) => {
                    empty.insert(what);
                }
                (true, true) => {
                    pending_with_data.insert(what);
                }
                (false, true) => {
                    pending_empty.insert(what);
                }
                (true, false) => {}
            }
        }
        for (combo, has) in combos.iter().zip(combo_has_data) {
            if !has {
                blank.insert(format!("{name}: {combo:?}"));
            }
        }
        println!(
            "{name}: {} queries, {} variable combinations",
            queries.len(),
            combos.len()
        );
    }
    drop(ws);
    for (name, panel, uid, vars) in &links {
        let Some(have) = dashboards.get(uid) else {
            panic!("{name}: {panel}: a data link opens dashboard {uid:?}, which does not exist");
        };
        for v in vars {
            assert!(
                have.contains(v),
                "{name}: {panel}: a data link sets var-{v}, which {uid} does not have"
            );
        }
    }
    assert_eq!(
        per_source.len(),
        servers.len(),
        "every provisioned datasource is used: {per_source:?}"
    );
    println!(
        "{version}, VictoriaMetrics at {vm_url}: {total} dashboard expressions ({per_source:?}) evaluated {evaluations} times in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    println!("no data (sync metrics: the node runs without sync): {pending_empty:#?}");
    assert!(
        empty.is_empty(),
        "expressions without data:\n{empty:#?}\n{}",
        ship.metrics()
    );
    assert!(
        blank.is_empty(),
        "variable values for which a dashboard shows nothing:\n{blank:#?}"
    );
    assert!(
        pending_with_data.is_empty(),
        "these now return data: take their metrics out of PENDING:\n{pending_with_data:#?}"
    );
    drop(vm);
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
