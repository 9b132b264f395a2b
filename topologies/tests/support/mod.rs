//! Shared helpers of the tests that run `seawatch ship` as a real process: free loopback
//! ports, a child-process guard that always kills, plain-`std::net` HTTP, `/metrics`
//! parsing, and the skip-or-fail rule for tools that cannot be installed.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use seawatch_runtime::event_log::{Event, EventLog, EventLogConfig};

pub mod browser;
pub mod remediation;

/// The ship id of a node started without a `ship =` key.
pub const SHIP: &str = "ship-1";

pub use seawatch_tests::free_port;

/// A loopback address on a free port.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// `true` when the environment says this is CI, where a missing tool is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A tool the test needs cannot be had: outside CI, say so and let the test pass; in CI,
/// fail.
pub fn skip_or_fail(reason: &str) {
    if in_ci() {
        panic!("CI=true and the test cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// The repository's `deploy/scripts` directory.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/scripts")
}

/// One HTTP/1.1 request over a fresh connection; `(status, body)`.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    http_with(addr, method, path, "", body)
}

/// [`http`] with extra header lines (`headers`: each `Name: value\r\n`).
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out);
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:.80}")))?;
    let (head, body) = match text.find("\r\n\r\n") {
        Some(i) => (&text[..i], text[i + 4..].to_string()),
        None => (&text[..], String::new()),
    };
    // Chunked bodies (axum's streaming responses, Prometheus' larger answers) are
    // de-chunked, so a JSON body parses whatever its size.
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Ok((status, if chunked { dechunk(&body) } else { body }))
}

/// The payload of a chunked HTTP/1.1 body (`SIZE\r\nDATA\r\n` … `0\r\n\r\n`).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            out.push_str(&after[..n.min(after.len())]);
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    out
}

/// `GET path`, body on 200.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    match http(addr, "GET", path, b"")? {
        (200, body) => Ok(body),
        (code, body) => Err(std::io::Error::other(format!(
            "GET {path}: {code}: {body:.200}"
        ))),
    }
}

/// The value of the sample `series` (the name with its label set exactly as exposed, e.g.
/// `seawatch_eventlog_events_total{ship="ship-1"}`) in a Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        let rest = rest.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The sum of every sample of metric `name` (any labels) whose labels contain all of
/// `must` (e.g. `source="syslog-tcp"`).
pub fn metric_sum(text: &str, name: &str, must: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter(|l| must.iter().all(|m| l.contains(m)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `seawatch_ingest_events_total{source=SOURCE,ship}`.
pub fn ingested(text: &str, source: &str) -> u64 {
    metric(
        text,
        &format!("seawatch_ingest_events_total{{source=\"{source}\",ship=\"{SHIP}\"}}"),
    )
    .unwrap_or(0.0) as u64
}

/// `seawatch_eventlog_events_total{ship}`.
pub fn durable(text: &str) -> u64 {
    metric(
        text,
        &format!("seawatch_eventlog_events_total{{ship=\"{SHIP}\"}}"),
    )
    .unwrap_or(0.0) as u64
}

/// Every `seawatch_ingest_malformed_total` sample added up.
pub fn malformed(text: &str) -> u64 {
    metric_sum(text, "seawatch_ingest_malformed_total", &[]) as u64
}

/// A `seawatch ship` process, killed (SIGKILL) and reaped on drop.
pub struct ShipProc {
    child: Option<Child>,
    /// The HTTP address.
    pub http: SocketAddr,
    /// The syslog TCP and UDP address.
    pub syslog: SocketAddr,
    /// Where its stdout and stderr go.
    pub out: PathBuf,
}

impl ShipProc {
    /// Starts `seawatch ship --data DATA` on fresh loopback ports, with `config` (TOML
    /// text) as its config file if given, and waits (bounded) until `/healthz` answers 200.
    pub fn start(data: &Path, config: Option<&str>) -> Self {
        let http = free_addr();
        let syslog = free_addr();
        std::fs::create_dir_all(data).unwrap();
        let out = data.with_extension(format!("{}.out", http.port()));
        let log = std::fs::File::create(&out).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seawatch"));
        cmd.arg("ship")
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg(http.to_string())
            .arg("--syslog")
            .arg(syslog.to_string());
        if let Some(text) = config {
            let path = data.with_extension("toml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn seawatch ship");
        let mut p = ShipProc {
            child: Some(child),
            http,
            syslog,
            out,
        };
        p.wait_healthy();
        p
    }

    fn wait_healthy(&mut self) {
        // A real process: real-time waiting, bounded (15 s).
        for _ in 0..300 {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "seawatch ship exited during start-up ({status}):\n{}",
                    self.output()
                );
            }
            if matches!(http(self.http, "GET", "/healthz", b""), Ok((200, _))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "seawatch ship: /healthz not 200 within 15 s:\n{}",
            self.output()
        );
    }

    /// Its stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `GET /metrics`.
    pub fn metrics(&self) -> String {
        get(self.http, "/metrics").unwrap_or_else(|e| {
            panic!("GET /metrics: {e}\n{}", self.output());
        })
    }

    /// Polls `/metrics` every 50 ms until `done` holds for it, at most `timeout`; returns
    /// the last text. Panics on timeout with `what`.
    pub fn wait_metrics(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let t = Instant::now();
        loop {
            let text = self.metrics();
            if done(&text) {
                return text;
            }
            if t.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for {what}; last /metrics:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, and reap.
    pub fn kill9(mut self) -> ExitStatus {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap()
    }

    /// SIGTERM, then waits (bounded) for the exit; SIGKILL and panic if it hangs.
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        let mut c = self.child.take().unwrap();
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM {}", c.id());
        let t = Instant::now();
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            if t.elapsed() > timeout {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "seawatch ship did not exit within {timeout:?} of SIGTERM:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ShipProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Opens the ship's event log in DATA (only while no process holds it).
pub fn open_log(data: &Path) -> EventLog {
    EventLog::open(data.join("eventlog").join(SHIP), EventLogConfig::new(SHIP))
        .expect("the event log opens")
}

/// Every event of the log, in order.
pub fn read_all(log: &EventLog) -> Vec<Event> {
    let mut all = Vec::new();
    let mut seq = log.first_seq();
    while seq < log.next_seq() {
        let chunk = log.read_from(seq, 10_000).unwrap();
        assert!(!chunk.is_empty(), "read_from({seq}) returned nothing");
        seq = chunk.last().unwrap().seq + 1;
        all.extend(chunk);
    }
    all
}

/// Sequences are dense from 1.
pub fn assert_dense(events: &[Event]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "sequence gap or reorder at index {i}");
    }
}

/// A Prometheus started by the script in its own directory; stopped on drop.
pub struct Prometheus {
    dir: tempfile::TempDir,
    port: u16,
}

impl Prometheus {
    pub fn run(&self, cmd: &str) -> Result<String, String> {
        let script = scripts_dir().join("prometheus-test-server.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(cmd)
            .arg(self.dir.path())
            .env("PROM_PORT", self.port.to_string())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "prometheus-test-server.sh {cmd} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string())
    }

    pub fn start(config: &str) -> Result<Self, String> {
        let p = Prometheus {
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
            port: free_port(),
        };
        std::fs::write(p.dir.path().join("prometheus.yml"), config).map_err(|e| e.to_string())?;
        p.run("start")?;
        Ok(p)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

/// Polls `check` every `poll` until it returns `Ok`, at most `wait`; panics with its
/// last `Err`. A bound on a wait (a hang fails the test), never a pace.
pub async fn eventually<F, Fut>(what: &str, wait: Duration, poll: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + wait;
    loop {
        match check().await {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: not within {wait:?}: {e}"),
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
}

/// Kills the running incarnation registered as (`ship`, `kind`, `id`) in `runtime` and
/// waits (at most `wait`) until its supervisor has registered a new one.
pub async fn kill_registered(
    runtime: &seawatch_runtime::Runtime,
    ship: &str,
    kind: &str,
    id: &str,
    wait: Duration,
) {
    let key = seawatch_runtime::ActorKey::new(ship, kind, id);
    let registry = runtime.registry();
    let old = registry.get(&key).unwrap_or_else(|| panic!("{key} runs"));
    old.kill();
    let old_id = old.get_id();
    let poll = Duration::from_millis(20);
    eventually(&format!("{key} restarted"), wait, poll, || async {
        match registry.get(&key) {
            Some(cell) if cell.get_id() != old_id => Ok(()),
            _ => Err("not yet".to_string()),
        }
    })
    .await;
}

/// The ship's primary VSAT link as the in-process tests inventory it (Ku band, 50 Mbit/s).
pub fn vsat_link() -> seawatch_actors::inventory::LinkSpec {
    seawatch_actors::inventory::LinkSpec {
        id: "vsat-1".into(),
        kind: "vsat".into(),
        band: Some("Ku".into()),
        capacity_mbps: Some(50.0),
        primary: true,
        ..Default::default()
    }
}

/// An inventory of `n` switches `sw-0` .. `sw-{n-1}` with no dependencies, and the VSAT.
pub fn switches(ship: &str, n: usize) -> seawatch_actors::inventory::Inventory {
    seawatch_actors::inventory::Inventory {
        ship: ship.into(),
        devices: (0..n)
            .map(|i| seawatch_actors::inventory::DeviceSpec {
                id: format!("sw-{i}"),
                kind: "switch".into(),
                depends_on: vec![],
            })
            .collect(),
        links: vec![vsat_link()],
    }
}
