//! Measures root-cause top-1/top-3, alert compression, false incidents and time to open
//! on generated fleets drawn fresh at run time, per topology family, against issue 18's
//! goals:
//!
//! `cargo run --release -p seawatch-topologies --example fleet_suite -- [--seeds N | --seed S ...] [--devices M] [--ships K] [--max-log-eps E] [--scenarios DIR]`
//!
//! Without `--seed`, draws N (default 5) seeds from OS randomness in [10,000, 2^32)
//! (seeds below 10,000 are for development) and prints them first. Each fleet is
//! `random_fleet(seed, ships, devices)` (contracts §3; `seawatch sim fleet --seed S`
//! writes the same file), run through `sim::run` (as `seawatch sim run`) with its noise
//! and full background log rate, and scored against its `[[fault]]` list. Without
//! `--devices`, each ship has 40–400 devices (log-uniform, derived from the seed so the
//! run is reproducible); `--ships` defaults to the generator's 1–3. `--scenarios DIR`
//! also scores every scenario file of DIR (one row, `scenario files`). Prints a table
//! per topology family with each figure marked met / NOT MET, then every fault that
//! missed top-1 or its time-to-open budget with what the incidents named. Exits 0
//! whatever the figures (a measurement), 1 on a failed run, 2 on bad arguments.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Instant;

use seawatch_simulators::fleet::random_fleet;
use seawatch_simulators::scenario::Scenario;
use seawatch_simulators::score::ScenarioScore;
use seawatch_topologies::sim::{run, SimReport, SimRunOptions};
use seawatch_topologies::suite::{goals_table, scenario_files, score_by_ship, ShipRun};

struct Args {
    seeds: Vec<u64>,
    n: usize,
    devices: Option<usize>,
    ships: Option<usize>,
    max_log_eps: Option<f64>,
    scenarios: Option<PathBuf>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "fleet_suite: {msg}\nusage: fleet_suite [--seeds N | --seed S ...] [--devices M] [--ships K] [--max-log-eps E] [--scenarios DIR]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        seeds: Vec::new(),
        n: 5,
        devices: None,
        ships: None,
        max_log_eps: None,
        scenarios: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> T {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        }
        match flag.as_str() {
            "--seeds" => a.n = num(&flag, value()),
            "--seed" => a.seeds.push(num(&flag, value())),
            "--devices" => a.devices = Some(num(&flag, value())),
            "--ships" => a.ships = Some(num(&flag, value())),
            "--max-log-eps" => a.max_log_eps = Some(num(&flag, value())),
            "--scenarios" => a.scenarios = Some(PathBuf::from(value())),
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a
}

/// A seed in [10,000, 2^32) from the OS.
fn fresh_seed() -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(10_000 + u64::from_le_bytes(b) % ((1u64 << 32) - 10_000))
}

/// 40–400 devices, log-uniform, from the seed (splitmix64).
fn default_devices(seed: u64) -> usize {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let u = (z >> 11) as f64 / (1u64 << 53) as f64;
    (40f64.ln() + u * (400f64.ln() - 40f64.ln())).exp().round() as usize
}

/// Prints every fault that missed top-1, top-3 or its time-to-open budget.
fn print_misses(
    label: &str,
    family: &str,
    sc: &Scenario,
    report: &SimReport,
    score: &ScenarioScore,
) {
    let end = sc.duration_s as f64;
    for (f, fs) in sc.fault.iter().zip(&score.faults) {
        if fs.top1 && fs.opened_in_budget() {
            continue;
        }
        println!(
            "- {label} {family} ship {} fault {} on {} at {} s for {} s: top-1 {}, top-3 {}, time to open {} (budget {:.0} s)",
            f.ship,
            f.kind.as_str(),
            f.target,
            f.at_s,
            f.duration_s,
            fs.top1,
            fs.top3,
            fs.time_to_open_s
                .map_or("never".into(), |t| format!("{t:.0} s")),
            fs.open_budget_s,
        );
        for i in report.incidents.iter().filter(|i| {
            i.ship == f.ship
                && i.opened_at_s < f.end_s() as f64
                && i.resolved_at_s.unwrap_or(end) >= f.at_s as f64
        }) {
            let cands: Vec<String> = i
                .candidates
                .iter()
                .take(3)
                .map(|c| format!("{} {:.2}", c.element, c.score))
                .collect();
            println!(
                "    incident root {} opened {:.0} s resolved {:?} alerts {} candidates [{}]",
                i.root_cause,
                i.opened_at_s,
                i.resolved_at_s,
                i.alerts,
                cands.join(", ")
            );
            for e in i.evidence.iter().take(4) {
                println!("      evidence: {e}");
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let seeds: Vec<u64> = if args.seeds.is_empty() {
        (0..args.n)
            .map(|_| {
                fresh_seed().unwrap_or_else(|e| {
                    eprintln!("fleet_suite: /dev/urandom: {e}");
                    std::process::exit(1)
                })
            })
            .collect()
    } else {
        args.seeds.clone()
    };
    let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    if list.is_empty() {
        println!("seeds: none");
    } else {
        println!(
            "seeds ({}): {}",
            if args.seeds.is_empty() {
                "drawn now from OS randomness"
            } else {
                "given"
            },
            list.join(" ")
        );
    }
    let opts = SimRunOptions {
        progress: false,
        ..SimRunOptions::default()
    };
    let started = Instant::now();
    let mut runs: Vec<ShipRun> = Vec::new();
    let mut misses: Vec<(String, String, Scenario, SimReport, ScenarioScore)> = Vec::new();
    for &seed in &seeds {
        let devices = args.devices.unwrap_or_else(|| default_devices(seed));
        let fleet = random_fleet(seed, args.ships, Some(devices));
        let mut sc = fleet.scenario.clone();
        if let Some(cap) = args.max_log_eps {
            for s in &mut sc.ship {
                s.log_eps = s.log_eps.min(cap);
            }
        }
        let t0 = Instant::now();
        let report = match run(&sc, &opts).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("fleet_suite: seed {seed}: {e}");
                std::process::exit(1)
            }
        };
        let ships: Vec<String> = sc
            .ship
            .iter()
            .zip(&fleet.families)
            .map(|(s, f)| {
                format!(
                    "{} {} {} dev poll {} s {} log/s",
                    s.id,
                    f.as_str(),
                    s.device.len(),
                    s.metric_interval_s,
                    s.log_eps
                )
            })
            .collect();
        println!(
            "seed {seed}: {} s simulated, {} faults, {} alerts, {} incidents, {:.1} s wall; {}",
            sc.duration_s,
            sc.fault.len(),
            report.alerts,
            report.incidents.len(),
            t0.elapsed().as_secs_f64(),
            ships.join("; ")
        );
        for ((ship, family), score) in sc
            .ship
            .iter()
            .zip(&fleet.families)
            .zip(score_by_ship(&sc, &report))
        {
            let mut one = sc.clone();
            one.ship = vec![ship.clone()];
            one.fault.retain(|f| f.ship == ship.id);
            misses.push((
                format!("seed {seed}"),
                family.as_str().to_string(),
                one,
                report.clone(),
                score.clone(),
            ));
            runs.push(ShipRun {
                group: family.as_str().to_string(),
                score,
            });
        }
    }
    if let Some(dir) = &args.scenarios {
        let files = scenario_files(dir).unwrap_or_else(|e| {
            eprintln!("fleet_suite: {}: {e}", dir.display());
            std::process::exit(1)
        });
        for path in files {
            let mut sc = Scenario::load(&path).unwrap_or_else(|e| {
                eprintln!("fleet_suite: {e}");
                std::process::exit(1)
            });
            if let Some(cap) = args.max_log_eps {
                for s in &mut sc.ship {
                    s.log_eps = s.log_eps.min(cap);
                }
            }
            let t0 = Instant::now();
            let report = run(&sc, &opts).await.unwrap_or_else(|e| {
                eprintln!("fleet_suite: {}: {e}", path.display());
                std::process::exit(1)
            });
            println!(
                "{}: {} faults, {} alerts, {} incidents, {:.1} s wall",
                path.display(),
                sc.fault.len(),
                report.alerts,
                report.incidents.len(),
                t0.elapsed().as_secs_f64()
            );
            for score in score_by_ship(&sc, &report) {
                runs.push(ShipRun {
                    group: "scenario files".into(),
                    score,
                });
            }
            let label = path.display().to_string();
            let score = seawatch_topologies::suite::score_report(&sc, &report);
            misses.push((label, "file".into(), sc, report, score));
        }
    }
    println!(
        "\n{} ships in {:.0} s wall; goals per family on fresh seeds; time-to-open budget = 2 × the faulted ship's poll interval + 15 s\n",
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    print!("{}", goals_table(&runs));
    println!("\nFaults that missed top-1 or their time-to-open budget:");
    let mut any = false;
    for (label, family, sc, report, score) in &misses {
        if score
            .faults
            .iter()
            .any(|f| !f.top1 || !f.opened_in_budget())
        {
            any = true;
            print_misses(label, family, sc, report, score);
        }
    }
    if !any {
        println!("(none)");
    }
}
