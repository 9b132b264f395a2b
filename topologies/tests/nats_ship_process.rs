//! `seawatch ship --nats` and `seawatch shore --nats` as processes over real nats-server
//! processes (a 3-node shore cluster and the ship's leaf node, from `deploy/nats/`): the
//! ship process is killed with SIGKILL mid-sync and restarted on the same data; once its
//! backlog is 0, shore holds exactly the events of the ship's log, each once.
//!
//! The shore process stores the fleet log in ClickHouse (`[clickhouse]` in its config; a
//! server from `deploy/scripts/clickhouse-test-server.sh`) and is itself killed with
//! SIGKILL mid-sync and restarted, so it re-applies batches it had stored but not
//! acknowledged. Then the ship's leaf nats-server is killed with SIGKILL mid-sync and
//! restarted on its store. The audit reads ClickHouse by identity, and shore's
//! `seawatch_shore_events_total{ship}` must equal the distinct events stored. Without a
//! ClickHouse server (outside CI) shore keeps the events in `SW_EVENTS` and the audit
//! reads that stream.
//!
//! nats-server is `SEAWATCH_NATS_SERVER` (set by test-all.sh) or what
//! `deploy/scripts/nats-test-server.sh bin` finds or installs; without one the test says
//! so and passes, except under `CI=true`.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seawatch_actors::sync::nats::stored_events;
use seawatch_tests::clickhouse::Managed;
use seawatch_tests::nats::{certs, nats_binary, ship_leaf, Creds, ShoreCluster};
use support::*;

const PW: &str = "test-pw";

struct Reaped(Child);

/// A ClickHouse server from the project's script, stopped on drop.
struct ClickHouse(Managed);

impl ClickHouse {
    fn start() -> Result<(Self, String), String> {
        Managed::start().map(|(m, url)| (ClickHouse(m), url))
    }

    /// (seq, copies) of the ship's events in the fleet table.
    fn stored(&self, ship: &str) -> std::collections::BTreeMap<u64, u32> {
        let q = format!(
            "SELECT seq, count() FROM seawatch.fleet_events WHERE ship = '{ship}' GROUP BY seq FORMAT TSV"
        );
        self.0
            .query(&q)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let (a, b) = l.split_once('\t')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect()
    }
}

fn start_shore(
    cfg: &std::path::Path,
    url: &str,
    listen: SocketAddr,
    out: &std::path::Path,
) -> Reaped {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .unwrap();
    Reaped(
        Command::new(env!("CARGO_BIN_EXE_seawatch"))
            .args([
                "shore",
                "--nats",
                url,
                "--listen",
                &listen.to_string(),
                "--config",
            ])
            .arg(cfg)
            .arg("--data")
            .arg(cfg.with_file_name("shore-data"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    )
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn line(i: u64) -> String {
    format!("<134>1 2025-03-14T03:12:07.412Z core-sw-1 synctest - - - %LINK-3-UPDOWN: Interface Gi1/0/{} message {i:010}\n", i % 48)
}

/// Writes `n` numbered lines (from `from`) over TCP, or until stopped / refused.
fn send_lines(
    addr: SocketAddr,
    from: u64,
    n: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(addr) else {
            return;
        };
        let mut i = from;
        while i < from + n && !stop.load(Ordering::Relaxed) {
            let mut buf = String::new();
            for j in i..(i + 50).min(from + n) {
                buf.push_str(&line(j));
            }
            if s.write_all(buf.as_bytes()).is_err() {
                return;
            }
            i = (i + 50).min(from + n);
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

#[test]
fn ship_process_killed_mid_sync_resumes_and_shore_holds_exactly_its_events() {
    let bin = match nats_binary() {
        Ok(b) => b,
        Err(e) => return skip_or_fail(&format!("no nats-server: {e}")),
    };
    // A 3-node shore cluster and the ship's leaf, with a TLS leaf connection
    // (throwaway CA and certificates).
    let certs = certs();
    let creds = Creds {
        shore: PW.into(),
        leaf_user: "leaf-ship-1".into(),
        leaf: PW.into(),
        ship: PW.into(),
    };
    let cluster = ShoreCluster::start(3, &bin, creds.clone(), certs.path(), |_, port| {
        format!("127.0.0.1:{port}")
    });
    let leaf_client = free_port();
    let ship_server = ship_leaf(
        &bin,
        &creds,
        SHIP,
        leaf_client,
        format!("nats-leaf://leaf-ship-1:{PW}@127.0.0.1:{}", cluster.leaf[0]),
        certs.path(),
        certs.path(),
    );
    ship_server.run("start").unwrap();
    let shore_url = cluster.url(0);

    let clickhouse = match ClickHouse::start() {
        Ok(c) => Some(c),
        Err(e) if in_ci() => panic!("no ClickHouse server under CI: {e}"),
        Err(e) => {
            eprintln!("[nats process test] no ClickHouse ({e}); shore uses SW_EVENTS");
            None
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let shore_cfg = tmp.path().join("shore.toml");
    let mut shore_toml =
        format!("node = \"n0\"\nreplicas = 3\nlease_s = 3\n[[ship]]\nid = \"{SHIP}\"\n");
    if let Some((_, url)) = &clickhouse {
        shore_toml.push_str(&format!(
            "[clickhouse]\nurl = \"{url}\"\ntable = \"fleet_events\"\n"
        ));
    }
    std::fs::write(&shore_cfg, shore_toml).unwrap();
    let shore_http = free_addr();
    let shore_log = tmp.path().join("shore.out");
    let mut shore = start_shore(&shore_cfg, &shore_url, shore_http, &shore_log);
    // The shore's API needs a token like the ship's (contracts §2): 401 without one, the
    // fleet with the first admin's.
    let deadline = Instant::now() + Duration::from_secs(30);
    let open = loop {
        match http(shore_http, "GET", "/api/fleet", b"") {
            Ok((code, _)) => break code,
            Err(e) => {
                assert!(Instant::now() < deadline, "shore http never came up: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(open, 401, "GET /api/fleet without a token");
    let pw = std::fs::read_to_string(
        shore_cfg
            .with_file_name("shore-data")
            .join("initial-admin-password"),
    )
    .expect("the shore writes its first admin password");
    let login = format!(r#"{{"user":"admin","password":"{}"}}"#, pw.trim());
    let (code, body) = http(shore_http, "POST", "/api/login", login.as_bytes()).unwrap();
    assert_eq!(code, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(token["token"].as_str().is_some_and(|t| !t.is_empty()));

    let data = tmp.path().join("data");
    let config = format!(
        "[nats]\nurl = \"nats://ship:{PW}@127.0.0.1:{leaf_client}\"\n[eventlog]\nfsync = \"every_batch\"\n"
    );
    let t0 = Instant::now();
    let ship = ShipProc::start(&data, Some(&config));
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = send_lines(ship.syslog, 0, 1_000_000, stop.clone());
    // Kill -9 once some thousands are durable (sync is busy shipping them).
    let deadline = Instant::now() + Duration::from_secs(60);
    while durable(&ship.metrics()) < 3_000 {
        assert!(
            Instant::now() < deadline,
            "ship too slow:\n{}",
            ship.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ship.kill9();
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    // The shore process dies too, mid-batch, and comes back on the same store.
    let _ = shore.0.kill();
    let _ = shore.0.wait();
    shore = start_shore(&shore_cfg, &shore_url, shore_http, &shore_log);

    let ship = ShipProc::start(&data, Some(&config));
    // The ship's own nats-server (its leaf node and local JetStream) dies with SIGKILL
    // while the ship syncs, and comes back on the same store a second later.
    let feeder = send_lines(
        ship.syslog,
        1_000_000,
        4_000,
        Arc::new(AtomicBool::new(false)),
    );
    ship.wait_metrics(
        "1,000 events after the restart",
        Duration::from_secs(60),
        |m| durable(m) >= 1_000,
    );
    let at_kill = metric(
        &ship.metrics(),
        &format!("seawatch_sync_backlog_events{{ship=\"{SHIP}\"}}"),
    );
    ship_server.run("kill").unwrap();
    eprintln!("[nats process test] ship's nats-server killed with a backlog of {at_kill:?}");
    std::thread::sleep(Duration::from_secs(1));
    ship_server.run("start").unwrap();
    feeder.join().unwrap();
    // Wait (bounded) until the ship reports nothing left to sync.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = ship.metrics();
        let backlog = metric(
            &m,
            &format!("seawatch_sync_backlog_events{{ship=\"{SHIP}\"}}"),
        );
        if durable(&m) >= 4_000 && backlog == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "backlog not drained: {backlog:?}\n{}",
            ship.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    ship.terminate(Duration::from_secs(10));
    let log = open_log(&data);
    let total = log.durable_next_seq() - 1;
    drop(log);

    let stored = match &clickhouse {
        Some((ch, _)) => {
            // The shore's counter: distinct events stored, across its restart.
            let deadline = Instant::now() + Duration::from_secs(30);
            let counted = loop {
                let m = get(shore_http, "/metrics").unwrap_or_default();
                let c = metric(
                    &m,
                    &format!("seawatch_shore_events_total{{ship=\"{SHIP}\"}}"),
                );
                if c.is_some_and(|c| c as u64 >= total) || Instant::now() > deadline {
                    break c;
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            let stored = ch.stored(SHIP);
            assert_eq!(
                counted,
                Some(stored.len() as f64),
                "shore counter vs ClickHouse"
            );
            stored
        }
        None => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(stored_events(&shore_url, SHIP)).unwrap()
        }
    };
    let missing = (1..=total).filter(|s| !stored.contains_key(s)).count();
    let twice = stored.values().filter(|&&c| c > 1).count();
    eprintln!(
        "[nats process test] store {}; ship log {total} events; shore {} distinct, {missing} missing, {twice} twice; {:.1} s",
        if clickhouse.is_some() { "ClickHouse" } else { "SW_EVENTS" },
        stored.len(),
        t0.elapsed().as_secs_f64()
    );
    assert_eq!((missing, twice), (0, 0));
    assert_eq!(stored.len() as u64, total);
    drop(shore);
    drop(ship_server);
    drop(cluster);
}
