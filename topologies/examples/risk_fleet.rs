//! Link-outage prediction over generated fleets, per cause.
//!
//! For each seed, `random_fleet(seed)` (40 devices a ship), with one satellite-link
//! fault of a predictable cause put on each ship in turn (`force_link_fault`: blockage,
//! sun outage, rain fade), is simulated (no background logs: they do not
//! touch the link physics) and every satellite link's telemetry stream — modem KPIs,
//! heading, position, rain — is fed to that link's predictor exactly as the link actor
//! feeds it (`seawatch_actors::link::{risk_model, observe_risk}`, from the link's
//! inventory entry; never the fault list). The scorer alone then matches the alerts
//! against the simulator's own losses of lock and labels each outage with the fault
//! whose window holds it (`score_risk`). It prints, for blockage, sun outage, rain fade
//! and the three together: recall at ≥ 60 s lead, precision, median |predicted − actual
//! start|; alerts on the same fleets with every fault removed (calm passages); and the
//! predictor's cost per link update.
//!
//! `cargo run --release -p seawatch-topologies --example risk_fleet -- 0 40` scores seeds
//! 0..40 (development); `-- fresh 40` draws 40 seeds ≥ 10,000 from the clock and prints
//! them. `RISK_VERBOSE=1` lists every outage and alert.

use std::collections::HashMap;
use std::time::Instant;

use seawatch_actors::link::risk::{AlertEdge, RiskModel};
use seawatch_actors::link::{observe_risk, risk_model, LinkThresholds};
use seawatch_simulators::fleet::{force_link_fault, random_fleet, PREDICTABLE_LINK_FAULTS};
use seawatch_simulators::generate::{PayloadKind, Simulator};
use seawatch_simulators::scenario::{LinkKind, Scenario};
use seawatch_simulators::score::{score_risk, LinkOutage, ScoredRisk};

/// Lead an alert needs to count as predicting an outage, s.
const LEAD_S: f64 = 60.0;

struct Run {
    alerts: Vec<(ScoredRisk, String)>,
    outages: Vec<LinkOutage>,
    updates: u64,
    nanos: u128,
}

/// Simulates `sc` and feeds every satellite link's predictor.
fn replay(sc: &Scenario) -> Run {
    let mut sc = sc.clone();
    for s in &mut sc.ship {
        s.log_eps = 0.0;
    }
    let inv: Vec<_> = sc
        .ship
        .iter()
        .map(seawatch_topologies::inventory::from_ship)
        .collect();
    let down_below = LinkThresholds::default().down_below_db;
    // (ship, link) → (model, up)
    let mut models: HashMap<(String, String), (RiskModel, bool)> = HashMap::new();
    for (ship, inv) in sc.ship.iter().zip(&inv) {
        for (l, spec) in ship.link.iter().zip(&inv.links) {
            if matches!(l.kind, LinkKind::Vsat | LinkKind::Leo) {
                models.insert(
                    (ship.id.clone(), l.id.clone()),
                    (risk_model(spec, down_below), true),
                );
            }
        }
    }
    let mut sim = Simulator::new(&sc);
    let start = sim.start_ms();
    let end_s = (sim.end_ms() - start) as f64 / 1000.0;
    let mut alerts = Vec::new();
    let mut open: Vec<LinkOutage> = Vec::new();
    let mut outages = Vec::new();
    let (mut updates, mut nanos) = (0u64, 0u128);
    sim.run_to_end(|t| {
        if t.kind != PayloadKind::Metric {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(t.bytes) else {
            return;
        };
        let (Some(name), Some(value)) = (v["metric"].as_str(), v["value"].as_f64()) else {
            return;
        };
        let at = (t.ts_ms - start) as f64 / 1000.0;
        let targets: Vec<(String, String)> = match v["labels"]["link"].as_str() {
            Some(link) => vec![(t.ship.to_string(), link.to_string())],
            None if v["labels"]["ship"].is_string() => models
                .keys()
                .filter(|(s, _)| s == t.ship)
                .cloned()
                .collect(),
            None => return,
        };
        for key in targets {
            let Some((m, up)) = models.get_mut(&key) else {
                continue;
            };
            if name == "modem_lock" {
                let locked = value >= 0.5;
                let i = open.iter().position(|o| o.ship == key.0 && o.link == key.1);
                match (i, locked) {
                    (None, false) => open.push(LinkOutage {
                        ship: key.0.clone(),
                        link: key.1.clone(),
                        from_s: at,
                        to_s: end_s,
                    }),
                    (Some(i), true) => {
                        let mut o = open.swap_remove(i);
                        o.to_s = at;
                        outages.push(o);
                    }
                    _ => {}
                }
                *up = locked;
            }
            if name == "modem_esno_db" && value < down_below {
                *up = false;
            }
            let clock = Instant::now();
            let edge = observe_risk(m, name, t.ts_ms, value, *up);
            nanos += clock.elapsed().as_nanos();
            updates += 1;
            if edge == Some(AlertEdge::Fire) {
                let e = m.estimate();
                alerts.push((
                    ScoredRisk {
                        ship: key.0.clone(),
                        link: key.1.clone(),
                        raised_at_s: at,
                        predicted_outage_at_s: e
                            .predicted_ms
                            .map(|ms| (ms - start) as f64 / 1000.0),
                    },
                    e.cause.as_str().to_string(),
                ));
            }
        }
    });
    outages.extend(open);
    outages.sort_by(|a, b| a.from_s.total_cmp(&b.from_s));
    Run {
        alerts,
        outages,
        updates,
        nanos,
    }
}

#[derive(Default)]
struct Tally {
    outages: usize,
    hits: usize,
    errors: Vec<f64>,
    alerts: usize,
    true_alerts: usize,
}

fn kind_of_cause(cause: &str) -> &'static str {
    match cause {
        "blockage" => "blockage",
        "sun_outage" => "sun_outage",
        _ => "rain_fade",
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next().unwrap_or_else(|| "0".into());
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let seeds: Vec<u64> = if first == "fresh" {
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        (0..count)
            .map(|i| 10_000 + (base * 7919 + i * 104_729) % 1_000_000_000)
            .collect()
    } else {
        let from: u64 = first.parse().unwrap_or(0);
        (from..from + count).collect()
    };
    println!("seeds: {seeds:?}");
    let verbose = std::env::var_os("RISK_VERBOSE").is_some();
    let kinds = ["blockage", "sun_outage", "rain_fade"];
    let mut tally: HashMap<&str, Tally> = HashMap::new();
    let (mut calm_alerts, mut calm_hours, mut updates, mut nanos) = (0usize, 0.0, 0u64, 0u128);
    let mut forced: HashMap<&str, usize> = HashMap::new();
    for &seed in &seeds {
        // 40 devices a ship: the link physics does not depend on the LAN size
        let mut sc = random_fleet(seed, None, Some(40)).scenario;
        // every ship gets one satellite-link fault of a predictable cause, in turn (a
        // generated fleet plans few); a sun outage the sky does not allow on that route
        // and hour becomes a rain fade. Only the scenario changes: the predictors see
        // telemetry, never this list.
        for i in 0..sc.ship.len() {
            let k = PREDICTABLE_LINK_FAULTS[(seed as usize + i) % 3];
            let placed = force_link_fault(&mut sc, i, seed, k).or_else(|| {
                force_link_fault(&mut sc, i, seed, seawatch_simulators::FaultKind::RainFade)
            });
            if let Some(k) = placed {
                *forced.entry(k.as_str()).or_insert(0usize) += 1;
            }
        }
        let run = replay(&sc);
        updates += run.updates;
        nanos += run.nanos;
        let scored: Vec<ScoredRisk> = run.alerts.iter().map(|(a, _)| a.clone()).collect();
        let s = score_risk(&sc, &run.outages, &scored);
        for o in &s.outages {
            let kind = o.fault.as_deref().unwrap_or("none");
            if verbose {
                eprintln!(
                    "seed {seed} {}/{} outage {:.0}-{:.0} fault {kind} lead {:?} err {:?}",
                    o.outage.ship,
                    o.outage.link,
                    o.outage.from_s,
                    o.outage.to_s,
                    o.lead_s,
                    o.predicted_error_s
                );
            }
            let Some(k) = kinds.iter().find(|k| **k == kind) else {
                continue;
            };
            let t = tally.entry(k).or_default();
            t.outages += 1;
            if o.lead_s.is_some_and(|l| l >= LEAD_S) {
                t.hits += 1;
                if let Some(e) = o.predicted_error_s {
                    t.errors.push(e.abs());
                }
            }
        }
        // an alert is true when an outage of its link follows within the horizon, or it
        // falls in a window of a fault on its link (score_risk's rule)
        for (a, cause) in &run.alerts {
            let alone = score_risk(&sc, &run.outages, std::slice::from_ref(a));
            let t = tally.entry(kind_of_cause(cause)).or_default();
            t.alerts += 1;
            t.true_alerts += usize::from(alone.false_alerts == 0);
            if verbose {
                eprintln!(
                    "seed {seed} alert {a:?} cause {cause} false {}",
                    alone.false_alerts
                );
            }
        }
        // the same fleet with every fault removed: a calm passage
        let mut calm = sc.clone();
        calm.fault.clear();
        let run = replay(&calm);
        calm_alerts += run.alerts.len();
        calm_hours += calm.ship.len() as f64 * calm.duration_s as f64 / 3600.0;
        if verbose {
            for (a, cause) in &run.alerts {
                eprintln!("seed {seed} calm alert {a:?} cause {cause}");
            }
        }
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let mut placed: Vec<_> = forced.iter().collect();
    placed.sort();
    println!("link faults placed: {placed:?}");
    println!("| cause | outages | recall (lead ≥ 60 s) | alerts | precision | median \\|start error\\| s |");
    println!("|---|---|---|---|---|---|");
    let mut all = Tally::default();
    for k in kinds {
        let mut t = tally.remove(k).unwrap_or_default();
        println!(
            "| {k} | {} | {:.2} ({}) | {} | {:.2} | {:.0} |",
            t.outages,
            t.hits as f64 / t.outages.max(1) as f64,
            t.hits,
            t.alerts,
            t.true_alerts as f64 / t.alerts.max(1) as f64,
            med(&mut t.errors)
        );
        all.outages += t.outages;
        all.hits += t.hits;
        all.alerts += t.alerts;
        all.true_alerts += t.true_alerts;
        all.errors.extend(t.errors);
    }
    println!(
        "| together | {} | {:.2} ({}) | {} | {:.2} | {:.0} |",
        all.outages,
        all.hits as f64 / all.outages.max(1) as f64,
        all.hits,
        all.alerts,
        all.true_alerts as f64 / all.alerts.max(1) as f64,
        med(&mut all.errors)
    );
    println!(
        "\nCalm passages (same fleets, no faults): {calm_alerts} risk alerts over {calm_hours:.1} ship-hours"
    );
    println!(
        "Predictor: {:.0} ns per link update ({updates} updates, in-loop timing)",
        nanos as f64 / updates.max(1) as f64
    );
}
