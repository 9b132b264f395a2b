//! The binary from outside, per contracts §1 and §5.

use std::process::Command;

fn seawatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seawatch"))
}

#[test]
fn shore_without_nats_or_with_a_bad_config_exits_2_naming_the_problem() {
    let out = seawatch().arg("shore").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--nats"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("shore.toml");
    std::fs::write(&cfg, "node = \"a\"\n[[ship]]\nid = 5\n").unwrap();
    let out = seawatch()
        .args(["shore", "--nats", "nats://127.0.0.1:1", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shore.toml:3"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn sim_run_on_a_missing_scenario_exits_2_naming_the_file() {
    let out = seawatch()
        .args(["sim", "run", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("x.toml"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn nab_run_on_a_missing_folder_exits_2() {
    let out = seawatch()
        .args(["nab", "run", "--data", "/nonexistent-nab", "--out", "o"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--data"), "{stderr}");
}

#[test]
fn bad_arguments_exit_2_with_one_clear_line() {
    let out = seawatch()
        .args(["demo", "--ships", "many"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--ships"), "{stderr}");
    let out = seawatch().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["ship", "--help"],
        vec!["shore", "--help"],
        vec!["sim", "run", "--help"],
        vec!["bench", "actors", "--help"],
        vec!["bench", "ingest", "--help"],
        vec!["nab", "run", "--help"],
        vec!["policy", "check", "--help"],
    ] {
        let out = seawatch().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn bench_actors_writes_the_contract_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("actors.json");
    let out = seawatch()
        .args(["bench", "actors", "--report"])
        .arg(&report)
        .args([
            "--msgs",
            "20000",
            "--rounds",
            "1",
            "--idle-actors",
            "2000",
            "--restarts",
            "50",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    for key in [
        "msgs_per_s",
        "bare_ractor_msgs_per_s",
        "ratio",
        "idle_actor_bytes",
        "spawn_per_s",
        "warm_spawn_per_s",
        "warm_bare_spawn_per_s",
        "warm_linked_spawn_per_s",
    ] {
        let v = json[key].as_f64().unwrap_or(-1.0);
        assert!(v > 0.0, "{key} = {v}");
    }
    for key in ["restart_p50_us", "restart_p99_us"] {
        assert!(json[key].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(json["restarts_measured"].as_u64(), Some(50));
    let ratio = json["ratio"].as_f64().unwrap();
    let expect =
        json["msgs_per_s"].as_f64().unwrap() / json["bare_ractor_msgs_per_s"].as_f64().unwrap();
    assert!((ratio - expect).abs() < 1e-9);
    let linked = json["warm_linked_spawn_ratio"].as_f64().unwrap();
    let expect = json["warm_linked_spawn_per_s"].as_f64().unwrap()
        / json["warm_bare_spawn_per_s"].as_f64().unwrap();
    assert!((linked - expect).abs() < 1e-9);
}

#[test]
fn ship_rejects_a_bad_config_or_inventory_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ship.toml");
    std::fs::write(&cfg, "ship = \"aurora\"\nsyslogg = \"127.0.0.1:1\"\n").unwrap();
    let out = seawatch()
        .args(["ship", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ship.toml:2") && stderr.contains("syslogg"),
        "{stderr}"
    );

    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        "name = \"x\"\nseed = 1\nduration_s = 60\n[[ship]]\nid = \"a\"\n[[ship.device]]\nid = \"sw\"\nkind = \"switch\"\ndepends_on = [\"nope\"]\n",
    )
    .unwrap();
    let out = seawatch()
        .args(["ship", "--data"])
        .arg(dir.path())
        .arg("--inventory")
        .arg(&inv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("inv.toml") && stderr.contains("depends_on"),
        "{stderr}"
    );
}

/// A fake nats-server 2.9.10 on a loopback port: sends its INFO to every client and
/// answers PING with PONG, as the real one does before any JetStream request.
fn fake_nats_2_9() -> String {
    fake_nats_2_9_after(std::time::Duration::ZERO)
}

/// [`fake_nats_2_9`], listening only after `delay` (a leaf server that comes up late).
fn fake_nats_2_9_after(delay: std::time::Duration) -> String {
    use std::io::{BufRead, BufReader, Write};
    let port = seawatch_tests::free_port();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        for sock in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = sock.try_clone().unwrap();
                let info = format!(
                    "INFO {{\"server_id\":\"fake\",\"server_name\":\"fake\",\"version\":\"2.9.10\",\"proto\":1,\"host\":\"127.0.0.1\",\"port\":{port},\"max_payload\":1048576,\"jetstream\":true}}\r\n"
                );
                if w.write_all(info.as_bytes()).is_err() {
                    return;
                }
                for line in BufReader::new(sock).lines() {
                    let Ok(line) = line else { return };
                    if line.starts_with("PING") && w.write_all(b"PONG\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("nats://127.0.0.1:{port}")
}

/// Runs `seawatch ARGS` for at most 30 s; its exit code and stderr.
fn run_bounded(args: &[&str]) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = seawatch()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (code, stderr)
}

/// The one line `seawatch CMD` prints about the fake 2.9 server at `url`.
fn too_old_line(cmd: &str, url: &str) -> String {
    format!(
        "seawatch {cmd}: nats-server 2.9.10 at {url} is too old: seawatch needs NATS JetStream \
         2.10 or newer"
    )
}

/// `seawatch ship --nats URL` on free loopback ports with DATA; exit code and stderr.
fn run_ship(url: &str, data: &std::path::Path) -> (Option<i32>, String) {
    let listen = format!("127.0.0.1:{}", seawatch_tests::free_port());
    let syslog = format!("127.0.0.1:{}", seawatch_tests::free_port());
    run_bounded(&[
        "ship",
        "--nats",
        url,
        "--listen",
        &listen,
        "--syslog",
        &syslog,
        "--data",
        data.to_str().unwrap(),
    ])
}

#[test]
fn shore_and_ship_against_nats_server_2_9_exit_2_with_one_line() {
    let url = fake_nats_2_9();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shore");
    let listen = format!("127.0.0.1:{}", seawatch_tests::free_port());
    let (code, stderr) = run_bounded(&[
        "shore",
        "--nats",
        &url,
        "--listen",
        &listen,
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr, too_old_line("shore", &url) + "\n");
    assert!(
        !data.exists(),
        "the shore wrote its data before refusing the server"
    );

    let data = dir.path().join("ship");
    let (code, stderr) = run_ship(&url, &data);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr, too_old_line("ship", &url) + "\n");
    // Refused before the ship started: nothing written to its data folder.
    assert!(
        !data.exists(),
        "the ship started before refusing the server"
    );
}

#[test]
fn a_ship_whose_2_9_leaf_server_answers_late_exits_2_once() {
    let url = fake_nats_2_9_after(std::time::Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ship");
    let (code, stderr) = run_ship(&url, &data);
    assert_eq!(code, Some(2), "{stderr}");
    let line = too_old_line("ship", &url);
    assert_eq!(stderr.matches(&line).count(), 1, "{stderr}");
    assert_eq!(stderr.lines().last(), Some(line.as_str()), "{stderr}");
    // It did start (offline) before the server answered.
    assert!(data.join("initial-admin-password").exists());
}

/// `seawatch policy check` on the starter policy: the decision and its reasons on stdout,
/// exit 0 allowed / 1 denied / 2 for a bad input or a broken policy (one line).
#[test]
fn policy_check_prints_the_decision_and_exits_by_it() {
    let policies = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    let write = |zone: &str| {
        let v = serde_json::json!({
            "runbook": {"name": "bounce-access-port", "risk": "low", "auto": false, "writes": true, "driver": "ssh"},
            "targets": [{"id": "acc-sw-1", "kind": "switch", "zone": zone}],
            "params": {"interface": "Gi1/0/7"},
            "requester": "alice", "role": "operator", "now": 1_741_921_200_000_i64,
            "ship": {"links": [{"id": "vsat-1", "kind": "vsat", "primary": true, "state": "up"}],
                     "open_incidents": [], "recent_executions": []}
        });
        std::fs::write(&input, v.to_string()).unwrap();
    };
    let check = |pol: &std::path::Path| {
        seawatch()
            .args(["policy", "check", "--policies"])
            .arg(pol)
            .arg("--input")
            .arg(&input)
            .output()
            .unwrap()
    };
    write("it");
    let out = check(&policies);
    assert_eq!(out.status.code(), Some(0));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["allow"], true);
    assert_eq!(d["approvals_required"], 1);
    write("ot");
    let out = check(&policies);
    assert_eq!(out.status.code(), Some(1));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["allow"], false);
    assert!(d["reasons"][0].as_str().unwrap().contains("zone ot"), "{d}");
    std::fs::write(&input, "{\"runbook\":\n 5}").unwrap();
    let out = check(&policies);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("input.json:2:"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    write("it");
    std::fs::write(
        dir.path().join("bad.rego"),
        "package seawatch.remediation\ndecision := {",
    )
    .unwrap();
    let out = check(dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.rego"));
    assert!(out.stdout.is_empty());
}
