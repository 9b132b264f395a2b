//! `[victoriametrics]` on a `seawatch ship` process and a `seawatch shore` process, against
//! real VictoriaMetrics servers (Debian's `victoria-metrics`, started by
//! `deploy/scripts/victoriametrics-test-server.sh`, installed if missing; deduplication
//! off, so a sample written twice shows twice).
//!
//! * The ship receives device samples by remote write while its exporter writes them to
//!   VictoriaMetrics; the process is killed with SIGKILL mid-export and restarted on the
//!   same data. Once its lag is 0, VictoriaMetrics holds every Metric event of the ship's
//!   log exactly once, counted by series and sample, labelled `ship` and `device`.
//! * The ship is offline (its leaf connection to the shore cluster is cut) while six
//!   hours of samples arrive; after link-up the shore applies them to its own
//!   VictoriaMetrics with their original timestamps, none missing or doubled; the shore
//!   process is killed with SIGKILL mid-apply and restarted on the way.
//!
//! Without VictoriaMetrics (or nats-server, for the second) a test says so and passes,
//! except under `CI=true`, where it fails.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seawatch_actors::ingest::decode::{
    encode_write_request, Label, Sample, TimeSeries, WriteRequest,
};
use seawatch_actors::store::victoriametrics::sample_of;
use seawatch_runtime::event_log::EventKind;
use seawatch_tests::nats::{certs, nats_binary, ship_leaf, Creds, Proxy, ShoreCluster};
use seawatch_tests::victoriametrics::Managed;
use support::*;

const SERIES: u64 = 60;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Samples `from..from + n` of 60 series (6 devices × 10 metrics); sample `i` is at
/// `t0 + (i / 60) * step_ms`.
fn request(from: u64, n: u64, t0: i64, step_ms: i64) -> Vec<u8> {
    let timeseries = (from..from + n)
        .map(|i| {
            let s = i % SERIES;
            let labels = [
                ("__name__", format!("device_metric_{}", s / 6)),
                ("device", format!("sw-{}", s % 6)),
                ("instance", format!("sw-{}:9100", s % 6)),
                ("job", "snmp".to_owned()),
            ];
            TimeSeries {
                labels: labels
                    .into_iter()
                    .map(|(name, value)| Label {
                        name: name.into(),
                        value,
                    })
                    .collect(),
                samples: vec![Sample {
                    value: i as f64,
                    timestamp: t0 + (i / SERIES) as i64 * step_ms,
                }],
            }
        })
        .collect();
    encode_write_request(&WriteRequest { timeseries })
}

/// Posts 600-sample requests to the ship from `from` on until `to` or stopped; counts
/// the samples the ship accepted (2xx).
fn send_samples(
    addr: SocketAddr,
    token: String,
    range: (u64, u64),
    t0: i64,
    step_ms: i64,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut i, to) = range;
        while i < to && !stop.load(Ordering::Relaxed) {
            let n = 600.min(to - i);
            let body = request(i, n, t0, step_ms);
            let headers = format!(
                "Authorization: Bearer {token}\r\nContent-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\n"
            );
            match http_with(addr, "POST", "/api/v1/write", &headers, &body) {
                Ok((code, _)) if (200..300).contains(&code) => {
                    accepted.fetch_add(n, Ordering::Relaxed);
                    i += n;
                }
                _ => return,
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

/// (series, timestamp) → 1 for every Metric event of the ship's log, as the exporter
/// labels it.
fn log_samples(data: &std::path::Path) -> BTreeMap<(String, i64), u32> {
    let log = open_log(data);
    let events = read_all(&log);
    assert_dense(&events);
    let mut want = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == EventKind::Metric) {
        let s = sample_of(SHIP, e).unwrap().unwrap();
        let series = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        *want.entry((series, s.ts_ms)).or_insert(0) += 1;
    }
    want
}

fn vm_samples(vm: &Managed) -> BTreeMap<(String, i64), u32> {
    vm.samples(&format!("{{ship=\"{SHIP}\"}}"))
        .unwrap()
        .into_iter()
        .flat_map(|(series, points)| {
            points
                .into_iter()
                .map(move |(t, c)| ((series.clone(), t), c))
        })
        .collect()
}

/// (missing, doubled, not in the log).
fn audit(
    want: &BTreeMap<(String, i64), u32>,
    have: &BTreeMap<(String, i64), u32>,
) -> (usize, usize, usize) {
    let missing = want.keys().filter(|k| !have.contains_key(*k)).count();
    let doubled = have
        .iter()
        .filter(|(k, &c)| c > want.get(*k).copied().unwrap_or(1))
        .count();
    let extra = have.keys().filter(|k| !want.contains_key(*k)).count();
    (missing, doubled, extra)
}

fn series_count(m: &BTreeMap<(String, i64), u32>) -> usize {
    m.keys()
        .map(|(s, _)| s)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn vm_or_skip() -> Option<(Managed, String)> {
    match Managed::start() {
        Ok(v) => Some(v),
        Err(e) => {
            skip_or_fail(&format!("no VictoriaMetrics: {e}"));
            None
        }
    }
}

#[test]
fn ship_killed_mid_export_resumes_and_victoriametrics_holds_each_sample_once() {
    let Some((vm, url)) = vm_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config =
        format!("[victoriametrics]\nurl = \"{url}\"\n[eventlog]\nfsync = \"every_batch\"\n");
    // Six hours ago: the samples' steps of 1 s stay in the past.
    let t0 = now_ms() - 6 * 3_600_000;
    let ship = ShipProc::start(&data, Some(&config));
    let token = std::fs::read_to_string(data.join("ingest-token"))
        .unwrap()
        .trim()
        .to_owned();
    let exported = format!("seawatch_victoriametrics_exported_total{{ship=\"{SHIP}\"}}");
    let lag = format!("seawatch_victoriametrics_lag_events{{ship=\"{SHIP}\"}}");
    let m = ship.metrics();
    assert_eq!(
        metric(&m, &exported),
        Some(0.0),
        "known label sets export 0"
    );
    assert_eq!(
        metric(
            &m,
            &format!("seawatch_victoriametrics_errors_total{{ship=\"{SHIP}\",kind=\"write\"}}")
        ),
        Some(0.0)
    );
    let accepted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = send_samples(
        ship.http,
        token.clone(),
        (0, 1_000_000),
        t0,
        1_000,
        stop.clone(),
        accepted.clone(),
    );
    ship.wait_metrics("5,000 samples exported", Duration::from_secs(60), |m| {
        metric(m, &exported).unwrap_or(0.0) >= 5_000.0
    });
    let at_kill = metric(&ship.metrics(), &exported).unwrap_or(0.0);
    ship.kill9();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let before = accepted.load(Ordering::Relaxed);

    let ship = ShipProc::start(&data, Some(&config));
    let sender = send_samples(
        ship.http,
        token,
        (1_000_000, 1_012_000),
        t0,
        1_000,
        Arc::new(AtomicBool::new(false)),
        accepted.clone(),
    );
    sender.join().unwrap();
    // The restarted exporter writes at least the 12,000 new samples, then has no lag.
    ship.wait_metrics("the exporter caught up", Duration::from_secs(60), |m| {
        metric(m, &exported).unwrap_or(0.0) >= 12_000.0 && metric(m, &lag) == Some(0.0)
    });
    ship.terminate(Duration::from_secs(10));
    let want = log_samples(&data);
    let have = vm_samples(&vm);
    eprintln!(
        "[vm ship] killed at {at_kill} exported; {} samples accepted ({before} before the kill); log {} samples in {} series; VictoriaMetrics {} in {} series",
        accepted.load(Ordering::Relaxed),
        want.len(),
        series_count(&want),
        have.len(),
        series_count(&have)
    );
    // What VictoriaMetrics must hold is what the log holds (a 2xx of the ingest route is
    // not a durability promise for the last batch before a SIGKILL; that is ingest's
    // business, not the exporter's).
    assert!(want.len() as u64 >= 12_000 + at_kill as u64 / 2);
    for ((series, t), c) in have
        .iter()
        .filter(|(k, &c)| c > want.get(*k).copied().unwrap_or(1))
        .take(5)
    {
        eprintln!(
            "[vm ship] doubled: {series} at t0 + {} ms, {c} times",
            t - t0
        );
    }
    assert_eq!(
        audit(&want, &have),
        (0, 0, 0),
        "(missing, doubled, not in the log)"
    );
    // Labelled with ship and device, the series the sender wrote.
    assert_eq!(series_count(&have), SERIES as usize);
    assert!(have
        .keys()
        .all(|(s, _)| s.contains(&format!("ship={SHIP}")) && s.contains("device=sw-")));
}

const PW: &str = "test-pw";

/// A process killed (SIGKILL) and reaped on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_shore(cfg: &std::path::Path, url: &str, listen: SocketAddr) -> Reaped {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.with_extension("out"))
        .unwrap();
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

fn shore_metric(addr: SocketAddr, series: &str) -> Option<f64> {
    metric(&get(addr, "/metrics").ok()?, series)
}

#[test]
fn an_offline_ship_fills_its_gap_in_the_shore_victoriametrics_after_link_up() {
    let bin = match nats_binary() {
        Ok(b) => b,
        Err(e) => return skip_or_fail(&format!("no nats-server: {e}")),
    };
    let Some((vm, vm_url)) = vm_or_skip() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let certs = certs();
    let creds = Creds {
        shore: PW.into(),
        leaf_user: "leaf-ship-1".into(),
        leaf: PW.into(),
        ship: PW.into(),
    };
    // The ship's leaf connection goes through a proxy that is cut: the ship is offline.
    let proxy_port = free_port();
    let cluster = ShoreCluster::start(3, &bin, creds.clone(), certs.path(), |_, _| {
        format!("127.0.0.1:{proxy_port}")
    });
    let proxy = rt.block_on(Proxy::start(proxy_port, cluster.leaf.clone()));
    proxy.set_cut(true);
    let leaf_client = free_port();
    let ship_server = ship_leaf(
        &bin,
        &creds,
        SHIP,
        leaf_client,
        format!("nats-leaf://leaf-ship-1:{PW}@127.0.0.1:{proxy_port}"),
        certs.path(),
        certs.path(),
    );
    ship_server.run("start").unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = format!(
        "[nats]\nurl = \"nats://ship:{PW}@127.0.0.1:{leaf_client}\"\n[eventlog]\nfsync = \"every_batch\"\n"
    );
    let ship = ShipProc::start(&data, Some(&config));
    let token = std::fs::read_to_string(data.join("ingest-token"))
        .unwrap()
        .trim()
        .to_owned();
    // Six hours of samples, one per series every 30 s, while offline.
    let t0 = now_ms() - 6 * 3_600_000;
    let total = SERIES * (6 * 3_600 / 30);
    let accepted = Arc::new(AtomicU64::new(0));
    send_samples(
        ship.http,
        token,
        (0, total),
        t0,
        30_000,
        Arc::new(AtomicBool::new(false)),
        accepted.clone(),
    )
    .join()
    .unwrap();
    assert_eq!(accepted.load(Ordering::Relaxed), total);
    let backlog = format!("seawatch_sync_backlog_events{{ship=\"{SHIP}\"}}");
    let m = ship.wait_metrics("every sample durable", Duration::from_secs(60), |m| {
        durable(m) >= total && metric(m, &backlog).unwrap_or(0.0) > 0.0
    });
    eprintln!("[vm shore] offline: backlog {:?}", metric(&m, &backlog));

    // The shore, with its VictoriaMetrics; then link-up.
    let shore_cfg = tmp.path().join("shore.toml");
    std::fs::write(
        &shore_cfg,
        format!(
            "node = \"n0\"\nreplicas = 3\nlease_s = 3\n[[ship]]\nid = \"{SHIP}\"\n\
             [victoriametrics]\nurl = \"{vm_url}\"\n"
        ),
    )
    .unwrap();
    let shore_http = free_addr();
    let shore_url = cluster.url(0);
    let mut shore = start_shore(&shore_cfg, &shore_url, shore_http);
    let exported = format!("seawatch_victoriametrics_exported_total{{ship=\"{SHIP}\"}}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while shore_metric(shore_http, &exported) != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "shore never exported its counter at 0"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    proxy.set_cut(false);
    // The shore process dies with SIGKILL mid-apply and comes back on the same cluster.
    let deadline = Instant::now() + Duration::from_secs(90);
    while shore_metric(shore_http, &exported).unwrap_or(0.0) < 5_000.0 {
        assert!(
            Instant::now() < deadline,
            "shore applied nothing after link-up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let at_kill = shore_metric(shore_http, &exported).unwrap_or(0.0);
    let _ = shore.0.kill();
    let _ = shore.0.wait();
    shore = start_shore(&shore_cfg, &shore_url, shore_http);
    ship.wait_metrics(
        "the ship's backlog drained",
        Duration::from_secs(180),
        |m| metric(m, &backlog) == Some(0.0),
    );
    ship.terminate(Duration::from_secs(10));
    let after = shore_metric(shore_http, &exported).unwrap_or(0.0);
    let out = std::fs::read_to_string(shore_cfg.with_extension("out")).unwrap_or_default();
    eprintln!(
        "[vm shore] restarted shore wrote {after}; it found samples already there {} times",
        out.matches("already in victoriametrics").count()
    );
    let want = log_samples(&data);
    let have = vm_samples(&vm);
    let (lo, hi) = (
        have.keys().map(|(_, t)| *t).min().unwrap_or(0),
        have.keys().map(|(_, t)| *t).max().unwrap_or(0),
    );
    eprintln!(
        "[vm shore] shore killed at {at_kill} written; log {} samples in {} series; shore VictoriaMetrics {} in {} series, {:.1} h of original timestamps",
        want.len(),
        series_count(&want),
        have.len(),
        series_count(&have),
        (hi - lo) as f64 / 3_600_000.0
    );
    assert_eq!(want.len() as u64, total);
    assert_eq!(
        audit(&want, &have),
        (0, 0, 0),
        "(missing, doubled, not in the log)"
    );
    assert_eq!(lo, t0, "the oldest sample keeps its original timestamp");
    drop(shore);
    drop(ship_server);
    drop(cluster);
}

/// The name of a series formatted `k=v,...` (its `__name__`).
fn name_of(series: &str) -> &str {
    series
        .split(',')
        .find_map(|kv| kv.strip_prefix("__name__="))
        .unwrap_or("")
}

/// Issue 26 item 3 (decision 0058): a ship offline for an hour comes back on a poor link
/// (its backlog would take longer than `poor_backlog_s` to cross the link). It sends the
/// 1-minute aggregates of its downsampled families first: the shore's VictoriaMetrics
/// holds every aggregate before it holds a single full-resolution sample. Then the full
/// resolution back-fills and the link is good again. The shore ends with every sample of
/// the ship's log once, counted by series and sample, plus the aggregates: each point
/// once, and each raw sample of a downsampled family counted in exactly one `:1m_count`.
#[test]
fn a_ship_on_a_poor_link_sends_aggregates_first_then_back_fills_full_resolution_once() {
    let bin = match nats_binary() {
        Ok(b) => b,
        Err(e) => return skip_or_fail(&format!("no nats-server: {e}")),
    };
    let Some((vm, vm_url)) = vm_or_skip() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let certs = certs();
    let creds = Creds {
        shore: PW.into(),
        leaf_user: "leaf-ship-1".into(),
        leaf: PW.into(),
        ship: PW.into(),
    };
    let proxy_port = free_port();
    let cluster = ShoreCluster::start(3, &bin, creds.clone(), certs.path(), |_, _| {
        format!("127.0.0.1:{proxy_port}")
    });
    let proxy = rt.block_on(Proxy::start(proxy_port, cluster.leaf.clone()));
    proxy.set_cut(true);
    let leaf_client = free_port();
    let ship_server = ship_leaf(
        &bin,
        &creds,
        SHIP,
        leaf_client,
        format!("nats-leaf://leaf-ship-1:{PW}@127.0.0.1:{proxy_port}"),
        certs.path(),
        certs.path(),
    );
    ship_server.run("start").unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A 1 Mbit/s link, a quarter of it for sync; poor while the backlog needs > 5 s.
    let config = format!(
        "[nats]\nurl = \"nats://ship:{PW}@127.0.0.1:{leaf_client}\"\n[eventlog]\nfsync = \"every_batch\"\n\
         [sync]\ncapacity_mbps = 1.0\n[sync.downsample]\nfamilies = [\"device_metric_0\", \"device_metric_1\"]\npoor_backlog_s = 5\n"
    );
    let ship = ShipProc::start(&data, Some(&config));
    let token = std::fs::read_to_string(data.join("ingest-token"))
        .unwrap()
        .trim()
        .to_owned();
    // An hour of samples, one per series every 10 s, while offline; the hour starts on
    // a minute boundary.
    let t0 = (now_ms() - 2 * 3_600_000).div_euclid(60_000) * 60_000;
    let steps = 3_600 / 10;
    let total = SERIES * steps;
    let accepted = Arc::new(AtomicU64::new(0));
    send_samples(
        ship.http,
        token,
        (0, total),
        t0,
        10_000,
        Arc::new(AtomicBool::new(false)),
        accepted.clone(),
    )
    .join()
    .unwrap();
    assert_eq!(accepted.load(Ordering::Relaxed), total);
    let poor = format!("seawatch_sync_link_poor{{ship=\"{SHIP}\"}}");
    let covered =
        format!("seawatch_sync_downsample_total{{ship=\"{SHIP}\",kind=\"covered_samples\"}}");
    let m = ship.wait_metrics("the link is poor", Duration::from_secs(60), |m| {
        durable(m) >= total && metric(m, &poor) == Some(1.0)
    });
    assert_eq!(metric(&m, &covered), Some(0.0), "known label sets export 0");

    let shore_cfg = tmp.path().join("shore.toml");
    std::fs::write(
        &shore_cfg,
        format!(
            "node = \"n0\"\nreplicas = 3\nlease_s = 3\n[[ship]]\nid = \"{SHIP}\"\n\
             [victoriametrics]\nurl = \"{vm_url}\"\n"
        ),
    )
    .unwrap();
    let shore_http = free_addr();
    let shore = start_shore(&shore_cfg, &cluster.url(0), shore_http);
    let exported = format!("seawatch_victoriametrics_exported_total{{ship=\"{SHIP}\"}}");
    let aggregates = format!("seawatch_victoriametrics_aggregates_total{{ship=\"{SHIP}\"}}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while shore_metric(shore_http, &aggregates) != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "shore never exported its counters at 0"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // 2 families × 6 devices × 60 minutes, five aggregate samples each.
    let want_aggregates = (2 * 6 * 60 * 5) as f64;
    proxy.set_cut(false);
    // Aggregates first: whenever the shore has written any full-resolution sample, it
    // has written every aggregate already.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut first_full: Option<(f64, f64)> = None;
    loop {
        let (e, a) = (
            shore_metric(shore_http, &exported).unwrap_or(0.0),
            shore_metric(shore_http, &aggregates).unwrap_or(0.0),
        );
        if e > 0.0 && first_full.is_none() {
            first_full = Some((e, a));
        }
        if e >= total as f64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shore wrote {e} samples, {a} aggregates"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (e_first, a_first) = first_full.unwrap();
    eprintln!("[vm downsample] first full-resolution samples seen at shore: {e_first}, aggregates then {a_first}");
    assert_eq!(
        a_first, want_aggregates,
        "every aggregate was at shore before the first full-resolution sample"
    );
    let m = ship.wait_metrics(
        "the backlog drained and the link is good",
        Duration::from_secs(60),
        |m| {
            metric(
                m,
                &format!("seawatch_sync_backlog_events{{ship=\"{SHIP}\"}}"),
            ) == Some(0.0)
                && metric(m, &poor) == Some(0.0)
        },
    );
    let downsampled = (2 * 6 * steps) as f64;
    assert_eq!(metric(&m, &covered), Some(downsampled));
    let bytes = |lane: &str| {
        metric(
            &m,
            &format!("seawatch_sync_bytes_sent_total{{ship=\"{SHIP}\",lane=\"{lane}\"}}"),
        )
        .unwrap_or(0.0)
    };
    eprintln!(
        "[vm downsample] bytes sent: rollups {}, metrics lane {} (the {downsampled} samples of the two families are 1/5 of it)",
        bytes("rollup"),
        bytes("metrics")
    );
    assert!(bytes("rollup") > 0.0);
    ship.terminate(Duration::from_secs(10));

    // VictoriaMetrics may show writes late: read (nocache) until both sets are complete.
    let want = log_samples(&data);
    assert_eq!(want.len() as u64, total);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (raw, agg) = loop {
        let all = vm.values(&format!("{{ship=\"{SHIP}\"}}")).unwrap();
        let (agg, raw): (BTreeMap<_, _>, BTreeMap<_, _>) = all
            .into_iter()
            .partition(|(s, _)| name_of(s).contains(":1m_"));
        let n_raw: usize = raw.values().map(Vec::len).sum();
        let n_agg: usize = agg.values().map(Vec::len).sum();
        if (n_raw as u64 >= total && n_agg as f64 >= want_aggregates) || Instant::now() > deadline {
            break (raw, agg);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let have: BTreeMap<(String, i64), u32> = raw
        .iter()
        .flat_map(|(s, pts)| pts.iter().map(move |(t, _)| (s.clone(), *t)))
        .fold(BTreeMap::new(), |mut m, k| {
            *m.entry(k).or_insert(0) += 1;
            m
        });
    assert_eq!(
        audit(&want, &have),
        (0, 0, 0),
        "full resolution: (missing, doubled, not in the log)"
    );
    // Aggregates: only of the two families, each point once, 12 raw series × 5.
    let mut points = 0usize;
    for (s, pts) in &agg {
        let name = name_of(s);
        assert!(
            name.starts_with("device_metric_0:1m_") || name.starts_with("device_metric_1:1m_"),
            "{name}"
        );
        let ts: std::collections::BTreeSet<i64> = pts.iter().map(|(t, _)| *t).collect();
        assert_eq!(ts.len(), pts.len(), "an aggregate point twice in {s}");
        points += pts.len();
    }
    assert_eq!(agg.len(), 12 * 5);
    assert_eq!(points as f64, want_aggregates);
    // Each raw sample in exactly one `:1m_count`, and max/min agree with the raw series.
    for (s, pts) in raw.iter().filter(|(s, _)| {
        let n = name_of(s);
        n == "device_metric_0" || n == "device_metric_1"
    }) {
        let agg_of = |suffix: &str| {
            let key = s.replace(
                &format!("__name__={}", name_of(s)),
                &format!("__name__={}:1m_{suffix}", name_of(s)),
            );
            agg.get(&key).cloned().unwrap_or_default()
        };
        let count: f64 = agg_of("count").iter().map(|(_, v)| v).sum();
        assert_eq!(count, pts.len() as f64, "{s}");
        let raw_max = pts.iter().map(|(_, v)| *v).fold(f64::MIN, f64::max);
        let agg_max = agg_of("max")
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::MIN, f64::max);
        assert_eq!(raw_max, agg_max, "{s}");
        let raw_min = pts.iter().map(|(_, v)| *v).fold(f64::MAX, f64::min);
        let agg_min = agg_of("min")
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::MAX, f64::min);
        assert_eq!(raw_min, agg_min, "{s}");
    }
    // The device dashboard's aggregates panel shows them (over the hour, 1-minute step).
    let device: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy/grafana/dashboards/device.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let expr = device["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["title"]
                .as_str()
                .unwrap_or("")
                .contains("1-minute aggregates")
        })
        .and_then(|p| p["targets"][0]["expr"].as_str())
        .expect("the device dashboard has an aggregates panel")
        .replace("$ship", SHIP)
        .replace("$device", "sw-0");
    let encoded: String = expr
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let vm_addr: SocketAddr = vm_url.trim_start_matches("http://").parse().unwrap();
    let answer: serde_json::Value = serde_json::from_str(
        &get(
            vm_addr,
            &format!(
                "/api/v1/query_range?query={encoded}&start={}&end={}&step=60&nocache=1",
                t0 / 1000,
                (t0 + 3_600_000) / 1000
            ),
        )
        .unwrap(),
    )
    .unwrap();
    let mut names: Vec<String> = answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metric"]["__name__"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "device_metric_0:1m_max",
            "device_metric_0:1m_mean",
            "device_metric_0:1m_min",
            "device_metric_1:1m_max",
            "device_metric_1:1m_mean",
            "device_metric_1:1m_min"
        ],
        "{expr}: {answer:.300}"
    );
    assert!(
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["values"].as_array().map(Vec::len) == Some(60)),
        "a point a minute over the hour"
    );
    eprintln!(
        "[vm downsample] shore VictoriaMetrics: {} full-resolution samples in {} series once; {points} aggregate points in {} series",
        have.len(),
        series_count(&have),
        agg.len()
    );
    drop(shore);
    drop(ship_server);
    drop(cluster);
}
