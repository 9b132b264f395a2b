//! Scenario loading: every error names the file, the key and what was expected.

use seawatch_simulators::{Scenario, ScenarioError, ScenarioErrorKind};

const BASE: &str = r#"name = "t"
seed = 1
duration_s = 3600

[[ship]]
id = "aurora"
log_eps = 100

[[ship.device]]
id = "fw-1"
kind = "firewall"

[[ship.device]]
id = "core-sw-1"
kind = "switch"
depends_on = ["fw-1"]

[[ship.device]]
id = "db-1"
kind = "server"
depends_on = ["core-sw-1"]

[[ship.link]]
id = "vsat-1"
kind = "vsat"
band = "Ku"
"#;

fn err(text: &str) -> ScenarioError {
    Scenario::parse(text, "ships/test.toml").expect_err("should be rejected")
}

fn with_fault(target: &str, kind: &str, at: u64, dur: u64) -> String {
    format!(
        "{BASE}\n[[fault]]\nship = \"aurora\"\ntarget = \"{target}\"\nkind = \"{kind}\"\nat_s = {at}\nduration_s = {dur}\n"
    )
}

fn assert_names(e: &ScenarioError, kind: ScenarioErrorKind, key: &str, expect: &str) {
    let text = e.to_string();
    assert_eq!(e.kind, kind, "{text}");
    assert!(
        text.starts_with("ships/test.toml"),
        "names the file: {text}"
    );
    assert_eq!(e.key, key, "{text}");
    assert!(text.contains(key), "names the key: {text}");
    assert!(
        text.contains(expect),
        "says what was expected ({expect}): {text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
}

#[test]
fn base_is_valid() {
    let s = Scenario::parse(BASE, "ships/test.toml").unwrap();
    assert_eq!(s.ship[0].device.len(), 3);
    assert_eq!(s.ship[0].metric_interval_s, 10, "default");
    assert!(s.faults().is_empty());
}

#[test]
fn unknown_key_has_line_and_column() {
    let text = BASE.replace(
        "kind = \"firewall\"",
        "kind = \"firewall\"\ncolour = \"red\"",
    );
    let e = err(&text);
    assert_names(
        &e,
        ScenarioErrorKind::Syntax,
        "ship[0].device[0].colour",
        "expected",
    );
    assert!(e.message.contains("colour"), "{e}");
    let line = text.lines().position(|l| l.starts_with("colour")).unwrap() + 1;
    assert_eq!(e.position, Some((line, 1)), "{e}");
    assert!(e.to_string().contains(&format!(":{line}:1:")), "{e}");
}

#[test]
fn unknown_device_kind() {
    let e = err(&BASE.replace("kind = \"switch\"", "kind = \"swich\""));
    assert_names(
        &e,
        ScenarioErrorKind::Syntax,
        "ship[0].device[1].kind",
        "expected one of",
    );
    assert!(e.message.contains("swich"), "{e}");
    assert!(e.position.is_some());
}

#[test]
fn missing_required_key() {
    let e = err(&BASE.replace("duration_s = 3600\n", ""));
    assert_eq!(e.kind, ScenarioErrorKind::Syntax);
    assert!(e.to_string().contains("duration_s"), "{e}");
}

#[test]
fn depends_on_unknown_device() {
    let e = err(&BASE.replace(
        "depends_on = [\"core-sw-1\"]",
        "depends_on = [\"core-sw-9\"]",
    ));
    assert_names(
        &e,
        ScenarioErrorKind::UnknownDependency,
        "ship[0].device[2].depends_on",
        "expected the id of one of its [[ship.device]]",
    );
    assert!(e.message.contains("core-sw-9"));
    let line = BASE
        .lines()
        .position(|l| l.contains("\"core-sw-1\"]"))
        .unwrap()
        + 1;
    assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
}

#[test]
fn dependency_cycle() {
    let text = BASE.replace(
        "id = \"fw-1\"\nkind = \"firewall\"",
        "id = \"fw-1\"\nkind = \"firewall\"\ndepends_on = [\"db-1\"]",
    );
    let e = err(&text);
    assert_eq!(e.kind, ScenarioErrorKind::DependencyCycle, "{e}");
    assert!(e.key.starts_with("ship[0].device["), "{e}");
    assert!(e.key.ends_with("].depends_on"), "{e}");
    assert!(
        e.message.contains("fw-1") && e.message.contains("db-1"),
        "{e}"
    );
    assert!(e.message.contains("expected"), "{e}");
}

#[test]
fn duplicate_ids() {
    let e = err(&BASE.replace("id = \"db-1\"", "id = \"fw-1\""));
    assert_names(
        &e,
        ScenarioErrorKind::DuplicateId,
        "ship[0].device[2].id",
        "expected unique",
    );
    // a link may not reuse a device id either (fault targets would be ambiguous)
    let e = err(&BASE.replace("id = \"vsat-1\"", "id = \"db-1\""));
    assert_names(
        &e,
        ScenarioErrorKind::DuplicateId,
        "ship[0].link[0].id",
        "expected unique",
    );
}

#[test]
fn fault_on_unknown_ship_or_target() {
    let text = with_fault("core-sw-1", "down", 10, 10)
        .replace("ship = \"aurora\"\ntarget", "ship = \"borealis\"\ntarget");
    let e = err(&text);
    assert_names(
        &e,
        ScenarioErrorKind::UnknownShip,
        "fault[0].ship",
        "expected one of [aurora]",
    );
    let e = err(&with_fault("core-sw-7", "down", 10, 10));
    assert_names(
        &e,
        ScenarioErrorKind::UnknownTarget,
        "fault[0].target",
        "expected a device or link id",
    );
}

#[test]
fn fault_kind_must_fit_target() {
    for kind in ["rain_fade", "blockage", "link_outage"] {
        let e = err(&with_fault("core-sw-1", kind, 10, 10));
        assert_names(
            &e,
            ScenarioErrorKind::FaultKindMismatch,
            "fault[0].kind",
            "needs a link",
        );
    }
    for kind in ["cpu_saturation", "down", "disk_full", "interface_errors"] {
        let e = err(&with_fault("vsat-1", kind, 10, 10));
        assert_names(
            &e,
            ScenarioErrorKind::FaultKindMismatch,
            "fault[0].kind",
            "needs a device",
        );
    }
    let e = err(&with_fault("core-sw-1", "disk_full", 10, 10));
    assert_names(
        &e,
        ScenarioErrorKind::FaultKindMismatch,
        "fault[0].kind",
        "expected a server or pbx",
    );
    // rain fade on a C-band antenna cannot happen
    let e =
        err(&with_fault("vsat-1", "rain_fade", 10, 10).replace("band = \"Ku\"", "band = \"C\""));
    assert_names(
        &e,
        ScenarioErrorKind::FaultKindMismatch,
        "fault[0].kind",
        "Ku or Ka",
    );
    // fitting kinds load
    Scenario::parse(&with_fault("vsat-1", "rain_fade", 10, 10), "x").unwrap();
    Scenario::parse(&with_fault("db-1", "disk_full", 10, 10), "x").unwrap();
}

#[test]
fn overlapping_impossible_faults() {
    let mut text = with_fault("core-sw-1", "down", 100, 600);
    text.push_str("\n[[fault]]\nship = \"aurora\"\ntarget = \"core-sw-1\"\nkind = \"flapping\"\nat_s = 500\nduration_s = 300\n");
    let e = err(&text);
    assert_names(
        &e,
        ScenarioErrorKind::OverlappingFaults,
        "fault[1].kind",
        "expected windows that do not overlap",
    );
    assert!(e.message.contains("fault[0]"), "{e}");
    // after the first window ends it is fine; cpu and interface errors can coexist
    let mut ok = with_fault("core-sw-1", "down", 100, 600);
    ok.push_str("\n[[fault]]\nship = \"aurora\"\ntarget = \"core-sw-1\"\nkind = \"flapping\"\nat_s = 700\nduration_s = 300\n");
    Scenario::parse(&ok, "x").unwrap();
    let mut ok = with_fault("core-sw-1", "cpu_saturation", 100, 600);
    ok.push_str("\n[[fault]]\nship = \"aurora\"\ntarget = \"core-sw-1\"\nkind = \"interface_errors\"\nat_s = 200\nduration_s = 300\n");
    Scenario::parse(&ok, "x").unwrap();
}

#[test]
fn fault_beyond_duration() {
    let e = err(&with_fault("core-sw-1", "down", 3500, 200));
    assert_names(
        &e,
        ScenarioErrorKind::FaultOutOfRange,
        "fault[0].at_s",
        "expected at_s + duration_s <= 3600",
    );
    let e = err(&with_fault("core-sw-1", "down", 100, 0));
    assert_names(
        &e,
        ScenarioErrorKind::InvalidValue,
        "fault[0].duration_s",
        "expected a positive",
    );
}

#[test]
fn invalid_values() {
    let e = err(&BASE.replace("id = \"db-1\"", "id = \"db 1\""));
    assert_names(
        &e,
        ScenarioErrorKind::InvalidValue,
        "ship[0].device[2].id",
        "HOSTNAME",
    );
    let e = err(&BASE.replace("log_eps = 100", "log_eps = -1"));
    assert_names(
        &e,
        ScenarioErrorKind::InvalidValue,
        "ship[0].log_eps",
        "expected a rate",
    );
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        BASE.replace("log_eps = 100", "log_eps = 100\nlogeps = 3"),
    )
    .unwrap();
    let e = Scenario::load(&path).unwrap_err();
    assert!(
        e.to_string().starts_with(&path.display().to_string()),
        "{e}"
    );
    assert_eq!(e.key, "ship[0].logeps");
    let e = Scenario::load(dir.path().join("missing.toml")).unwrap_err();
    assert_eq!(e.kind, ScenarioErrorKind::Io);
    assert!(e.to_string().contains("missing.toml"), "{e}");
}

#[test]
fn inventory_ignores_faults() {
    // a fault on an unknown target does not matter for an inventory
    let text = with_fault("nope", "down", 10, 10);
    assert!(Scenario::parse(&text, "x").is_err());
    let ship = Scenario::parse_inventory(&text, "x").unwrap();
    assert_eq!(ship.id, "aurora");
    assert_eq!(
        ship.device("core-sw-1").unwrap().depends_on,
        vec!["fw-1".to_string()]
    );
    // but the inventory itself is validated, and there must be exactly one ship
    let e = Scenario::parse_inventory(&BASE.replace("\"core-sw-1\"]", "\"x\"]"), "inv.toml")
        .unwrap_err();
    assert_eq!(e.kind, ScenarioErrorKind::UnknownDependency);
    let two = format!("{BASE}\n[[ship]]\nid = \"b\"\n");
    let e = Scenario::parse_inventory(&two, "inv.toml").unwrap_err();
    assert_eq!(e.kind, ScenarioErrorKind::Inventory);
    assert!(e.to_string().contains("expected exactly one"), "{e}");
}

#[test]
fn ship_inventory_and_dependents() {
    let s = Scenario::parse(BASE, "x").unwrap();
    let ship = s.ship_inventory("aurora").unwrap();
    assert_eq!(
        ship.dependents_of("fw-1"),
        vec!["core-sw-1".to_string(), "db-1".to_string()]
    );
    assert!(s.ship_inventory("borealis").is_none());
}

#[test]
fn every_sample_scenario_loads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            for ship in &s.ship {
                assert!(
                    ship.device.len() <= 80,
                    "{}: {} devices",
                    path.display(),
                    ship.device.len()
                );
                Scenario::load_inventory(&path).ok();
            }
            n += 1;
        }
    }
    assert!(n >= 4, "at least 4 sample scenarios, found {n}");
}
