//! `GET /api/logs` behind the console's auth (contracts §2): 401 without a token, a viewer
//! searches with words, phrases, `device:`, `severity:` and time ranges, newest first; bad
//! queries are 400s with a message and counted by reason.

use std::path::Path;

use seawatch_actors::ingest::pipeline::PipelineConfig;
use seawatch_actors::log_service::LogService;
use seawatch_actors::store::IndexConfig;
use seawatch_runtime::event_log::{EventKind, EventLog, EventLogConfig, FsyncPolicy, NewEvent};
use seawatch_runtime::{Clock, Metrics};

use crate::auth::{Auth, AuthConfig, Role};
use crate::logs::{LogLine, LogSearch, LogSearchMetrics};
use crate::metrics::ConsoleMetrics;
use crate::testutil::{http, serve};

/// 2025-03-14T06:00:00Z.
const T0: i64 = 1_741_932_000_000;

fn auth(dir: &Path, clock: Clock) -> Auth {
    let m = Metrics::new();
    Auth::open(
        dir,
        &AuthConfig::default(),
        clock,
        ConsoleMetrics::register(&m),
    )
    .unwrap()
}

/// A ship log: 600 lines over the ten minutes before T0 + 10 min, from three devices.
fn ship_log(dir: &Path, ship: &str) -> LogService {
    let mut cfg = EventLogConfig::new(ship);
    cfg.fsync = FsyncPolicy::Never;
    let mut log = EventLog::open(dir, cfg).unwrap();
    let lines: Vec<NewEvent> = (0..600)
        .map(|i| {
            let dev = ["core-sw-1", "dist-sw-2", "ap-7"][i % 3];
            let (severity, body) = match i % 10 {
                0 => (
                    3,
                    format!(
                        "%LINK-3-UPDOWN: Interface ge-0/0/{} changed state to down",
                        i % 4
                    ),
                ),
                5 => (4, format!("fan {} speed high", i % 2)),
                _ => (6, format!("sshd[{i}]: Accepted publickey for ops")),
            };
            NewEvent {
                ts_ms: T0 + i as i64 * 1000,
                kind: EventKind::Log,
                source: dev.into(),
                severity,
                body,
            }
        })
        .chain(std::iter::once(NewEvent {
            ts_ms: T0 + 5_000,
            kind: EventKind::Metric,
            source: "core-sw-1".into(),
            severity: 3,
            body: r#"{"name":"cpu","value":99} down"#.into(),
        }))
        .collect();
    log.append_batch(lines).unwrap();
    log.sync().unwrap();
    LogService::new(log, &PipelineConfig::default())
}

fn get(v: &str) -> Vec<LogLine> {
    serde_json::from_str(v).unwrap_or_else(|e| panic!("{e}: {v}"))
}

fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn viewer_searches_the_log_and_bad_queries_are_400() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0 + 600_000);
    let auth = auth(dir.path(), clock.clone());
    let metrics = Metrics::new();
    let log = ship_log(&dir.path().join("log"), "aurora");
    let search = LogSearch::new(
        vec![log.reader()],
        IndexConfig {
            block_events: 64,
            max_entries: 200,
            ..IndexConfig::default()
        },
        clock,
        LogSearchMetrics::register(&metrics),
    );
    let addr = serve(auth.protect(Role::Viewer, search.routes())).await;
    let viewer = auth.issue("deck", Role::Viewer);

    // No token, no lines.
    assert_eq!(http(addr, "GET", "/api/logs", None, "").await.0, 401);

    // Default: the last hour, newest first, 100 lines, log lines only.
    let (code, body) = http(addr, "GET", "/api/logs", Some(&viewer), "").await;
    assert_eq!(code, 200, "{body}");
    let lines = get(&body);
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[0].seq, 600);
    assert_eq!(lines[0].ship, "aurora");
    assert_eq!(lines[0].ts, "2025-03-14T06:09:59.000Z");
    assert!(lines.windows(2).all(|w| w[0].ts >= w[1].ts));
    let raw: serde_json::Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&String> = raw[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["device", "seq", "severity", "ship", "text", "ts"]);

    // Words, a phrase, a device and a severity (that level or worse).
    let q = enc(r#"changed "state to down" device:core-sw-1 severity:error"#);
    let (code, body) = http(
        addr,
        "GET",
        &format!("/api/logs?q={q}&limit=1000&from=2025-03-14T06:00:00Z"),
        Some(&viewer),
        "",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let lines = get(&body);
    // i % 10 == 0 and i % 3 == 0: i % 30 == 0, 20 lines.
    assert_eq!(lines.len(), 20);
    assert!(lines
        .iter()
        .all(|l| l.device == "core-sw-1" && l.severity == "error" && l.text.contains("down")));
    let (_, body) = http(
        addr,
        "GET",
        &format!("/api/logs?q={}&limit=1000", enc("severity:warning -ssh")),
        Some(&viewer),
        "",
    )
    .await;
    let lines = get(&body);
    assert_eq!(lines.len(), 120);
    assert!(lines.iter().any(|l| l.severity == "warning"));
    assert!(lines.iter().any(|l| l.severity == "error"));
    // A word is a whole token: "publickey" matches, "public" does not.
    for (word, n) in [("publickey", 480), ("public", 0), ("ge-0/0/2", 30)] {
        let (_, body) = http(
            addr,
            "GET",
            &format!("/api/logs?q={}&limit=1000&ship=aurora", enc(word)),
            Some(&viewer),
            "",
        )
        .await;
        assert_eq!(get(&body).len(), n, "{word}");
    }
    // The device parameter, a relative window and kind:any (the metric sample shows).
    let (_, body) = http(
        addr,
        "GET",
        "/api/logs?device=core-sw-1&from=-1h&to=2025-03-14T06:00:06Z&q=kind%3Aany",
        Some(&viewer),
        "",
    )
    .await;
    let lines = get(&body);
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [601, 4, 1]);

    // Bad queries: a message and a counted reason, never a 500.
    for (path, status, msg) in [
        ("/api/logs?q=%22down", 400, "unterminated quote"),
        ("/api/logs?q=severity%3Aloud", 400, "severity:loud"),
        ("/api/logs?limit=5000", 400, "limit=5000"),
        ("/api/logs?limit=x", 400, "limit=x"),
        ("/api/logs?from=yesterday", 400, "from=yesterday"),
        ("/api/logs?from=-1h&to=-2h", 400, "from must be before to"),
        ("/api/logs?device=a&q=device%3Ab", 400, "disagree"),
        ("/api/logs?ship=nope", 404, "no ship nope"),
    ] {
        let (code, body) = http(addr, "GET", path, Some(&viewer), "").await;
        assert_eq!(code, status, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains(msg), "{path}: {body}");
    }
    let text = metrics.encode();
    for line in [
        "seawatch_log_bad_queries_total{reason=\"syntax\"} 1",
        "seawatch_log_bad_queries_total{reason=\"limit\"} 2",
        "seawatch_log_bad_queries_total{reason=\"time\"} 2",
        "seawatch_log_bad_queries_total{reason=\"too_long\"} 0",
        "seawatch_log_queries_total{result=\"bad_request\"} 8",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[tokio::test]
async fn a_shore_without_clickhouse_says_log_search_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let auth = auth(dir.path(), Clock::manual(T0));
    let addr = serve(auth.protect(Role::Viewer, crate::logs::not_configured_routes())).await;
    assert_eq!(http(addr, "GET", "/api/logs", None, "").await.0, 401);
    let viewer = auth.issue("deck", Role::Viewer);
    let (code, body) = http(addr, "GET", "/api/logs?q=down", Some(&viewer), "").await;
    assert_eq!(code, 501, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("ClickHouse") && msg.contains("[clickhouse]"),
        "{msg}"
    );
}
