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
