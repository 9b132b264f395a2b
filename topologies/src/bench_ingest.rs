//! `seawatch bench ingest` (contracts §5): a loader in a separate process sends RFC 5424
//! over TCP as fast as the ship takes it; the report counts events stored durably in the
//! ship's event log (not read from a socket) and the p99 latency from receipt to the
//! device actor.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seawatch_model::Inventory;
use seawatch_runtime::Clock;
use serde::Serialize;

use crate::config::ShipConfig;
use crate::ship::ShipNode;

/// The `bench ingest` report.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// Events stored durably per second, from the loader's start to the last durable event.
    pub events_per_s: f64,
    /// 99th percentile latency from receipt to the device actor, ms.
    pub p99_event_to_detector_ms: f64,
    /// Median of the same, ms.
    pub p50_event_to_detector_ms: f64,
    /// Cores on this machine (loader and ship share them).
    pub cores: usize,
    /// Transport and format.
    pub source: &'static str,
    /// Events the loader sent (and the ship stored).
    pub events: u64,
    /// Events sent but not stored durably.
    pub lost: u64,
    /// Loader connections.
    pub connections: usize,
    /// Seconds the loader sent for.
    pub secs: u64,
    /// Offered rate, events/s (0: as fast as the ship takes them).
    pub offered_rate: u64,
    /// Event-log bytes on disk per event (compressed).
    pub disk_bytes_per_event: f64,
    /// Events delivered to the device actors per second, from the loader's start to the
    /// last one routed (the router follows the log, so this can trail `events_per_s`).
    pub routed_events_per_s: f64,
    /// Stored events the router did not deliver (counted shedding; 0 expected).
    pub route_shed: u64,
}

/// Builds one connection's repeating block of RFC 5424 lines (~200 bytes each) from
/// 200 device names, newline-framed.
fn block(conn: usize) -> (Vec<u8>, u64) {
    let mut buf = Vec::with_capacity(1000 * 210);
    let mut n = 0;
    for i in 0..1000usize {
        let dev = (conn * 37 + i) % 200;
        let sev = [6u8, 6, 6, 5, 4, 6, 3, 6][i % 8];
        let pri = 16 * 8 + sev;
        let _ = writeln!(
            buf,
            "<{pri}>1 2026-11-30T00:00:00.{:03}Z dev-{dev:03} ifmgr 1{i:03} LINK - Interface GigabitEthernet1/0/{} changed state, seq {i} conn {conn} counters in 18446744 out 92233720",
            i % 1000,
            i % 48
        );
        n += 1;
    }
    (buf, n)
}

/// The loader: `connections` threads write RFC 5424 lines to `addr` for `secs`, at
/// `rate` lines per second in total (0: as fast as the ship takes them). Returns the
/// number of lines sent.
pub fn load(addr: SocketAddr, secs: u64, connections: usize, rate: u64) -> std::io::Result<u64> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let connections = connections.max(1);
    let per_conn_rate = rate as f64 / connections as f64;
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            std::thread::spawn(move || -> std::io::Result<u64> {
                let (buf, per_block) = block(c);
                let mut s = TcpStream::connect(addr)?;
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    if per_conn_rate > 0.0 {
                        // Pace: never ahead of the schedule for this connection.
                        let due = start + Duration::from_secs_f64(sent as f64 / per_conn_rate);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                    }
                    s.write_all(&buf)?;
                    sent += per_block;
                }
                s.flush()?;
                Ok(sent)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h
            .join()
            .map_err(|_| std::io::Error::other("loader thread panicked"))??;
    }
    Ok(total)
}

/// Runs the benchmark with a ship node in this process and the loader in a child process
/// (`exe bench load ...`).
pub async fn run(
    exe: &Path,
    secs: u64,
    connections: usize,
    rate: u64,
) -> Result<IngestReport, String> {
    let dir = tempfile_dir()?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let cfg = ShipConfig {
        data: dir.clone(),
        listen: loopback,
        syslog: loopback,
        ..ShipConfig::default()
    };
    let node = ShipNode::start(&cfg, Inventory::empty(&cfg.ship), Clock::system())
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let child = Command::new(exe)
        .args(["bench", "load", "--addr"])
        .arg(node.syslog_tcp_addr.to_string())
        .args([
            "--secs",
            &secs.to_string(),
            "--connections",
            &connections.to_string(),
        ])
        .args(["--rate", &rate.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the loader: {e}"))?;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("loader failed: {}", output.status));
    }
    let sent: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("loader output: {e}"))?;
    // Every sent event must become durable; give the pipeline time to drain.
    let drained = tokio::time::timeout(
        Duration::from_secs(60 + secs),
        node.metrics.wait_durable(sent),
    )
    .await
    .is_ok();
    let elapsed = started.elapsed();
    let _ = node.sender.barrier().await;
    let routed_elapsed = started.elapsed();
    let durable = node.metrics.durable_total();
    let bytes = node.log.stats().bytes;
    let report = IngestReport {
        events_per_s: durable as f64 / elapsed.as_secs_f64(),
        p99_event_to_detector_ms: node.metrics.latency.quantile_ms(0.99),
        p50_event_to_detector_ms: node.metrics.latency.quantile_ms(0.50),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        source: "syslog-tcp",
        events: sent,
        lost: sent.saturating_sub(durable),
        connections,
        secs,
        offered_rate: rate,
        disk_bytes_per_event: bytes as f64 / durable.max(1) as f64,
        routed_events_per_s: durable as f64 / routed_elapsed.as_secs_f64(),
        route_shed: node.metrics.route_shed_total(),
    };
    if !drained {
        tracing::error!(sent, durable, "not every sent event became durable");
    }
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("seawatch-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
