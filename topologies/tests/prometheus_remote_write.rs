//! Real Prometheus remote write into `seawatch ship`.
//!
//! A throwaway Prometheus (`deploy/scripts/prometheus-test-server.sh`, installing Debian's
//! `prometheus` if missing) scrapes every second the ship's own `/metrics` and a tiny
//! exporter this test serves with device and modem metrics, and remote-writes everything to
//! the ship's `POST /api/v1/write`. The ship counts the samples and stores them in its event
//! log as Metric events of the device named by the `device` label (else `instance` without
//! its port). If Prometheus cannot be had the test prints `SKIPPED: ...` and passes, unless
//! `CI=true`, where it fails.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use seawatch_runtime::event_log::EventKind;
use support::*;

/// What the exporter serves: labels as real exporters set them.
const EXPOSITION: &str = "\
# HELP device_cpu_percent CPU use of the device.
# TYPE device_cpu_percent gauge
device_cpu_percent{device=\"core-sw-1\"} 42
# HELP modem_esno_db Es/No of the satellite modem.
# TYPE modem_esno_db gauge
modem_esno_db{device=\"modem-1\",link=\"vsat-1\"} 9.5
";

/// Serves [`EXPOSITION`] on a loopback port from a background thread (for the whole test
/// process; it holds no resources worth reclaiming).
fn serve_exporter() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{EXPOSITION}",
                EXPOSITION.len()
            );
        }
    });
    addr
}

/// The timestamp (unix seconds) of the newest sample of `query` in Prometheus, if any.
fn sample_ts(prom: SocketAddr, query: &str) -> Option<f64> {
    let body = get(prom, &format!("/api/v1/query?query={query}")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"].get(0)?["value"].get(0)?.as_f64()
}

#[test]
fn prometheus_remote_write_reaches_the_event_log() {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(60);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ship = ShipProc::start(&data, None);
    let exporter = serve_exporter();

    let config = format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: seawatch
    static_configs:
      - targets: ['{ship}']
  - job_name: devices
    static_configs:
      - targets: ['{exporter}']
remote_write:
  - url: http://{ship}/api/v1/write
    authorization:
      credentials_file: {token}
    queue_config:
      batch_send_deadline: 1s
      max_shards: 1
      min_backoff: 100ms
      max_backoff: 1s
",
        ship = ship.http,
        token = data.join("ingest-token").display()
    );
    let prom = match Prometheus::start(&config) {
        Ok(p) => p,
        Err(reason) => return skip_or_fail(&reason),
    };
    let version = prom.run("version").unwrap_or_default();

    // 1. Prometheus scraped the exporter: the newest device_cpu_percent sample's time.
    let scraped_at = loop {
        if let Some(ts) = sample_ts(prom.addr(), "device_cpu_percent") {
            break ts;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the exporter:\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // 2. ...and remote-wrote past that sample: its queue's highest sent timestamp (scraped
    //    from Prometheus' own /metrics) is at or after it. Then the ship has it.
    let sent_past = |prom: SocketAddr| {
        get(prom, "/metrics").ok().is_some_and(|t| {
            metric_sum(
                &t,
                "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
                &[],
            ) >= scraped_at
        })
    };
    while !sent_past(prom.addr()) {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not remote-write the sample of {scraped_at} within 60 s:\n{}\n{}",
            prom.log(),
            ship.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = ship.metrics();
    let received = ingested(&text, "remote-write");
    assert!(received > 0, "no remote-write samples counted:\n{text}");
    assert_eq!(
        metric_sum(
            &text,
            "seawatch_ingest_malformed_total",
            &["source=\"remote-write\""]
        ),
        0.0,
        "Prometheus' requests decode:\n{text}"
    );
    let failed = get(prom.addr(), "/metrics")
        .map(|t| metric_sum(&t, "prometheus_remote_storage_samples_failed_total", &[]))
        .unwrap_or(0.0);
    assert_eq!(failed, 0.0, "Prometheus saw failed sends:\n{}", prom.log());
    drop(prom);

    // 3. The stored events (read after a clean stop).
    let status = ship.terminate(Duration::from_secs(10));
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let log = open_log(&data);
    let events = read_all(&log);
    assert_dense(&events);
    let metrics: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Metric)
        .collect();
    assert!(
        metrics.len() as u64 >= received,
        "{received} counted, {} stored",
        metrics.len()
    );
    let cpu = metrics
        .iter()
        .find(|e| e.source == "core-sw-1" && e.body.starts_with("device_cpu_percent"))
        .unwrap_or_else(|| {
            panic!(
                "no device_cpu_percent from core-sw-1 among {} metric events",
                metrics.len()
            )
        });
    assert!(cpu.body.ends_with(" 42"), "{:?}", cpu.body);
    let esno = metrics
        .iter()
        .find(|e| e.source == "modem-1" && e.body.starts_with("modem_esno_db"))
        .expect("modem_esno_db from modem-1");
    assert!(
        esno.body.contains("link=\"vsat-1\"") && esno.body.ends_with(" 9.5"),
        "{:?}",
        esno.body
    );
    // The ship's own metrics, attributed to `instance` without its port.
    assert!(
        metrics
            .iter()
            .any(|e| e.source == "127.0.0.1" && e.body.starts_with("seawatch_")),
        "the ship's own series, device 127.0.0.1"
    );
    eprintln!(
        "[prometheus] {version}: {received} samples remote-written, {} metric events stored \
         (core-sw-1: {:?}); {:.1} s",
        metrics.len(),
        cpu.body,
        t0.elapsed().as_secs_f64()
    );
}
