//! A ship node's HTTP surface: only `/healthz`, `/metrics`, `/api/login` and the UI's
//! static shell answer without a token (contracts §2): every other route of §2 mounted on
//! a ship (incidents, runbook executions and approval, WebSocket, ingest, users) is 401
//! without a token or with a bogus one, and a viewer's token is 403 where the role is too
//! low; the first admin password and the ingest token are files of mode 0600; a login
//! token opens the viewer routes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use seawatch_model::Inventory;
use seawatch_runtime::Clock;
use seawatch_topologies::config::ShipConfig;
use seawatch_topologies::ship::ShipNode;

fn req(addr: SocketAddr, method: &str, path: &str, extra: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read to the end, or for a 101 (the socket stays open) to the end of the headers.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
        let upgraded = out.starts_with(b"HTTP/1.1 101") && out.windows(4).any(|w| w == b"\r\n\r\n");
        if n == 0 || upgraded {
            break;
        }
    }
    let text = String::from_utf8_lossy(&out).to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (text[9..12].parse().unwrap(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_health_metrics_login_and_the_shell_answer_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ShipConfig::parse("ship = \"aurora\"\n", "test").unwrap();
    cfg.data = dir.path().to_path_buf();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog = "127.0.0.1:0".parse().unwrap();
    let node = ShipNode::start(&cfg, Inventory::default(), Clock::system())
        .await
        .unwrap();
    let addr = node.http_addr;
    let data = dir.path().to_path_buf();
    let viewer_token = node.auth.issue("deck", seawatch_console::Role::Viewer);
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::PermissionsExt;
        for f in ["initial-admin-password", "ingest-token", "users.json"] {
            let mode = std::fs::metadata(data.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        assert_eq!(req(addr, "GET", "/healthz", "", "").0, 200);
        assert_eq!(req(addr, "GET", "/metrics", "", "").0, 200);
        assert_eq!(req(addr, "GET", "/", "", "").0, 200);
        let bad = r#"{"user":"admin","password":"x"}"#;
        assert_eq!(req(addr, "POST", "/api/login", "", bad).0, 401);
        let ws = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        for (method, path, extra) in [
            ("GET", "/ws", ws),
            ("GET", "/ws?token=nope", ws),
            ("POST", "/ingest/ndjson", ""),
            ("POST", "/api/v1/write", ""),
            ("POST", "/api/users", ""),
            ("GET", "/api/incidents", ""),
            ("GET", "/api/incidents?state=open", ""),
            ("GET", "/api/runbooks/executions", ""),
            ("POST", "/api/runbooks/executions/aurora-rb-1/approve", ""),
            ("POST", "/api/runbooks/executions/nope/approve", ""),
            ("GET", "/api/notifications", ""),
            ("POST", "/api/assistant/ask", ""),
        ] {
            assert_eq!(req(addr, method, path, extra, "{}").0, 401, "{method} {path}");
            let bogus = "Authorization: Bearer sw_not-a-token\r\n";
            let extra = format!("{extra}{bogus}");
            assert_eq!(req(addr, method, path, &extra, "{}").0, 401, "{method} {path} bogus");
        }
        let pw = std::fs::read_to_string(data.join("initial-admin-password")).unwrap();
        let (code, body) = req(
            addr,
            "POST",
            "/api/login",
            "",
            &format!(r#"{{"user":"admin","password":"{}"}}"#, pw.trim()),
        );
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["role"], "admin");
        let token = v["token"].as_str().unwrap();
        // A viewer reads but does not approve, manage users or write telemetry (403).
        let viewer = format!("Authorization: Bearer {}\r\n", viewer_token);
        for (method, path, want) in [
            ("GET", "/api/incidents", 200),
            ("GET", "/api/runbooks/executions", 200),
            ("POST", "/api/runbooks/executions/aurora-rb-1/approve", 403),
            ("POST", "/api/users", 403),
            ("POST", "/ingest/ndjson", 403),
            ("GET", "/api/notifications", 403),
            // a viewer may ask; `{}` has no question (400), and a real one finds no index
            // in this data folder yet (503)
            ("POST", "/api/assistant/ask", 400),
        ] {
            assert_eq!(req(addr, method, path, &viewer, "{}").0, want, "viewer {method} {path}");
        }
        let (code, body) = req(addr, "POST", "/api/assistant/ask", &viewer, r#"{"question":"rain fade?"}"#);
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("seawatch assistant index"), "{body}");
        // Without [email] the outbox is empty, not missing (contracts §2).
        let admin = format!("Authorization: Bearer {token}\r\n");
        assert_eq!(
            req(addr, "GET", "/api/notifications", &admin, "").1.trim(),
            "[]"
        );
        // With a login token the WebSocket upgrades (101).
        let (code, _) = req(addr, "GET", &format!("/ws?token={token}"), ws, "");
        assert_eq!(code, 101);
        let metrics = req(addr, "GET", "/metrics", "", "").1;
        assert!(metrics.contains(r#"seawatch_auth_logins_total{result="ok"} 1"#), "{metrics}");
        assert!(metrics.contains(r#"seawatch_auth_rejected_total{reason="missing"}"#));
    })
    .await
    .unwrap();
    node.shutdown().await;
}
