//! `seawatch sim fleet` from outside (contracts §1).

use std::process::Command;

fn seawatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seawatch"))
}

#[test]
fn writes_a_reproducible_scenario_and_prints_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for sub in ["a", "b"] {
        let out = seawatch()
            .args([
                "sim",
                "fleet",
                "--seed",
                "42",
                "--ships",
                "2",
                "--devices",
                "80",
                "--out",
            ])
            .arg(dir.path().join(sub))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(path.ends_with("fleet-42.toml"), "{path}");
        files.push(std::fs::read(&path).unwrap());
    }
    assert_eq!(files[0], files[1], "same seed, same bytes");
    let path = dir.path().join("a/fleet-42.toml");
    let s = seawatch_simulators::Scenario::load(&path).unwrap();
    assert_eq!(s.ship.len(), 2);
    assert!(s.ship.iter().all(|ship| ship.device.len() == 80));
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let f = file.to_str().unwrap().to_owned();
    for (args, names) in [
        (vec!["--out", d.as_str()], "--seed"),
        (vec!["--seed", "x", "--out", d.as_str()], "--seed"),
        (vec!["--seed", "1"], "--out"),
        (
            vec!["--seed", "1", "--out", d.as_str(), "--ships", "0"],
            "--ships",
        ),
        (
            vec!["--seed", "1", "--out", d.as_str(), "--devices", "5"],
            "--devices",
        ),
        (vec!["--seed", "1", "--out", f.as_str()], "--out"),
    ] {
        let out = seawatch()
            .args(["sim", "fleet"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
}

#[test]
fn has_help() {
    let out = seawatch()
        .args(["sim", "fleet", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Usage") && text.contains("--seed") && text.contains("--devices"));
}
