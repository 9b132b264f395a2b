//! The `http` driver: a step's command is one request to the device's HTTP API at the
//! target's `address` (`host:port` in the targets file).
//!
//! ```text
//! POST /rest/interfaces/Gi1%2F0%2F7/shutdown      ← method and path (first line)
//! Content-Type: application/json                 ← optional header lines
//!                                                ← a blank line, then the body
//! {"reason":"SOP-IT-09"}
//! ```
//!
//! The step's output is `HTTP <status>` on the first line and the response body after it,
//! so a step's `expect` can match either. A status outside 2xx fails the step, as do a
//! refused connection and the step's timeout. A bearer token for the target, if any, is
//! read from `DATA/http/tokens/<target>` at each request and sent as `Authorization`;
//! it is never part of the plan, the audit log or an error. Plain HTTP only: a device API
//! that needs TLS is reached through the `ssh` driver (e.g. `curl` on a jump host) until
//! the node has a TLS client for it.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::exec::{Driver, TargetAccess};

/// Most bytes of a response body kept as a step's output.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Methods a step may use.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A parsed step command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Starts with `/`.
    pub path: String,
    /// Header lines, in order.
    pub headers: Vec<(String, String)>,
    /// The body (may be empty).
    pub body: String,
}

/// Parses a step's command (see the module docs); the error says what is wrong.
pub fn parse_call(command: &str) -> Result<HttpCall, String> {
    let mut lines = command.split('\n').map(|l| l.trim_end_matches('\r'));
    let first = lines.next().unwrap_or_default().trim();
    let (method, path) = first
        .split_once(char::is_whitespace)
        .map(|(m, p)| (m.trim(), p.trim()))
        .ok_or_else(|| format!("http: first line {first:?}: expected METHOD /path"))?;
    if !METHODS.contains(&method) {
        return Err(format!(
            "http: method {method:?}: expected one of {}",
            METHODS.join(", ")
        ));
    }
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(format!(
            "http: path {path:?}: expected an absolute path without spaces"
        ));
    }
    let mut headers = Vec::new();
    let mut body = Vec::new();
    let mut in_body = false;
    for line in lines {
        if in_body {
            body.push(line);
        } else if line.trim().is_empty() {
            in_body = true;
        } else {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| format!("http: header {line:?}: expected Name: value"))?;
            let k = k.trim();
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("http: header name {k:?}: letters, digits and -"));
            }
            if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("host") {
                return Err(format!(
                    "http: header {k}: set by the driver (tokens live in DATA/http/tokens)"
                ));
            }
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
    Ok(HttpCall {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body: body.join("\n"),
    })
}

/// The http driver.
#[derive(Clone)]
pub struct HttpDriver {
    tokens: PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for HttpDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDriver")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl HttpDriver {
    /// The driver for a node's data folder (tokens in `DATA/http/tokens/<target>`).
    pub fn in_data(data: &std::path::Path) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(Duration::from_secs(10)));
        conn.set_nodelay(true);
        Self {
            tokens: data.join("http/tokens"),
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(conn),
        }
    }

    async fn call(&self, target: &TargetAccess, command: &str) -> Result<String, String> {
        let id = &target.id;
        let addr = target
            .address
            .as_deref()
            .ok_or_else(|| format!("http {id}: no address in the targets file"))?;
        let c = parse_call(command).map_err(|e| format!("{id}: {e}"))?;
        let uri = format!("http://{addr}{}", c.path);
        let mut req = hyper::Request::builder()
            .method(c.method.as_str())
            .uri(&uri)
            .header("user-agent", "seawatch-runbook");
        for (k, v) in &c.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        // a token file named after the target id (ids are [A-Za-z0-9._-] in inventories;
        // anything else gets no token rather than a path outside the folder)
        if id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && id != ".."
        {
            if let Ok(t) = std::fs::read_to_string(self.tokens.join(id)) {
                req = req.header("authorization", format!("Bearer {}", t.trim()));
            }
        }
        let req = req
            .body(Full::new(Bytes::from(c.body)))
            .map_err(|e| format!("http {id}: {} {}: {e}", c.method, c.path))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("http {id}: {} {uri}: {e}", c.method))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("http {id}: {} {uri}: {e}", c.method))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body[..body.len().min(MAX_OUTPUT)]).into_owned();
        if (200..300).contains(&status) {
            Ok(format!("HTTP {status}\n{text}"))
        } else {
            Err(format!(
                "http {id}: {} {}: HTTP {status}: {}",
                c.method,
                c.path,
                text.trim()
            ))
        }
    }
}

impl Driver for HttpDriver {
    fn run<'a>(
        &'a self,
        target: &'a TargetAccess,
        command: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            match tokio::time::timeout(timeout, self.call(target, command)).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "http {}: timed out after {} s",
                    target.id,
                    timeout.as_secs()
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_commands_parse_with_headers_and_body_and_bad_ones_say_why() {
        let c = parse_call(
            "POST /rest/if/Gi1%2F0%2F7/shutdown\nContent-Type: application/json\n\n{\"a\":1}\n{\"b\":2}",
        )
        .unwrap();
        assert_eq!(c.method, "POST");
        assert_eq!(c.path, "/rest/if/Gi1%2F0%2F7/shutdown");
        assert_eq!(
            c.headers,
            vec![("Content-Type".into(), "application/json".into())]
        );
        assert_eq!(c.body, "{\"a\":1}\n{\"b\":2}");
        assert_eq!(parse_call("GET /status").unwrap().body, "");
        for (bad, why) in [
            ("", "expected METHOD /path"),
            ("FETCH /x", "method"),
            ("GET status", "absolute path"),
            ("GET /x\nno colon here", "Name: value"),
            ("GET /x\nAuthorization: Bearer x", "set by the driver"),
            ("GET /x\nbad name: 1", "header name"),
        ] {
            let e = parse_call(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn any_command_text_parses_or_errs_without_panicking() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        let alphabet = b"GETPOS /:\n\r \t{}ab-\xc3\xa9";
        for _ in 0..20_000 {
            let n = rng.random_range(0..40);
            let bytes: Vec<u8> = (0..n)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let _ = parse_call(&String::from_utf8_lossy(&bytes));
        }
    }
}

#[cfg(test)]
mod device_api_tests {
    //! The http driver end to end: an execution of an http runbook against a device API
    //! on a loopback port (axum, a port table with admin state), through the executor's
    //! `DriverSet`.
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use axum::extract::{Path as AxPath, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use parking_lot::Mutex;
    use seawatch_runtime::{Clock, Metrics};

    use super::*;
    use crate::runbook::exec::{DriverSet, ExecState, Executions, Proposal};
    use crate::runbook::policy::ShipFacts;
    use crate::runbook::service::{Remediation, RemediationMetrics, RemediationPaths};

    const RUNBOOK: &str = r#"
name = "bounce-port-api"
description = "Shut and re-enable a port through the switch's REST API"
driver = "http"
risk = "low"
auto = false
writes = true
applies_to = { incident_classes = ["flapping"], device_kinds = ["switch"] }

[params.port]
type = "string"
required = true
pattern = '^[0-9]{1,2}$'

[[precheck]]
command = "GET /ports/{port}"
expect = '"admin":"up"'
timeout_s = 5

[[action]]
command = """
POST /ports/{port}/admin
Content-Type: application/json

{"admin":"down"}"""
timeout_s = 5

[[action]]
command = """
POST /ports/{port}/admin
Content-Type: application/json

{"admin":"up"}"""
timeout_s = 5

[[verify]]
command = "GET /ports/{port}"
expect = '"oper":"up"'
timeout_s = 5

[[rollback]]
command = """
POST /ports/{port}/admin
Content-Type: application/json

{"admin":"up"}"""
timeout_s = 5
"#;

    #[derive(Default)]
    struct Device {
        /// port → admin up
        ports: Mutex<BTreeMap<String, bool>>,
        /// a port whose cable is out (oper stays down)
        unplugged: Option<String>,
        changes: Mutex<Vec<String>>,
        tokens_seen: Mutex<Vec<String>>,
    }

    async fn show(
        State(d): State<Arc<Device>>,
        headers: HeaderMap,
        AxPath(p): AxPath<String>,
    ) -> (StatusCode, String) {
        if let Some(a) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
            d.tokens_seen.lock().push(a.to_string());
        }
        match d.ports.lock().get(&p) {
            Some(up) => {
                let oper = *up && d.unplugged.as_deref() != Some(&p);
                (
                    StatusCode::OK,
                    format!(
                        r#"{{"port":"{p}","admin":"{}","oper":"{}"}}"#,
                        if *up { "up" } else { "down" },
                        if oper { "up" } else { "down" }
                    ),
                )
            }
            None => (StatusCode::NOT_FOUND, format!("no port {p}")),
        }
    }

    async fn admin(
        State(d): State<Arc<Device>>,
        AxPath(p): AxPath<String>,
        body: String,
    ) -> (StatusCode, String) {
        let v: serde_json::Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
        };
        let up = v["admin"] == "up";
        let mut ports = d.ports.lock();
        match ports.get_mut(&p) {
            Some(x) => {
                *x = up;
                d.changes.lock().push(format!("{p} {}", v["admin"]));
                (StatusCode::OK, "ok".into())
            }
            None => (StatusCode::NOT_FOUND, format!("no port {p}")),
        }
    }

    async fn serve(d: Arc<Device>) -> (String, tokio::task::JoinHandle<()>) {
        let app = axum::Router::new()
            .route("/ports/{p}", get(show))
            .route("/ports/{p}/admin", post(admin))
            .with_state(d);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        (
            addr,
            tokio::spawn(async move {
                let _ = axum::serve(l, app).await;
            }),
        )
    }

    fn open(dir: &std::path::Path, address: &str) -> Executions {
        let rb = dir.join("runbooks");
        std::fs::create_dir_all(&rb).unwrap();
        std::fs::write(rb.join("bounce-port-api.toml"), RUNBOOK).unwrap();
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let (r, _) = Remediation::open(
            RemediationPaths {
                runbooks: rb,
                policies: repo.join("policies"),
                audit: dir.join("audit"),
            },
            Clock::manual(1_741_921_200_000),
            RemediationMetrics::register(&Metrics::new()),
        )
        .unwrap();
        assert!(
            r.catalogue().errors.is_empty(),
            "{:?}",
            r.catalogue().errors
        );
        Executions::recover(
            "aurora",
            r,
            vec![TargetAccess {
                id: "acc-sw-2".into(),
                kind: "switch".into(),
                zone: "it".into(),
                address: Some(address.into()),
                user: None,
            }],
        )
        .unwrap()
    }

    async fn run_once(ex: &Executions, data: &std::path::Path, port: &str) -> ExecState {
        let mut params = serde_json::Map::new();
        params.insert("port".into(), port.into());
        let e = ex
            .propose(
                Proposal {
                    runbook: "bounce-port-api".into(),
                    targets: vec!["acc-sw-2".into()],
                    params,
                    requester: "alice".into(),
                    role: "operator".into(),
                    incident: None,
                },
                ShipFacts::default(),
                1_741_921_200_000,
            )
            .unwrap();
        assert_eq!(e.driver, crate::runbook::spec::Driver::Http);
        ex.decide(&e.id, "bob", true).unwrap();
        let drivers = DriverSet {
            ssh: Arc::new(crate::runbook::ssh::SshDriver::in_data(data, "seawatch")),
            http: Some(Arc::new(HttpDriver::in_data(data))),
            builtin: None,
        };
        ex.run(&e.id, &drivers).await.unwrap()
    }

    #[tokio::test]
    async fn an_http_runbook_bounces_a_port_and_rolls_back_when_verify_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("http/tokens")).unwrap();
        std::fs::write(dir.path().join("http/tokens/acc-sw-2"), "s3cret\n").unwrap();
        let dev = Arc::new(Device {
            unplugged: Some("9".into()),
            ..Device::default()
        });
        for p in ["7", "9"] {
            dev.ports.lock().insert(p.into(), true);
        }
        let (addr, server) = serve(dev.clone()).await;
        let ex = open(dir.path(), &addr);

        assert_eq!(run_once(&ex, dir.path(), "7").await, ExecState::Succeeded);
        assert_eq!(
            *dev.changes.lock(),
            vec!["7 \"down\"".to_string(), "7 \"up\"".to_string()]
        );
        let e = &ex.list()[0];
        assert!(e.steps.iter().any(|s| s.output.starts_with("HTTP 200\n")));
        // the token went to the device and nowhere else
        assert!(dev.tokens_seen.lock().iter().all(|t| t == "Bearer s3cret"));
        assert!(!dev.tokens_seen.lock().is_empty());
        let audit = std::fs::read_to_string(dir.path().join("audit/audit.jsonl"))
            .or_else(|_| {
                std::fs::read_dir(dir.path().join("audit"))
                    .unwrap()
                    .filter_map(Result::ok)
                    .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
                    .reduce(|a, b| a + &b)
                    .ok_or(())
            })
            .unwrap();
        assert!(!audit.contains("s3cret"));

        // port 9's cable is out: verify fails, the rollback leaves it enabled
        dev.changes.lock().clear();
        assert_eq!(run_once(&ex, dir.path(), "9").await, ExecState::RolledBack);
        assert_eq!(
            *dev.changes.lock(),
            vec![
                "9 \"down\"".to_string(),
                "9 \"up\"".to_string(),
                "9 \"up\"".to_string()
            ]
        );
        assert_eq!(dev.ports.lock().get("9"), Some(&true));

        // a port the device does not have: the precheck's 404 fails it, nothing changed
        dev.changes.lock().clear();
        assert_eq!(run_once(&ex, dir.path(), "3").await, ExecState::Failed);
        assert!(dev.changes.lock().is_empty());
        let e = ex.list().pop().unwrap();
        assert!(
            e.steps.iter().any(|s| s.output.contains("HTTP 404")),
            "{e:?}"
        );
        server.abort();
    }
}
