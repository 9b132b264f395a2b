//! `seawatch ship` as a process re-reads its inventory on SIGHUP: devices added to the
//! file get actors and removed ones lose theirs, without a restart; a broken file is
//! reported and the running inventory kept. The reload is a supervised child of the
//! ship's edge, so it works from the moment `/healthz` says 200.

#![cfg(unix)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// A scenario file whose one ship's devices are `sw-0` .. `sw-{n-1}` behind `core-sw-1`.
fn inventory(n: usize) -> String {
    let mut s = String::from(
        "name = \"reload\"\nseed = 1\nduration_s = 60\n\n[[ship]]\nid = \"aurora\"\n\n\
         [[ship.device]]\nid = \"core-sw-1\"\nkind = \"switch\"\ndepends_on = []\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "\n[[ship.device]]\nid = \"sw-{i}\"\nkind = \"switch\"\ndepends_on = [\"core-sw-1\"]\n"
        ));
    }
    s
}

/// `seawatch_actor_live{kind="device",ship="aurora"}` on the node's /metrics.
fn live_devices(ship: &ShipProc) -> Option<f64> {
    ship.metrics()
        .lines()
        .find(|l| {
            l.starts_with("seawatch_actor_live{")
                && l.contains("kind=\"device\"")
                && l.contains("ship=\"aurora\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn hup(ship: &ShipProc) {
    let ok = Command::new("kill")
        .args(["-HUP", &ship.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP");
}

/// Waits (bounded, 20 s) until the node has `n` live device actors.
fn wait_live(ship: &ShipProc, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = live_devices(ship);
        if live == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "live device actors {live:?}, want {n}\n{}",
            ship.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_the_inventory_and_a_broken_file_keeps_the_running_one() {
    let tmp = tempfile::tempdir().unwrap();
    let inv = tmp.path().join("inventory.toml");
    std::fs::write(&inv, inventory(2)).unwrap();
    let ship = ShipProc::start(
        &tmp.path().join("data"),
        Some(&format!(
            "ship = \"aurora\"\ninventory = {:?}\n",
            inv.display().to_string()
        )),
    );
    wait_live(&ship, 3.0);

    // Two devices more.
    std::fs::write(&inv, inventory(4)).unwrap();
    hup(&ship);
    wait_live(&ship, 5.0);

    // A broken file: reported, nothing changes, the node stays up.
    std::fs::write(&inv, "[[ship]\nid = ").unwrap();
    hup(&ship);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ship.output().contains("keeping the running inventory") {
        assert!(
            Instant::now() < deadline,
            "no report of the broken file:\n{}",
            ship.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(live_devices(&ship), Some(5.0));
    assert!(matches!(
        http(ship.http, "GET", "/healthz", b""),
        Ok((200, _))
    ));

    // Back to one device behind the core.
    std::fs::write(&inv, inventory(1)).unwrap();
    hup(&ship);
    wait_live(&ship, 2.0);
}
