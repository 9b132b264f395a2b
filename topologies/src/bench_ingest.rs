//! `seawatch bench ingest` (contracts §5): a loader in a separate process sends RFC 5424
//! over TCP as fast as the ship takes it; the report counts events stored durably in the
//! ship's event log (not read from a socket) and the p99 latency from receipt to the
//! device actor.
//!
//! `--source remote-write` makes the loader send device samples by Prometheus remote write
//! (`POST /api/v1/write`, 1,000 samples a request) instead, and `--victoriametrics URL`
//! runs the ship with its VictoriaMetrics exporter (decision 0043); the report then says
//! how many samples the exporter wrote and when it caught up.

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
    /// With `--victoriametrics`: what the exporter did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victoriametrics: Option<VmBenchReport>,
}

/// The exporter's part of a `bench ingest --victoriametrics` run.
#[derive(Debug, Clone, Serialize)]
pub struct VmBenchReport {
    /// Samples VictoriaMetrics confirmed during the run.
    pub exported: u64,
    /// Events of the log not confirmed when the run ended (0: caught up).
    pub lag_events: u64,
    /// Seconds from the loader's start until the exporter had confirmed every event
    /// (null if it did not within the wait).
    pub caught_up_s: Option<f64>,
}

/// What the loader sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// RFC 5424 lines over TCP.
    SyslogTcp,
    /// Prometheus remote write over HTTP.
    RemoteWrite,
}

impl LoadSource {
    /// Parses `syslog-tcp` or `remote-write`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "syslog-tcp" => Ok(Self::SyslogTcp),
            "remote-write" => Ok(Self::RemoteWrite),
            other => Err(format!(
                "--source: expected syslog-tcp or remote-write, got {other:?}"
            )),
        }
    }

    /// The report's `source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SyslogTcp => "syslog-tcp",
            Self::RemoteWrite => "remote-write",
        }
    }
}

/// Samples in one remote-write request of the loader.
const RW_BATCH: u64 = 1_000;

/// One remote-write request: 1,000 samples of 1,000 series of connection `conn` (200
/// devices × 5 metrics), all at `ts_ms`.
fn rw_body(conn: usize, ts_ms: i64, round: u64) -> Vec<u8> {
    use seawatch_actors::ingest::decode::{
        encode_write_request, Label, Sample, TimeSeries, WriteRequest,
    };
    let timeseries = (0..RW_BATCH)
        .map(|i| {
            let label = |name: &str, value: String| Label {
                name: name.into(),
                value,
            };
            TimeSeries {
                labels: vec![
                    label("__name__", format!("bench_metric_{}", i % 5)),
                    label("device", format!("c{conn}-dev-{:03}", i / 5)),
                    label("job", "bench".into()),
                ],
                samples: vec![Sample {
                    value: (round * RW_BATCH + i) as f64,
                    timestamp: ts_ms,
                }],
            }
        })
        .collect();
    encode_write_request(&WriteRequest { timeseries })
}

/// Reads one HTTP/1.1 response off `s` (status line, headers, a `Content-Length` body);
/// its status.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    use std::io::Read;
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed mid-response"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed mid-body"));
        }
        have += n;
    }
    Ok(status)
}

/// The remote-write loader: `connections` threads post 1,000-sample requests to the
/// ship's `POST /api/v1/write` at `addr` with `token` for `secs`, at `rate` samples per
/// second in total (0: as fast as the ship takes them). Each request has a new
/// timestamp, so no sample repeats. Returns the samples the ship accepted.
pub fn load_remote_write(
    addr: SocketAddr,
    token: &str,
    secs: u64,
    connections: usize,
    rate: u64,
) -> std::io::Result<u64> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let connections = connections.max(1);
    let per_conn_rate = rate as f64 / connections as f64;
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
        - 3_600_000;
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let token = token.to_owned();
            std::thread::spawn(move || -> std::io::Result<u64> {
                let mut s = TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                let mut resp = Vec::new();
                let mut sent = 0u64;
                let mut round = 0u64;
                while Instant::now() < deadline {
                    if per_conn_rate > 0.0 {
                        let due = start + Duration::from_secs_f64(sent as f64 / per_conn_rate);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                    }
                    // One request per millisecond of sample time, an hour ago onwards.
                    let body = rw_body(c, t0 + round as i64, round);
                    write!(
                        s,
                        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )?;
                    s.write_all(&body)?;
                    let status = read_response(&mut s, &mut resp)?;
                    if !(200..300).contains(&status) {
                        return Err(std::io::Error::other(format!(
                            "POST /api/v1/write: {status}"
                        )));
                    }
                    sent += RW_BATCH;
                    round += 1;
                }
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
    source: LoadSource,
    victoriametrics: Option<String>,
) -> Result<IngestReport, String> {
    let dir = tempfile_dir()?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let cfg = ShipConfig {
        data: dir.clone(),
        listen: loopback,
        syslog: loopback,
        victoriametrics: victoriametrics.map(|url| crate::config::VictoriaMetricsSection { url }),
        ..ShipConfig::default()
    };
    let node = ShipNode::start(&cfg, Inventory::empty(&cfg.ship), Clock::system())
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "load", "--addr"]);
    match source {
        LoadSource::SyslogTcp => cmd.arg(node.syslog_tcp_addr.to_string()),
        LoadSource::RemoteWrite => {
            let token = std::fs::read_to_string(dir.join("ingest-token"))
                .map_err(|e| format!("ingest token: {e}"))?;
            cmd.arg(node.http_addr.to_string()).args([
                "--source",
                "remote-write",
                "--token",
                token.trim(),
            ])
        }
    };
    let child = cmd
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
    let victoriametrics = match &cfg.victoriametrics {
        None => None,
        Some(_) => Some(wait_exported(&node, &cfg.ship, started, secs).await),
    };
    let report = IngestReport {
        events_per_s: durable as f64 / elapsed.as_secs_f64(),
        p99_event_to_detector_ms: node.metrics.latency.quantile_ms(0.99),
        p50_event_to_detector_ms: node.metrics.latency.quantile_ms(0.50),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        source: source.as_str(),
        events: sent,
        lost: sent.saturating_sub(durable),
        connections,
        secs,
        offered_rate: rate,
        disk_bytes_per_event: bytes as f64 / durable.max(1) as f64,
        routed_events_per_s: durable as f64 / routed_elapsed.as_secs_f64(),
        route_shed: node.metrics.route_shed_total(),
        victoriametrics,
    };
    if !drained {
        tracing::error!(sent, durable, "not every sent event became durable");
    }
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

/// Waits (bounded) until the VictoriaMetrics exporter has confirmed every event; what it
/// did, from the node's `seawatch_victoriametrics_*` metrics.
async fn wait_exported(node: &ShipNode, ship: &str, started: Instant, secs: u64) -> VmBenchReport {
    let read = |name: &str| {
        let text = node.runtime.metrics().encode();
        let series = format!("{name}{{ship=\"{ship}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str())?.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    let deadline = Instant::now() + Duration::from_secs(60 + secs);
    let mut caught_up_s = None;
    while Instant::now() < deadline {
        // The exporter's lag counts against the log's durable end as of its last poll;
        // the log's own end is checked too.
        let exported_to = node.log.durable_next_seq().saturating_sub(1);
        if read("seawatch_victoriametrics_lag_events") == 0 && exported_to > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if read("seawatch_victoriametrics_lag_events") == 0
                && node.log.durable_next_seq().saturating_sub(1) == exported_to
            {
                caught_up_s = Some(started.elapsed().as_secs_f64());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    VmBenchReport {
        exported: read("seawatch_victoriametrics_exported_total"),
        lag_events: read("seawatch_victoriametrics_lag_events"),
        caught_up_s,
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("seawatch-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
