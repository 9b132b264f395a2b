//! A ship node set up for remediation tests: runbooks in `DATA/runbooks` (the starter set
//! or the given files), a targets file, the shipped policy, loopback ports; and an open
//! incident to hang runbooks on.

use std::path::Path;

use seawatch_actors::incident::model::{Incident, IncidentSeverity, IncidentState};
use seawatch_model::{AlertClass, Inventory};
use seawatch_runtime::Clock;
use seawatch_topologies::config::ShipConfig;
use seawatch_topologies::ship::ShipNode;

/// Starts ship `aurora` on `data` with the starter runbooks (when `runbooks` is empty) or
/// the given `(file name, TOML)` runbooks, `targets` as `runbooks/targets.json`, and the
/// shipped policy.
pub async fn node(data: &Path, runbooks: &[(&str, &str)], targets: &str) -> ShipNode {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let dir = data.join("runbooks");
    std::fs::create_dir_all(&dir).unwrap();
    if runbooks.is_empty() {
        for f in std::fs::read_dir(repo.join("runbooks")).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    for (name, text) in runbooks {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("targets.json"), targets).unwrap();
    let text = format!(
        "ship = \"aurora\"\n[policy]\ndir = {:?}\n",
        repo.join("policies").display().to_string()
    );
    let mut cfg = ShipConfig::parse(&text, "test").unwrap();
    cfg.data = data.to_path_buf();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog = "127.0.0.1:0".parse().unwrap();
    ShipNode::start(&cfg, Inventory::default(), Clock::system())
        .await
        .unwrap()
}

/// An open incident of `aurora` rooted at `root`, with `class` as its symptom.
pub fn incident(id: &str, root: &str, class: AlertClass) -> Incident {
    let now = Clock::system().now_ms();
    Incident {
        id: id.into(),
        ship: "aurora".into(),
        root_cause: root.into(),
        severity: IncidentSeverity::Major,
        state: IncidentState::Open,
        alerts: 2,
        opened_at_ms: now,
        resolved_at_ms: None,
        active_since_ms: vec![now],
        members: vec![root.into()],
        summary: format!("{root} is in trouble"),
        merged_into: None,
        candidates: Vec::new(),
        evidence: Vec::new(),
        classes: vec![class],
    }
}
