//! Real nats-server processes for tests, from the project's scripts and configs.
//!
//! The binary is `SEAWATCH_NATS_SERVER` (set by test-all.sh) or what
//! `nats-test-server.sh bin` finds or installs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{deploy_dir, free_port};

/// `deploy/scripts/nats-test-server.sh`.
pub fn script() -> PathBuf {
    deploy_dir().join("scripts/nats-test-server.sh")
}

/// The nats-server binary to use, or why there is none.
pub fn nats_binary() -> Result<String, String> {
    if let Ok(b) = std::env::var("SEAWATCH_NATS_SERVER") {
        return Ok(b);
    }
    let out = Command::new("bash")
        .arg(script())
        .arg("bin")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One nats-server run by the script in its own directory; stopped on drop.
pub struct NatsServer {
    dir: tempfile::TempDir,
    conf: PathBuf,
    env: Vec<(String, String)>,
    bin: String,
}

impl NatsServer {
    /// A server of `deploy/nats/<conf>` with these environment values (not started).
    pub fn new(conf: &str, env: Vec<(String, String)>, bin: &str) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            conf: deploy_dir().join("nats").join(conf),
            env,
            bin: bin.to_owned(),
        }
    }

    /// A server of `deploy/nats/<conf>` whose `cluster { name: seawatch-shore }` is
    /// `cluster_name` instead (the file is copied into the server's directory so).
    pub fn with_cluster_name(
        conf: &str,
        env: Vec<(String, String)>,
        bin: &str,
        cluster_name: &str,
    ) -> Self {
        let mut s = Self::new(conf, env, bin);
        let text = std::fs::read_to_string(&s.conf).unwrap();
        let named = text.replace(
            "  name: seawatch-shore\n",
            &format!("  name: {cluster_name}\n"),
        );
        assert_ne!(
            named,
            text,
            "{}: no cluster name to replace",
            s.conf.display()
        );
        let copy = s.dir.path().join(conf);
        std::fs::write(&copy, named).unwrap();
        s.conf = copy;
        s
    }

    /// Runs the script's `cmd` (start, stop, kill) on this server.
    pub fn run(&self, cmd: &str) -> Result<(), String> {
        let out = Command::new("bash")
            .arg(script())
            .arg(cmd)
            .arg(self.dir.path())
            .arg(&self.conf)
            .envs(self.env.iter().cloned())
            .env("NATS_SERVER", &self.bin)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{cmd}: {}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Its directory (data, `server.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its log file.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

/// One JetStream server of `deploy/nats/single-test.conf` on a free loopback port, and its
/// URL. Without a nats-server it prints a SKIPPED line naming `test` and answers `None`,
/// except under `CI=true`, where a missing server fails the test.
pub fn single_server(test: &str) -> Option<(NatsServer, String)> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let bin = match nats_binary() {
        Ok(b) => b,
        Err(e) if !ci => {
            eprintln!("[{test}] SKIPPED: no nats-server ({e})");
            return None;
        }
        Err(e) => panic!("no nats-server under CI: {e}"),
    };
    for _ in 0..3 {
        let port = free_port();
        let s = NatsServer::new(
            "single-test.conf",
            vec![
                ("NODE_NAME".into(), "shore-0".into()),
                ("CLIENT_PORT".into(), port.to_string()),
            ],
            &bin,
        );
        match s.run("start") {
            Ok(()) => return Some((s, format!("nats://127.0.0.1:{port}"))),
            Err(e) => eprintln!("[{test}] server did not start ({e}); new port"),
        }
    }
    panic!("nats-server did not start");
}

/// Throwaway CA, shore and ship certificates from `deploy/scripts/nats-tls-certs.sh`.
pub fn certs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(deploy_dir().join("scripts/nats-tls-certs.sh"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nats-tls-certs.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The TLS files of one side of the leaf connection (`shore` or `ship`) from `certs`,
/// trusting the CA in `ca`.
pub fn tls_env(certs: &Path, side: &str, ca: &Path) -> Vec<(String, String)> {
    let p = |f: &str| certs.join(f).display().to_string();
    vec![
        ("LEAF_CERT".into(), p(&format!("{side}.pem"))),
        ("LEAF_KEY".into(), p(&format!("{side}-key.pem"))),
        ("LEAF_CA".into(), ca.join("ca.pem").display().to_string()),
    ]
}

/// Passwords and leaf user of a test cluster.
#[derive(Debug, Clone)]
pub struct Creds {
    /// The shore user's password.
    pub shore: String,
    /// The ship leaf's user at the hub.
    pub leaf_user: String,
    /// Its password.
    pub leaf: String,
    /// The local `ship` user's password on a leaf server.
    pub ship: String,
}

/// A cluster name no other test cluster of any process uses.
pub fn unique_cluster_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("seawatch-shore-{}-{n}", std::process::id())
}

/// A shore cluster of `deploy/nats/shore-node.conf` servers on free loopback ports.
pub struct ShoreCluster {
    /// Client ports, by node.
    pub client: Vec<u16>,
    /// Leaf ports, by node.
    pub leaf: Vec<u16>,
    /// The servers (`None` once killed).
    pub servers: Vec<Option<NatsServer>>,
    /// Credentials.
    pub creds: Creds,
}

impl ShoreCluster {
    /// Starts `n` nodes (`shore-0`...). `advertise(i)` is the leaf address node `i` tells
    /// ships (its own leaf port, or a proxy that can cut the link).
    pub fn start(
        n: usize,
        bin: &str,
        creds: Creds,
        certs: &Path,
        advertise: impl Fn(usize, u16) -> String,
    ) -> Self {
        // A port picked free can be taken by another process before the server binds it
        // (tests of other crates run alongside): start again on fresh ports, twice at most.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(n, bin, &creds, certs, &advertise) {
                Ok(c) => return c,
                Err(e) => {
                    eprintln!("[nats harness] shore cluster did not start ({e}); new ports");
                    last = e;
                }
            }
        }
        panic!("shore cluster did not start: {last}");
    }

    fn try_start(
        n: usize,
        bin: &str,
        creds: &Creds,
        certs: &Path,
        advertise: &impl Fn(usize, u16) -> String,
    ) -> Result<Self, String> {
        let client: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let cluster: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let leaf: Vec<u16> = (0..n).map(|_| free_port()).collect();
        // A cluster name of its own: a server of another test cluster that still dials a
        // route port this cluster picked (a node restarting, one not yet stopped) is
        // refused instead of joining and splitting JetStream's meta group.
        let name = unique_cluster_name();
        let mut servers = Vec::new();
        for i in 0..n {
            let mut env = vec![
                ("NODE_NAME".into(), format!("shore-{i}")),
                ("CLIENT_PORT".into(), client[i].to_string()),
                ("CLUSTER_PORT".into(), cluster[i].to_string()),
                ("LEAF_PORT".into(), leaf[i].to_string()),
                ("SHORE_PASSWORD".into(), creds.shore.clone()),
                ("SHIP_LEAF_USER".into(), creds.leaf_user.clone()),
                ("SHIP_LEAF_PASSWORD".into(), creds.leaf.clone()),
                ("LEAF_ADVERTISE".into(), advertise(i, leaf[i])),
            ];
            for (r, p) in cluster.iter().enumerate() {
                env.push((
                    format!("ROUTE_{}", r + 1),
                    format!("nats-route://127.0.0.1:{p}"),
                ));
            }
            env.extend(tls_env(certs, "shore", certs));
            let s = NatsServer::with_cluster_name("shore-node.conf", env, bin, &name);
            // On error the servers started so far are stopped as they drop.
            s.run("start").map_err(|e| format!("shore-{i}: {e}"))?;
            servers.push(Some(s));
        }
        Ok(Self {
            client,
            leaf,
            servers,
            creds: creds.clone(),
        })
    }

    /// The URL (with the shore user's credentials) of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!(
            "nats://shore:{}@127.0.0.1:{}",
            self.creds.shore, self.client[i]
        )
    }
}

/// A ship leaf server (`deploy/nats/ship-leaf.conf`) named and with JetStream domain
/// `name`, its local `ship` user's password from `creds`, clients on `port`, connecting
/// to `hub_url` with `certs` (ship side) and trusting the CA in `ca`. Not started.
pub fn ship_leaf(
    bin: &str,
    creds: &Creds,
    name: &str,
    port: u16,
    hub_url: String,
    certs: &Path,
    ca: &Path,
) -> NatsServer {
    let env = [
        ("NODE_NAME".into(), name.to_owned()),
        ("CLIENT_PORT".into(), port.to_string()),
        ("SHIP_DOMAIN".into(), name.to_owned()),
        ("SHIP_PASSWORD".into(), creds.ship.clone()),
        ("HUB_LEAF_URL".into(), hub_url),
    ]
    .into_iter()
    .chain(tls_env(certs, "ship", ca))
    .collect();
    NatsServer::new("ship-leaf.conf", env, bin)
}

/// A TCP proxy that can cut every connection through it and refuse new ones.
#[derive(Clone)]
pub struct Proxy {
    cut: watch::Sender<bool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Listens on `port` and forwards to the first of `targets` that accepts.
    pub async fn start(port: u16, targets: Vec<u16>) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let (cut, cut_rx) = watch::channel(false);
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let conns2 = conns.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *cut_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let targets = targets.clone();
                let task = tokio::spawn(async move {
                    for t in targets {
                        if let Ok(mut out) = TcpStream::connect(("127.0.0.1", t)).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            return;
                        }
                    }
                });
                conns2.lock().push(task);
            }
        });
        Self { cut, conns }
    }

    /// Cuts (and refuses) connections, or lets them through again.
    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
        if cut {
            for t in self.conns.lock().drain(..) {
                t.abort();
            }
        }
    }
}
