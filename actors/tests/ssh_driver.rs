//! The runbook ssh driver against a real OpenSSH server (Debian's sshd, started by
//! deploy/scripts/sshd-test-server.sh) whose forced command emulates a switch CLI: a whole
//! bounce-access-port execution (its dry run read from the switch's running config), and
//! refusals of an unknown and a changed host key before
//! anything is sent. Without sshd the test says so, and fails under CI=true.

use std::path::Path;
use std::time::Duration;

use seawatch_actors::runbook::exec::{Driver, ExecState, Executions, Proposal, TargetAccess};
use seawatch_actors::runbook::policy::ShipFacts;
use seawatch_actors::runbook::service::{Remediation, RemediationMetrics, RemediationPaths};
use seawatch_actors::runbook::ssh::SshDriver;
use seawatch_runtime::{Clock, Metrics};
use seawatch_tests::sshd::Managed;

fn user() -> String {
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "root".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_driver_runs_a_bounce_on_a_real_sshd_and_refuses_unknown_or_changed_keys() {
    let server = match Managed::start() {
        Ok(s) => s,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "sshd needed under CI: {e}"
            );
            eprintln!("SKIPPED: no sshd for the ssh driver test: {e}");
            return;
        }
    };
    let driver = SshDriver {
        ssh: "ssh".into(),
        key: server.dir().join("client_key"),
        known_hosts: server.dir().join("known_hosts"),
        user: user(),
    };
    let target = TargetAccess {
        id: "acc-sw-1".into(),
        kind: "switch".into(),
        zone: "it".into(),
        address: Some(server.addr()),
        user: None,
    };

    // a whole execution over ssh
    let data = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let (rem, _) = Remediation::open(
        RemediationPaths {
            runbooks: repo.join("runbooks"),
            policies: repo.join("policies"),
            audit: data.path().join("audit"),
        },
        Clock::manual(1_741_921_200_000),
        RemediationMetrics::register(&Metrics::new()),
    )
    .unwrap();
    let ex = Executions::recover("aurora", rem, vec![target.clone()]).unwrap();
    let mut params = serde_json::Map::new();
    params.insert("interface".into(), "Gi1/0/7".into());
    let e = ex
        .propose(
            Proposal {
                runbook: "bounce-access-port".into(),
                targets: vec!["acc-sw-1".into()],
                params,
                requester: "alice".into(),
                role: "operator".into(),
                incident: None,
            },
            ShipFacts::default(),
            1_741_921_200_000,
        )
        .unwrap();
    // the dry run reads the switch's running configuration (read-only) and shows what
    // each action changes in the port's section
    ex.preview(&e.id, &driver).await.unwrap();
    assert!(server.applied().is_empty(), "the preview changed nothing");
    let preview = ex.get(&e.id).unwrap().preview;
    assert_eq!(preview.len(), 1, "{preview:?}");
    assert!(preview[0].error.is_none(), "{preview:?}");
    let shut = &preview[0].steps[0].changes[0];
    assert_eq!(shut.section, "interface Gi1/0/7");
    assert_eq!(shut.before, ["interface Gi1/0/7"]);
    assert_eq!(shut.after, ["interface Gi1/0/7", " shutdown"]);
    assert_eq!(preview[0].steps[1].changes[0].after, shut.before);
    ex.decide(&e.id, "bob", true).unwrap();
    let state = ex.run(&e.id, &driver).await.unwrap();
    let done = ex.get(&e.id).unwrap();
    assert_eq!(state, ExecState::Succeeded, "{:#?}", done.steps);
    assert_eq!(
        server.applied(),
        ["Gi1/0/7 shutdown", "Gi1/0/7 no shutdown"]
    );
    assert!(done
        .steps
        .last()
        .unwrap()
        .output
        .contains("Gi1/0/7    connected"));

    // an unknown host key: refused before anything is sent
    let empty = data.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let stranger = SshDriver {
        known_hosts: empty,
        ..driver.clone()
    };
    let err = stranger
        .run(
            &target,
            "interface Gi1/0/7\nshutdown",
            Duration::from_secs(20),
        )
        .await
        .unwrap_err();
    assert!(err.contains("refused: unknown host key"), "{err}");

    // a changed host key: refused too
    server.rekey().unwrap();
    let err = driver
        .run(
            &target,
            "interface Gi1/0/7\nshutdown",
            Duration::from_secs(20),
        )
        .await
        .unwrap_err();
    assert!(err.contains("refused: changed host key"), "{err}");
    assert_eq!(server.applied().len(), 2, "nothing reached the switch");

    // a device error is an error with the device's words
    let fresh = SshDriver {
        known_hosts: server.dir().join("known_hosts"),
        ..driver
    };
    std::fs::write(
        server.dir().join("known_hosts"),
        format!(
            "[127.0.0.1]:{} {}",
            server.addr().rsplit(':').next().unwrap(),
            std::fs::read_to_string(server.dir().join("host_key.pub")).unwrap()
        ),
    )
    .unwrap();
    let err = fresh
        .run(&target, "interface Gi9/9/9", Duration::from_secs(20))
        .await
        .unwrap_err();
    assert!(err.contains("% Invalid interface Gi9/9/9"), "{err}");
}

/// Crash cycles against the real sshd: each cycle proposes and approves a bounce, drops
/// the running execution at a random moment (the ssh client in flight finishes on its
/// own: the device may have applied the command with nothing recorded), then recovers
/// from the journal on disk and resumes. Seeded; the seed is printed
/// (`SEAWATCH_CRASH_SEED` repeats it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_cycles_over_ssh_never_send_an_action_twice() {
    use rand::{Rng, SeedableRng};
    use seawatch_actors::runbook::spec::Phase;
    let server = match Managed::start() {
        Ok(s) => s,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "sshd needed under CI: {e}"
            );
            eprintln!("SKIPPED: no sshd for the ssh crash cycles: {e}");
            return;
        }
    };
    let seed: u64 = std::env::var("SEAWATCH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 % 10_000)
                .unwrap_or(1)
        });
    eprintln!("crash cycles: seed {seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let driver = SshDriver {
        ssh: "ssh".into(),
        key: server.dir().join("client_key"),
        known_hosts: server.dir().join("known_hosts"),
        user: user(),
    };
    let target = TargetAccess {
        id: "acc-sw-1".into(),
        kind: "switch".into(),
        zone: "it".into(),
        address: Some(server.addr()),
        user: None,
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    // `at`: the node's clock (a restarted node comes back a minute later: an action in
    // doubt is verified once its timeout has passed since it started)
    let open = |dir: &Path, at: i64| {
        let (rem, _) = Remediation::open(
            RemediationPaths {
                runbooks: repo.join("runbooks"),
                policies: repo.join("policies"),
                audit: dir.join("audit"),
            },
            Clock::manual(at),
            RemediationMetrics::register(&Metrics::new()),
        )
        .unwrap();
        Executions::recover("aurora", rem, vec![target.clone()]).unwrap()
    };
    let cycles = 12;
    let mut ends = std::collections::BTreeMap::new();
    // crash points are drawn over the length of a whole run, measured on cycle 0 (which
    // does not crash)
    let mut run_ms = 0u64;
    for cycle in 0..=cycles {
        // a fresh switch: every port enabled, nothing applied
        std::fs::remove_file(server.dir().join("ports")).ok();
        std::fs::remove_file(server.dir().join("applied.log")).ok();
        let data = tempfile::tempdir().unwrap();
        let ex = open(data.path(), 1_741_921_200_000);
        let mut params = serde_json::Map::new();
        params.insert("interface".into(), "Gi1/0/7".into());
        let e = ex
            .propose(
                Proposal {
                    runbook: "bounce-access-port".into(),
                    targets: vec!["acc-sw-1".into()],
                    params,
                    requester: "alice".into(),
                    role: "operator".into(),
                    incident: None,
                },
                ShipFacts::default(),
                1_741_921_200_000,
            )
            .unwrap();
        ex.decide(&e.id, "bob", true).unwrap();
        let crash_after = if cycle == 0 {
            Duration::from_secs(600)
        } else {
            Duration::from_millis(rng.random_range(0..run_ms.max(1)))
        };
        let t = std::time::Instant::now();
        tokio::select! {
            _ = ex.run(&e.id, &driver) => {}
            _ = tokio::time::sleep(crash_after) => {}
        }
        if cycle == 0 {
            run_ms = t.elapsed().as_millis() as u64;
            eprintln!("crash cycles: a whole run takes {run_ms} ms");
        }
        drop(ex);
        // let an ssh client that was in flight finish (the device may have applied it)
        tokio::time::sleep(Duration::from_millis(400)).await;
        let ex = open(data.path(), 1_741_921_260_000);
        if ex.runnable().contains(&e.id) {
            ex.run(&e.id, &driver).await.unwrap();
        }
        let done = ex.get(&e.id).unwrap();
        assert!(
            matches!(done.state, ExecState::Succeeded | ExecState::RolledBack),
            "cycle {cycle} (seed {seed}): {:?} {:#?}",
            done.state,
            done.steps
        );
        let applied = server.applied();
        assert!(
            applied.iter().filter(|a| *a == "Gi1/0/7 shutdown").count() <= 1,
            "cycle {cycle} (seed {seed}): {applied:?}"
        );
        for i in 0..2 {
            let started = done
                .steps
                .iter()
                .filter(|s| {
                    s.phase == Phase::Action
                        && s.index == i
                        && s.status == seawatch_actors::runbook::exec::StepStatus::Started
                })
                .count();
            assert!(
                started <= 1,
                "cycle {cycle} (seed {seed}): action {i} started {started} times"
            );
        }
        let ports = std::fs::read_to_string(server.dir().join("ports")).unwrap();
        assert!(
            ports.contains("Gi1/0/7 enabled"),
            "cycle {cycle} (seed {seed}): port left down"
        );
        *ends.entry(format!("{:?}", done.state)).or_insert(0) += 1;
    }
    eprintln!("crash cycles: {cycles} cycles, ends {ends:?}");
}

/// Each target through its own real sshd (its own switch state), counting the calls in
/// flight at once.
struct PerTarget {
    drivers: std::collections::HashMap<String, SshDriver>,
    inflight: std::sync::Mutex<(usize, usize)>,
}

impl seawatch_actors::runbook::exec::Driver for PerTarget {
    fn run<'a>(
        &'a self,
        target: &'a TargetAccess,
        command: &'a str,
        timeout: Duration,
    ) -> futures::future::BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            {
                let mut f = self.inflight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            let out = self.drivers[&target.id].run(target, command, timeout).await;
            self.inflight.lock().unwrap().0 -= 1;
            out
        })
    }
}

/// Three switches, each a real sshd with its own CLI state, as the targets of one bounce:
/// they run side by side (the shipped policy allows 3 at once for a low-risk runbook over
/// 3 targets), each applies its actions once; when one switch's port never comes back
/// (its cable is out), every touched switch is rolled back and left enabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_targets_over_ssh_and_a_failed_verify_rolls_back_every_switch() {
    let mut servers = Vec::new();
    for _ in 0..3 {
        match Managed::start() {
            Ok(s) => servers.push(s),
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "sshd needed under CI: {e}"
                );
                eprintln!("SKIPPED: no sshd for the parallel ssh targets: {e}");
                return;
            }
        }
    }
    let ids: Vec<String> = (1..=3).map(|i| format!("acc-sw-{i}")).collect();
    let targets: Vec<TargetAccess> = ids
        .iter()
        .zip(&servers)
        .map(|(id, s)| TargetAccess {
            id: id.clone(),
            kind: "switch".into(),
            zone: "it".into(),
            address: Some(s.addr()),
            user: None,
        })
        .collect();
    let driver = PerTarget {
        drivers: ids
            .iter()
            .zip(&servers)
            .map(|(id, s)| {
                (
                    id.clone(),
                    SshDriver {
                        ssh: "ssh".into(),
                        key: s.dir().join("client_key"),
                        known_hosts: s.dir().join("known_hosts"),
                        user: user(),
                    },
                )
            })
            .collect(),
        inflight: std::sync::Mutex::new((0, 0)),
    };
    let data = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let (rem, _) = Remediation::open(
        RemediationPaths {
            runbooks: repo.join("runbooks"),
            policies: repo.join("policies"),
            audit: data.path().join("audit"),
        },
        Clock::manual(1_741_921_200_000),
        RemediationMetrics::register(&Metrics::new()),
    )
    .unwrap();
    let ex = Executions::recover("aurora", rem, targets).unwrap();
    let bounce = || {
        let mut params = serde_json::Map::new();
        params.insert("interface".into(), "Gi1/0/7".into());
        Proposal {
            runbook: "bounce-access-port".into(),
            targets: ids.clone(),
            params,
            requester: "alice".into(),
            role: "operator".into(),
            incident: None,
        }
    };
    let e = ex
        .propose(bounce(), ShipFacts::default(), 1_741_921_200_000)
        .unwrap();
    assert_eq!(e.policy.max_parallel, 3);
    ex.decide(&e.id, "bob", true).unwrap();
    assert_eq!(ex.run(&e.id, &driver).await.unwrap(), ExecState::Succeeded);
    assert_eq!(
        driver.inflight.lock().unwrap().1,
        3,
        "three switches at once"
    );
    for s in &servers {
        assert_eq!(
            s.applied(),
            vec!["Gi1/0/7 shutdown", "Gi1/0/7 no shutdown"],
            "{}",
            s.addr()
        );
    }

    // fresh switches; the second one's cable is out: its verify fails
    for s in &servers {
        std::fs::remove_file(s.dir().join("ports")).ok();
        std::fs::remove_file(s.dir().join("applied.log")).ok();
    }
    std::fs::write(servers[1].dir().join("unplugged"), "Gi1/0/7").unwrap();
    let e = ex
        .propose(bounce(), ShipFacts::default(), 1_741_921_200_000)
        .unwrap();
    ex.decide(&e.id, "bob", true).unwrap();
    assert_eq!(ex.run(&e.id, &driver).await.unwrap(), ExecState::RolledBack);
    for s in &servers {
        assert_eq!(
            s.applied(),
            vec![
                "Gi1/0/7 shutdown",
                "Gi1/0/7 no shutdown",
                "Gi1/0/7 no shutdown"
            ],
            "{}: action, then rollback",
            s.addr()
        );
        let ports = std::fs::read_to_string(s.dir().join("ports")).unwrap();
        assert!(ports.contains("Gi1/0/7 enabled"), "{ports}");
    }
}
