//! The scenario suite: runs every scenario of a folder through [`crate::sim::run`] and
//! scores each report against the scenario's fault list
//! ([`seawatch_simulators::score`]). Test and benchmark harness only: the ships in the
//! run never see the faults.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use seawatch_simulators::scenario::Scenario;
use seawatch_simulators::score::{score, suite, ScenarioScore, ScoredIncident, SuiteScore};

use crate::sim::{run, SimError, SimReport, SimRunOptions};

/// One scenario's run and score.
#[derive(Debug, Clone)]
pub struct SuiteEntry {
    /// The scenario file.
    pub path: PathBuf,
    /// The run's report.
    pub report: SimReport,
    /// Its score.
    pub score: ScenarioScore,
}

/// Scores a report of `scenario`.
pub fn score_report(scenario: &Scenario, report: &SimReport) -> ScenarioScore {
    let incidents: Vec<ScoredIncident> = report
        .incidents
        .iter()
        .map(|i| ScoredIncident {
            ship: i.ship.clone(),
            root_cause: i.root_cause.clone(),
            opened_at_s: i.opened_at_s,
            resolved_at_s: i.resolved_at_s,
        })
        .collect();
    score(scenario, &incidents, report.alerts)
}

/// The `.toml` files of `dir`, sorted.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// Runs and scores every scenario in `files`; `max_log_eps` caps each ship's background
/// log rate (faster runs in debug builds; the fault telemetry is unchanged).
pub async fn run_suite(
    files: &[PathBuf],
    opts: &SimRunOptions,
    max_log_eps: Option<f64>,
) -> Result<Vec<SuiteEntry>, String> {
    let mut out = Vec::new();
    for path in files {
        let mut sc = Scenario::load(path).map_err(|e| e.to_string())?;
        if let Some(cap) = max_log_eps {
            for s in &mut sc.ship {
                s.log_eps = s.log_eps.min(cap);
            }
        }
        let report = run(&sc, opts)
            .await
            .map_err(|e: SimError| format!("{}: {e}", path.display()))?;
        let score = score_report(&sc, &report);
        out.push(SuiteEntry {
            path: path.clone(),
            report,
            score,
        });
    }
    Ok(out)
}

/// Suite figures over entries.
pub fn totals(entries: &[SuiteEntry]) -> SuiteScore {
    let scores: Vec<ScenarioScore> = entries.iter().map(|e| e.score.clone()).collect();
    suite(&scores)
}

/// A Markdown table of the entries and the suite figures.
pub fn table(entries: &[SuiteEntry]) -> String {
    let mut s = String::from(
        "| scenario | faults | top-1 | time to open (s) | alerts | incidents | compression | false | misattributed | sim/wall |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in entries {
        let sc = &e.score;
        let tto: Vec<String> = sc
            .faults
            .iter()
            .map(|f| {
                f.time_to_open_s
                    .map_or("miss".into(), |t| format!("{t:.0}"))
            })
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {:.0}x |",
            e.report.scenario,
            sc.faults.len(),
            sc.faults.iter().filter(|f| f.top1).count(),
            sc.faults.len(),
            if tto.is_empty() {
                "-".into()
            } else {
                tto.join(", ")
            },
            sc.alerts,
            sc.incidents,
            sc.compression()
                .map_or("-".into(), |c| format!("{:.1} %", c * 100.0)),
            sc.false_incidents,
            sc.misattributed,
            e.report.simulated_s / e.report.wall_s.max(1e-9),
        );
    }
    let t = totals(entries);
    let _ = writeln!(
        s,
        "\nSuite: {} faults; compression {:.1} %; top-1 {:.1} %; detected {:.1} %; time to open p95 {:.0} s; false incidents {:.2} per ship-day",
        t.faults,
        t.compression * 100.0,
        t.top1 * 100.0,
        t.detected * 100.0,
        t.time_to_open_p95_s,
        t.false_per_ship_day
    );
    s
}
