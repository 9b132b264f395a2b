//! Network listeners (contracts §2): syslog over TCP (RFC 6587 framing) and UDP, and the
//! HTTP ingest routes `POST /ingest/ndjson` and `POST /api/v1/write`.

use std::net::IpAddr;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use seawatch_runtime::Clock;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::decode::{
    decode_ndjson, decode_remote_write, parse_syslog, NdjsonRecord, SyslogFramer, SyslogOptions,
    DEFAULT_MAX_DECOMPRESSED,
};
use super::pipeline::IngestSender;
use super::record::{IngestBatch, Observation, ObservationExt, Source};

/// Most events a TCP reader gathers before handing a batch to the pipeline.
const TCP_BATCH: usize = 1024;
/// Most datagrams a UDP reader gathers per batch.
const UDP_BATCH: usize = 256;
/// Read buffer reservation per TCP read.
const TCP_READ: usize = 64 * 1024;
/// Largest HTTP ingest body.
pub const MAX_HTTP_BODY: usize = 32 * 1024 * 1024;

fn decode_frame(
    frame: &[u8],
    opts: &SyslogOptions,
    peer: &str,
    source: Source,
    sender: &IngestSender,
    items: &mut Vec<Observation>,
) {
    match parse_syslog(frame, opts) {
        Ok(rec) => match Observation::from_syslog(&rec, opts.now_ms, Some(peer)) {
            Some(obs) => items.push(obs),
            None => sender.metrics().malformed(source, "no_host", frame),
        },
        Err(e) => sender.metrics().malformed(source, e.reason(), frame),
    }
}

/// Serves syslog over TCP on `listener` until this future is dropped; every
/// connection's reader is owned by it and ends with it (a supervised task child runs it,
/// so a restart or a shutdown leaves no reader behind).
pub async fn serve_syslog_tcp(
    listener: TcpListener,
    sender: IngestSender,
    clock: Clock,
) -> std::io::Result<()> {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (sender, clock) = (sender.clone(), clock.clone());
                    connections.spawn(async move {
                        if let Err(e) = tcp_connection(stream, peer.ip(), sender, clock).await {
                            tracing::debug!(%peer, error = %e, "syslog tcp connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "syslog tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            // reap the readers that ended
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn tcp_connection(
    mut stream: TcpStream,
    peer: IpAddr,
    sender: IngestSender,
    clock: Clock,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let peer = peer.to_string();
    let mut framer = SyslogFramer::default();
    loop {
        framer.buffer_mut().reserve(TCP_READ);
        let n = stream.read_buf(framer.buffer_mut()).await?;
        let received = Instant::now();
        let opts = SyslogOptions::at(clock.now_ms());
        let mut items = Vec::with_capacity(TCP_BATCH.min(256));
        let eof = n == 0;
        loop {
            let frame = if eof {
                framer.finish()
            } else {
                framer.next_frame()
            };
            let Some(frame) = frame else { break };
            match frame {
                Ok(bytes) => {
                    decode_frame(&bytes, &opts, &peer, Source::SyslogTcp, &sender, &mut items)
                }
                Err(e) => sender
                    .metrics()
                    .malformed(Source::SyslogTcp, e.reason(), b""),
            }
            if items.len() >= TCP_BATCH {
                let full = std::mem::replace(&mut items, Vec::with_capacity(TCP_BATCH));
                if sender
                    .send(batch(Source::SyslogTcp, received, full))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
        }
        if !items.is_empty()
            && sender
                .send(batch(Source::SyslogTcp, received, items))
                .await
                .is_err()
        {
            return Ok(());
        }
        if eof {
            return Ok(());
        }
    }
}

fn batch(source: Source, received: Instant, items: Vec<Observation>) -> IngestBatch {
    IngestBatch {
        source,
        received,
        items,
        done: None,
        stored: None,
    }
}

/// Serves syslog over UDP on `socket` until this future is dropped.
pub async fn serve_syslog_udp(
    socket: UdpSocket,
    sender: IngestSender,
    clock: Clock,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 65_536];
    {
        loop {
            let (n, peer) = match socket.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "syslog udp receive failed");
                    continue;
                }
            };
            let received = Instant::now();
            let opts = SyslogOptions::at(clock.now_ms());
            let mut items = Vec::new();
            let peer_s = peer.ip().to_string();
            decode_frame(
                &buf[..n],
                &opts,
                &peer_s,
                Source::SyslogUdp,
                &sender,
                &mut items,
            );
            // Drain what is already waiting, without blocking, into the same batch.
            for _ in 1..UDP_BATCH {
                match socket.try_recv_from(&mut buf) {
                    Ok((n, peer)) => {
                        let peer_s = peer.ip().to_string();
                        decode_frame(
                            &buf[..n],
                            &opts,
                            &peer_s,
                            Source::SyslogUdp,
                            &sender,
                            &mut items,
                        );
                    }
                    Err(_) => break,
                }
            }
            // UDP cannot push back: a full queue drops (and counts) these events.
            let _ = sender.try_send(batch(Source::SyslogUdp, received, items));
        }
    }
}

#[derive(Clone)]
struct HttpIngest {
    sender: IngestSender,
    clock: Clock,
}

/// The HTTP ingest routes, to merge into a node's HTTP server.
pub fn http_routes(sender: IngestSender, clock: Clock) -> Router {
    Router::new()
        .route("/ingest/ndjson", post(ndjson))
        .route("/api/v1/write", post(remote_write))
        .layer(DefaultBodyLimit::max(MAX_HTTP_BODY))
        .with_state(HttpIngest { sender, clock })
}

async fn ndjson(State(s): State<HttpIngest>, body: Bytes) -> impl IntoResponse {
    let received = Instant::now();
    let now = s.clock.now_ms();
    let decoded = decode_ndjson(&body);
    let mut items = Vec::with_capacity(decoded.records.len());
    for rec in decoded.records {
        items.push(match rec {
            NdjsonRecord::Log(l) => Observation::log(
                &l.host,
                l.ts_ms.unwrap_or(now),
                l.severity,
                l.app.as_deref().unwrap_or(""),
                &l.message,
            ),
            NdjsonRecord::Metric(mut m) => {
                if m.ts_ms == 0 {
                    m.ts_ms = now;
                }
                Observation::from_metric(m)
            }
        });
    }
    let errors: Vec<serde_json::Value> = decoded
        .errors
        .iter()
        .map(|e| {
            s.sender
                .metrics()
                .malformed(Source::Ndjson, e.error.reason(), e.detail.as_bytes());
            serde_json::json!({"line": e.line, "error": e.error.reason(), "detail": e.detail})
        })
        .collect();
    let accepted = items.len();
    if s.sender
        .send_durable(batch(Source::Ndjson, received, items))
        .await
        .is_err()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": "ingest pipeline closed"})),
        );
    }
    let status = if accepted == 0 && !errors.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let shown: Vec<_> = errors.iter().take(20).cloned().collect();
    (
        status,
        Json(serde_json::json!({"accepted": accepted, "rejected": errors.len(), "errors": shown})),
    )
}

async fn remote_write(State(s): State<HttpIngest>, body: Bytes) -> impl IntoResponse {
    let received = Instant::now();
    match decode_remote_write(&body, DEFAULT_MAX_DECOMPRESSED) {
        Ok(batch_in) => {
            let items: Vec<Observation> = batch_in
                .samples
                .into_iter()
                .filter(|m| !m.device.is_empty())
                .map(Observation::from_metric)
                .collect();
            match s
                .sender
                .send_durable(batch(Source::RemoteWrite, received, items))
                .await
            {
                Ok(()) => (StatusCode::NO_CONTENT, String::new()),
                Err(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ingest pipeline closed\n".to_string(),
                ),
            }
        }
        Err(e) => {
            s.sender.metrics().malformed(
                Source::RemoteWrite,
                e.reason(),
                &body[..body.len().min(64)],
            );
            (StatusCode::BAD_REQUEST, format!("remote write: {e}\n"))
        }
    }
}
