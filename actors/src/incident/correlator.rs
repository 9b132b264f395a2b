//! The correlation engine of one ship: a deterministic state machine fed with alerts and
//! event-time ticks, producing incident lifecycle events.
//!
//! Alerts received between two ticks are sorted by (time, subject, class, series,
//! state) before they are applied, so the outcome does not depend on the order in
//! which concurrently running device and link actors delivered them.
//!
//! Per tick:
//! 1. apply alerts: a `Firing` alert for a key already firing is a duplicate (dropped);
//!    `Cleared` removes the key; a firing alert whose subject is already a member of an
//!    open incident is attached to it at once;
//! 2. alerts firing for at least `settle` and not attached are grouped by the element
//!    that best explains them ([`Correlator::root_of`]); a group joins the open incident
//!    with that root, or one whose root it now explains (the root cause moves upstream,
//!    and open incidents it explains are merged), or re-opens a resolved incident with
//!    that root within the grace period, or opens a new incident;
//! 3. an incident none of whose members has a firing alert for `resolve_after` resolves.
//!
//! A device's first failed probe (series [`PROBE_MISS`]) is a suspicion, not an alert:
//! it is held aside and becomes a firing unreachable alert (counted, grouped like any
//! other) only when other evidence corroborates it ([`Correlator::corroborated`]): every
//! parent logged a port going down just before, where that is news (rare on the
//! device, a port that had not gone down for hours, or the port LLDP showed facing the
//! device; a port-down and the LLDP neighbour ageing out after it are one loss), or
//! every parent is failing. Otherwise it waits for the second failed probe, the
//! ordinary unreachable alert, which then dates from the first miss (and is not counted
//! again when the suspicion was promoted).
//!
//! Only symptom classes that indicate a failing element open incidents (unreachable,
//! down, degraded, errors, flapping), and a capacity forecast once the resource is
//! forecast to run out within [`CAPACITY_OPEN_MS`] (a slow disk fill has no other
//! symptom before it fails). Other detector classes (anomaly, outlier, an earlier
//! capacity forecast) attach to an open incident of the same element or a neighbour but
//! never open one on their own: a statistical oddity is context, not an incident; on a neighbour they are
//! counted but do not make it a member. Outage-risk predictions
//! are not symptoms at all: they are reported on their own (the `sim run` report's
//! `link_risk_alerts`), so they are neither counted as alerts nor attached.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::alert::{Alert, AlertClass, AlertState};
use crate::device::alerts::{PLANNED_REBOOT, PROBE_MISS};

use super::model::{
    Candidate, Incident, IncidentEvent, IncidentEventKind, IncidentSeverity, IncidentState,
};
use super::topology::Topology;

/// Timing of the correlator, in event-time milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrelatorConfig {
    /// How long a new alert waits for related alerts before it opens an incident (lets
    /// the upstream-most failing element show up, so the first root is the right one).
    pub settle_ms: i64,
    /// How long every member alert must stay cleared before the incident resolves.
    pub resolve_after_ms: i64,
    /// A resolved incident whose root fails again within this window re-opens.
    pub reopen_grace_ms: i64,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        Self {
            settle_ms: 15_000,
            resolve_after_ms: 240_000,
            reopen_grace_ms: 900_000,
        }
    }
}

type Key = (String, AlertClass, Option<String>);

/// A parent explains a child's failure only if it started failing no later than this
/// after the child (probe order makes children notice first); a child that failed well
/// before its parent has its own root cause (a cascade is two incidents).
const EXPLAIN_WINDOW_MS: i64 = 60_000;
/// A device that logged losing a neighbour on a port this long before a child's silence
/// began is alive: the child's incident opens without waiting for it.
const HEARD_WINDOW_MS: i64 = 180_000;
/// Links whose trouble began within this of each other share one cause (a rain cell
/// or a WAN event reaches every exposed antenna's thresholds within minutes: the ramp
/// of a cell to its peak takes up to four); further apart they are separate incidents.
const LINK_EVENT_WINDOW_MS: u64 = 300_000;
/// A parent's port loss corroborates a child's first failed probe when it was logged at
/// most this long before the miss (the port went down between the last answered probe
/// and the failed one: up to one poll interval, 60 s on slow polls) or
/// [`CORROBORATE_AFTER_MS`] after it.
const CORROBORATE_BEFORE_MS: i64 = 75_000;
/// The port-down line can trail the probe that timed out by a moment.
const CORROBORATE_AFTER_MS: i64 = 5_000;
/// How far back a device's port losses are kept, to tell whether one is news.
const PORT_HISTORY_MS: i64 = 1_800_000;
/// A port loss is evidence only on a device that logged at most this many others in the
/// [`PORT_HISTORY_MS`] before the corroboration window: an access switch whose guest
/// ports go up and down all day says nothing about one of its neighbours.
const PORT_LOSSES_RARE: usize = 1;
/// Port-loss episodes kept per device (bounded memory on a noisy device).
const PORT_HISTORY_MAX: usize = 32;
/// Lines about one port (or one neighbour) of a device this close together are one
/// loss episode: the port-down, its line-protocol echo, a flapping port's next drop,
/// and the LLDP neighbour ageing out after its hold time (120 s on most switches).
const EPISODE_MS: i64 = 180_000;
/// A port that has not gone down for this long before is news: its loss says
/// something about the neighbour on it, even on a device whose other (guest) ports
/// go up and down all day.
const PORT_NEWS_MS: i64 = 7_200_000;
/// Ports remembered per device for [`PORT_NEWS_MS`] (the least recently lost go first).
const PORTS_MAX: usize = 128;
/// Learned neighbour → port pairs kept per ship.
const FACES_MAX: usize = 4096;
/// A first failed probe is corroborated by devices behind it only when at least this
/// many of them are out too, and at least [`CHILDREN_SHARE`] of them.
const CHILDREN_MIN: usize = 2;
/// The share of the devices behind a device that must be out for their silence to
/// corroborate its first failed probe on its own (a dead switch silences all of them;
/// benign probe loss at 1 % leaves two of thirteen out together a few times a day).
const CHILDREN_SHARE: f64 = 0.5;
/// Pieces of weak evidence needed to corroborate a first failed probe (one is what a
/// healthy network produces by chance: a user port flapping next to a lost probe).
const WEAK_NEEDED: usize = 2;
/// How long after announcing a planned reboot (a maintenance window included) an
/// element may stay down without an incident.
const PLANNED_MAX_MS: i64 = 7_200_000;
/// An announcement may arrive this long after the trouble began (late delivery).
const PLANNED_LEAD_MS: i64 = 60_000;
/// Score of the other end of an erroring link (ranked second to the element that
/// counts the errors: either end's cable or optic can cause them, the reporting end is
/// where they are seen).
const OTHER_END_SCORE: f64 = 0.5;
/// A capacity forecast (free disk) opens an incident for its device once the resource
/// is forecast to run out within this: the on-duty crew's longest routine intervention
/// (a cold-spare swap, 30–120 min in `domain.md` §4a) still fits before services fail,
/// and they fail before zero (ext4 keeps 5 % for root, §4d). Earlier, the forecast is
/// context only (the detector warns from 6 h).
const CAPACITY_OPEN_MS: i64 = 7_200_000;
/// Evidence lines kept per incident.
const EVIDENCE_MAX: usize = 12;
/// Candidates kept per incident.
const CANDIDATES_MAX: usize = 5;
/// A suspicion neither promoted nor confirmed for this long is dropped (a device
/// actor that restarted never clears it).
const SUSPECT_MAX_AGE_MS: i64 = 600_000;
/// An event alert (a log line such as "AP is down") is a duplicate if the same subject
/// and series fired within this window.
const EVENT_DEDUPE_MS: i64 = 30_000;
/// How long an event alert waits for an incident to attach to.
const EVENT_WAIT_MS: i64 = 300_000;

/// Whether an alert is a point event from a log line (series `log:...`): it never
/// opens an incident and has no cleared state.
fn is_event(alert: &Alert) -> bool {
    is_log_series(&alert.series)
}

/// Whether an alert series is a log line's (`log:…`).
fn is_log_series(series: &Option<String>) -> bool {
    series.as_deref().is_some_and(|s| s.starts_with("log:"))
}

#[derive(Debug, Clone)]
struct Firing {
    since_ms: i64,
    /// The latest moment the failure can have begun, for deciding whether a parent's
    /// later failure explains it ([`Correlator::precedes`]): `since_ms`, except for
    /// silence dated back to a lone earlier missed probe, where it is the second failed
    /// probe. A healthy device loses a probe now and then (`../shared/domain.md`); on a
    /// 60 s poll such a miss just before its switch dies would otherwise date the
    /// device's silence a poll before the switch's and make it a cascade of its own.
    onset_ms: i64,
    incident: Option<usize>,
    /// The alert's own words (what the producer saw), for the evidence.
    detail: String,
    /// For a capacity forecast: the event time from which it is a symptom (the
    /// resource forecast to run out within [`CAPACITY_OPEN_MS`]).
    due_ms: Option<i64>,
}

impl Firing {
    /// Whether this alert of `class` is a symptom at `now_ms`: a class that opens
    /// incidents, or a capacity forecast whose exhaustion is now within
    /// [`CAPACITY_OPEN_MS`].
    fn symptom(&self, class: AlertClass, now_ms: i64) -> bool {
        opens(class) || self.due_ms.is_some_and(|d| now_ms >= d)
    }
}

/// Whether a class can open an incident.
fn opens(class: AlertClass) -> bool {
    matches!(
        class,
        AlertClass::Unreachable
            | AlertClass::Down
            | AlertClass::Degraded
            | AlertClass::Errors
            | AlertClass::Flapping
    )
}

const MAX_DEPTH: usize = 64;

/// One ship's correlator.
#[derive(Debug)]
pub struct Correlator {
    ship: String,
    topo: Topology,
    cfg: CorrelatorConfig,
    pending: Vec<Alert>,
    firing: BTreeMap<Key, Firing>,
    incidents: Vec<Incident>,
    /// Last event time a member of incident `i` had a firing alert.
    last_active: Vec<i64>,
    /// By incident: its present root was unreachable or down at some point while it
    /// was open (such an incident is never moved to an element below its root).
    root_failed: Vec<bool>,
    /// By incident: whether its root was failing (unreachable or down) when it was last
    /// refreshed (`None` before the first refresh), and since when that was seen. A rise
    /// from `false` is a new failure of the root while the incident is open.
    root_down_seen: Vec<(Option<bool>, i64)>,
    /// By incident: when its present root was last seen coming back (its last
    /// unreachable or down alert cleared). An upstream failure that begins after that is
    /// a new fault: it neither moves this incident's root nor takes it over.
    root_back_ms: Vec<Option<i64>>,
    alerts_total: u64,
    now_ms: i64,
    /// Event alerts waiting for an incident: (subject, time).
    events: Vec<(String, i64)>,
    /// Last time each (subject, series) event fired (dedupe).
    event_seen: BTreeMap<(String, String), i64>,
    /// Last time each device logged that it lost a neighbour on a port (it is alive).
    heard: BTreeMap<String, i64>,
    /// Recent port-loss episodes of each device (port or LLDP neighbour down).
    port_losses: BTreeMap<String, VecDeque<PortEpisode>>,
    /// When each port of each device last began a loss episode (and the one before):
    /// device → port → (previous start, last start).
    port_seen: BTreeMap<String, BTreeMap<String, (Option<i64>, i64)>>,
    /// Which port of a device faces which neighbour, learned from LLDP lines naming
    /// both: (device, neighbour) → port.
    faces: BTreeMap<(String, String), String>,
    /// First failed probes not yet confirmed: subject → time of the miss.
    suspects: BTreeMap<String, i64>,
    /// Planned reboots announced (a controller's scheduled AP upgrade, an operator's
    /// reload): element → time of the announcement, until it is back.
    planned: BTreeMap<String, i64>,
    /// Parents learned from the ship (LLDP) where the inventory said otherwise:
    /// device → what was learned (bounded, [`FACES_MAX`]).
    learned: BTreeMap<String, Learned>,
    /// Last time a controller reported each element lost (an AP down at the WLC, a
    /// camera lost at the VMS).
    reported_lost: BTreeMap<String, i64>,
    /// Links whose own outage predictor last named a blockage (the antenna's view of the
    /// satellite cut by the ship's structure at this heading): link → time of that
    /// prediction's latest edge. A blockage is one antenna's geometry, so such a link is
    /// neither explained by another link's trouble nor explains it (bounded by the links).
    blockage: BTreeMap<String, i64>,
}

impl Correlator {
    /// A correlator for `ship` over `topo`.
    pub fn new(ship: &str, topo: Topology, cfg: CorrelatorConfig) -> Self {
        Self {
            ship: ship.to_string(),
            topo,
            cfg,
            pending: Vec::new(),
            firing: BTreeMap::new(),
            incidents: Vec::new(),
            last_active: Vec::new(),
            root_failed: Vec::new(),
            root_down_seen: Vec::new(),
            root_back_ms: Vec::new(),
            alerts_total: 0,
            now_ms: i64::MIN,
            events: Vec::new(),
            event_seen: BTreeMap::new(),
            heard: BTreeMap::new(),
            port_losses: BTreeMap::new(),
            port_seen: BTreeMap::new(),
            faces: BTreeMap::new(),
            suspects: BTreeMap::new(),
            learned: BTreeMap::new(),
            planned: BTreeMap::new(),
            blockage: BTreeMap::new(),
            reported_lost: BTreeMap::new(),
        }
    }

    /// Restores incidents from their last recorded state (event-log replay after a
    /// restart). Open incidents stay open until their symptoms are seen clear again.
    pub fn restore(&mut self, incidents: Vec<Incident>) {
        for inc in incidents {
            if inc.ship != self.ship || self.incidents.iter().any(|i| i.id == inc.id) {
                continue;
            }
            self.last_active
                .push(inc.resolved_at_ms.unwrap_or(inc.opened_at_ms));
            self.root_down_seen.push((None, 0));
            self.root_back_ms.push(None);
            self.root_failed.push(
                inc.classes
                    .iter()
                    .any(|c| matches!(c, AlertClass::Unreachable | AlertClass::Down)),
            );
            self.incidents.push(inc);
        }
    }

    /// Replaces the topology (inventory reload).
    /// Parents learned from the ship (LLDP) are applied again on top of the new
    /// inventory.
    pub fn set_topology(&mut self, topo: Topology) {
        self.topo = topo;
        for (device, l) in &mut self.learned {
            if let Some(old) = self.topo.reparent(device, vec![l.parent.clone()]) {
                l.inventory = old;
            }
        }
    }

    /// Queues an alert; it is applied at the next [`Correlator::tick`].
    pub fn push(&mut self, alert: Alert) {
        if alert.ship == self.ship {
            self.pending.push(alert);
        }
    }

    /// Firing alerts received so far (duplicates of an already firing key excluded).
    pub fn alerts_total(&self) -> u64 {
        self.alerts_total
    }

    /// What the ship taught the correlator about its own topology (for the console's
    /// topology view): the parents learned where the inventory said otherwise, and the
    /// ports LLDP lines (or interface descriptions) showed facing a neighbour.
    pub fn topology_facts(&self) -> TopologyFacts {
        TopologyFacts {
            learned: self
                .learned
                .iter()
                .map(|(device, l)| LearnedParent {
                    device: device.clone(),
                    parent: l.parent.clone(),
                    port: l.port.clone(),
                    at_ms: l.at_ms,
                    how: l.how.clone(),
                    inventory_parents: l.inventory.clone(),
                })
                .collect(),
            adjacencies: self
                .faces
                .iter()
                .map(|((device, neighbour), port)| Adjacency {
                    device: device.clone(),
                    port: port.clone(),
                    neighbour: neighbour.clone(),
                })
                .collect(),
        }
    }

    /// Every incident, in opening order.
    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// Acknowledges an open incident; `None` when there is no such open incident.
    pub fn acknowledge(&mut self, id: &str, by: &str, ts_ms: i64) -> Option<IncidentEvent> {
        let inc = self
            .incidents
            .iter_mut()
            .find(|i| i.id == id && i.state == IncidentState::Open)?;
        inc.state = IncidentState::Acknowledged;
        Some(IncidentEvent {
            traceparent: None,
            ts_ms,
            kind: IncidentEventKind::Acknowledged { by: by.to_string() },
            incident: inc.clone(),
        })
    }

    /// Applies queued alerts and advances event time to `now_ms`; returns what changed.
    pub fn tick(&mut self, now_ms: i64) -> Vec<IncidentEvent> {
        let mut out = Vec::new();
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by(|a, b| {
            (
                a.ts_ms,
                &a.subject,
                class_rank(a.class),
                &a.series,
                a.state as u8,
            )
                .cmp(&(
                    b.ts_ms,
                    &b.subject,
                    class_rank(b.class),
                    &b.series,
                    b.state as u8,
                ))
        });
        self.now_ms = self
            .now_ms
            .max(now_ms)
            .max(pending.last().map_or(i64::MIN, |a| a.ts_ms));
        for alert in pending {
            self.apply(alert, &mut out);
        }
        self.correlate(&mut out);
        self.resolve(&mut out);
        out
    }

    fn apply(&mut self, alert: Alert, out: &mut Vec<IncidentEvent>) {
        tracing::debug!(
            ship = %self.ship,
            subject = %alert.subject,
            class = ?alert.class,
            series = ?alert.series,
            state = ?alert.state,
            ts_ms = alert.ts_ms,
            detail = %alert.detail,
            "alert"
        );
        if alert.class == AlertClass::OutageRisk {
            // a prediction, not a symptom: reported on its own (the `sim run` report's
            // `link_risk_alerts`, the link's state), so not counted as an alert; only its
            // cause is kept (a blockage stays the link's own)
            self.note_risk_cause(&alert);
            return;
        }
        if is_event(&alert) {
            if alert.series.as_deref() == Some(PLANNED_REBOOT) {
                // announced downtime: a fact, not a symptom (not counted)
                if alert.state == AlertState::Firing {
                    if !self.planned.contains_key(&alert.subject) && self.planned.len() >= FACES_MAX
                    {
                        self.planned.pop_first();
                    }
                    self.planned.insert(alert.subject, alert.ts_ms);
                }
                return;
            }
            if let Some(object) = alert
                .series
                .as_deref()
                .and_then(|s| s.strip_prefix(LLDP_SEEN))
            {
                // a neighbour seen on a port: a topology fact, not a symptom (not counted)
                let (port, neighbour) = split_port(object);
                if let (false, Some(n)) = (port.is_empty(), neighbour) {
                    self.learn_neighbour(&alert.subject, &port, &n, alert.ts_ms, "LLDP");
                }
                return;
            }
            if alert.state == AlertState::Firing {
                let k = (
                    alert.subject.clone(),
                    alert.series.clone().unwrap_or_default(),
                );
                let dup = self
                    .event_seen
                    .get(&k)
                    .is_some_and(|t| alert.ts_ms - t < EVENT_DEDUPE_MS);
                if reports_lost_neighbour(&k.1) {
                    let t = self.heard.entry(k.0.clone()).or_insert(alert.ts_ms);
                    *t = (*t).max(alert.ts_ms);
                    self.record_port_loss(&k.0, &k.1, alert.ts_ms);
                }
                if reports_element_lost(&k.1) {
                    let t = self.reported_lost.entry(k.0.clone()).or_insert(alert.ts_ms);
                    *t = (*t).max(alert.ts_ms);
                }
                self.event_seen.insert(k, alert.ts_ms);
                if !dup {
                    self.alerts_total += 1;
                    self.events.push((alert.subject, alert.ts_ms));
                }
            }
            return;
        }
        if is_probe_miss(&alert) {
            match alert.state {
                AlertState::Firing => {
                    self.suspects
                        .entry(alert.subject.clone())
                        .or_insert(alert.ts_ms);
                }
                AlertState::Cleared => {
                    self.suspects.remove(&alert.subject);
                    let key = miss_key(&alert.subject);
                    if let Some(f) = self.firing.remove(&key) {
                        if let Some(i) = f.incident {
                            self.last_active[i] = self.last_active[i].max(alert.ts_ms);
                        }
                        self.note_root_back(&alert.subject, alert.ts_ms);
                    }
                }
            }
            return;
        }
        let key: Key = (alert.subject.clone(), alert.class, alert.series.clone());
        if alert.state == AlertState::Firing
            && alert.class == AlertClass::Unreachable
            && !self.firing.contains_key(&key)
        {
            // the second failed probe confirms the first: it dates from the miss, and
            // if the miss was already promoted it takes its place (one alert, not two)
            let suspected = self.suspects.remove(&alert.subject);
            if let Some(f) = self.firing.remove(&miss_key(&alert.subject)) {
                self.firing.insert(key, f);
                return;
            }
            if let Some(t) = suspected {
                let mut alert = alert;
                let confirmed = alert.ts_ms;
                alert.ts_ms = alert.ts_ms.min(t);
                self.fire(key.clone(), alert, out);
                if let Some(f) = self.firing.get_mut(&key) {
                    f.onset_ms = f.onset_ms.max(confirmed);
                }
                return;
            }
        }
        match alert.state {
            AlertState::Cleared => {
                if let Some(f) = self.firing.remove(&key) {
                    // only a symptom's end counts as activity: a detector's anomaly
                    // on an error counter clears minutes after the errors stopped
                    match f.incident {
                        Some(i) if f.symptom(alert.class, self.now_ms) => {
                            self.last_active[i] = self.last_active[i].max(alert.ts_ms);
                        }
                        _ => {}
                    }
                }
                if matches!(alert.class, AlertClass::Unreachable | AlertClass::Down) {
                    self.note_root_back(&alert.subject, alert.ts_ms);
                }
                // back from a planned reboot: its next failure is a failure again
                if matches!(alert.class, AlertClass::Unreachable | AlertClass::Down)
                    && self
                        .planned
                        .get(&alert.subject)
                        .is_some_and(|t| alert.ts_ms > *t)
                {
                    self.planned.remove(&alert.subject);
                }
            }
            AlertState::Firing => {
                if self.firing.contains_key(&key) {
                    return; // dedupe
                }
                self.fire(key, alert, out);
            }
        }
    }

    /// A new firing alert: counted, attached at once to an open incident of its
    /// subject, else left for [`Correlator::correlate`] to group.
    ///
    /// A symptom attaches at once only to an incident its element roots, or whose root
    /// explains it ([`Correlator::root_of`]): a member failing anew for a reason of its
    /// own (the switch that counted a neighbour's errors, now dead) is grouped afresh.
    fn fire(&mut self, key: Key, alert: Alert, out: &mut Vec<IncidentEvent>) {
        self.alerts_total += 1;
        let detail: String = alert.detail.chars().take(200).collect();
        let due_ms = (alert.class == AlertClass::Capacity)
            .then_some(alert.exhausts_at_ms)
            .flatten()
            .map(|at| at - CAPACITY_OPEN_MS);
        let f = Firing {
            since_ms: alert.ts_ms,
            onset_ms: alert.ts_ms,
            incident: None,
            detail,
            due_ms,
        };
        let symptom = f.symptom(alert.class, self.now_ms);
        self.firing.insert(key.clone(), f);
        let incident = self.open_incident_with_member(&alert.subject).filter(|&i| {
            let root = &self.incidents[i].root_cause;
            if !symptom {
                return true;
            }
            if *root == alert.subject {
                // a root that came back and now fails behind an upstream failure that
                // began after its return: that failure's incident takes it
                return !self.failed_anew_behind(i, &alert.subject);
            }
            self.root_of(&alert.subject) == *root
        });
        if let Some(i) = incident {
            // a log line (a port going down, a neighbour lost) attaches and keeps the
            // incident open, but only a state symptom makes a quiet incident active again:
            // on a ship such lines come all day
            if symptom && !is_event(&alert) && self.dormant(i) {
                self.incidents[i].mark_active(alert.ts_ms);
            }
            if let Some(f) = self.firing.get_mut(&key) {
                f.incident = Some(i);
            }
            self.attach(i, &alert.subject, alert.ts_ms, symptom, out);
        }
    }

    /// Whether open incident `i` has no firing symptom attached (it is waiting to
    /// resolve): a new symptom then makes it active again.
    fn dormant(&self, i: usize) -> bool {
        let now = self.now_ms;
        !self
            .firing
            .iter()
            .any(|((_, c, s), f)| f.incident == Some(i) && f.symptom(*c, now) && !is_log_series(s))
    }

    /// Promotes the suspicions that other evidence now corroborates to firing
    /// unreachable alerts (series [`PROBE_MISS`]); drops stale ones.
    fn promote_suspects(&mut self, out: &mut Vec<IncidentEvent>) {
        let now = self.now_ms;
        self.suspects.retain(|_, t| now - *t <= SUSPECT_MAX_AGE_MS);
        // to a fixpoint: a promoted parent corroborates its children's misses
        for _ in 0..MAX_DEPTH {
            let promote: Vec<(String, i64, String)> = self
                .suspects
                .iter()
                .filter(|(s, _)| !self.firing.contains_key(&miss_key(s)))
                .filter_map(|(s, t)| Some((s.clone(), *t, self.corroboration(s, *t)?)))
                .collect();
            if promote.is_empty() {
                break;
            }
            for (subject, t, why) in promote {
                self.promote(subject, t, why, out);
            }
        }
    }

    fn promote(&mut self, subject: String, t: i64, why: String, out: &mut Vec<IncidentEvent>) {
        let alert = Alert {
            ship: self.ship.clone(),
            exhausts_at_ms: None,
            subject: subject.clone(),
            source: crate::alert::AlertSource::Device,
            class: AlertClass::Unreachable,
            severity: crate::alert::AlertSeverity::Critical,
            state: AlertState::Firing,
            ts_ms: t,
            series: Some(PROBE_MISS.to_string()),
            score: 1.0,
            detail: format!("first failed probe at {}, corroborated: {why}", hhmmss(t)),
        };
        self.fire(miss_key(&subject), alert, out);
    }

    /// Records a device's port-loss line (series `log:port-down:<port>` or
    /// `log:lldp-lost:<port>@<neighbour>`) as part of a loss episode: a line about the
    /// same port or the same neighbour within [`EPISODE_MS`] of the episode's last line
    /// extends it (a port-down, its line-protocol echo and the LLDP neighbour ageing
    /// out two minutes later are one loss, not three); anything else begins a new one.
    /// An LLDP line naming both port and neighbour teaches which port faces it.
    fn record_port_loss(&mut self, device: &str, series: &str, ts: i64) {
        let (port, neighbour) = port_of(series);
        if let (false, Some(n)) = (port.is_empty(), neighbour.as_deref()) {
            self.learn_neighbour(device, &port, n, ts, "LLDP");
        }
        let losses = self.port_losses.entry(device.to_string()).or_default();
        let same = losses.iter_mut().rev().find(|e| {
            ts - e.last_ms <= EPISODE_MS
                && ts >= e.first_ms - CORROBORATE_AFTER_MS
                && ((!port.is_empty() && e.port == port)
                    || (neighbour.is_some() && e.neighbour == neighbour)
                    || (port.is_empty() && neighbour.is_none()))
        });
        if let Some(e) = same {
            e.last_ms = e.last_ms.max(ts);
            e.first_ms = e.first_ms.min(ts);
            if e.port.is_empty() {
                e.port = port;
            }
            if e.neighbour.is_none() {
                e.neighbour = neighbour;
            }
            return;
        }
        if losses.len() == PORT_HISTORY_MAX {
            losses.pop_front();
        }
        losses.push_back(PortEpisode {
            first_ms: ts,
            last_ms: ts,
            port: port.clone(),
            neighbour,
        });
        if port.is_empty() {
            return;
        }
        let ports = self.port_seen.entry(device.to_string()).or_default();
        if !ports.contains_key(&port) && ports.len() >= PORTS_MAX {
            if let Some(oldest) = ports
                .iter()
                .min_by_key(|(_, (_, last))| *last)
                .map(|(p, _)| p.clone())
            {
                ports.remove(&oldest);
            }
        }
        let seen = ports.entry(port).or_insert((None, ts));
        if seen.1 != ts {
            *seen = (Some(seen.1), ts);
        }
    }

    /// Learns that `device`'s `port` faces `neighbour` (an LLDP line, or an interface
    /// description, naming it): bounded ([`FACES_MAX`] pairs). When the inventory says
    /// otherwise, the ship's own word wins under this confidence rule: `device` is a
    /// network device of the inventory, `neighbour` is an inventoried end device (one
    /// uplink: an AP, a till, a camera, a server) whose parents do not include
    /// `device`, and `device` is not downstream of it; then `neighbour` hangs off
    /// `device` (the latest such line wins) and the incidents that involve it say so.
    /// Adjacencies between two network devices are kept as port facts only (which
    /// end is upstream is not in an LLDP line).
    fn learn_neighbour(&mut self, device: &str, port: &str, neighbour: &str, ts: i64, how: &str) {
        if device == neighbour || port.is_empty() {
            return;
        }
        let key = (device.to_string(), neighbour.to_string());
        if !self.faces.contains_key(&key) && self.faces.len() >= FACES_MAX {
            self.faces.pop_first();
        }
        self.faces.insert(key, port.to_string());
        let (Some(d), Some(n)) = (self.topo.node(device), self.topo.node(neighbour)) else {
            return;
        };
        if !Topology::is_network_kind(&d.kind)
            || Topology::is_network_kind(&n.kind)
            || n.parents.iter().any(|p| p == device)
        {
            return;
        }
        let inventory = match self.learned.get(neighbour) {
            Some(l) => l.inventory.clone(),
            None => n.parents.clone(),
        };
        if self
            .topo
            .reparent(neighbour, vec![device.to_string()])
            .is_none()
        {
            return;
        }
        if !self.learned.contains_key(neighbour) && self.learned.len() >= FACES_MAX {
            self.learned.pop_first();
        }
        tracing::debug!(ship = %self.ship, %neighbour, %device, %port, "learned parent");
        self.learned.insert(
            neighbour.to_string(),
            Learned {
                parent: device.to_string(),
                port: port.to_string(),
                at_ms: ts,
                how: how.to_string(),
                inventory,
            },
        );
    }

    /// The element on the other end of the port `subject` counts interface errors on,
    /// when that port is known (its errors alert names it) and known to face an
    /// inventoried element other than `subject`'s parents: by LLDP, or by the port's
    /// description naming it. Returns the element and how it is known.
    fn errors_facing(&self, subject: &str) -> Option<(String, String, &'static str)> {
        let f = self.firing.get(&(
            subject.to_string(),
            AlertClass::Errors,
            Some("interface".to_string()),
        ))?;
        let (port, description) = errors_port(&f.detail)?;
        let parents = self.topo.parents(subject);
        let by_lldp = self
            .faces
            .range((subject.to_string(), String::new())..)
            .take_while(|((d, _), _)| d == subject)
            .find(|(_, p)| **p == port)
            .map(|((_, n), _)| (n.clone(), "LLDP"));
        let by_description = || {
            description
                .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"'))
                .find(|w| *w != subject && self.topo.node(w).is_some())
                .map(|w| (w.to_string(), "its description"))
        };
        let (n, how) = by_lldp.or_else(by_description)?;
        (self.topo.node(&n).is_some() && !parents.contains(&n)).then_some((n, port, how))
    }

    /// What `parent` logged about losing a port just before `subject`'s first failed
    /// probe at `miss_ms` (a loss episode began from [`CORROBORATE_BEFORE_MS`] before
    /// the miss to [`CORROBORATE_AFTER_MS`] after it), if anything:
    /// - [`PortLoss::Facing`] (strong): the port is known to face `subject` (an LLDP
    ///   line named `subject` on it, in this episode or before);
    /// - [`PortLoss::News`] (weak): the port is not known to face another element, and
    ///   the loss is news: port losses are rare on `parent` (at most
    ///   [`PORT_LOSSES_RARE`] other episodes in the [`PORT_HISTORY_MS`] before), or
    ///   the port itself had not gone down for [`PORT_NEWS_MS`]. A user port going down
    ///   next to a lost probe is this at best: one piece of weak evidence.
    fn parent_lost_port(&self, parent: &str, subject: &str, miss_ms: i64) -> Option<PortLoss> {
        let losses = self.port_losses.get(parent)?;
        let from = miss_ms - CORROBORATE_BEFORE_MS;
        let window = from..=(miss_ms + CORROBORATE_AFTER_MS);
        let before = losses
            .iter()
            .filter(|e| (from - PORT_HISTORY_MS..from).contains(&e.first_ms))
            .count();
        let facing = self.faces.get(&(parent.to_string(), subject.to_string()));
        let mut best: Option<PortLoss> = None;
        for e in losses.iter().filter(|e| window.contains(&e.first_ms)) {
            let port = if e.port.is_empty() {
                "a port"
            } else {
                e.port.as_str()
            };
            let at = hhmmss(e.first_ms);
            if e.neighbour.as_deref() == Some(subject)
                || (!e.port.is_empty() && facing == Some(&e.port))
            {
                return Some(PortLoss::Facing(format!(
                    "{parent} lost {port} at {at}, the port LLDP shows facing {subject}"
                )));
            }
            if best.is_some() || facing.is_some() || e.neighbour.is_some() {
                continue;
            }
            let faces_other = !e.port.is_empty()
                && self
                    .faces
                    .range((parent.to_string(), String::new())..)
                    .take_while(|((d, _), _)| d == parent)
                    .any(|((_, n), p)| *p == e.port && n != subject);
            if faces_other {
                continue;
            }
            if before <= PORT_LOSSES_RARE {
                best = Some(PortLoss::News(format!(
                    "{parent} lost {port} at {at} (port losses are rare on it)"
                )));
                continue;
            }
            if e.port.is_empty() {
                continue;
            }
            let previous = self
                .port_seen
                .get(parent)
                .and_then(|ports| ports.get(&e.port))
                .and_then(|(prev, last)| {
                    if *last == e.first_ms {
                        *prev
                    } else {
                        Some(*last)
                    }
                });
            if previous.is_none_or(|p| e.first_ms - p > PORT_NEWS_MS) {
                best = Some(PortLoss::News(format!(
                    "{parent} lost {port} at {at}, a port that had not gone down for 2 h"
                )));
            }
        }
        best
    }

    /// Whether a first failed probe of `subject` at `miss_ms` is corroborated (see
    /// [`Correlator::corroboration`]).
    pub fn corroborated(&self, subject: &str, miss_ms: i64) -> bool {
        self.corroboration(subject, miss_ms).is_some()
    }

    /// Why a first failed probe of `subject` at `miss_ms` is corroborated, in words, or
    /// `None` when it is not (it then waits for the second failed probe). One lost
    /// probe is common and benign, so it takes one piece of strong evidence, or
    /// [`WEAK_NEEDED`] pieces of weak evidence, all from
    /// [`CORROBORATE_BEFORE_MS`] before the miss to [`CORROBORATE_AFTER_MS`] after it:
    ///
    /// strong
    /// - a controller reported it lost (an AP down at the WLC, a camera lost at the VMS);
    /// - every parent is failing itself (then the miss is the parent's symptom);
    /// - most of the devices behind it ([`CHILDREN_SHARE`], at least two) are out too
    ///   (their misses unanswered, or failing), their trouble beginning around the miss
    ///   (a dead switch silences everything on it within one poll);
    /// - every parent lost the port known (LLDP) to face it;
    ///
    /// weak (each counts once)
    /// - a parent lost a port not known to face another element, where that is news
    ///   (rare on the parent, or a port that had not gone down for 2 hours): a user
    ///   port flapping next to a lost probe is this, and alone proves nothing;
    /// - some device behind it is out too, but fewer than the strong share.
    pub fn corroboration(&self, subject: &str, miss_ms: i64) -> Option<String> {
        let around = (miss_ms - CORROBORATE_BEFORE_MS)..=(miss_ms + CORROBORATE_BEFORE_MS);
        let near = |t: i64| around.contains(&t);
        let window = (miss_ms - CORROBORATE_BEFORE_MS)..=(miss_ms + CORROBORATE_AFTER_MS);
        if let Some(t) = self
            .reported_lost
            .get(subject)
            .filter(|t| window.contains(*t))
        {
            return Some(format!(
                "a controller reported {subject} lost at {}",
                hhmmss(*t)
            ));
        }
        let children = self.topo.children(subject);
        let out: Vec<&String> = children
            .iter()
            .filter(|c| {
                self.suspects.get(c.as_str()).is_some_and(|t| near(*t))
                    || (self.failing(c) && self.since(c).is_some_and(near))
            })
            .collect();
        let need = CHILDREN_MIN.max((children.len() as f64 * CHILDREN_SHARE).ceil() as usize);
        if out.len() >= need {
            return Some(format!(
                "{} of the {} devices behind it stopped answering too ({})",
                out.len(),
                children.len(),
                names(&out, 4)
            ));
        }
        let parents = self.topo.parents(subject);
        if !parents.is_empty() && parents.iter().all(|p| self.failing(p)) {
            let p: Vec<&String> = parents.iter().collect();
            return Some(format!(
                "{} {} failing",
                names(&p, 4),
                if p.len() == 1 { "is" } else { "are" }
            ));
        }
        let losses: Vec<Option<PortLoss>> = parents
            .iter()
            .map(|p| self.parent_lost_port(p, subject, miss_ms))
            .collect();
        if !losses.is_empty()
            && losses
                .iter()
                .all(|l| matches!(l, Some(PortLoss::Facing(_))))
        {
            let why: Vec<String> = losses
                .into_iter()
                .flatten()
                .map(PortLoss::into_words)
                .collect();
            return Some(why.join("; "));
        }
        let mut weak: Vec<String> = losses
            .into_iter()
            .flatten()
            .map(PortLoss::into_words)
            .take(1)
            .collect();
        if !out.is_empty() {
            weak.push(format!(
                "{} behind it stopped answering too",
                names(&out, 4)
            ));
        }
        (weak.len() >= WEAK_NEEDED).then(|| weak.join("; "))
    }

    fn open_incident_with_member(&self, subject: &str) -> Option<usize> {
        self.incidents
            .iter()
            .position(|i| i.state.is_open() && i.members.iter().any(|m| m == subject))
    }

    /// Attaches one alert of `subject` to incident `i`; a symptom (not a detector's
    /// context) counts as activity that keeps it open.
    fn attach(
        &mut self,
        i: usize,
        subject: &str,
        ts_ms: i64,
        symptom: bool,
        out: &mut Vec<IncidentEvent>,
    ) {
        let inc = &mut self.incidents[i];
        inc.alerts += 1;
        if let Err(pos) = inc.members.binary_search_by(|m| m.as_str().cmp(subject)) {
            inc.members.insert(pos, subject.to_string());
        }
        if symptom {
            self.last_active[i] = self.last_active[i].max(ts_ms);
        }
        self.refresh(i);
        out.push(IncidentEvent {
            traceparent: None,
            ts_ms,
            kind: IncidentEventKind::AlertAttached {
                subject: subject.to_string(),
            },
            incident: self.incidents[i].clone(),
        });
    }

    fn classes_of(&self, subject: &str) -> BTreeSet<AlertClass> {
        self.firing
            .range((subject.to_string(), AlertClass::Unreachable, None)..)
            .take_while(|((s, _, _), _)| s == subject)
            .map(|((_, c, _), _)| *c)
            .collect()
    }

    fn failing(&self, subject: &str) -> bool {
        let c = self.classes_of(subject);
        c.contains(&AlertClass::Unreachable) || c.contains(&AlertClass::Down)
    }

    /// `subject`'s firing unreachable, down, degraded and flapping alerts.
    fn failures<'a>(&'a self, subject: &'a str) -> impl Iterator<Item = &'a Firing> + 'a {
        self.firing
            .range((subject.to_string(), AlertClass::Unreachable, None)..)
            .take_while(move |((s, _, _), _)| s == subject)
            .filter(|((_, c, _), _)| {
                matches!(
                    c,
                    AlertClass::Unreachable
                        | AlertClass::Down
                        | AlertClass::Degraded
                        | AlertClass::Flapping
                )
            })
            .map(|(_, f)| f)
    }

    /// When `subject` started failing (earliest firing unreachable/down/degraded/flapping).
    fn since(&self, subject: &str) -> Option<i64> {
        self.failures(subject).map(|f| f.since_ms).min()
    }

    /// The latest moment `subject`'s trouble can have begun (see `Firing::onset_ms`):
    /// the earliest over its firing failure alerts.
    fn onset(&self, subject: &str) -> Option<i64> {
        self.failures(subject).map(|f| f.onset_ms).min()
    }

    /// Whether `parent`'s trouble can explain `child`'s (it began before, or at most
    /// [`EXPLAIN_WINDOW_MS`] after).
    fn precedes(&self, parent: &str, child: &str) -> bool {
        match (self.since(parent), self.onset(child)) {
            (Some(p), Some(c)) => p <= c + EXPLAIN_WINDOW_MS,
            _ => true,
        }
    }

    fn troubled_or_alerting(&self, subject: &str) -> bool {
        self.classes_of(subject).iter().any(|c| opens(*c))
    }

    /// How many of `subject`'s children are in trouble, counting up to 2.
    fn troubled_children(&self, subject: &str) -> usize {
        self.topo
            .children(subject)
            .iter()
            .filter(|c| self.troubled(c))
            .take(2)
            .count()
    }

    fn troubled(&self, subject: &str) -> bool {
        self.classes_of(subject).iter().any(|c| {
            matches!(
                c,
                AlertClass::Unreachable
                    | AlertClass::Down
                    | AlertClass::Degraded
                    | AlertClass::Flapping
            )
        })
    }

    /// Whether `subject` shows a link's trouble itself: it counts interface errors,
    /// flaps, or is degraded or failing.
    fn shows_link_trouble(&self, subject: &str) -> bool {
        self.troubled(subject) || self.classes_of(subject).contains(&AlertClass::Errors)
    }

    /// The element that best explains `subject`'s current symptoms:
    /// - an unreachable device whose every parent is failing is explained by them
    ///   (upstream-most failing element);
    /// - a degraded, flapping or unreachable device with a parent in trouble is
    ///   explained by that parent;
    /// - a device whose only symptom is interface errors is its own root (the element
    ///   whose interface counts the errors), unless the other end of that link shows the
    ///   trouble too: the port is known (LLDP, its description) to face a neighbour
    ///   below that counts errors, flaps or fails, or (port unknown) a child counts
    ///   errors or flaps; then both ends see one bad link, the child's uplink, and the
    ///   child is the root. A child that merely fails beside it (an AP dying behind a
    ///   switch whose uplink errors) has its own root; a parent with errors and two or
    ///   more children in trouble explains them;
    /// - link symptoms are explained by the alerting link that best accounts for them
    ///   (one weather or WAN event): the one that lost lock, else the one whose trouble
    ///   began first, the primary only breaking ties; links whose trouble began more
    ///   than [`LINK_EVENT_WINDOW_MS`] apart do not explain each other, and a link whose
    ///   own predictor put its loss down to a blockage explains no other and is explained
    ///   by none.
    pub fn root_of(&self, subject: &str) -> String {
        let mut path = Vec::new();
        self.root_at(subject, &mut path)
    }

    fn root_at<'a>(&'a self, subject: &'a str, path: &mut Vec<&'a str>) -> String {
        if path.contains(&subject) || path.len() >= MAX_DEPTH {
            // a cycle in a bad inventory: the smallest id on it, the same from anywhere
            let start = path.iter().position(|p| *p == subject).unwrap_or(0);
            return path[start..].iter().min().unwrap_or(&subject).to_string();
        }
        path.push(subject);
        if self.topo.is_link(subject) {
            return match self.link_explaining(subject) {
                Some(l) => self.root_at(l, path),
                None => subject.to_string(),
            };
        }
        let classes = self.classes_of(subject);
        let parents = self.topo.parents(subject);
        let failing =
            classes.contains(&AlertClass::Unreachable) || classes.contains(&AlertClass::Down);
        if failing
            && !parents.is_empty()
            && parents
                .iter()
                .all(|p| self.failing(p) && self.precedes(p, subject))
        {
            let mut sorted: Vec<&String> = parents.iter().collect();
            sorted.sort();
            return self.root_at(sorted[0], path);
        }
        let troubled = failing
            || classes.contains(&AlertClass::Degraded)
            || classes.contains(&AlertClass::Flapping);
        if troubled {
            let mut sorted: Vec<&String> = parents
                .iter()
                .filter(|p| {
                    (self.troubled(p) && self.precedes(p, subject))
                        || (self.classes_of(p).contains(&AlertClass::Errors)
                            && self.troubled_children(p) >= 2)
                })
                .collect();
            sorted.sort();
            if let Some(p) = sorted.first() {
                return self.root_at(p, path);
            }
            return subject.to_string();
        }
        if classes.contains(&AlertClass::Errors) {
            // Errors are the reporting element's symptom: it is the root unless the
            // other end of the same link shows the link's trouble itself. A port known
            // (LLDP, its description) to face a neighbour below that counts errors too,
            // flaps, or is degraded or unreachable: both ends see one bad link, and it is
            // that neighbour's uplink.
            if let Some((n, _, _)) = self.errors_facing(subject) {
                if !self.topo.is_upstream(&n, subject) && self.shows_link_trouble(&n) {
                    let n = self.topo.node(&n).map(|n| n.id.as_str()).unwrap_or(subject);
                    return self.root_at(n, path);
                }
                return subject.to_string();
            }
            // the port is not known: a device behind it that counts errors or flaps is
            // the other end of the erroring link (both ends count the same bad link)
            let child = self.topo.children(subject).iter().find(|c| {
                let cc = self.classes_of(c);
                cc.contains(&AlertClass::Errors) || cc.contains(&AlertClass::Flapping)
            });
            if let Some(c) = child {
                return self.root_at(c, path);
            }
        }
        subject.to_string()
    }

    /// Keeps what an outage prediction says of its link's cause: a firing prediction that
    /// names a blockage marks the link, one that names another cause unmarks it, and a
    /// cleared one dates the mark (the outage it foretold follows it).
    fn note_risk_cause(&mut self, alert: &Alert) {
        if !self.topo.is_link(&alert.subject) {
            return;
        }
        let blockage = crate::link::risk_cause(&alert.detail) == Some("blockage");
        match (alert.state, blockage) {
            (AlertState::Firing, true) => {
                self.blockage.insert(alert.subject.clone(), alert.ts_ms);
            }
            (AlertState::Firing, false) => {
                self.blockage.remove(&alert.subject);
            }
            (_, _) => {
                if let Some(t) = self.blockage.get_mut(&alert.subject) {
                    *t = alert.ts_ms;
                }
            }
        }
    }

    /// Whether `link`'s own predictor put its current trouble down to a blockage: its
    /// last blockage prediction's edge came within [`LINK_EVENT_WINDOW_MS`] before (or
    /// after) its trouble began.
    fn blocked(&self, link: &str) -> bool {
        let (Some(&at), Some(since)) = (self.blockage.get(link), self.since(link)) else {
            return false;
        };
        since.abs_diff(at) <= LINK_EVENT_WINDOW_MS
    }

    /// How strongly a link's symptoms speak for it as the root of a WAN event, lower
    /// is stronger: lost lock or flapping before merely degraded, then the link whose
    /// trouble began first (under one ship-wide cause such as a rain cell, the most
    /// exposed link crosses its thresholds first and goes deepest), then the primary,
    /// then the id (deterministic).
    fn link_rank<'a>(&self, link: &'a str) -> Option<(u8, i64, bool, &'a str)> {
        let classes = self.classes_of(link);
        let worst = if classes.contains(&AlertClass::Down)
            || classes.contains(&AlertClass::Unreachable)
            || classes.contains(&AlertClass::Flapping)
        {
            0
        } else if classes.contains(&AlertClass::Degraded) {
            1
        } else if classes.iter().any(|c| opens(*c)) {
            2
        } else {
            return None;
        };
        let since = self.since(link).unwrap_or(i64::MAX);
        Some((worst, since, !self.topo.is_primary_link(link), link))
    }

    /// The other alerting link that best explains `link`'s symptoms, if any: the
    /// strongest-ranked ([`Correlator::link_rank`]) link that ranks above `link` and
    /// whose trouble began within [`LINK_EVENT_WINDOW_MS`] of `link`'s (links failing
    /// independently further apart are separate incidents). Which link is primary
    /// decides only ties: a backup that lost lock first explains a primary that merely
    /// degraded with it.
    fn link_explaining(&self, link: &str) -> Option<&str> {
        // a blocked antenna's loss is its own, and it causes no other link's
        if self.blocked(link) {
            return None;
        }
        let own = self.link_rank(link)?;
        let mut best: Option<(u8, i64, bool, &str)> = None;
        for (s, _, _) in self.firing.keys() {
            if s == link || !self.topo.is_link(s) || self.blocked(s) {
                continue;
            }
            let Some(cand) = self.link_rank(s) else {
                continue;
            };
            let explains = cand < own && cand.1.abs_diff(own.1) <= LINK_EVENT_WINDOW_MS;
            if explains && best.is_none_or(|b| cand < b) {
                best = Some(cand);
            }
        }
        best.map(|b| b.3)
    }

    fn correlate(&mut self, out: &mut Vec<IncidentEvent>) {
        self.promote_suspects(out);
        // settled, unattached alerts grouped by root, in root order (deterministic)
        let mut groups: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        let mut context: Vec<(String, i64)> = Vec::new();
        for ((subject, class, _), f) in &self.firing {
            // only silence waits for the upstream-most element to show up; other
            // symptoms open at once (a later upstream failure re-roots them)
            let wait = if matches!(class, AlertClass::Unreachable | AlertClass::Down)
                && !self.upstream_alive(subject, f.since_ms)
            {
                self.cfg.settle_ms
            } else {
                0
            };
            if f.incident.is_some() || self.now_ms - f.since_ms < wait {
                continue;
            }
            if f.symptom(*class, self.now_ms) {
                let root = self.root_of(subject);
                // announced downtime of the root, or of the element itself: a server
                // patched in its maintenance window is silent on purpose, and joined to
                // a neighbour's incident its silence would keep that incident active
                if self.planned_down(&root, f.since_ms) || self.planned_down(subject, f.since_ms) {
                    continue;
                }
                groups
                    .entry(root)
                    .or_default()
                    .push((subject.clone(), f.since_ms));
            } else {
                context.push((subject.clone(), f.since_ms));
            }
        }
        for (root, members) in groups {
            let first_ms = members.iter().map(|m| m.1).min().unwrap_or(self.now_ms);
            let i = self.incident_for_root(&root, first_ms, out);
            for (subject, ts) in members {
                self.attach_keyed(i, &subject, ts, out);
            }
        }
        self.rerank_links(out);
        self.restate(out);
        // context alerts: attach to an open incident of the element, or (counted, not
        // a member) of a neighbour: a detector's oddity beside a failure does not make
        // the element part of it (else an incident would spread along chains of
        // anomalies and take the next unrelated fault of any of them)
        for (subject, ts) in context {
            if let Some(i) = self.open_incident_with_member(&subject) {
                self.attach_keyed(i, &subject, ts, out);
                continue;
            }
            let near: Vec<String> = self
                .topo
                .parents(&subject)
                .iter()
                .chain(self.topo.children(&subject))
                .cloned()
                .collect();
            if let Some(i) = near.iter().find_map(|n| self.open_incident_with_member(n)) {
                self.attach_context(i, &subject, ts, out);
            }
        }
        // event alerts: attach to an open incident of the subject or a neighbour
        let events = std::mem::take(&mut self.events);
        for (subject, ts) in events {
            match self.incident_near(&subject) {
                Some(i) => {
                    // counted, but not a member: a log line about an element does not
                    // make it part of the failure
                    self.incidents[i].alerts += 1;
                    out.push(IncidentEvent {
                        traceparent: None,
                        ts_ms: ts,
                        kind: IncidentEventKind::AlertAttached { subject },
                        incident: self.incidents[i].clone(),
                    });
                }
                None if self.now_ms - ts < EVENT_WAIT_MS => self.events.push((subject, ts)),
                None => {}
            }
        }
        let horizon = self.now_ms - EVENT_DEDUPE_MS;
        self.event_seen.retain(|_, t| *t >= horizon);
        let horizon = self.now_ms - HEARD_WINDOW_MS;
        self.heard.retain(|_, t| *t >= horizon);
        let horizon = self.now_ms - SUSPECT_MAX_AGE_MS;
        self.reported_lost.retain(|_, t| *t >= horizon);
        let horizon = self.now_ms - PLANNED_MAX_MS;
        self.planned.retain(|_, t| *t >= horizon);
        let horizon = self.now_ms - PORT_HISTORY_MS - CORROBORATE_BEFORE_MS;
        self.port_losses.retain(|_, v| {
            while v.front().is_some_and(|e| e.last_ms < horizon) {
                v.pop_front();
            }
            !v.is_empty()
        });
        let horizon = self.now_ms - PORT_NEWS_MS - CORROBORATE_BEFORE_MS;
        self.port_seen.retain(|_, ports| {
            ports.retain(|_, (_, last)| *last >= horizon);
            !ports.is_empty()
        });
    }

    /// When an incident opened, re-opened or moved its root this tick, the evidence
    /// of the other open incidents may read differently (their parent failed later: a
    /// cascade); those whose evidence changed are published again.
    fn restate(&mut self, out: &mut Vec<IncidentEvent>) {
        let changed = out.iter().any(|e| {
            matches!(
                e.kind,
                IncidentEventKind::Opened
                    | IncidentEventKind::Reopened
                    | IncidentEventKind::RootCauseChanged { .. }
            )
        });
        if !changed {
            return;
        }
        for i in 0..self.incidents.len() {
            if !self.incidents[i].state.is_open() {
                continue;
            }
            let Some((candidates, evidence)) = self.explain(i) else {
                continue;
            };
            let inc = &mut self.incidents[i];
            if inc.evidence != evidence || inc.candidates != candidates {
                inc.candidates = candidates;
                inc.evidence = evidence;
                out.push(IncidentEvent {
                    traceparent: None,
                    ts_ms: self.now_ms,
                    kind: IncidentEventKind::EvidenceChanged,
                    incident: inc.clone(),
                });
            }
        }
    }

    /// Re-roots open link incidents whose evidence changed: a member link's new alert
    /// attaches at once (it is already a member), so when a member that only degraded
    /// then loses lock, nothing else would notice that it now explains the incident
    /// better than its root.
    fn rerank_links(&mut self, out: &mut Vec<IncidentEvent>) {
        for i in 0..self.incidents.len() {
            let inc = &self.incidents[i];
            if !inc.state.is_open() || !self.topo.is_link(&inc.root_cause) {
                continue;
            }
            let Some(better) = self.link_explaining(&inc.root_cause) else {
                continue;
            };
            if !inc.members.iter().any(|m| m == better) {
                continue;
            }
            let better = better.to_string();
            let from = std::mem::replace(&mut self.incidents[i].root_cause, better);
            self.root_failed[i] = false;
            self.root_back_ms[i] = None;
            let now = self.now_ms;
            self.incidents[i].mark_active(now);
            self.refresh(i);
            out.push(IncidentEvent {
                traceparent: None,
                ts_ms: self.now_ms,
                kind: IncidentEventKind::RootCauseChanged { from },
                incident: self.incidents[i].clone(),
            });
        }
    }

    /// Whether `root`'s trouble that began at `since_ms` is announced downtime: it (or
    /// its controller) announced a planned reboot at most [`PLANNED_LEAD_MS`] after the
    /// trouble began (a late line) and at most [`PLANNED_MAX_MS`] before now, and it
    /// has not come back since. Such trouble (and everything it explains) opens no
    /// incident; a device still down [`PLANNED_MAX_MS`] after its announcement does.
    fn planned_down(&self, root: &str, since_ms: i64) -> bool {
        self.planned
            .get(root)
            .is_some_and(|t| *t <= since_ms + PLANNED_LEAD_MS && self.now_ms - *t <= PLANNED_MAX_MS)
    }

    /// Whether nothing upstream of `subject` can turn out to explain its silence, so
    /// its incident need not wait [`CorrelatorConfig::settle_ms`]: it has no parents (a
    /// link, a perimeter device), or every parent logged losing a neighbour on a port
    /// within [`HEARD_WINDOW_MS`] before `subject`'s trouble began (that parent is alive
    /// and saw the failure below it). A parent that dies right after still re-roots the
    /// incident when its own alert arrives.
    fn upstream_alive(&self, subject: &str, since_ms: i64) -> bool {
        self.topo.parents(subject).iter().all(|p| {
            self.heard
                .get(p)
                .is_some_and(|t| *t >= since_ms - HEARD_WINDOW_MS)
        })
    }

    /// An open incident with `subject`, or one of its parents or children, as member.
    fn incident_near(&self, subject: &str) -> Option<usize> {
        self.open_incident_with_member(subject).or_else(|| {
            self.topo
                .parents(subject)
                .iter()
                .chain(self.topo.children(subject))
                .find_map(|n| self.open_incident_with_member(n))
        })
    }

    /// Attaches every unattached firing alert of `subject` to incident `i`.
    fn attach_keyed(&mut self, i: usize, subject: &str, ts: i64, out: &mut Vec<IncidentEvent>) {
        let keys: Vec<Key> = self
            .firing
            .range((subject.to_string(), AlertClass::Unreachable, None)..)
            .take_while(|((s, _, _), _)| s == subject)
            .filter(|(_, f)| f.incident.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        let now = self.now_ms;
        if self.dormant(i) {
            let first = keys
                .iter()
                .filter_map(|k| self.firing.get(k).filter(|f| f.symptom(k.1, now)))
                .map(|f| f.since_ms.max(self.incidents[i].opened_at_ms))
                .min();
            if let Some(t) = first {
                self.incidents[i].mark_active(t);
            }
        }
        for k in keys {
            let mut symptom = false;
            if let Some(f) = self.firing.get_mut(&k) {
                f.incident = Some(i);
                symptom = f.symptom(k.1, now);
            }
            self.attach(
                i,
                subject,
                ts.max(self.incidents[i].opened_at_ms),
                symptom,
                out,
            );
        }
    }

    /// Attaches every unattached firing alert of `subject` to incident `i` as context:
    /// counted, but `subject` does not become a member.
    fn attach_context(&mut self, i: usize, subject: &str, ts: i64, out: &mut Vec<IncidentEvent>) {
        let keys: Vec<Key> = self
            .firing
            .range((subject.to_string(), AlertClass::Unreachable, None)..)
            .take_while(|((s, _, _), _)| s == subject)
            .filter(|((_, c, _), f)| f.incident.is_none() && !opens(*c))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(f) = self.firing.get_mut(&k) {
                f.incident = Some(i);
            }
            self.incidents[i].alerts += 1;
            out.push(IncidentEvent {
                traceparent: None,
                ts_ms: ts.max(self.incidents[i].opened_at_ms),
                kind: IncidentEventKind::AlertAttached {
                    subject: subject.to_string(),
                },
                incident: self.incidents[i].clone(),
            });
        }
    }

    /// The open incident for `root`: existing, explained-and-merged, re-opened or new.
    fn incident_for_root(
        &mut self,
        root: &str,
        first_ms: i64,
        out: &mut Vec<IncidentEvent>,
    ) -> usize {
        let now = self.now_ms;
        if let Some(i) = self
            .incidents
            .iter()
            .position(|i| i.state.is_open() && i.root_cause == root)
        {
            // incidents opened below it in the meantime (a device whose parent was not
            // yet seen failing) are explained by it now: merged into it
            let explained: Vec<usize> = (0..self.incidents.len())
                .filter(|&j| j != i && self.explained_by(j, root))
                .collect();
            for j in explained {
                self.merge(j, i, out);
            }
            return i;
        }
        // open incidents whose root this one now explains (their root is downstream
        // and its symptoms resolve to `root`, or a member already is `root`)
        let explained: Vec<usize> = (0..self.incidents.len())
            .filter(|&i| self.explained_by(i, root))
            .collect();
        if let Some((&keep, rest)) = explained.split_first() {
            let from = std::mem::replace(&mut self.incidents[keep].root_cause, root.to_string());
            self.root_failed[keep] = false;
            self.root_back_ms[keep] = None;
            self.incidents[keep].mark_active(now);
            self.refresh(keep);
            out.push(IncidentEvent {
                traceparent: None,
                ts_ms: now,
                kind: IncidentEventKind::RootCauseChanged { from },
                incident: self.incidents[keep].clone(),
            });
            for &j in rest {
                self.merge(j, keep, out);
            }
            return keep;
        }
        if let Some(i) = self.incidents.iter().rposition(|i| {
            i.root_cause == root
                && i.state == IncidentState::Resolved
                && i.merged_into.is_none()
                && i.resolved_at_ms
                    .is_some_and(|r| now - r <= self.cfg.reopen_grace_ms)
        }) {
            let inc = &mut self.incidents[i];
            inc.state = IncidentState::Open;
            inc.resolved_at_ms = None;
            inc.mark_active(now);
            self.last_active[i] = now;
            out.push(IncidentEvent {
                traceparent: None,
                ts_ms: now,
                kind: IncidentEventKind::Reopened,
                incident: self.incidents[i].clone(),
            });
            return i;
        }
        let n = self.incidents.len() + 1;
        let inc = Incident {
            id: format!("{}-{n}", self.ship),
            ship: self.ship.clone(),
            root_cause: root.to_string(),
            severity: IncidentSeverity::Minor,
            state: IncidentState::Open,
            alerts: 0,
            opened_at_ms: now.max(first_ms),
            resolved_at_ms: None,
            active_since_ms: vec![now.max(first_ms)],
            members: vec![root.to_string()],
            summary: String::new(),
            merged_into: None,
            candidates: Vec::new(),
            evidence: Vec::new(),
            classes: Vec::new(),
        };
        self.incidents.push(inc);
        self.last_active.push(now);
        self.root_failed.push(false);
        self.root_down_seen.push((None, 0));
        self.root_back_ms.push(None);
        let i = self.incidents.len() - 1;
        self.refresh(i);
        out.push(IncidentEvent {
            traceparent: None,
            ts_ms: now,
            kind: IncidentEventKind::Opened,
            incident: self.incidents[i].clone(),
        });
        i
    }

    /// Records that `subject` came back (an unreachable or down alert of it cleared and
    /// none is left firing) for the open incidents it roots.
    fn note_root_back(&mut self, subject: &str, ts_ms: i64) {
        if self.failing(subject) {
            return;
        }
        for (i, inc) in self.incidents.iter().enumerate() {
            if inc.state.is_open() && inc.root_cause == subject {
                self.root_back_ms[i] = Some(ts_ms);
            }
        }
    }

    /// Whether `root`'s failure began after incident `i`'s root was last seen coming
    /// back: a new fault, not the cause of what the incident was about.
    fn began_after_return(&self, i: usize, root: &str) -> bool {
        self.root_back_ms[i].is_some_and(|back| self.since(root).is_some_and(|s| s >= back))
    }

    /// Whether incident `i`'s root, which failed and came back, fails again now behind an
    /// upstream failure that began after its return (`subject` is that root).
    fn failed_anew_behind(&self, i: usize, subject: &str) -> bool {
        if !self.root_failed[i] || self.root_back_ms[i].is_none() {
            return false;
        }
        let up = self.root_of(subject);
        up != subject && self.began_after_return(i, &up)
    }

    /// Whether open incident `i` is explained by `root`: its root still has symptoms
    /// and they now resolve to `root`, or `root` is already one of its members and
    /// upstream of its root (or both are links: one WAN event). A member below or beside the root that fails on its own
    /// later (an AP behind a switch whose uplink errors) is a new incident, not a
    /// reason to move this one.
    fn explained_by(&self, i: usize, root: &str) -> bool {
        let inc = &self.incidents[i];
        // An incident whose root failed (unreachable or down) is not moved to an element
        // below it: nothing behind a device explains that device's failure, and trouble
        // its root shows after it came back (errors on the port facing a child, in the
        // resolve hold) is a new fault with an incident of its own.
        let failed = self.root_failed[i];
        inc.state.is_open()
            && inc.root_cause != root
            && self.troubled_or_alerting(&inc.root_cause)
            && !(failed && self.topo.is_upstream(&inc.root_cause, root))
            && !(failed && self.began_after_return(i, root))
            && ((inc.members.iter().any(|m| m == root)
                && (self.topo.is_upstream(root, &inc.root_cause)
                    || (self.topo.is_link(root) && self.topo.is_link(&inc.root_cause))))
                || self.root_of(&inc.root_cause) == root)
    }

    fn merge(&mut self, from: usize, into: usize, out: &mut Vec<IncidentEvent>) {
        let now = self.now_ms;
        let (alerts, members) = {
            let f = &mut self.incidents[from];
            f.state = IncidentState::Resolved;
            f.resolved_at_ms = Some(now);
            (f.alerts, f.members.clone())
        };
        self.incidents[from].merged_into = Some(self.incidents[into].id.clone());
        for f in self.firing.values_mut() {
            if f.incident == Some(from) {
                f.incident = Some(into);
            }
        }
        let keep = &mut self.incidents[into];
        keep.alerts += alerts;
        for m in members {
            if let Err(pos) = keep.members.binary_search(&m) {
                keep.members.insert(pos, m);
            }
        }
        self.last_active[into] = self.last_active[into].max(self.last_active[from]);
        self.refresh(into);
        out.push(IncidentEvent {
            traceparent: None,
            ts_ms: now,
            kind: IncidentEventKind::Resolved,
            incident: self.incidents[from].clone(),
        });
    }

    fn resolve(&mut self, out: &mut Vec<IncidentEvent>) {
        // Only symptoms keep an incident open: a detector's anomaly, outlier or
        // capacity alert that keeps firing after the failure ended (traffic finding a
        // new level behind a switch that came back) is context, and an incident it
        // held open would swallow the next fault of its members.
        let mut active = vec![false; self.incidents.len()];
        for ((_, class, _), f) in &self.firing {
            if let Some(i) = f.incident {
                if f.symptom(*class, self.now_ms) {
                    active[i] = true;
                }
            }
        }
        for (i, is_active) in active.into_iter().enumerate() {
            if is_active {
                self.last_active[i] = self.last_active[i].max(self.now_ms);
                continue;
            }
            let inc = &mut self.incidents[i];
            if inc.state.is_open() && self.now_ms - self.last_active[i] >= self.cfg.resolve_after_ms
            {
                inc.state = IncidentState::Resolved;
                inc.resolved_at_ms = Some(self.now_ms);
                out.push(IncidentEvent {
                    traceparent: None,
                    ts_ms: self.now_ms,
                    kind: IncidentEventKind::Resolved,
                    incident: inc.clone(),
                });
            }
        }
    }

    /// Recomputes severity and summary of incident `i` from its members.
    fn refresh(&mut self, i: usize) {
        let inc = &self.incidents[i];
        let root = inc.root_cause.clone();
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for m in inc.members.iter().filter(|m| **m != root) {
            *kinds.entry(self.topo.kind(m)).or_default() += 1;
        }
        let root_kind = self.topo.kind(&root);
        let classes = self.classes_of(&root);
        let affected: usize = kinds.values().sum();
        let critical_kind = |k: &str| matches!(k, "pos" | "pbx" | "firewall" | "router");
        let down =
            classes.contains(&AlertClass::Unreachable) || classes.contains(&AlertClass::Down);
        let severity = if affected >= 10
            || (down && critical_kind(root_kind))
            || kinds.keys().any(|k| critical_kind(k))
            || (down && self.topo.is_primary_link(&root))
        {
            IncidentSeverity::Critical
        } else if affected >= 2 || down || root_kind == "switch" || self.topo.is_link(&root) {
            IncidentSeverity::Major
        } else {
            IncidentSeverity::Minor
        };
        let what = if classes.contains(&AlertClass::Down) {
            "down"
        } else if classes.contains(&AlertClass::Unreachable) {
            "unreachable"
        } else if classes.contains(&AlertClass::Flapping) {
            "flapping"
        } else if classes.contains(&AlertClass::Degraded) {
            "degraded"
        } else if classes.contains(&AlertClass::Errors) {
            "reporting errors"
        } else if classes.contains(&AlertClass::Capacity) {
            "running out of capacity"
        } else {
            "affected"
        };
        let mut summary = format!("{root} ({root_kind}) is {what}");
        if affected > 0 {
            let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            summary.push_str(&format!("; {} behind it affected", list.join(", ")));
        }
        let explained = self.explain(i);
        // A root that was not failing at the last refresh and now fails is a new moment
        // of the incident's activity when it had only been troubled so far (errors,
        // degraded, flapping: the incident escalates) or had been back for at least the
        // resolve time (its failure had ended; a flapping root's quick returns are one
        // episode), unless that failure already made it active again (`fire`).
        let now = self.now_ms;
        let (was_down, seen_since) = self.root_down_seen[i];
        if was_down != Some(down) {
            self.root_down_seen[i] = (Some(down), now);
        }
        let back_long = now - seen_since >= self.cfg.resolve_after_ms;
        if down && was_down == Some(false) && (!self.root_failed[i] || back_long) {
            let failed_at = self
                .firing
                .iter()
                .filter(|((s, c, _), _)| {
                    *s == root && matches!(c, AlertClass::Unreachable | AlertClass::Down)
                })
                .map(|(_, f)| f.since_ms)
                .max();
            let marked = self.incidents[i].active_since_ms.last().copied();
            if marked.is_none_or(|t| failed_at.is_some_and(|f| t < f)) {
                self.incidents[i].mark_active(now);
            }
        }
        if down {
            self.root_failed[i] = true;
        }
        let inc = &mut self.incidents[i];
        // severity only rises while an incident is open: impact seen stays impact
        inc.severity = inc.severity.max(severity);
        inc.summary = summary;
        if !classes.is_empty() {
            inc.classes = classes.iter().copied().collect();
        }
        if let Some((candidates, evidence)) = explained {
            inc.candidates = candidates;
            inc.evidence = evidence;
        }
    }

    /// The other end of the link whose errors decided root `root`, with the evidence in
    /// words: when `root` counts interface errors itself, the element its erroring
    /// port is known (LLDP, description) to face, else a parent that counts errors too
    /// (both ends of its uplink); when the errors were counted on a port facing `root`
    /// by `counted_by`, that device. `None` when `root` counts no errors and nothing
    /// counted them facing it.
    fn other_end(&self, root: &str, counted_by: Option<&str>) -> Option<(String, String)> {
        if let Some(m) = counted_by {
            return Some((
                m.to_string(),
                format!(
                    "a cable or optic at either end causes CRC errors; {m} counts them on the port facing {root}, and {root} shows the trouble itself, so {root} ranks first"
                ),
            ));
        }
        let f = self.firing.get(&(
            root.to_string(),
            AlertClass::Errors,
            Some("interface".to_string()),
        ))?;
        let port = errors_port(&f.detail).map(|(p, _)| p);
        let on = port
            .as_deref()
            .map_or(String::new(), |p| format!(" on {p}"));
        if let Some((n, p, how)) = self.errors_facing(root) {
            return Some((
                n.clone(),
                format!(
                    "a cable or optic at either end causes CRC errors; {root} counts them on {p}, which {how} shows facing {n}, and {n} shows no trouble of its own: {root} ranks first, {n} second"
                ),
            ));
        }
        let mut parents: Vec<&String> = self
            .topo
            .parents(root)
            .iter()
            .filter(|p| self.classes_of(p).contains(&AlertClass::Errors))
            .collect();
        parents.sort();
        if let Some(p) = parents.first() {
            return Some((
                p.to_string(),
                format!(
                    "a cable or optic at either end causes CRC errors; {root} counts them{on} and its parent {p} counts errors too: one bad link, {root}'s uplink, so {root} ranks first, {p} second"
                ),
            ));
        }
        None
    }

    /// The ranked root-cause candidates and the evidence of incident `i`, from the
    /// current state; `None` while nothing about its root is firing (what decided it
    /// then stays as it was recorded).
    ///
    /// Ranking: the root cause the rules chose comes first, scored 1 when it has
    /// symptoms of its own and 0.8 when they were attributed to it (errors counted on
    /// the port facing it). Every other candidate (the root's parents, the members,
    /// the device that counted the errors) scores `0.7 × own + 0.3 × covers`: `own` is
    /// 1 for an element failing, degraded or flapping itself, 0.6 for interface errors
    /// only, 0 for no symptom; `covers` is the share of the incident's members it is,
    /// or is upstream of. Scores stay under the root's.
    fn explain(&self, i: usize) -> Option<(Vec<Candidate>, Vec<String>)> {
        let inc = &self.incidents[i];
        let root = inc.root_cause.as_str();
        let own: Vec<(&Key, &Firing)> = self
            .firing
            .range((root.to_string(), AlertClass::Unreachable, None)..)
            .take_while(|((s, _, _), _)| s == root)
            .filter(|((_, c, _), f)| f.symptom(*c, self.now_ms))
            .collect();
        let attributed = inc
            .members
            .iter()
            .filter(|m| m.as_str() != root)
            .find_map(|m| {
                let (n, port, how) = self.errors_facing(m)?;
                (n == root).then(|| (m.clone(), port, how))
            });
        if own.is_empty() && attributed.is_none() {
            return None;
        }
        let other_end = self.other_end(root, attributed.as_ref().map(|a| a.0.as_str()));
        let mut ev: Vec<String> = Vec::new();
        for ((_, class, series), f) in own.iter().take(3) {
            let what = match (class, series.as_deref()) {
                (AlertClass::Unreachable, Some("silent")) => "went silent (no telemetry)",
                (AlertClass::Unreachable, Some(PROBE_MISS)) => "missed a probe",
                (AlertClass::Unreachable, _) => "stopped answering probes",
                (AlertClass::Down, _) => "went down",
                (AlertClass::Degraded, _) => "was degraded",
                (AlertClass::Flapping, _) => "started flapping",
                (AlertClass::Errors, _) => "started counting interface errors",
                (AlertClass::Capacity, _) => "was forecast to run out of capacity",
                _ => "alerted",
            };
            let detail = if f.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", f.detail)
            };
            ev.push(format!("{root} {what} at {}{detail}", hhmmss(f.since_ms)));
        }
        if let Some((m, port, how)) = &attributed {
            ev.push(format!(
                "{m} counts input errors on {port}, which {how} shows facing {root}, and {root} shows the link's trouble too: the bad link is {root}'s"
            ));
        }
        if let Some((_, words)) = &other_end {
            ev.push(words.clone());
        }
        let others: Vec<&String> = inc.members.iter().filter(|m| *m != root).collect();
        let root_since = self
            .since(root)
            .or_else(|| own.iter().map(|(_, f)| f.since_ms).min());
        let span = |ms: &[&String]| -> Option<i64> {
            let r = root_since?;
            ms.iter()
                .filter_map(|m| self.since(m))
                .map(|t| (t - r).abs())
                .max()
                .map(|d| (d + 999) / 1000)
        };
        if self.topo.is_link(root) {
            let links: Vec<&String> = others
                .iter()
                .copied()
                .filter(|m| self.topo.is_link(m))
                .collect();
            if !links.is_empty() {
                let within = span(&links).map_or(String::new(), |s| format!(" within {s} s"));
                let why = match (
                    self.link_rank(root),
                    links.iter().filter_map(|l| self.link_rank(l)).min(),
                ) {
                    (Some(r), Some(o)) if r.0 < o.0 => {
                        "it lost lock (or flapped), the others only degraded"
                    }
                    (Some(r), Some(o)) if r.1 < o.1 => "its trouble began first",
                    (Some(_), Some(_)) => "it is the primary",
                    _ => "it is the one that best explains them",
                };
                ev.push(format!(
                    "{} other link{} in trouble{within} ({}): one WAN event, rooted at {root} because {why}",
                    links.len(),
                    if links.len() == 1 { "" } else { "s" },
                    names(&links, 4)
                ));
            }
        } else {
            let below: Vec<&String> = others
                .iter()
                .copied()
                .filter(|m| self.topo.is_upstream(root, m))
                .collect();
            if !below.is_empty() {
                let within = span(&below).map_or(String::new(), |s| format!(" within {s} s"));
                ev.push(format!(
                    "{} device{} behind it ({}) failed{within}",
                    below.len(),
                    if below.len() == 1 { "" } else { "s" },
                    names(&below, 4)
                ));
            }
            let parents = self.topo.parents(root);
            if parents.is_empty() {
                ev.push(format!(
                    "{root} has no upstream device in the inventory: nothing above it explains it"
                ));
            } else {
                let (down, up): (Vec<&String>, Vec<&String>) =
                    parents.iter().partition(|p| self.failing(p));
                let heard: Vec<String> = up
                    .iter()
                    .filter_map(|p| {
                        self.heard
                            .get(p.as_str())
                            .map(|t| format!("{p} logged a port loss at {}", hhmmss(*t)))
                    })
                    .collect();
                let heard = if heard.is_empty() {
                    String::new()
                } else {
                    format!("; {}", heard.join(", "))
                };
                if down.is_empty() {
                    ev.push(format!(
                        "{root}'s {} {} {} up (no failure seen{heard}): the failure is its own",
                        if up.len() == 1 { "parent" } else { "parents" },
                        names(&up, 4),
                        if up.len() == 1 { "is" } else { "are" },
                    ));
                } else {
                    for p in down.iter().take(3) {
                        if !self.precedes(p, root) {
                            let after = match (self.since(p), root_since) {
                                (Some(a), Some(b)) => format!(" {} s", (a - b) / 1000),
                                _ => String::new(),
                            };
                            ev.push(format!(
                                "{p} failed{after} after it: a cascade, not its cause"
                            ));
                        }
                    }
                    if !up.is_empty() {
                        ev.push(format!(
                            "{} failed too, but {} {} up{heard}: a redundant uplink keeps the failure its own",
                            names(&down, 4),
                            names(&up, 4),
                            if up.len() == 1 { "is" } else { "are" },
                        ));
                    }
                }
            }
        }
        for m in std::iter::once(&inc.root_cause).chain(others.iter().copied()) {
            if ev.len() >= EVIDENCE_MAX {
                break;
            }
            if let Some(l) = self.learned.get(m) {
                ev.push(format!(
                    "inventory says {m} depends on {} but {} says {} ({} saw it on {} at {}): using {}",
                    if l.inventory.is_empty() { "nothing".to_string() } else { names(&l.inventory, 3) },
                    l.how,
                    l.parent,
                    l.parent,
                    l.port,
                    hhmmss(l.at_ms),
                    l.parent
                ));
            }
        }
        ev.truncate(EVIDENCE_MAX);

        let root_score = if own.is_empty() { 0.8 } else { 1.0 };
        let covers = |c: &str| -> f64 {
            let n = inc.members.len().max(1) as f64;
            let k = inc
                .members
                .iter()
                .filter(|m| m.as_str() == c || self.topo.is_upstream(c, m))
                .count();
            k as f64 / n
        };
        let own_of = |c: &str| -> f64 {
            if self.troubled(c) {
                1.0
            } else if self.classes_of(c).contains(&AlertClass::Errors) {
                0.6
            } else {
                0.0
            }
        };
        let mut pool: Vec<&str> = self.topo.parents(root).iter().map(String::as_str).collect();
        pool.extend(others.iter().map(|m| m.as_str()));
        if let Some((m, _, _)) = &attributed {
            pool.push(m.as_str());
        }
        if let Some((n, _)) = &other_end {
            pool.push(n.as_str());
        }
        pool.sort_unstable();
        pool.dedup();
        let mut rest: Vec<Candidate> = pool
            .into_iter()
            .filter(|c| *c != root)
            .map(|c| Candidate {
                element: c.to_string(),
                score: round2((0.7 * own_of(c) + 0.3 * covers(c)).min(root_score - 0.05)),
            })
            .collect();
        rest.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.element.cmp(&b.element))
        });
        let mut candidates = vec![Candidate {
            element: root.to_string(),
            score: root_score,
        }];
        // the other end of the erroring link is the runner-up: a cable or optic at
        // either end causes the errors
        if let Some((n, _)) = &other_end {
            let score = rest
                .iter()
                .find(|c| c.element == *n)
                .map_or(0.0, |c| c.score)
                .max(OTHER_END_SCORE.min(root_score - 0.05));
            rest.retain(|c| c.element != *n);
            candidates.push(Candidate {
                element: n.clone(),
                score: round2(score),
            });
        }
        candidates.extend(rest.into_iter().take(CANDIDATES_MAX - candidates.len()));
        Some((candidates, ev))
    }
}

/// Rounded to two decimals (scores are read by people).
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What a parent logged about losing a port near a child's first failed probe, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PortLoss {
    /// The port known to face the child (strong evidence).
    Facing(String),
    /// A port not known to face another element, where a loss is news (weak evidence).
    News(String),
}

impl PortLoss {
    fn into_words(self) -> String {
        match self {
            PortLoss::Facing(w) | PortLoss::News(w) => w,
        }
    }
}

/// Event time as `HH:MM:SS` UTC, for evidence lines.
fn hhmmss(ms: i64) -> String {
    let s = super::api::rfc3339(ms);
    s.get(11..19).unwrap_or(&s).to_string()
}

/// Up to `max` names joined with ", ", then "…" if there were more.
fn names<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let mut out: Vec<&str> = items.iter().take(max).map(AsRef::as_ref).collect();
    if items.len() > max {
        out.push("…");
    }
    match out.len() {
        2 if items.len() == 2 => format!("{} and {}", out[0], out[1]),
        _ => out.join(", "),
    }
}

/// Whether an event alert's series is a device reporting that it lost a neighbour on
/// one of its ports (a port or LLDP neighbour down): proof that the device itself is up.
fn reports_lost_neighbour(series: &str) -> bool {
    series.starts_with("log:port-down") || series.starts_with("log:lldp-lost")
}

/// What the ship taught a correlator about its topology ([`Correlator::topology_facts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TopologyFacts {
    /// Parents learned where the inventory said otherwise (an LLDP disagreement).
    pub learned: Vec<LearnedParent>,
    /// Ports known to face a neighbour (bounded like the correlator's memory of them).
    pub adjacencies: Vec<Adjacency>,
}

/// A device the ship showed hanging off another parent than the inventory's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LearnedParent {
    /// The device.
    pub device: String,
    /// Its parent as the ship shows it.
    pub parent: String,
    /// The parent's port facing it.
    pub port: String,
    /// When it was learned, unix ms (event time).
    pub at_ms: i64,
    /// `LLDP` or `its description`.
    pub how: String,
    /// The parents the inventory gives.
    pub inventory_parents: Vec<String>,
}

/// A port of `device` known to face `neighbour`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Adjacency {
    /// The device owning the port.
    pub device: String,
    /// The port.
    pub port: String,
    /// The element on its other end.
    pub neighbour: String,
}

/// A parent learned from the ship where the inventory said otherwise.
#[derive(Debug, Clone)]
struct Learned {
    parent: String,
    port: String,
    at_ms: i64,
    /// `LLDP` or `its description`.
    how: String,
    /// The parents the inventory gave.
    inventory: Vec<String>,
}

/// The series prefix of a device reporting a neighbour seen on one of its ports
/// (`log:lldp-seen:<port>@<neighbour>`): a topology fact, not a symptom.
pub const LLDP_SEEN: &str = "log:lldp-seen:";

/// `<port>@<neighbour>` as the canonical port and the neighbour.
fn split_port(object: &str) -> (String, Option<String>) {
    let (port, neighbour) = match object.split_once('@') {
        Some((p, n)) => (p, (!n.is_empty()).then(|| n.to_string())),
        None => (object, None),
    };
    (canonical_port(port), neighbour)
}

/// The port (canonical) and the description an errors alert's detail names:
/// `interface input errors on <port>` with an optional ` (<description>)`.
fn errors_port(detail: &str) -> Option<(String, &str)> {
    let rest = detail.strip_prefix(ERRORS_ON)?;
    let (port, description) = match rest.split_once(" (") {
        Some((p, d)) => (p, d.strip_suffix(')').unwrap_or(d)),
        None => (rest, ""),
    };
    let port = canonical_port(port);
    (!port.is_empty()).then_some((port, description))
}

/// How a device's errors alert names the port it counts them on.
pub const ERRORS_ON: &str = "interface input errors on ";

/// One loss episode of a device's port: the lines about one port or neighbour close
/// together ([`EPISODE_MS`]).
#[derive(Debug, Clone)]
struct PortEpisode {
    first_ms: i64,
    last_ms: i64,
    /// The port's canonical name ([`canonical_port`]), `""` when no line named it.
    port: String,
    /// The neighbour an LLDP line named on it.
    neighbour: Option<String>,
}

/// The port (canonical) and neighbour a port-loss series names: `log:port-down:<port>`,
/// `log:lldp-lost:<port>@<neighbour>`.
fn port_of(series: &str) -> (String, Option<String>) {
    let object = series
        .strip_prefix("log:port-down")
        .or_else(|| series.strip_prefix("log:lldp-lost"))
        .unwrap_or("");
    split_port(object.strip_prefix(':').unwrap_or(object))
}

/// A port name in one spelling for every line that names it: lower case, the long
/// Cisco interface type names shortened as IOS abbreviates them
/// (`GigabitEthernet1/0/7` and `Gi1/0/7` are `gi1/0/7`).
fn canonical_port(port: &str) -> String {
    const LONG: [(&str, &str); 8] = [
        ("hundredgigabitethernet", "hu"),
        ("hundredgige", "hu"),
        ("fortygigabitethernet", "fo"),
        ("twentyfivegige", "twe"),
        ("tengigabitethernet", "te"),
        ("gigabitethernet", "gi"),
        ("fastethernet", "fa"),
        ("ethernet", "et"),
    ];
    let p = port.trim().to_ascii_lowercase();
    for (long, short) in LONG {
        if let Some(rest) = p.strip_prefix(long) {
            return format!("{short}{rest}");
        }
    }
    p
}

/// Whether an alert is a device's first-failed-probe suspicion.
fn is_probe_miss(alert: &Alert) -> bool {
    alert.class == AlertClass::Unreachable && alert.series.as_deref() == Some(PROBE_MISS)
}

/// The key a promoted suspicion fires under.
fn miss_key(subject: &str) -> Key {
    (
        subject.to_string(),
        AlertClass::Unreachable,
        Some(PROBE_MISS.to_string()),
    )
}

/// Whether an event alert's series is a controller reporting the element it names lost
/// (the alert's subject is that element).
fn reports_element_lost(series: &str) -> bool {
    series == "log:ap-down" || series == "log:camera-lost"
}

fn class_rank(c: AlertClass) -> u8 {
    c as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertSeverity, AlertSource};
    use crate::inventory::{DeviceSpec, Inventory, LinkSpec};

    fn dev(id: &str, kind: &str, deps: &[&str]) -> DeviceSpec {
        DeviceSpec {
            id: id.into(),
            kind: kind.into(),
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn topo() -> Topology {
        let mut devices = vec![
            dev("fw", "firewall", &[]),
            dev("core", "switch", &["fw"]),
            dev("dist", "switch", &["core"]),
            dev("dist2", "switch", &["core"]),
            dev("pos", "pos", &["dist"]),
        ];
        for i in 0..12 {
            devices.push(dev(&format!("ap-{i}"), "ap", &["dist"]));
        }
        devices.push(dev("ap-x", "ap", &["dist2"]));
        Topology::new(&Inventory {
            ship: "s".into(),
            devices,
            links: vec![
                LinkSpec {
                    id: "vsat-1".into(),
                    kind: "vsat".into(),
                    band: None,
                    capacity_mbps: None,
                    primary: true,
                    ..Default::default()
                },
                LinkSpec {
                    id: "leo-1".into(),
                    kind: "leo".into(),
                    band: None,
                    capacity_mbps: None,
                    primary: false,
                    ..Default::default()
                },
            ],
        })
    }

    fn alert(subject: &str, class: AlertClass, state: AlertState, t_s: i64) -> Alert {
        Alert {
            ship: "s".into(),
            exhausts_at_ms: None,
            subject: subject.into(),
            source: AlertSource::Device,
            class,
            severity: AlertSeverity::Critical,
            state,
            ts_ms: t_s * 1000,
            series: None,
            score: 1.0,
            detail: String::new(),
        }
    }

    fn run(c: &mut Correlator, alerts: Vec<Alert>, until_s: i64) -> Vec<IncidentEvent> {
        let mut out = Vec::new();
        let mut alerts = alerts;
        alerts.sort_by_key(|a| a.ts_ms);
        let mut it = alerts.into_iter().peekable();
        for t in (0..=until_s).step_by(5) {
            while it.peek().is_some_and(|a| a.ts_ms <= t * 1000) {
                c.push(it.next().unwrap());
            }
            out.extend(c.tick(t * 1000));
        }
        out
    }

    #[test]
    fn a_dead_switch_is_one_incident_with_the_switch_as_root() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = Vec::new();
        // children notice first (probe order), the switch a few seconds later
        for i in 0..12 {
            alerts.push(alert(
                &format!("ap-{i}"),
                AlertClass::Unreachable,
                AlertState::Firing,
                100 + i % 3,
            ));
        }
        alerts.push(alert(
            "pos",
            AlertClass::Unreachable,
            AlertState::Firing,
            101,
        ));
        alerts.push(alert(
            "dist",
            AlertClass::Unreachable,
            AlertState::Firing,
            106,
        ));
        run(&mut c, alerts, 400);
        let incs = c.incidents();
        assert_eq!(incs.len(), 1, "{incs:?}");
        assert_eq!(incs[0].root_cause, "dist");
        assert_eq!(incs[0].alerts, 14);
        assert_eq!(incs[0].severity, IncidentSeverity::Critical);
        assert!(incs[0].summary.contains("12 ap"), "{}", incs[0].summary);
        assert_eq!(c.alerts_total(), 14);
    }

    #[test]
    fn an_upstream_failure_after_the_root_came_back_is_a_new_incident() {
        // dist counts errors, then dies and comes back; 20 s later its parent core dies,
        // and dist with everything behind it is unreachable again: core's failure began
        // after dist's return, so it does not take over dist's incident (which keeps its
        // root), and dist's new silence belongs to core's incident
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = vec![
            alert("dist", AlertClass::Errors, AlertState::Firing, 600),
            alert("dist", AlertClass::Errors, AlertState::Cleared, 900),
            alert("dist", AlertClass::Unreachable, AlertState::Firing, 900),
            alert("dist", AlertClass::Unreachable, AlertState::Cleared, 1500),
            alert("core", AlertClass::Unreachable, AlertState::Firing, 1520),
            alert("dist", AlertClass::Unreachable, AlertState::Firing, 1525),
            alert("dist2", AlertClass::Unreachable, AlertState::Firing, 1526),
            alert("core", AlertClass::Unreachable, AlertState::Cleared, 2190),
            alert("dist", AlertClass::Unreachable, AlertState::Cleared, 2195),
            alert("dist2", AlertClass::Unreachable, AlertState::Cleared, 2196),
        ];
        for i in 0..12 {
            let ap = format!("ap-{i}");
            alerts.push(alert(&ap, AlertClass::Unreachable, AlertState::Firing, 905));
            alerts.push(alert(
                &ap,
                AlertClass::Unreachable,
                AlertState::Cleared,
                1502,
            ));
            alerts.push(alert(
                &ap,
                AlertClass::Unreachable,
                AlertState::Firing,
                1527,
            ));
            alerts.push(alert(
                &ap,
                AlertClass::Unreachable,
                AlertState::Cleared,
                2199,
            ));
        }
        run(&mut c, alerts, 3000);
        let incs: Vec<&Incident> = c
            .incidents()
            .iter()
            .filter(|i| i.merged_into.is_none())
            .collect();
        assert_eq!(incs.len(), 2, "{incs:?}");
        assert_eq!(incs[0].root_cause, "dist", "{incs:?}");
        assert_eq!(incs[1].root_cause, "core", "{incs:?}");
        assert!(incs[1].opened_at_ms >= 1_520_000, "{incs:?}");
        for m in ["dist", "dist2", "ap-0"] {
            assert!(incs[1].members.iter().any(|x| x == m), "{m}: {incs:?}");
        }
    }

    #[test]
    fn a_late_upstream_failure_moves_the_root_and_merges() {
        let cfg = CorrelatorConfig {
            settle_ms: 5_000,
            ..CorrelatorConfig::default()
        };
        let mut c = Correlator::new("s", topo(), cfg);
        let alerts = vec![
            alert("ap-0", AlertClass::Unreachable, AlertState::Firing, 100),
            alert("ap-x", AlertClass::Unreachable, AlertState::Firing, 100),
            alert("dist", AlertClass::Unreachable, AlertState::Firing, 130),
            alert("dist2", AlertClass::Unreachable, AlertState::Firing, 130),
            alert("core", AlertClass::Unreachable, AlertState::Firing, 160),
        ];
        let ev = run(&mut c, alerts, 300);
        let open: Vec<&Incident> = c.incidents().iter().filter(|i| i.state.is_open()).collect();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].root_cause, "core");
        assert!(ev
            .iter()
            .any(|e| matches!(e.kind, IncidentEventKind::RootCauseChanged { .. })));
    }

    #[test]
    fn flapping_is_one_incident_and_resolves_with_hysteresis_then_reopens() {
        let cfg = CorrelatorConfig::default();
        let mut c = Correlator::new("s", topo(), cfg);
        let mut alerts = Vec::new();
        for k in 0..20 {
            let t = 100 + k * 30;
            alerts.push(alert(
                "ap-3",
                AlertClass::Unreachable,
                AlertState::Firing,
                t,
            ));
            alerts.push(alert(
                "ap-3",
                AlertClass::Unreachable,
                AlertState::Cleared,
                t + 20,
            ));
        }
        run(&mut c, alerts.clone(), 1200);
        assert_eq!(c.incidents().len(), 1);
        let inc = &c.incidents()[0];
        assert_eq!(inc.state, IncidentState::Resolved);
        assert_eq!(inc.alerts, 20);
        // cleared at 690, resolved after the hysteresis
        assert!(inc.resolved_at_ms.unwrap() >= (690 + 240) * 1000);
        // fails again within the grace period: the same incident re-opens
        let mut out = Vec::new();
        c.push(alert(
            "ap-3",
            AlertClass::Unreachable,
            AlertState::Firing,
            1300,
        ));
        for t in (1300..1400).step_by(5) {
            out.extend(c.tick(t * 1000));
        }
        assert_eq!(c.incidents().len(), 1);
        assert!(c.incidents()[0].state.is_open());
        assert!(out.iter().any(|e| e.kind == IncidentEventKind::Reopened));
    }

    #[test]
    fn errors_on_both_ends_of_a_port_blame_the_downstream_end() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            alert("core", AlertClass::Errors, AlertState::Firing, 50),
            alert("dist", AlertClass::Errors, AlertState::Firing, 52),
        ];
        run(&mut c, alerts, 120);
        assert_eq!(c.incidents().len(), 1);
        assert_eq!(c.incidents()[0].root_cause, "dist");
    }

    /// A switch that was down comes back and, while its incident waits out the resolve
    /// hold, starts counting errors on the port facing a child switch that counts them
    /// too (the child's uplink goes bad): the errors wake the down incident (a symptom of
    /// its root), but it keeps its root; the child's errors are an incident of their own,
    /// not the down incident moved below its root (nothing behind a device explains its
    /// failure).
    #[test]
    fn a_recovered_failure_is_not_rerooted_below_it_by_later_errors() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = vec![
            alert("core", AlertClass::Unreachable, AlertState::Firing, 100),
            alert("core", AlertClass::Unreachable, AlertState::Cleared, 700),
        ];
        for d in ["dist", "dist2", "pos"] {
            alerts.push(alert(d, AlertClass::Unreachable, AlertState::Firing, 110));
            alerts.push(alert(d, AlertClass::Unreachable, AlertState::Cleared, 700));
        }
        alerts.push(alert("core", AlertClass::Errors, AlertState::Firing, 800));
        alerts.push(alert("dist", AlertClass::Errors, AlertState::Firing, 802));
        alerts.push(alert("core", AlertClass::Errors, AlertState::Cleared, 1000));
        alerts.push(alert("dist", AlertClass::Errors, AlertState::Cleared, 1000));
        let ev = run(&mut c, alerts, 1400);
        assert_eq!(roots(&c), [("core", false), ("dist", false)]);
        let down = &c.incidents()[0];
        assert_eq!(down.alerts, 5, "{down:?}");
        assert!(!ev.iter().any(|e| {
            e.incident.id == down.id && matches!(e.kind, IncidentEventKind::RootCauseChanged { .. })
        }));
        assert!(c.incidents().iter().all(|i| i.merged_into.is_none()));
        let errs = &c.incidents()[1];
        assert!((802_000..=805_000).contains(&errs.opened_at_ms), "{errs:?}");
    }

    /// Port errors logged by a switch minutes before one device behind it starts
    /// dropping out: the errors are the switch's (it counts them), the device's failure
    /// its own: two incidents, no re-rooting (an AP dying behind a switch whose uplink
    /// errors is not the uplink's cause). With several devices behind the switch in
    /// trouble, the switch explains them.
    #[test]
    fn port_errors_then_one_neighbour_in_trouble_are_two_incidents() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            alert("dist", AlertClass::Errors, AlertState::Firing, 50),
            alert("ap-4", AlertClass::Unreachable, AlertState::Firing, 600),
            alert("ap-4", AlertClass::Unreachable, AlertState::Cleared, 615),
            alert("ap-4", AlertClass::Degraded, AlertState::Firing, 630),
        ];
        let ev = run(&mut c, alerts, 800);
        assert_eq!(roots(&c), [("dist", true), ("ap-4", true)]);
        assert!(!ev
            .iter()
            .any(|e| matches!(e.kind, IncidentEventKind::RootCauseChanged { .. })));

        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = vec![alert("dist", AlertClass::Errors, AlertState::Firing, 50)];
        for i in 0..3 {
            alerts.push(alert(
                &format!("ap-{i}"),
                AlertClass::Degraded,
                AlertState::Firing,
                200 + i,
            ));
        }
        run(&mut c, alerts, 400);
        let open: Vec<&Incident> = c.incidents().iter().filter(|i| i.state.is_open()).collect();
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].root_cause, "dist");
    }

    fn roots(c: &Correlator) -> Vec<(&str, bool)> {
        c.incidents()
            .iter()
            .map(|i| (i.root_cause.as_str(), i.state.is_open()))
            .collect()
    }

    /// One ship-wide cause (a rain cell) fading several links is one incident rooted at
    /// the link that best explains it: the one that lost lock, else the one that began
    /// first; which link is primary only breaks ties. Links failing further apart than
    /// the event window are separate incidents.
    #[test]
    fn links_fading_together_are_one_incident_rooted_at_the_link_that_explains_them() {
        // the backup fades first and loses lock, the primary only degrades with it
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            alert("leo-1", AlertClass::Degraded, AlertState::Firing, 50),
            alert("vsat-1", AlertClass::Degraded, AlertState::Firing, 110),
            alert("leo-1", AlertClass::Degraded, AlertState::Cleared, 130),
            alert("leo-1", AlertClass::Down, AlertState::Firing, 130),
            // an unrelated device fault at the same time is its own incident
            alert("ap-x", AlertClass::Unreachable, AlertState::Firing, 55),
        ];
        run(&mut c, alerts, 200);
        let r: BTreeSet<&str> = c
            .incidents()
            .iter()
            .map(|i| i.root_cause.as_str())
            .collect();
        assert_eq!(r, BTreeSet::from(["ap-x", "leo-1"]), "{:?}", c.incidents());

        // the primary lost lock while the backup only degraded: the primary, even though
        // the backup's trouble began a little earlier (re-rooted when it loses lock)
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            alert("leo-1", AlertClass::Degraded, AlertState::Firing, 50),
            alert("vsat-1", AlertClass::Degraded, AlertState::Firing, 70),
            alert("vsat-1", AlertClass::Down, AlertState::Firing, 100),
        ];
        run(&mut c, alerts, 200);
        assert_eq!(roots(&c), vec![("vsat-1", true)], "{:?}", c.incidents());

        // both began in the same instant and in the same state: the primary
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            alert("leo-1", AlertClass::Degraded, AlertState::Firing, 50),
            alert("vsat-1", AlertClass::Degraded, AlertState::Firing, 50),
        ];
        run(&mut c, alerts, 200);
        assert_eq!(roots(&c), vec![("vsat-1", true)], "{:?}", c.incidents());

        // the backup degraded on its own; the primary goes down ten minutes later: two
        // incidents, the backup's is not re-rooted at the primary
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            alert("leo-1", AlertClass::Degraded, AlertState::Firing, 50),
            alert("vsat-1", AlertClass::Down, AlertState::Firing, 650),
        ];
        run(&mut c, alerts, 800);
        assert_eq!(
            roots(&c),
            vec![("leo-1", true), ("vsat-1", true)],
            "{:?}",
            c.incidents()
        );
    }

    /// A link whose own predictor named a blockage before it lost lock is its own root:
    /// another link that failed shortly before does not explain it (nor would it explain
    /// the other). Without that prediction the two are one WAN event, as before.
    #[test]
    fn a_blocked_link_is_its_own_root_beside_another_links_failure() {
        let risk = |t_s: i64, state: AlertState, cause: &str| {
            let mut a = alert("vsat-1", AlertClass::OutageRisk, state, t_s);
            a.source = AlertSource::Prediction;
            a.detail = format!(
                "risk 0.91 from {cause}; predicted_outage_ms={}",
                (t_s + 40) * 1000
            );
            a
        };
        let failures = || {
            vec![
                alert("leo-1", AlertClass::Down, AlertState::Firing, 100),
                alert("vsat-1", AlertClass::Down, AlertState::Firing, 144),
            ]
        };
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = vec![risk(90, AlertState::Firing, "blockage")];
        alerts.extend(failures());
        alerts.push(risk(150, AlertState::Cleared, "blockage"));
        run(&mut c, alerts, 300);
        let mut r = roots(&c);
        r.sort();
        assert_eq!(
            r,
            vec![("leo-1", true), ("vsat-1", true)],
            "{:?}",
            c.incidents()
        );

        // a prediction of another cause (rain) leaves the two one event
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = vec![risk(90, AlertState::Firing, "rain")];
        alerts.extend(failures());
        run(&mut c, alerts, 300);
        assert_eq!(roots(&c), vec![("leo-1", true)], "{:?}", c.incidents());

        // and so does a blockage foretold long before (another pass through the zone)
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            risk(100, AlertState::Firing, "blockage"),
            risk(150, AlertState::Cleared, "blockage"),
            alert("leo-1", AlertClass::Down, AlertState::Firing, 1100),
            alert("vsat-1", AlertClass::Down, AlertState::Firing, 1144),
        ];
        run(&mut c, alerts, 1300);
        assert_eq!(roots(&c), vec![("leo-1", true)], "{:?}", c.incidents());
    }

    fn event(subject: &str, series: &str, t_s: i64) -> Alert {
        let mut a = alert(subject, AlertClass::Errors, AlertState::Firing, t_s);
        a.series = Some(series.into());
        a
    }

    /// A silent device waits the settle time for a failing parent to show up, unless
    /// every parent has just logged losing a port (it is alive): then its incident opens
    /// at the next tick. A parent that fails after all still re-roots it.
    #[test]
    fn silence_below_a_parent_that_logged_a_port_down_opens_without_settling() {
        let opened = |alerts: Vec<Alert>| {
            let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
            run(&mut c, alerts, 300);
            c.incidents()
                .iter()
                .map(|i| (i.root_cause.clone(), i.opened_at_ms / 1000))
                .collect::<Vec<_>>()
        };
        let silent = alert("pos", AlertClass::Unreachable, AlertState::Firing, 101);
        assert_eq!(opened(vec![silent.clone()]), vec![("pos".to_string(), 120)]);
        let port = event("dist", "log:port-down:Gi1/0/7", 60);
        assert_eq!(
            opened(vec![port.clone(), silent.clone()]),
            vec![("pos".to_string(), 105)]
        );
        // a port-down older than the window, or a line naming another element (an AP
        // the controller reports down), is no proof that the parent is up
        let old = event("dist", "log:port-down:Gi1/0/7", -100);
        assert_eq!(
            opened(vec![old, silent.clone()]),
            vec![("pos".to_string(), 120)]
        );
        let other = event("dist", "log:ap-down", 60);
        assert_eq!(
            opened(vec![other, silent.clone()]),
            vec![("pos".to_string(), 120)]
        );
        // the parent dies after all: one incident, re-rooted, opened when the child's did
        let dist = alert("dist", AlertClass::Unreachable, AlertState::Firing, 110);
        assert_eq!(
            opened(vec![port, silent, dist]),
            vec![("dist".to_string(), 105)]
        );
    }

    fn miss(subject: &str, state: AlertState, t_s: i64) -> Alert {
        let mut a = alert(subject, AlertClass::Unreachable, state, t_s);
        a.series = Some(PROBE_MISS.into());
        a
    }

    fn probe_down(subject: &str, t_s: i64) -> Alert {
        let mut a = alert(subject, AlertClass::Unreachable, AlertState::Firing, t_s);
        a.series = Some("probe".into());
        a
    }

    /// On a 60 s poll a healthy device's lone lost probe just before its switch dies
    /// dates its silence a poll before the switch's first failed probe. The miss could
    /// be benign, so the switch still explains the device when it failed within the
    /// explain window of the device's second failed probe: one incident at the switch.
    /// Without the lone miss the device's silence starts at its second probe as before;
    /// a device confirmed down well before the switch is still a cascade of its own.
    #[test]
    fn a_lone_earlier_miss_does_not_make_a_child_fail_before_its_switch() {
        let run_with = |child_first_s: i64, child_confirm_s: i64, dist_s: i64| {
            let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
            let mut alerts = vec![
                miss("ap-1", AlertState::Firing, child_first_s),
                probe_down("ap-1", child_confirm_s),
                miss("dist", AlertState::Firing, dist_s),
                probe_down("dist", dist_s + 60),
            ];
            // the other APs behind dist notice it within the same poll
            for i in 2..8 {
                alerts.push(miss(
                    &format!("ap-{i}"),
                    AlertState::Firing,
                    dist_s - 30 + i,
                ));
                alerts.push(probe_down(&format!("ap-{i}"), dist_s + 30 + i));
            }
            run(&mut c, alerts, dist_s + 300);
            c.incidents()
                .iter()
                .filter(|i| i.merged_into.is_none())
                .map(|i| i.root_cause.clone())
                .collect::<Vec<_>>()
        };
        // benign miss at 100 s, the switch dies at ~150 s: ap-1's second probe (160 s)
        // fails, the switch's first failed probe comes at 190 s
        assert_eq!(run_with(100, 160, 190), vec!["dist".to_string()]);
        // ap-1 failed for good at 100 s and the switch only at 400 s: two incidents
        let roots = run_with(100, 160, 400);
        assert_eq!(roots.len(), 2, "{roots:?}");
        assert_eq!(roots[0], "ap-1");
    }

    /// A first failed probe right after the parent logged losing the port LLDP showed
    /// facing the device opens the incident at the next tick; the second failed probe
    /// then confirms it without counting a second alert. A port-down on a port not
    /// known to face it is one piece of weak evidence: the miss waits for the second
    /// probe (decision 0025). Without the port-down, the miss alone does nothing.
    #[test]
    fn a_first_failed_probe_after_the_parents_port_down_opens_at_once() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        c.push(event("dist", "log:lldp-seen:Gi1/0/7@pos", 10));
        c.tick(10_000);
        let alerts = vec![
            event("dist", "log:port-down:Gi1/0/7", 100),
            miss("pos", AlertState::Firing, 131),
            probe_down("pos", 191),
        ];
        run(&mut c, alerts, 300);
        assert_eq!(c.incidents().len(), 1, "{:?}", c.incidents());
        let inc = &c.incidents()[0];
        assert_eq!(
            (inc.root_cause.as_str(), inc.opened_at_ms),
            ("pos", 135_000)
        );
        // the port-down line and one unreachable alert (miss and confirmation are one)
        assert_eq!((c.alerts_total(), inc.alerts), (2, 2));
        assert!(
            inc.evidence
                .iter()
                .any(|e| e.contains("the port LLDP shows facing pos")),
            "{:?}",
            inc.evidence
        );
        // the same port-down, the port not known to face pos: the second probe opens it
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            event("dist", "log:port-down:Gi1/0/7", 100),
            miss("pos", AlertState::Firing, 131),
            probe_down("pos", 161),
        ];
        run(&mut c, alerts, 300);
        assert_eq!(c.incidents().len(), 1, "{:?}", c.incidents());
        assert_eq!(c.incidents()[0].opened_at_ms, 165_000);

        // no port-down: the miss is only a suspicion; the second probe opens it, dated
        // from the miss (so the settle time has already run)
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![miss("pos", AlertState::Firing, 131)];
        run(&mut c, alerts, 185);
        assert!(c.incidents().is_empty());
        assert_eq!(c.alerts_total(), 0);
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![miss("pos", AlertState::Firing, 131), probe_down("pos", 161)];
        run(&mut c, alerts, 300);
        assert_eq!(c.incidents().len(), 1);
        assert_eq!(c.incidents()[0].opened_at_ms, 165_000);
        assert_eq!(c.alerts_total(), 1);

        // a lone lost probe: withdrawn at the next answer, nothing opens
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            miss("pos", AlertState::Firing, 131),
            miss("pos", AlertState::Cleared, 161),
        ];
        run(&mut c, alerts, 600);
        assert!(c.incidents().is_empty());
        // with a port-down of a port not known to face it next to it: still nothing
        // (one lost probe and one unrelated user port are benign noise)
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            event("dist", "log:port-down:Gi1/0/7", 100),
            miss("pos", AlertState::Firing, 131),
            miss("pos", AlertState::Cleared, 161),
        ];
        run(&mut c, alerts, 600);
        assert!(c.incidents().is_empty(), "{:?}", c.incidents());
    }

    /// A port-down on a device that loses ports all day (an access switch with guest
    /// ports), on a port that itself went down within the last two hours, says nothing
    /// about one neighbour: the miss waits for its second probe.
    #[test]
    fn port_downs_on_a_noisy_parent_do_not_corroborate_a_miss() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts: Vec<Alert> = (0..6)
            .map(|k| {
                event(
                    "dist",
                    &format!("log:port-down:Gi1/0/{}", 20 + k % 3),
                    200 + k * 240,
                )
            })
            .collect();
        alerts.push(event("dist", "log:port-down:GigabitEthernet1/0/21", 1700));
        alerts.push(miss("pos", AlertState::Firing, 1710));
        run(&mut c, alerts, 1760);
        assert!(c.incidents().is_empty(), "{:?}", c.incidents());
        assert!(!c.corroborated("pos", 1_710_000));
        // a quiet parent: the same last line is news, but one piece of weak evidence
        // only; the port known (LLDP) to face the till is enough alone
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        c.push(event("dist", "log:port-down:Gi1/0/21", 1700));
        c.tick(1_700_000);
        assert!(matches!(
            c.parent_lost_port("dist", "pos", 1_710_000),
            Some(PortLoss::News(_))
        ));
        assert!(!c.corroborated("pos", 1_710_000));
        c.push(event(
            "dist",
            "log:lldp-seen:GigabitEthernet1/0/21@pos",
            1701,
        ));
        c.tick(1_701_000);
        assert!(c.corroborated("pos", 1_710_000));
        // too long before the miss, or a parentless device: not corroborated
        assert!(!c.corroborated("pos", 1_800_000));
        assert!(!c.corroborated("fw", 1_710_000));
    }

    /// On a noisy parent, a port that goes down for the first time in two hours is
    /// news about the neighbour on it (the till's port among guest ports that go up
    /// and down all day): it corroborates the till's first miss, and the incident
    /// opens at the next tick. A port an LLDP line showed facing another element does
    /// not speak for this one; one LLDP showed facing it does, however noisy.
    #[test]
    fn a_port_going_down_for_the_first_time_corroborates_on_a_noisy_parent() {
        let noisy = || -> Vec<Alert> {
            (0..8)
                .map(|k| {
                    event(
                        "dist",
                        &format!("log:port-down:Gi1/0/{}", 20 + k % 4),
                        200 + k * 180,
                    )
                })
                .collect()
        };
        // news, but weak: the till's miss waits for its second probe (decision 0025)
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = noisy();
        alerts.push(event("dist", "log:port-down:GigabitEthernet1/0/7", 1700));
        alerts.push(miss("pos", AlertState::Firing, 1730));
        run(&mut c, alerts, 1760);
        assert!(matches!(
            c.parent_lost_port("dist", "pos", 1_730_000),
            Some(PortLoss::News(_))
        ));
        assert!(c.incidents().is_empty(), "{:?}", c.incidents());
        c.push(probe_down("pos", 1790));
        c.tick(1_790_000);
        assert_eq!(c.incidents().len(), 1, "{:?}", c.incidents());
        assert_eq!(c.incidents()[0].root_cause, "pos");
        assert_eq!(c.incidents()[0].opened_at_ms, 1_790_000);

        // Gi1/0/7 once lost its LLDP neighbour ap-0: it faces ap-0, not the till
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = noisy();
        alerts.push(event("dist", "log:lldp-lost:Gi1/0/7@ap-0", 100));
        alerts.push(event("dist", "log:port-down:Gi1/0/7", 1700));
        run(&mut c, alerts, 1705);
        assert!(!c.corroborated("pos", 1_730_000));
        assert!(c.corroborated("ap-0", 1_730_000));

        // the till's port flapped an hour ago (not news), but LLDP showed it faces
        // the till: its loss corroborates however noisy the switch
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = noisy();
        alerts.push(event("dist", "log:port-down:Gi1/0/7", 100));
        alerts.push(event("dist", "log:lldp-lost:Gi1/0/7@pos", 220));
        alerts.push(event("dist", "log:port-down:Gi1/0/7", 1700));
        run(&mut c, alerts, 1705);
        assert!(c.corroborated("pos", 1_730_000));
        assert!(!c.corroborated("ap-1", 1_730_000));
    }

    /// A port-down, its line-protocol echo and the LLDP neighbour ageing out two
    /// minutes later on the same port are one loss: a parent that lost one neighbour
    /// in the last half hour still counts as quiet, and its next port-down is news
    /// (one piece of weak evidence, decision 0025).
    #[test]
    fn a_port_down_and_its_lldp_ageing_out_are_one_loss() {
        let alerts = |lldp: &str| {
            vec![
                // the till's port went down once 40 minutes before (not news)
                event("dist", "log:port-down:Gi1/0/7", 100),
                // another neighbour lost 15 minutes before: port, echo, LLDP
                event("dist", "log:port-down:TenGigabitEthernet1/0/3", 1600),
                event("dist", "log:port-down:Te1/0/3", 1601),
                event("dist", lldp, 1722),
                event("dist", "log:port-down:Gi1/0/7", 2500),
            ]
        };
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            alerts("log:lldp-lost:TenGigabitEthernet1/0/3@ap-9"),
            2505,
        );
        assert!(matches!(
            c.parent_lost_port("dist", "pos", 2_530_000),
            Some(PortLoss::News(_))
        ));
        // the LLDP line names only the neighbour the port-down did not: still one
        // loss when it names the same port
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(&mut c, alerts("log:lldp-lost:te1/0/3"), 2505);
        assert!(matches!(
            c.parent_lost_port("dist", "pos", 2_530_000),
            Some(PortLoss::News(_))
        ));
        // a second, separate loss (another port) makes the parent not quiet
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut a = alerts("log:lldp-lost:Te1/0/3@ap-9");
        a.push(event("dist", "log:port-down:Gi1/0/9", 1900));
        run(&mut c, a, 2505);
        assert_eq!(c.parent_lost_port("dist", "pos", 2_530_000), None);
    }

    /// A miss below a parent that is failing is that parent's symptom: promoted and
    /// joined to the parent's incident (counted once).
    #[test]
    fn a_miss_below_a_failing_parent_joins_its_incident() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            event("core", "log:port-down:Te1/1/1", 100),
            miss("dist", AlertState::Firing, 103),
            miss("ap-0", AlertState::Firing, 104),
            miss("ap-1", AlertState::Firing, 112),
            probe_down("ap-0", 114),
            probe_down("dist", 113),
        ];
        run(&mut c, alerts, 200);
        let open: Vec<&Incident> = c.incidents().iter().filter(|i| i.state.is_open()).collect();
        assert_eq!(open.len(), 1, "{:?}", c.incidents());
        assert_eq!(open[0].root_cause, "dist");
        assert_eq!(open[0].opened_at_ms, 105_000);
        assert!(open[0].members.contains(&"ap-1".to_string()));
        // port-down, dist, ap-0, ap-1
        assert_eq!(c.alerts_total(), 4);
    }

    /// Most devices behind a switch stop answering along with it: the switch's first
    /// miss is corroborated (and theirs by it); two of thirteen is chance under benign
    /// probe loss. A controller reporting a camera lost
    /// corroborates the camera's own first miss.
    #[test]
    fn misses_below_it_or_a_controller_report_corroborate_a_miss() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        // seven of the thirteen devices behind it: most of them
        let mut alerts: Vec<Alert> = (0..7)
            .map(|k| miss(&format!("ap-{k}"), AlertState::Firing, 101 + k))
            .collect();
        alerts.push(miss("dist", AlertState::Firing, 140));
        run(&mut c, alerts, 250);
        let open: Vec<&Incident> = c.incidents().iter().filter(|i| i.state.is_open()).collect();
        assert_eq!(open.len(), 1, "{:?}", c.incidents());
        // promoted at its miss (the misses below it have settled by then)
        assert_eq!(
            (open[0].root_cause.as_str(), open[0].opened_at_ms),
            ("dist", 140_000)
        );
        assert!(open[0].members.contains(&"ap-1".to_string()));
        assert!(
            open[0]
                .evidence
                .iter()
                .any(|e| e.contains("7 of the 13 devices behind it")),
            "{:?}",
            open[0].evidence
        );
        // two of thirteen happens by chance with benign probe loss: not enough alone
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                miss("ap-0", AlertState::Firing, 101),
                miss("ap-1", AlertState::Firing, 107),
                miss("dist", AlertState::Firing, 140),
            ],
            250,
        );
        assert!(c.incidents().is_empty(), "{:?}", c.incidents());
        // one device behind it is not enough
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                miss("ap-0", AlertState::Firing, 101),
                miss("dist", AlertState::Firing, 140),
            ],
            250,
        );
        assert!(c.incidents().is_empty(), "{:?}", c.incidents());
        // the VMS lost the camera (the subject of the line is the camera)
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                event("ap-x", "log:camera-lost", 115),
                miss("ap-x", AlertState::Firing, 130),
            ],
            200,
        );
        assert_eq!(c.incidents().len(), 1);
        assert_eq!(c.incidents()[0].opened_at_ms, 145_000);
    }

    /// A device that opened its own incident because its parent was not yet seen
    /// failing is merged into the incident of the failure above it once the parent's
    /// silence resolves to that root, even if that incident already exists.
    #[test]
    fn incidents_below_an_existing_root_are_merged_into_it() {
        let cfg = CorrelatorConfig {
            settle_ms: 5_000,
            ..CorrelatorConfig::default()
        };
        let mut c = Correlator::new("s", topo(), cfg);
        let alerts = vec![
            alert("dist2", AlertClass::Unreachable, AlertState::Firing, 100),
            alert("core", AlertClass::Unreachable, AlertState::Firing, 100),
            // behind dist, which has not been seen failing yet: its own incident first
            alert("ap-0", AlertClass::Unreachable, AlertState::Firing, 110),
            alert("dist", AlertClass::Unreachable, AlertState::Firing, 130),
        ];
        run(&mut c, alerts, 300);
        let open: Vec<&Incident> = c.incidents().iter().filter(|i| i.state.is_open()).collect();
        assert_eq!(open.len(), 1, "{:?}", c.incidents());
        assert_eq!(open[0].root_cause, "core");
        assert!(open[0].members.contains(&"ap-0".to_string()));
        let merged = c
            .incidents()
            .iter()
            .filter(|i| i.merged_into.is_some())
            .count();
        assert_eq!(merged, 1, "{:?}", c.incidents());
    }

    /// Outage-risk predictions are reported on their own (`link_risk_alerts`): they are
    /// not symptoms, so they neither count as alerts nor join an incident.
    #[test]
    fn outage_risk_predictions_are_not_counted_as_alerts() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut risk = alert("vsat-1", AlertClass::OutageRisk, AlertState::Firing, 40);
        risk.source = AlertSource::Prediction;
        run(
            &mut c,
            vec![
                risk.clone(),
                alert("vsat-1", AlertClass::Down, AlertState::Firing, 100),
            ],
            200,
        );
        assert_eq!(c.alerts_total(), 1);
        assert_eq!(c.incidents().len(), 1);
        assert_eq!(c.incidents()[0].alerts, 1);
        // a prediction during the outage does not attach either
        let mut later = risk;
        later.ts_ms = 150_000;
        c.push(later);
        c.tick(205_000);
        assert_eq!((c.alerts_total(), c.incidents()[0].alerts), (1, 1));
    }

    #[test]
    fn detector_alerts_only_attach() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![alert("pos", AlertClass::Anomaly, AlertState::Firing, 10)],
            100,
        );
        assert!(c.incidents().is_empty());
        assert_eq!(c.alerts_total(), 1);
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                alert("dist", AlertClass::Degraded, AlertState::Firing, 10),
                alert("pos", AlertClass::Anomaly, AlertState::Firing, 30),
            ],
            100,
        );
        assert_eq!(c.incidents().len(), 1);
        assert_eq!(c.incidents()[0].alerts, 2);
        assert_eq!(c.incidents()[0].members, ["dist"], "counted, not a member");
    }

    /// A capacity forecast is context until the resource is forecast to run out within
    /// two hours; then it opens an incident for its device on its own (a slow disk
    /// fill has no other symptom), which resolves once the forecast clears.
    #[test]
    fn a_capacity_forecast_opens_an_incident_two_hours_before_exhaustion() {
        let capacity = |state: AlertState, t_s: i64| {
            let mut a = alert("pos", AlertClass::Capacity, state, t_s);
            a.source = AlertSource::Forecast;
            a.series = Some("node_filesystem_avail_bytes{mountpoint=\"/\"}".into());
            a.detail =
                "node_filesystem_avail_bytes{mountpoint=\"/\"}: forecast to run out in 5.0 h"
                    .into();
            a.exhausts_at_ms = (state == AlertState::Firing).then_some(a.ts_ms + 5 * 3_600_000);
            a
        };
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![capacity(AlertState::Firing, 100)],
            100 + 3 * 3600 - 5,
        );
        assert!(c.incidents().is_empty(), "5 h out: context only");
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let ev = run(
            &mut c,
            vec![
                capacity(AlertState::Firing, 100),
                capacity(AlertState::Cleared, 100 + 4 * 3600),
            ],
            100 + 5 * 3600,
        );
        let opened: Vec<&IncidentEvent> = ev
            .iter()
            .filter(|e| e.kind == IncidentEventKind::Opened)
            .collect();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].incident.root_cause, "pos");
        assert_eq!(opened[0].ts_ms, (100 + 3 * 3600) * 1000);
        assert!(opened[0]
            .incident
            .summary
            .contains("running out of capacity"));
        assert!(
            opened[0].incident.evidence[0].contains("forecast to run out in 5.0 h"),
            "{:?}",
            opened[0].incident.evidence
        );
        assert_eq!(c.incidents()[0].state, IncidentState::Resolved);
        // an anomaly alone still opens nothing (detector_alerts_only_attach)
    }

    /// A root whose errors are still firing when it goes down: the incident escalates
    /// and records the moment; a second failure class adds nothing.
    #[test]
    fn a_troubled_root_that_fails_marks_the_incident_active_again() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                alert("dist", AlertClass::Errors, AlertState::Firing, 50),
                alert("dist", AlertClass::Unreachable, AlertState::Firing, 200),
                alert("dist", AlertClass::Down, AlertState::Firing, 230),
            ],
            300,
        );
        assert_eq!(c.incidents().len(), 1);
        let active = &c.incidents()[0].active_since_ms;
        assert_eq!(active.first(), Some(&50_000));
        assert_eq!(active.len(), 2, "{active:?}");
        assert!((200_000..=215_000).contains(&active[1]), "{active:?}");
    }

    /// A new symptom of an incident waiting to resolve (all its symptoms cleared) keeps
    /// the incident and records it as active again; one arriving while another still
    /// fires does not.
    #[test]
    fn a_new_symptom_after_all_had_cleared_marks_the_incident_active_again() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                alert("dist", AlertClass::Errors, AlertState::Firing, 50),
                alert("dist", AlertClass::Errors, AlertState::Cleared, 100),
                alert("dist", AlertClass::Unreachable, AlertState::Firing, 200),
                alert("dist", AlertClass::Degraded, AlertState::Firing, 260),
            ],
            300,
        );
        assert_eq!(c.incidents().len(), 1, "{:?}", c.incidents());
        assert_eq!(c.incidents()[0].active_since_ms, [50_000, 200_000]);
    }

    /// A root that recovered and fails again while its incident is still open (a switch
    /// back from a reboot that starts flapping) is a new moment of activity; so are its
    /// errors returning after every state symptom had cleared, even though log lines
    /// (a user port going down, as on any access switch all day) fired in between.
    #[test]
    fn a_root_that_fails_again_after_recovering_marks_the_incident_active_again() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                alert("dist", AlertClass::Errors, AlertState::Firing, 50),
                alert("dist", AlertClass::Unreachable, AlertState::Firing, 100),
                alert("dist", AlertClass::Errors, AlertState::Cleared, 120),
                alert("dist", AlertClass::Unreachable, AlertState::Cleared, 300),
                event("dist", "log:port-down:Gi1/0/7", 320),
                alert("dist", AlertClass::Errors, AlertState::Firing, 340),
                alert("dist", AlertClass::Unreachable, AlertState::Firing, 600),
            ],
            700,
        );
        assert_eq!(c.incidents().len(), 1, "{:?}", c.incidents());
        let active = &c.incidents()[0].active_since_ms;
        assert_eq!(active.len(), 4, "{active:?}");
        assert_eq!(active[0], 50_000);
        assert!((100_000..=115_000).contains(&active[1]), "{active:?}");
        assert_eq!(active[2], 340_000, "{active:?}");
        assert!((600_000..=615_000).contains(&active[3]), "{active:?}");
    }

    /// Anomalies beside an open incident are counted in it, but do not make their
    /// devices members: a chain of them (dist's parent core, core's child dist2) does
    /// not pull dist2's later, unrelated failure into dist's incident.
    #[test]
    fn anomalies_beside_an_incident_do_not_pull_a_later_fault_into_it() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                alert("dist", AlertClass::Degraded, AlertState::Firing, 10),
                alert("core", AlertClass::Anomaly, AlertState::Firing, 30),
                alert("dist2", AlertClass::Anomaly, AlertState::Firing, 40),
                alert("dist2", AlertClass::Unreachable, AlertState::Firing, 300),
            ],
            400,
        );
        assert_eq!(roots(&c), [("dist", true), ("dist2", true)]);
        assert_eq!(c.incidents()[0].members, ["dist"]);
    }

    /// A detector alert still firing after the symptoms cleared does not hold the
    /// incident open: it resolves `resolve_after` after the last symptom.
    #[test]
    fn a_detector_alert_does_not_keep_an_incident_open() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                alert("dist", AlertClass::Degraded, AlertState::Firing, 10),
                alert("dist", AlertClass::Anomaly, AlertState::Firing, 30),
                alert("dist", AlertClass::Degraded, AlertState::Cleared, 100),
            ],
            600,
        );
        assert_eq!(c.incidents().len(), 1);
        let inc = &c.incidents()[0];
        assert_eq!(inc.alerts, 2);
        let resolved = inc
            .resolved_at_ms
            .expect("resolved while the anomaly fires");
        assert!((340_000..=350_000).contains(&resolved), "{resolved}");
    }

    /// Every incident carries ranked candidates (the root cause first, scored highest)
    /// and evidence an operator reads: the root's own symptom and when, what failed
    /// behind it, and that its parent is up.
    #[test]
    fn a_dead_switch_explains_itself_with_ranked_candidates_and_evidence() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut alerts = Vec::new();
        for i in 0..12 {
            alerts.push(probe_down(&format!("ap-{i}"), 100 + i % 3));
        }
        let mut d = probe_down("dist", 106);
        d.detail = "probes fail".into();
        alerts.push(d);
        run(&mut c, alerts, 200);
        let inc = &c.incidents()[0];
        assert_eq!(inc.root_cause, "dist");
        assert_eq!(inc.candidates[0].element, "dist");
        assert_eq!(inc.candidates[0].score, 1.0);
        assert!(
            inc.candidates.len() <= CANDIDATES_MAX,
            "{:?}",
            inc.candidates
        );
        assert!(inc.candidates[1..]
            .windows(2)
            .all(|w| w[0].score >= w[1].score));
        assert!(inc.candidates[1..].iter().all(|k| k.score < 1.0));
        // the healthy parent ranks under the members that failed
        let core = inc.candidates.iter().position(|k| k.element == "core");
        assert!(
            core.is_none_or(|p| p == inc.candidates.len() - 1),
            "{:?}",
            inc.candidates
        );
        let ev = inc.evidence.join("\n");
        assert!(
            ev.contains("dist stopped answering probes at 00:01:46 (probes fail)"),
            "{ev}"
        );
        assert!(
            ev.contains("12 devices behind it (ap-0, ap-1, ap-10, ap-11, …) failed within 6 s"),
            "{ev}"
        );
        assert!(
            ev.contains("dist's parent core is up (no failure seen): the failure is its own"),
            "{ev}"
        );
    }

    /// A device with two parents that are both up: the failure is its own, and the
    /// evidence names both. A parent that fails a minute and more later is a cascade.
    #[test]
    fn redundant_parents_up_or_failing_later_are_stated() {
        let t = Topology::new(&Inventory {
            ship: "s".into(),
            devices: vec![
                dev("modem-vsat-1", "modem", &[]),
                dev("modem-leo-1", "modem", &[]),
                dev("fw-1", "firewall", &["modem-vsat-1", "modem-leo-1"]),
            ],
            links: vec![],
        });
        let mut c = Correlator::new("s", t.clone(), CorrelatorConfig::default());
        run(&mut c, vec![probe_down("fw-1", 100)], 200);
        let ev = c.incidents()[0].evidence.join("\n");
        assert!(
            ev.contains("fw-1's parents modem-vsat-1 and modem-leo-1 are up (no failure seen): the failure is its own"),
            "{ev}"
        );
        let mut c = Correlator::new("s", t, CorrelatorConfig::default());
        run(
            &mut c,
            vec![
                probe_down("fw-1", 100),
                probe_down("modem-vsat-1", 200),
                probe_down("modem-leo-1", 200),
            ],
            300,
        );
        let fw = c
            .incidents()
            .iter()
            .find(|i| i.root_cause == "fw-1")
            .unwrap();
        let ev = fw.evidence.join("\n");
        assert!(
            ev.contains("modem-leo-1 failed 100 s after it: a cascade, not its cause"),
            "{ev}"
        );
    }

    /// The inventory says ap-x hangs off dist2, but dist logs it on one of its ports
    /// (LLDP): the learned fact wins, dist's failure explains ap-x's, and the evidence
    /// says so. Memory for learned facts is bounded.
    #[test]
    fn lldp_overrides_the_inventory_and_the_evidence_says_so() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        c.push(event("dist", "log:lldp-seen:Gi1/0/4@ap-x", 10));
        c.tick(10_000);
        assert_eq!(c.topo.parents("ap-x"), ["dist".to_string()]);
        // the console's topology view reads the same fact
        let facts = c.topology_facts();
        assert_eq!(
            facts.learned,
            vec![LearnedParent {
                device: "ap-x".into(),
                parent: "dist".into(),
                port: "gi1/0/4".into(),
                at_ms: 10_000,
                how: "LLDP".into(),
                inventory_parents: vec!["dist2".into()],
            }]
        );
        assert_eq!(
            facts.adjacencies,
            vec![Adjacency {
                device: "dist".into(),
                port: "gi1/0/4".into(),
                neighbour: "ap-x".into(),
            }]
        );
        let mut alerts: Vec<Alert> = (0..6)
            .map(|i| probe_down(&format!("ap-{i}"), 100))
            .collect();
        alerts.push(probe_down("ap-x", 101));
        alerts.push(probe_down("dist", 104));
        run(&mut c, alerts, 200);
        let open: Vec<&Incident> = c.incidents().iter().filter(|i| i.state.is_open()).collect();
        assert_eq!(open.len(), 1, "{:?}", c.incidents());
        assert_eq!(open[0].root_cause, "dist");
        assert!(open[0].members.contains(&"ap-x".to_string()));
        let ev = open[0].evidence.join("\n");
        assert!(
            ev.contains("inventory says ap-x depends on dist2 but LLDP says dist (dist saw it on gi1/0/4 at 00:00:10): using dist"),
            "{ev}"
        );
        // a switch-to-switch adjacency is a port fact only; an unknown name, or a
        // neighbour that would make a cycle, changes nothing
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        for (i, line) in [
            "log:lldp-seen:Te1/0/1@dist2",
            "log:lldp-seen:Gi1/0/9@nobody",
            "log:lldp-seen:@",
            "log:lldp-seen:",
        ]
        .iter()
        .enumerate()
        {
            c.push(event("dist", line, 10 + i as i64));
        }
        c.push(event("pos", "log:lldp-seen:eth0@core", 20));
        c.tick(30_000);
        assert_eq!(c.topo.parents("dist2"), ["core".to_string()]);
        assert_eq!(c.topo.parents("core"), ["fw".to_string()]);
        assert!(c.learned.is_empty());
        assert_eq!(c.alerts_total(), 0, "topology facts are not alerts");
        // bounded: many distinct neighbours keep at most FACES_MAX port facts
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        for k in 0..(FACES_MAX + 100) {
            c.push(event("dist", &format!("log:lldp-seen:p{k}@n{k}"), 1));
        }
        c.tick(1_000);
        assert!(c.faces.len() <= FACES_MAX);
    }

    /// A switch counting input errors on the port LLDP (or the port's description)
    /// shows facing a neighbour below: the bad link is the neighbour's, a leaf without
    /// SNMP of its own included; without that knowledge the switch stays the root.
    /// The element whose interface counts the errors is the root, the other end of
    /// its port the runner-up, with the reason in words; when the other end shows the
    /// link's trouble too (it counts errors as well), the link is that end's uplink and
    /// it is the root.
    #[test]
    fn errors_rank_the_counting_element_first_and_the_other_end_second() {
        let errors = |subject: &str, detail: &str, t: i64| {
            let mut a = alert(subject, AlertClass::Errors, AlertState::Firing, t);
            a.series = Some("interface".into());
            a.detail = detail.into();
            a
        };
        let elements = |inc: &Incident| -> Vec<String> {
            inc.candidates.iter().map(|k| k.element.clone()).collect()
        };
        // no port knowledge: the core switch
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![errors("core", "interface input errors on Te1/0/3", 50)],
            120,
        );
        assert_eq!(c.incidents()[0].root_cause, "core");
        // LLDP showed dist on that port, dist is quiet: core first, dist second
        let lldp = || {
            let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
            c.push(event(
                "core",
                "log:lldp-seen:TenGigabitEthernet1/0/3@dist",
                5,
            ));
            c
        };
        let mut c = lldp();
        run(
            &mut c,
            vec![errors("core", "interface input errors on Te1/0/3", 50)],
            120,
        );
        let inc = &c.incidents()[0];
        assert_eq!(inc.root_cause, "core");
        assert_eq!(elements(inc)[..2], ["core", "dist"]);
        assert_eq!(inc.candidates[0].score, 1.0);
        assert_eq!(inc.candidates[1].score, 0.5);
        let ev = inc.evidence.join("\n");
        assert!(
            ev.contains("a cable or optic at either end causes CRC errors; core counts them on te1/0/3, which LLDP shows facing dist"),
            "{ev}"
        );
        // dist counts errors on its uplink too: one bad link, dist's uplink
        let mut c = lldp();
        run(
            &mut c,
            vec![
                errors("core", "interface input errors on Te1/0/3", 50),
                errors("dist", "interface input errors on Te1/1/1", 52),
            ],
            120,
        );
        assert_eq!(c.incidents().len(), 1, "{:?}", c.incidents());
        let inc = &c.incidents()[0];
        assert_eq!(inc.root_cause, "dist");
        assert_eq!(elements(inc)[..2], ["dist", "core"]);
        let ev = inc.evidence.join("\n");
        assert!(
            ev.contains(
                "core counts them on the port facing dist, and dist shows the trouble itself"
            ),
            "{ev}"
        );
        // the port's description names the till (a leaf with no SNMP): the switch that
        // counts them first, the till second
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![errors(
                "dist",
                "interface input errors on Gi1/0/9 (till pos, deck 5)",
                50,
            )],
            120,
        );
        let inc = &c.incidents()[0];
        assert_eq!(inc.root_cause, "dist");
        assert_eq!(elements(inc)[..2], ["dist", "pos"]);
        // a description naming the uplink's far end (a parent) keeps the switch
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![errors(
                "dist",
                "interface input errors on Te1/1/1 (uplink core)",
                50,
            )],
            120,
        );
        assert_eq!(c.incidents()[0].root_cause, "dist");
    }

    /// A WAN event's evidence says which links were in it and why the root ranks first.
    #[test]
    fn a_wan_event_says_why_its_root_link_ranks_first() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            alert("leo-1", AlertClass::Degraded, AlertState::Firing, 50),
            alert("vsat-1", AlertClass::Down, AlertState::Firing, 70),
        ];
        run(&mut c, alerts, 200);
        let inc = &c.incidents()[0];
        assert_eq!(inc.root_cause, "vsat-1");
        assert_eq!(inc.candidates[0].element, "vsat-1");
        assert_eq!(inc.candidates[1].element, "leo-1");
        let ev = inc.evidence.join("\n");
        assert!(
            ev.contains("1 other link in trouble within 20 s (leo-1): one WAN event, rooted at vsat-1 because it lost lock (or flapped), the others only degraded"),
            "{ev}"
        );
    }

    /// An AP whose controller announced a scheduled reboot goes silent for minutes:
    /// no incident. Once it is back, its next failure opens one; one that stays down
    /// two hours after the announcement opens too.
    #[test]
    fn a_planned_reboot_opens_nothing_until_it_is_over() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let mut planned = event("ap-3", PLANNED_REBOOT, 100);
        planned.subject = "ap-3".into();
        let mut back = probe_down("ap-3", 300);
        back.state = AlertState::Cleared;
        let alerts = vec![
            planned,
            miss("ap-3", AlertState::Firing, 110),
            probe_down("ap-3", 120),
            event("dist", "log:port-down:Gi1/0/5", 105),
            event("ap-3", "log:ap-down", 150),
            back,
            miss("ap-3", AlertState::Cleared, 300),
        ];
        run(&mut c, alerts, 600);
        assert!(c.incidents().is_empty(), "{:?}", c.incidents());
        let mut d = probe_down("ap-3", 700);
        d.series = None;
        run(&mut c, vec![d], 800);
        assert_eq!(c.incidents().len(), 1, "{:?}", c.incidents());

        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        run(
            &mut c,
            vec![event("ap-3", PLANNED_REBOOT, 100), probe_down("ap-3", 120)],
            7_000,
        );
        assert!(c.incidents().is_empty());
        run(&mut c, vec![], 7_400);
        assert_eq!(c.incidents().len(), 1, "{:?}", c.incidents());
        assert_eq!(c.alerts_total(), 1, "the announcement is not an alert");
    }

    /// A server in its announced maintenance window stays out of the incident of a
    /// switch that fails beside it, so that incident goes quiet (and resolves) when the
    /// switch is back, though the server is still being patched.
    #[test]
    fn a_device_in_announced_downtime_joins_no_incident() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        let alerts = vec![
            event("pos", PLANNED_REBOOT, 290),
            alert("dist", AlertClass::Unreachable, AlertState::Firing, 300),
            probe_down("pos", 305),
            alert("ap-0", AlertClass::Unreachable, AlertState::Firing, 305),
            alert("dist", AlertClass::Unreachable, AlertState::Cleared, 400),
            alert("ap-0", AlertClass::Unreachable, AlertState::Cleared, 405),
        ];
        run(&mut c, alerts, 1_000);
        let incs = c.incidents();
        assert_eq!(incs.len(), 1, "{incs:?}");
        assert_eq!(incs[0].root_cause, "dist");
        assert!(!incs[0].members.iter().any(|m| m == "pos"), "{incs:?}");
        assert_eq!(incs[0].state, IncidentState::Resolved, "{incs:?}");
    }

    /// Bad input never panics: empty, odd and multi-byte names in every series the
    /// correlator parses, and evidence for them.
    #[test]
    fn odd_series_and_names_do_not_panic() {
        let mut c = Correlator::new("s", topo(), CorrelatorConfig::default());
        for (k, series) in [
            "log:port-down",
            "log:port-down:",
            "log:lldp-lost:@",
            "log:lldp-lost:é@ü",
            "log:lldp-seen:💥@pos",
            "log:lldp-seen:Gi1/0/1@💥",
        ]
        .iter()
        .enumerate()
        {
            c.push(event("dist", series, k as i64));
        }
        let mut e = alert("💥", AlertClass::Errors, AlertState::Firing, 10);
        e.series = Some("interface".into());
        e.detail = "interface input errors on  (".into();
        c.push(e);
        c.push(miss("pos", AlertState::Firing, 11));
        for t in (0..300).step_by(5) {
            c.tick(t * 1000);
        }
        assert!(c.incidents().iter().all(|i| !i.candidates.is_empty()));
    }

    #[test]
    fn alerts_of_other_ships_and_cyclic_inventories_do_not_break_it() {
        let t = Topology::new(&Inventory {
            ship: "s".into(),
            devices: vec![dev("a", "switch", &["b"]), dev("b", "switch", &["a"])],
            links: vec![],
        });
        let mut c = Correlator::new("s", t, CorrelatorConfig::default());
        let mut other = alert("a", AlertClass::Unreachable, AlertState::Firing, 1);
        other.ship = "elsewhere".into();
        c.push(other);
        run(
            &mut c,
            vec![
                alert("a", AlertClass::Unreachable, AlertState::Firing, 1),
                alert("b", AlertClass::Unreachable, AlertState::Firing, 1),
            ],
            60,
        );
        assert_eq!(c.incidents().len(), 1);
        assert_eq!(c.alerts_total(), 2);
    }
}
