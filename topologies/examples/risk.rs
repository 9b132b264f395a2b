//! Link-outage prediction over the scenario suite: runs every scenario through
//! `sim run`, scores its `link_risk_alerts` against the simulator's own losses of lock
//! and the fault list (scoring only: the ships never see either), and prints lead times
//! and false alerts, then the predictor's cost per sample.
//!
//! `cargo run --release -p seawatch-topologies --example risk -- simulators/scenarios 200`
//! (the optional second argument caps each ship's background log rate).

use std::path::PathBuf;
use std::time::Instant;

use seawatch_actors::link::risk::{RiskConfig, RiskModel};
use seawatch_simulators::scenario::Scenario;
use seawatch_simulators::score::{link_outages, score_risk, ScoredRisk};
use seawatch_topologies::sim::{run, SimRunOptions};
use seawatch_topologies::suite::scenario_files;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "simulators/scenarios".into()));
    let cap = args.next().and_then(|a| a.parse::<f64>().ok());
    let files = scenario_files(&dir).unwrap_or_else(|e| {
        eprintln!("risk: {}: {e}", dir.display());
        std::process::exit(2);
    });
    let opts = SimRunOptions {
        progress: false,
        ..SimRunOptions::default()
    };
    println!("| scenario | outages (sat links) | predicted | lead s (each) | predicted − actual s | alerts | false alerts |");
    println!("|---|---|---|---|---|---|---|");
    let (mut n_out, mut n_pred, mut n_alerts, mut n_false, mut hours) = (0, 0, 0, 0, 0.0);
    let mut leads = Vec::new();
    for path in &files {
        let mut sc = Scenario::load(path).unwrap_or_else(|e| {
            eprintln!("risk: {e}");
            std::process::exit(2);
        });
        if let Some(c) = cap {
            for s in &mut sc.ship {
                s.log_eps = s.log_eps.min(c);
            }
        }
        let report = match run(&sc, &opts).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("risk: {}: {e}", path.display());
                std::process::exit(1);
            }
        };
        let alerts: Vec<ScoredRisk> = report
            .link_risk_alerts
            .iter()
            .map(|a| ScoredRisk {
                ship: a.ship.clone(),
                link: a.link.clone(),
                raised_at_s: a.raised_at_s,
                predicted_outage_at_s: a.predicted_outage_at_s,
            })
            .collect();
        if std::env::var_os("RISK_VERBOSE").is_some() {
            for a in &report.link_risk_alerts {
                eprintln!("{} {a:?}", sc.name);
            }
        }
        let outages = link_outages(&sc);
        let s = score_risk(&sc, &outages, &alerts);
        let predicted: Vec<_> = s.outages.iter().filter(|o| o.lead_s.is_some()).collect();
        let lead: Vec<String> = s
            .outages
            .iter()
            .map(|o| {
                let what = format!(
                    "{}:{}",
                    o.outage.link,
                    o.fault.as_deref().unwrap_or("no fault")
                );
                o.lead_s
                    .map_or(format!("{what} miss"), |l| format!("{what} {l:.0}"))
            })
            .collect();
        let err: Vec<String> = predicted
            .iter()
            .filter_map(|o| o.predicted_error_s.map(|e| format!("{e:+.0}")))
            .collect();
        leads.extend(predicted.iter().filter_map(|o| o.lead_s));
        n_out += s.outages.len();
        n_pred += predicted.len();
        n_alerts += s.alerts;
        n_false += s.false_alerts;
        hours += sc.ship.len() as f64 * sc.duration_s as f64 / 3600.0;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            sc.name,
            s.outages.len(),
            predicted.len(),
            if lead.is_empty() {
                "-".into()
            } else {
                lead.join(", ")
            },
            if err.is_empty() {
                "-".into()
            } else {
                err.join(", ")
            },
            s.alerts,
            s.false_alerts
        );
    }
    leads.sort_by(f64::total_cmp);
    let median = leads.get(leads.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "\nSuite: {n_out} outages of satellite links, {n_pred} predicted (median lead {median:.0} s); {n_alerts} link risk alerts, {n_false} false ({:.2} per ship-day over {hours:.1} ship-hours)",
        n_false as f64 / (hours / 24.0)
    );

    // cost per sample: a Ka link's predictor fed a rain cell and a turning ship
    let mut m = RiskModel::new("vsat", Some("Ka"), RiskConfig::default());
    let n = 3_000_000i64;
    let t = Instant::now();
    let mut edges = 0;
    for i in 0..n {
        let ts = 1_741_932_000_000 + i * 5000;
        let x = (i % 2000) as f64;
        let rain = if x > 1000.0 { (x - 1000.0) / 30.0 } else { 0.0 };
        edges += m.esno(ts, 13.0 - 0.2 * rain, true).is_some() as u32;
        edges += m.rain(ts, rain, true).is_some() as u32;
        edges += m.heading(ts, (x * 0.7) % 360.0, true).is_some() as u32;
    }
    let ns = t.elapsed().as_nanos() as f64 / (3 * n) as f64;
    println!(
        "Predictor: {ns:.0} ns per sample ({} samples, {edges} alert edges)",
        3 * n
    );
}
