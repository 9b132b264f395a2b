//! `seawatch bench ws` (hidden): push latency to many WebSocket sessions of one ship node
//! while ingest runs at a fixed rate.
//!
//! The ship node runs in this process; the syslog loader (`bench load`) and the WebSocket
//! clients (`bench ws-clients`, one current-thread runtime) are child processes, so the
//! clients' work is not counted as the node's. Each push carries the publisher's wall
//! time (`sent_us`); a client measures latency on receipt against the same machine clock.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use seawatch_actors::push::{Push, PushKind};
use seawatch_console::Role;
use seawatch_model::Inventory;
use seawatch_runtime::Clock;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::config::ShipConfig;
use crate::ship::ShipNode;

/// The `bench ws` report: the same sessions and pushes measured twice in one invocation,
/// first with no ingest (the peer), then under the offered ingest load.
#[derive(Debug, Clone, Serialize)]
pub struct WsReport {
    /// WebSocket sessions open during each run.
    pub sessions: usize,
    /// Pushes published per second.
    pub pushes_per_s: u64,
    /// Seconds of publishing per run.
    pub secs: u64,
    /// Cores on this machine (node, loader and clients share them).
    pub cores: usize,
    /// The machine's 1-minute load average when the invocation started and ended (other
    /// work on the machine shows here).
    pub load_avg_1m: [f64; 2],
    /// Under ingest load.
    pub loaded: WsRun,
    /// The same with no ingest.
    pub idle: WsRun,
    /// `loaded.p99_push_ms / idle.p99_push_ms`.
    pub p99_ratio_loaded_to_idle: f64,
}

/// One run of `bench ws`.
#[derive(Debug, Clone, Serialize)]
pub struct WsRun {
    /// Pushes published.
    pub pushes: u64,
    /// Messages the sessions received (ideally sessions × pushes).
    pub delivered: u64,
    /// Snapshots received in place of lost deltas.
    pub snapshots: u64,
    /// Push latency, publish to client receipt, ms: median.
    pub p50_push_ms: f64,
    /// 99th percentile.
    pub p99_push_ms: f64,
    /// Maximum.
    pub max_push_ms: f64,
    /// Offered ingest rate, events/s.
    pub ingest_offered_rate: u64,
    /// Events stored durably per second during the publishing window.
    pub ingest_durable_per_s: f64,
}

/// What `bench ws-clients` prints when done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientsResult {
    /// Push messages received.
    pub received: u64,
    /// Snapshot messages received after the first.
    pub snapshots: u64,
    /// Latencies in ms, quantiles 0.5, 0.99, 1.0.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

/// The clients' side: `sessions` sessions subscribed to `ship`; prints `ready` once all
/// have their first snapshot, then the [`ClientsResult`] JSON once `expect` pushes reached
/// every session or `deadline_s` passed.
pub async fn clients(
    addr: SocketAddr,
    token: &str,
    ship: &str,
    sessions: usize,
    expect: u64,
    deadline_s: u64,
) -> Result<ClientsResult, String> {
    let url = format!("ws://{addr}/ws?token={token}");
    let sub = serde_json::json!({"type": "subscribe", "ship": ship}).to_string();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(sessions.max(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(deadline_s);
    let mut tasks = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let (url, sub, ready) = (url.clone(), sub.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .map_err(|e| e.to_string())?;
            ws.send(Message::text(sub))
                .await
                .map_err(|e| e.to_string())?;
            let mut lat = Vec::with_capacity(expect as usize);
            let (mut received, mut snapshots, mut first) = (0u64, 0u64, true);
            while received < expect {
                let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
                    Ok(Some(Ok(m))) => m,
                    _ => break,
                };
                let Message::Text(t) = msg else { continue };
                // Only the fields needed, without a full parse: the clients must stay cheap.
                let t = t.as_str();
                if t.starts_with(r#"{"type":"snapshot""#) || t.contains(r#""type":"snapshot""#) {
                    if first {
                        first = false;
                        let _ = ready.send(()).await;
                    } else {
                        snapshots += 1;
                    }
                    continue;
                }
                let sent = t
                    .split_once(r#""sent_us":"#)
                    .and_then(|(_, rest)| rest.split([',', '}']).next())
                    .and_then(|n| n.trim().parse::<u64>().ok());
                if let Some(sent) = sent {
                    lat.push(now_us().saturating_sub(sent));
                    received += 1;
                }
            }
            let _ = ws.close(None).await;
            Ok::<_, String>((lat, snapshots))
        }));
    }
    drop(ready_tx);
    for _ in 0..sessions {
        if ready_rx.recv().await.is_none() {
            return Err("a session ended before its first snapshot".into());
        }
    }
    println!("ready");
    let mut all = Vec::new();
    let mut snapshots = 0;
    for t in tasks {
        let (lat, s) = t.await.map_err(|e| e.to_string())??;
        all.extend(lat);
        snapshots += s;
    }
    all.sort_unstable();
    Ok(ClientsResult {
        received: all.len() as u64,
        snapshots,
        p50_ms: quantile(&all, 0.5),
        p99_ms: quantile(&all, 0.99),
        max_ms: quantile(&all, 1.0),
    })
}

fn load_avg_1m() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Runs the benchmark: node here, loader and clients as child processes of `exe`; first
/// without ingest, then with `ingest_rate`, each on a fresh node.
pub async fn run(
    exe: &Path,
    sessions: usize,
    secs: u64,
    pushes_per_s: u64,
    ingest_rate: u64,
) -> Result<WsReport, String> {
    let load0 = load_avg_1m();
    let idle = run_once(exe, sessions, secs, pushes_per_s, 0).await?;
    eprintln!(
        "bench ws: idle ingest: p50 {:.1} ms, p99 {:.1} ms",
        idle.p50_push_ms, idle.p99_push_ms
    );
    let loaded = run_once(exe, sessions, secs, pushes_per_s, ingest_rate).await?;
    eprintln!(
        "bench ws: ingest {} ev/s offered, {:.0} durable: p50 {:.1} ms, p99 {:.1} ms",
        ingest_rate, loaded.ingest_durable_per_s, loaded.p50_push_ms, loaded.p99_push_ms
    );
    Ok(WsReport {
        sessions,
        pushes_per_s,
        secs,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_avg_1m: [load0, load_avg_1m()],
        p99_ratio_loaded_to_idle: if idle.p99_push_ms > 0.0 {
            loaded.p99_push_ms / idle.p99_push_ms
        } else {
            f64::NAN
        },
        loaded,
        idle,
    })
}

async fn run_once(
    exe: &Path,
    sessions: usize,
    secs: u64,
    pushes_per_s: u64,
    ingest_rate: u64,
) -> Result<WsRun, String> {
    let dir = std::env::temp_dir().join(format!("seawatch-bench-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
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
    let token = node.auth.issue("bench", Role::Viewer);
    let pushes = pushes_per_s * secs;
    let mut clients = Command::new(exe)
        .args(["bench", "ws-clients", "--addr"])
        .arg(node.http_addr.to_string())
        .args(["--token", &token, "--ship", &cfg.ship])
        .args(["--sessions", &sessions.to_string()])
        .args(["--expect", &pushes.to_string()])
        .args(["--deadline-s", &(secs + 60).to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the clients: {e}"))?;
    let stdout = clients.stdout.take().ok_or("clients: no stdout")?;
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(120), lines.recv()).await {
        Ok(Some(l)) if l == "ready" => {}
        other => return Err(format!("clients did not get ready: {other:?}")),
    }
    let loader = if ingest_rate > 0 {
        Some(
            Command::new(exe)
                .args(["bench", "load", "--addr"])
                .arg(node.syslog_tcp_addr.to_string())
                .args(["--secs", &secs.to_string(), "--connections", "4"])
                .args(["--rate", &ingest_rate.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("cannot start the loader: {e}"))?,
        )
    } else {
        None
    };
    let durable0 = node.metrics.durable_total();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / pushes_per_s.max(1)));
    for i in 0..pushes {
        tick.tick().await;
        node.push.publish(Push {
            kind: PushKind::Link,
            ship: Some(cfg.ship.clone()),
            body: serde_json::json!({"ship": cfg.ship, "link": "vsat-1", "seq": i,
                "state": "up", "risk": 0.1, "sent_us": now_us()}),
        });
    }
    let window = started.elapsed();
    let durable = node.metrics.durable_total().saturating_sub(durable0);
    let result = match tokio::time::timeout(Duration::from_secs(secs + 90), lines.recv()).await {
        Ok(Some(l)) => {
            serde_json::from_str::<ClientsResult>(&l).map_err(|e| format!("{e}: {l}"))?
        }
        other => return Err(format!("clients gave no result: {other:?}")),
    };
    let _ = tokio::task::spawn_blocking(move || {
        let _ = clients.wait();
        if let Some(mut l) = loader {
            let _ = l.wait();
        }
    })
    .await;
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(WsRun {
        pushes,
        delivered: result.received,
        snapshots: result.snapshots,
        p50_push_ms: result.p50_ms,
        p99_push_ms: result.p99_ms,
        max_push_ms: result.max_ms,
        ingest_offered_rate: ingest_rate,
        ingest_durable_per_s: durable as f64 / window.as_secs_f64(),
    })
}
