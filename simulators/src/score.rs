//! Scoring a run against its scenario's fault list (the ground truth). Only tests and
//! offline tools call this: the ship side never sees faults.
//!
//! Rules (the same for any scenario file, so unseen scenarios score alike):
//! - a fault is **matched** by the incidents on its ship that name its target — as root
//!   cause or among their first three ranked candidates — and that opened, re-opened,
//!   took a new root cause or had a new symptom after all theirs had cleared (the
//!   report's `active_since_s`) within the fault's window: from its lead-up
//!   ([`lead_up_s`]: the simulator's ramp before a flap, a CPU saturation, a disk
//!   filling, a blockage turn) to its end. An earlier fault on the same element whose
//!   window reaches this one's start extends the window back (an element's errors
//!   followed by its death are one incident). An incident that opened before the fault
//!   for something else and stays open does not detect it;
//! - **top-1**: a fault counts when one of its matched incidents names the fault's
//!   target as root cause;
//! - **top-3**: a fault counts when it is matched at all (the target is the root or
//!   among the first three candidates);
//! - **time to open**: from `at_s` to the moment that incident (the top-1 one when there
//!   is one) opened or took the target as root within the window, 0 if that was during
//!   a lead-up; an undetected fault counts as never opened;
//! - **time-to-open budget**: two poll intervals of the faulted ship
//!   (`metric_interval_s`) plus [`OPEN_SLACK_S`]; a fault opens in budget when its time
//!   to open is at most that;
//! - **false incident**: an incident matched by no fault that opened (and took its
//!   root) farther than 300 s from every fault window on its ship (an incident opened
//!   long before a fault that stays open into it is still false);
//! - **misattributed incident**: an incident matched by no fault whose root cause is no
//!   fault's target, opened within 300 s of a fault window (a duplicate or a wrong
//!   explanation);
//! - **compression**: `1 − incidents / alerts`.

use crate::generate::{PayloadKind, Simulator};
use crate::scenario::{Fault, FaultKind, LinkKind, Scenario};

/// Slack around fault windows within which an incident is not counted as false.
pub const FALSE_SLACK_S: f64 = 300.0;

/// Slack added to two poll intervals in a fault's time-to-open budget, s.
pub const OPEN_SLACK_S: f64 = 15.0;

/// A fault's time-to-open budget on a ship polled every `metric_interval_s` seconds:
/// two polls plus [`OPEN_SLACK_S`].
pub fn open_budget_s(metric_interval_s: u32) -> f64 {
    2.0 * f64::from(metric_interval_s) + OPEN_SLACK_S
}

/// What the scorer needs of an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredIncident {
    /// Ship id.
    pub ship: String,
    /// Root cause (device or link id).
    pub root_cause: String,
    /// Seconds since scenario start.
    pub opened_at_s: f64,
    /// Seconds since scenario start, `None` while open at the end.
    pub resolved_at_s: Option<f64>,
    /// When it became active (its opening, each re-opening, root change, and new
    /// symptom after all had cleared), seconds since scenario start; the opening counts
    /// whether listed or not.
    pub active_since_s: Vec<f64>,
    /// Ranked root-cause candidates (device or link ids), best first; may be empty.
    pub candidates: Vec<String>,
}

impl ScoredIncident {
    /// An incident without a ranked candidate list.
    pub fn new(ship: &str, root_cause: &str, opened_at_s: f64, resolved_at_s: Option<f64>) -> Self {
        Self {
            ship: ship.to_owned(),
            root_cause: root_cause.to_owned(),
            opened_at_s,
            resolved_at_s,
            active_since_s: Vec::new(),
            candidates: Vec::new(),
        }
    }

    /// The first moment in `[from, to)` it opened or became active again (re-opened,
    /// took a new root, a new symptom after all had cleared), if any.
    pub fn began_within(&self, from: f64, to: f64) -> Option<f64> {
        std::iter::once(self.opened_at_s)
            .chain(self.active_since_s.iter().copied())
            .filter(|t| *t >= from && *t < to)
            .min_by(f64::total_cmp)
    }

    /// The root cause or one of the first three candidates is `element`.
    pub fn top3_names(&self, element: &str) -> bool {
        self.root_cause == element || self.candidates.iter().take(3).any(|c| c == element)
    }
}

/// The verdict on one fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultScore {
    /// Ship id.
    pub ship: String,
    /// Fault target.
    pub target: String,
    /// Fault kind.
    pub kind: String,
    /// Some incident was open during the window.
    pub detected: bool,
    /// Some such incident names the target as root cause.
    pub top1: bool,
    /// The target is among the first three candidates of such an incident.
    pub top3: bool,
    /// Seconds from onset to the incident opening (`None` if undetected).
    pub time_to_open_s: Option<f64>,
    /// Two poll intervals of the faulted ship plus [`OPEN_SLACK_S`], s.
    pub open_budget_s: f64,
}

impl FaultScore {
    /// Opened within [`FaultScore::open_budget_s`].
    pub fn opened_in_budget(&self) -> bool {
        self.time_to_open_s.is_some_and(|t| t <= self.open_budget_s)
    }

    /// Time to open over its budget (infinite when undetected).
    pub fn open_ratio(&self) -> f64 {
        self.time_to_open_s
            .map_or(f64::INFINITY, |t| t / self.open_budget_s)
    }
}

/// The verdict on one run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioScore {
    /// Per fault.
    pub faults: Vec<FaultScore>,
    /// Incidents in the run.
    pub incidents: usize,
    /// Alerts in the run.
    pub alerts: u64,
    /// Incidents far from every fault window.
    pub false_incidents: usize,
    /// Incidents during a fault whose root is no fault's target.
    pub misattributed: usize,
    /// Simulated ship-days (ships × duration).
    pub ship_days: f64,
}

impl ScenarioScore {
    /// `1 − incidents / alerts`, `None` without alerts.
    pub fn compression(&self) -> Option<f64> {
        (self.alerts > 0).then(|| 1.0 - self.incidents as f64 / self.alerts as f64)
    }
}

/// How long before its window a fault of this kind shows in the simulator: errors ramp
/// for 900 s before a flap, CPU for 300 s before saturation, a disk fills for up to 2 h
/// (from the start of the run at most) before it is full, and the ship turns for up to
/// 360 s (180° at 0.5°/s) into a blockage zone. Other kinds begin at `at_s`.
pub fn lead_up_s(f: &Fault) -> u64 {
    match f.kind {
        FaultKind::Flapping => 900,
        FaultKind::CpuSaturation => 300,
        FaultKind::DiskFull => f.at_s.min(7200),
        FaultKind::Blockage => 360,
        _ => 0,
    }
    .min(f.at_s)
}

/// The window in which an incident must open or take its root to match `f`: from its
/// lead-up (or the lead-up of an earlier fault on the same element whose window
/// reaches `f`'s start, transitively) to its end.
fn match_window(scenario: &Scenario, f: &Fault) -> (f64, f64) {
    let mut from = f.at_s - lead_up_s(f);
    loop {
        let earlier = scenario
            .fault
            .iter()
            .filter(|g| g.ship == f.ship && g.target == f.target)
            .filter(|g| g.at_s < from && g.end_s() >= from)
            .map(|g| g.at_s - lead_up_s(g))
            .min();
        match earlier {
            Some(e) if e < from => from = e,
            _ => break,
        }
    }
    (from as f64, f.end_s() as f64)
}

/// Scores the incidents and alert count of a run of `scenario`.
pub fn score(scenario: &Scenario, incidents: &[ScoredIncident], alerts: u64) -> ScenarioScore {
    let end = scenario.duration_s as f64;
    let mut faults = Vec::new();
    let mut matched_any = vec![false; incidents.len()];
    for f in &scenario.fault {
        let (from, to) = match_window(scenario, f);
        let matched: Vec<(usize, f64)> = incidents
            .iter()
            .enumerate()
            .filter(|(_, i)| i.ship == f.ship && i.top3_names(&f.target))
            .filter_map(|(k, i)| Some((k, i.began_within(from, to)?)))
            .collect();
        for (k, _) in &matched {
            matched_any[*k] = true;
        }
        let right = matched
            .iter()
            .filter(|(k, _)| incidents[*k].root_cause == f.target)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let first = right.or_else(|| matched.iter().min_by(|a, b| a.1.total_cmp(&b.1)));
        let interval = scenario
            .ship
            .iter()
            .find(|s| s.id == f.ship)
            .map_or(10, |s| s.metric_interval_s);
        faults.push(FaultScore {
            ship: f.ship.clone(),
            target: f.target.clone(),
            kind: f.kind.as_str().to_string(),
            detected: !matched.is_empty(),
            top1: right.is_some(),
            top3: !matched.is_empty(),
            time_to_open_s: first.map(|(_, t)| (t - f.at_s as f64).max(0.0)),
            open_budget_s: open_budget_s(interval),
        });
    }
    // an incident is near a fault when it opened (or took its root) within the slack
    // of a fault window on its ship (lead-ups excluded: only a matched incident may
    // open during one)
    let near_fault = |i: &ScoredIncident| {
        scenario.fault.iter().any(|f| {
            f.ship == i.ship
                && i.began_within(
                    f.at_s as f64 - FALSE_SLACK_S,
                    f.end_s() as f64 + FALSE_SLACK_S,
                )
                .is_some()
        })
    };
    let false_incidents = incidents
        .iter()
        .zip(&matched_any)
        .filter(|(i, m)| !**m && !near_fault(i))
        .count();
    let misattributed = incidents
        .iter()
        .zip(&matched_any)
        .filter(|(i, m)| !**m && near_fault(i))
        .filter(|(i, _)| {
            !scenario
                .fault
                .iter()
                .any(|f| f.ship == i.ship && f.target == i.root_cause)
        })
        .count();
    ScenarioScore {
        faults,
        incidents: incidents.len(),
        alerts,
        false_incidents,
        misattributed,
        ship_days: scenario.ship.len() as f64 * end / 86_400.0,
    }
}

/// Figures over several runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuiteScore {
    /// `1 − Σ incidents / Σ alerts`.
    pub compression: f64,
    /// Share of faults whose target is a matched incident's root cause.
    pub top1: f64,
    /// Share of faults whose target is among a matched incident's first three candidates.
    pub top3: f64,
    /// Share of faults detected at all.
    pub detected: f64,
    /// 95th percentile of time to open over all faults, s (undetected = infinite).
    pub time_to_open_p95_s: f64,
    /// Share of faults opened within their budget (two polls + [`OPEN_SLACK_S`]).
    pub opened_in_budget: f64,
    /// 95th percentile of time to open over budget (≤ 1 meets the goal; undetected =
    /// infinite).
    pub open_ratio_p95: f64,
    /// False incidents per simulated ship-day.
    pub false_per_ship_day: f64,
    /// Faults scored.
    pub faults: usize,
}

/// Nearest-rank 95th percentile, 0 for no values.
fn nearest_p95(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Aggregates scenario scores.
pub fn suite(scores: &[ScenarioScore]) -> SuiteScore {
    let incidents: usize = scores.iter().map(|s| s.incidents).sum();
    let alerts: u64 = scores.iter().map(|s| s.alerts).sum();
    let faults: Vec<&FaultScore> = scores.iter().flat_map(|s| &s.faults).collect();
    let n = faults.len().max(1) as f64;
    let p95 = nearest_p95(
        faults
            .iter()
            .map(|f| f.time_to_open_s.unwrap_or(f64::INFINITY))
            .collect(),
    );
    let ratio_p95 = nearest_p95(faults.iter().map(|f| f.open_ratio()).collect());
    let ship_days: f64 = scores.iter().map(|s| s.ship_days).sum();
    SuiteScore {
        compression: if alerts > 0 {
            1.0 - incidents as f64 / alerts as f64
        } else {
            1.0
        },
        top1: faults.iter().filter(|f| f.top1).count() as f64 / n,
        top3: faults.iter().filter(|f| f.top3).count() as f64 / n,
        detected: faults.iter().filter(|f| f.detected).count() as f64 / n,
        time_to_open_p95_s: p95,
        opened_in_budget: faults.iter().filter(|f| f.opened_in_budget()).count() as f64 / n,
        open_ratio_p95: ratio_p95,
        false_per_ship_day: if ship_days > 0.0 {
            scores.iter().map(|s| s.false_incidents).sum::<usize>() as f64 / ship_days
        } else {
            0.0
        },
        faults: faults.len(),
    }
}

/// How long before an outage a link-risk alert counts as predicting it, s.
pub const RISK_HORIZON_S: f64 = 900.0;

/// A link-outage prediction (a `link_risk_alerts` entry of a `sim run` report).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRisk {
    /// Ship id.
    pub ship: String,
    /// Link id.
    pub link: String,
    /// Seconds since scenario start.
    pub raised_at_s: f64,
    /// Seconds since scenario start.
    pub predicted_outage_at_s: Option<f64>,
}

/// A satellite link's actual loss of lock, as the simulator generated it (ground truth,
/// like the fault list: for scoring only).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkOutage {
    /// Ship id.
    pub ship: String,
    /// Link id.
    pub link: String,
    /// First `modem_lock` 0 sample, seconds since scenario start.
    pub from_s: f64,
    /// First `modem_lock` 1 sample after it (the end of the run if none).
    pub to_s: f64,
}

/// The verdict on one actual outage.
#[derive(Debug, Clone, PartialEq)]
pub struct OutageScore {
    /// The outage.
    pub outage: LinkOutage,
    /// Kind of the scenario fault whose window (±300 s) holds its start, if any.
    pub fault: Option<String>,
    /// Seconds from the earliest alert within [`RISK_HORIZON_S`] before it to its start.
    pub lead_s: Option<f64>,
    /// That alert's predicted outage time minus the actual start, s.
    pub predicted_error_s: Option<f64>,
}

/// The verdict on a run's link-risk alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskScore {
    /// Per actual outage of a satellite link.
    pub outages: Vec<OutageScore>,
    /// Alerts in the run.
    pub alerts: usize,
    /// Alerts followed by no outage of their link within [`RISK_HORIZON_S`] and outside
    /// (±300 s) every window of a fault on that link, or of a `rain_fade` on the ship.
    pub false_alerts: usize,
}

fn is_satellite(scenario: &Scenario, ship: &str, link: &str) -> bool {
    scenario.ship.iter().any(|s| {
        s.id == ship
            && s.link
                .iter()
                .any(|l| l.id == link && matches!(l.kind, LinkKind::Vsat | LinkKind::Leo))
    })
}

/// Runs the simulator over `scenario` (without background logs, which do not change the
/// link physics) and returns every loss of lock of its satellite links.
pub fn link_outages(scenario: &Scenario) -> Vec<LinkOutage> {
    let mut sc = scenario.clone();
    for s in &mut sc.ship {
        s.log_eps = 0.0;
    }
    let mut sim = Simulator::new(&sc);
    let start = sim.start_ms();
    let end_s = (sim.end_ms() - start) as f64 / 1000.0;
    let mut open: Vec<LinkOutage> = Vec::new();
    let mut done: Vec<LinkOutage> = Vec::new();
    const HEAD: &[u8] = b"{\"metric\":\"modem_lock\",\"value\":";
    sim.run_to_end(|t| {
        if t.kind != PayloadKind::Metric || !t.bytes.starts_with(HEAD) {
            return;
        }
        let Ok(text) = std::str::from_utf8(&t.bytes[HEAD.len()..]) else {
            return;
        };
        let locked = !text.starts_with('0');
        let Some(link) = text
            .split_once("\"link\":\"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(l, _)| l)
        else {
            return;
        };
        let at = (t.ts_ms - start) as f64 / 1000.0;
        let i = open.iter().position(|o| o.ship == t.ship && o.link == link);
        match (i, locked) {
            (None, false) => open.push(LinkOutage {
                ship: t.ship.to_string(),
                link: link.to_string(),
                from_s: at,
                to_s: end_s,
            }),
            (Some(i), true) => {
                let mut o = open.swap_remove(i);
                o.to_s = at;
                done.push(o);
            }
            _ => {}
        }
    });
    done.extend(open);
    done.retain(|o| is_satellite(scenario, &o.ship, &o.link));
    done.sort_by(|a, b| {
        a.from_s
            .total_cmp(&b.from_s)
            .then_with(|| a.ship.cmp(&b.ship))
            .then_with(|| a.link.cmp(&b.link))
    });
    done
}

/// Scores a run's link-risk alerts against the actual outages and the fault list.
pub fn score_risk(scenario: &Scenario, outages: &[LinkOutage], alerts: &[ScoredRisk]) -> RiskScore {
    let mut scored = Vec::new();
    for (k, o) in outages.iter().enumerate() {
        // after the previous outage of the same link ended
        let since = outages[..k]
            .iter()
            .filter(|p| p.ship == o.ship && p.link == o.link)
            .map(|p| p.to_s)
            .fold(o.from_s - RISK_HORIZON_S, f64::max);
        let first = alerts
            .iter()
            .filter(|a| a.ship == o.ship && a.link == o.link)
            .filter(|a| a.raised_at_s >= since && a.raised_at_s <= o.from_s)
            .min_by(|a, b| a.raised_at_s.total_cmp(&b.raised_at_s));
        let fault = scenario
            .fault
            .iter()
            .find(|f| {
                f.ship == o.ship
                    && (f.target == o.link || f.kind == FaultKind::RainFade)
                    && o.from_s >= f.at_s as f64 - FALSE_SLACK_S
                    && o.from_s < f.end_s() as f64 + FALSE_SLACK_S
            })
            .map(|f| f.kind.as_str().to_string());
        scored.push(OutageScore {
            outage: o.clone(),
            fault,
            lead_s: first.map(|a| o.from_s - a.raised_at_s),
            predicted_error_s: first
                .and_then(|a| a.predicted_outage_at_s)
                .map(|p| p - o.from_s),
        });
    }
    let false_alerts = alerts
        .iter()
        .filter(|a| {
            let followed = outages.iter().any(|o| {
                o.ship == a.ship
                    && o.link == a.link
                    && o.to_s >= a.raised_at_s
                    && o.from_s <= a.raised_at_s + RISK_HORIZON_S
            });
            let in_fault = scenario.fault.iter().any(|f| {
                f.ship == a.ship
                    && (f.target == a.link || f.kind == FaultKind::RainFade)
                    && a.raised_at_s >= f.at_s as f64 - FALSE_SLACK_S
                    && a.raised_at_s < f.end_s() as f64 + FALSE_SLACK_S
            });
            !followed && !in_fault
        })
        .count();
    RiskScore {
        outages: scored,
        alerts: alerts.len(),
        false_alerts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SC: &str = r#"
name = "t"
duration_s = 7200
[[ship]]
id = "a"
[[ship.device]]
id = "sw"
kind = "switch"
[[ship.device]]
id = "ap"
kind = "ap"
depends_on = ["sw"]
[[fault]]
ship = "a"
target = "sw"
kind = "down"
at_s = 1000
duration_s = 600
"#;

    fn inc(root: &str, open: f64, res: Option<f64>) -> ScoredIncident {
        ScoredIncident::new("a", root, open, res)
    }

    #[test]
    fn top3_looks_at_the_first_three_candidates() {
        let sc = Scenario::parse(SC, "t.toml").unwrap();
        let ranked = |c: &[&str]| ScoredIncident {
            candidates: c.iter().map(|s| s.to_string()).collect(),
            ..inc("ap", 1030.0, None)
        };
        let s = score(&sc, &[ranked(&["ap", "x", "sw"])], 10);
        assert!(!s.faults[0].top1 && s.faults[0].top3);
        let s = score(&sc, &[ranked(&["ap", "x", "y", "sw"])], 10);
        assert!(!s.faults[0].top3, "fourth place is not top-3");
        let s = score(&sc, &[inc("sw", 1030.0, None)], 10);
        assert!(s.faults[0].top1 && s.faults[0].top3, "top-1 implies top-3");
        let t = suite(&[s]);
        assert_eq!((t.top1, t.top3), (1.0, 1.0));
    }

    #[test]
    fn time_to_open_is_held_to_two_polls_of_the_faulted_ship() {
        // the ship polls every 30 s (the default): budget 2 × 30 + 15 = 75 s
        let sc = Scenario::parse(SC, "t.toml").unwrap();
        let interval = sc.ship[0].metric_interval_s;
        let budget = open_budget_s(interval);
        assert_eq!(budget, 2.0 * f64::from(interval) + 15.0);
        let s = score(&sc, &[inc("sw", 1000.0 + budget, None)], 10);
        assert_eq!(s.faults[0].open_budget_s, budget);
        assert!(s.faults[0].opened_in_budget());
        assert!((s.faults[0].open_ratio() - 1.0).abs() < 1e-12);
        let late = score(&sc, &[inc("sw", 1001.0 + budget, None)], 10);
        assert!(!late.faults[0].opened_in_budget());
        let missed = score(&sc, &[], 0);
        assert!(!missed.faults[0].opened_in_budget());
        let t = suite(&[s.clone(), late.clone()]);
        assert_eq!(t.opened_in_budget, 0.5);
        assert!(t.open_ratio_p95 > 1.0);
        assert_eq!(suite(&[s]).open_ratio_p95, 1.0);
        assert_eq!(suite(&[missed]).open_ratio_p95, f64::INFINITY);
    }

    #[test]
    fn matches_by_ship_and_time_and_counts_false_ones() {
        let sc = Scenario::parse(SC, "t.toml").unwrap();
        let s = score(
            &sc,
            &[
                inc("sw", 1030.0, Some(1900.0)),
                inc("ap", 1040.0, None),
                inc("ap", 5000.0, Some(5100.0)),
            ],
            100,
        );
        assert!(s.faults[0].detected && s.faults[0].top1);
        assert_eq!(s.faults[0].time_to_open_s, Some(30.0));
        assert_eq!(s.false_incidents, 1);
        assert_eq!(s.misattributed, 1);
        assert!((s.compression().unwrap() - 0.97).abs() < 1e-9);
        let total = suite(&[s]);
        assert_eq!(total.time_to_open_p95_s, 30.0);
        assert!((total.false_per_ship_day - 12.0).abs() < 1e-9);
    }

    #[test]
    fn an_incident_open_before_the_fault_for_something_else_does_not_detect_it() {
        let sc = Scenario::parse(SC, "t.toml").unwrap();
        // opened at 500 s naming sw as a candidate, still open during the fault
        let early = ScoredIncident {
            candidates: vec!["ap".into(), "sw".into()],
            ..inc("ap", 500.0, None)
        };
        let s = score(&sc, std::slice::from_ref(&early), 10);
        assert!(!s.faults[0].detected && !s.faults[0].top3);
        assert_eq!(s.false_incidents, 1, "opened 500 s before the window");
        // re-rooted at sw during the fault: detected then, top-1
        let moved = ScoredIncident {
            root_cause: "sw".into(),
            active_since_s: vec![500.0, 1050.0],
            ..early
        };
        let s = score(&sc, &[moved], 10);
        assert!(s.faults[0].top1);
        assert_eq!(s.faults[0].time_to_open_s, Some(50.0));
        assert_eq!(s.false_incidents, 0);
        // an incident rooted at sw opened long before and still open does not count
        let s = score(&sc, &[inc("sw", 200.0, None)], 10);
        assert!(!s.faults[0].detected);
    }

    #[test]
    fn an_earlier_fault_on_the_same_element_extends_the_window() {
        let mut sc = Scenario::parse(SC, "t.toml").unwrap();
        let mut errors = sc.fault[0].clone();
        errors.kind = FaultKind::InterfaceErrors;
        errors.at_s = 700;
        errors.duration_s = 300;
        sc.fault.insert(0, errors);
        // the errors incident at 720 s stays open through the death at 1000 s
        let s = score(&sc, &[inc("sw", 720.0, None)], 10);
        assert!(s.faults.iter().all(|f| f.top1), "{s:?}");
        assert_eq!(s.faults[1].time_to_open_s, Some(0.0));
    }

    #[test]
    fn a_missed_fault_has_no_time_to_open() {
        let sc = Scenario::parse(SC, "t.toml").unwrap();
        let s = score(&sc, &[inc("ap", 10.0, Some(20.0))], 3);
        assert!(!s.faults[0].detected);
        assert_eq!(suite(&[s]).time_to_open_p95_s, f64::INFINITY);
    }

    #[test]
    fn risk_alerts_score_lead_time_and_false_ones() {
        let sc = Scenario::parse(
            r#"
name = "r"
duration_s = 7200
[[ship]]
id = "a"
[[ship.link]]
id = "ka"
kind = "vsat"
band = "Ka"
[[fault]]
ship = "a"
target = "ka"
kind = "rain_fade"
at_s = 1000
duration_s = 600
"#,
            "r.toml",
        )
        .unwrap();
        let out = |from: f64, to: f64| LinkOutage {
            ship: "a".into(),
            link: "ka".into(),
            from_s: from,
            to_s: to,
        };
        let risk = |at: f64, pred: f64| ScoredRisk {
            ship: "a".into(),
            link: "ka".into(),
            raised_at_s: at,
            predicted_outage_at_s: Some(pred),
        };
        let s = score_risk(
            &sc,
            &[out(1100.0, 1400.0), out(5000.0, 5100.0)],
            &[risk(1030.0, 1120.0), risk(3000.0, 3100.0)],
        );
        assert_eq!(s.outages[0].lead_s, Some(70.0));
        assert_eq!(s.outages[0].predicted_error_s, Some(20.0));
        assert_eq!(s.outages[0].fault.as_deref(), Some("rain_fade"));
        assert_eq!(s.outages[1].lead_s, None);
        assert_eq!(s.outages[1].fault, None);
        assert_eq!(s.false_alerts, 1, "the alert at 3000 s precedes nothing");
    }

    #[test]
    fn the_generator_reports_the_losses_of_lock_of_a_rain_fade() {
        let sc = Scenario::parse(
            r#"
name = "r"
seed = 3
duration_s = 1800
[[ship]]
id = "a"
log_eps = 0
[[ship.device]]
id = "modem-ka"
kind = "modem"
[[ship.link]]
id = "ka"
kind = "vsat"
band = "Ka"
[[ship.link]]
id = "lte"
kind = "lte"
[[fault]]
ship = "a"
target = "ka"
kind = "rain_fade"
at_s = 600
duration_s = 600
"#,
            "r.toml",
        )
        .unwrap();
        let o = link_outages(&sc);
        assert!(
            !o.is_empty(),
            "a cell across its line of sight takes the Ka link out"
        );
        assert!(
            o.iter().all(|o| o.link == "ka"),
            "terrestrial links are not scored"
        );
        assert!(o[0].from_s > 600.0 && o[0].from_s < 1200.0, "{o:?}");
        assert!(o[0].to_s > o[0].from_s);
    }
}
