//! Device, link and topology pages' data (issue 19 items 3 and 4), viewer:
//!
//! * `GET /api/devices?ship=`: every device actor of the ship with its health;
//! * `GET /api/devices/{id}?ship=&hours=&points=`: one device's state (answered by its
//!   device actor through the roster), its recent alerts and incidents (the incident
//!   board) and the history of its key metrics (probe RTT, CPU, interface errors, disk)
//!   from the durable event log;
//! * `GET /api/links?ship=&hours=&points=`: every link's state and an Es/No sparkline;
//! * `GET /api/links/{id}?ship=&hours=&points=`: one link's state, Es/No, lock, outage
//!   risk and predicted outages over the window, and its incidents;
//! * `GET /api/topology?ship=`: the ship's devices grouped by layer with their state,
//!   the parents traffic goes through, the path from each link's modem in, the devices
//!   discovered outside the inventory and the LLDP disagreements the correlator learned.
//!
//! Metric history is read through the ship's log index ([`LogSearch::metric_buckets`]):
//! the window (`hours`, default 1, at most 24) is cut into `points` buckets (default 60,
//! at most 240) and each bucket reads at most its newest metric events of the device,
//! so a chart costs at most [`EVENT_BUDGET`] events whatever the window. Each series has
//! one point per bucket that holds it: the bucket's newest value (gauges) or its
//! increase over the previous bucket (counters).
//!
//! `ship` defaults to the node's first ship (for a device: the first whose roster has
//! it). Unknown ship, device or link: 404 with `{"error"}`; a bad `hours` or `points`:
//! 400. Nothing here starts an actor: a device not in the roster is not found.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use seawatch_actors::device::{DeviceMsg, DeviceState};
use seawatch_actors::incident::{
    CorrelatorMsg, Incident, IncidentBoard, StateFilter, TopologyFacts,
};
use seawatch_actors::link::{LinkMsg, LinkState, RiskPoint};
use seawatch_actors::roster::Roster;
use seawatch_model::time::rfc3339;
use seawatch_runtime::event_log::Event;
use seawatch_runtime::supervision::Addr;
use seawatch_runtime::Clock;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::logs::{LogSearch, LogsParams};

/// Most metric events one chart reads from the log.
pub const EVENT_BUDGET: usize = 48_000;
/// Buckets (points) of a chart without `points`.
pub const DEFAULT_POINTS: usize = 60;
/// Most buckets of a chart.
pub const MAX_POINTS: usize = 240;
/// Most hours of a chart.
pub const MAX_HOURS: f64 = 24.0;
/// Points of each sparkline on the links list.
pub const LIST_POINTS: usize = 30;
/// How long an actor has to answer a snapshot.
const ASK: Duration = Duration::from_secs(2);
/// Incidents and alerts a device or link page lists.
const RECENT: usize = 20;

/// One ship as these pages see it.
#[derive(Clone)]
pub struct ShipElements {
    /// Ship id.
    pub ship: String,
    /// Its roster (device and link actors, the inventory in use).
    pub roster: Roster,
    /// Its correlator (the LLDP facts it learned), when it runs one.
    pub correlator: Option<Addr<CorrelatorMsg>>,
}

/// The device, link and topology routes of a node. Cheap to clone.
#[derive(Clone)]
pub struct Elements {
    ships: Arc<Vec<ShipElements>>,
    board: IncidentBoard,
    logs: LogSearch,
    clock: Clock,
}

/// Query parameters of these routes.
#[derive(Debug, Default, Deserialize)]
pub struct ElementParams {
    /// The ship.
    pub ship: Option<String>,
    /// Chart window, hours back from now (default 1, at most 24).
    pub hours: Option<String>,
    /// Chart points (default 60, at most 240).
    pub points: Option<String>,
}

type ApiResult = Result<Value, (StatusCode, String)>;

fn not_found(msg: String) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, msg)
}

/// A chart's window and buckets.
#[derive(Debug, Clone, Copy)]
struct Window {
    from_ms: i64,
    to_ms: i64,
    points: usize,
}

impl Window {
    fn parse(p: &ElementParams, now_ms: i64, default_points: usize) -> Result<Self, String> {
        let hours = match p.hours.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => 1.0,
            Some(v) => match v.parse::<f64>() {
                Ok(h) if h > 0.0 && h <= MAX_HOURS => h,
                _ => {
                    return Err(format!(
                        "hours={v}: expected a number above 0 and at most {MAX_HOURS}"
                    ))
                }
            },
        };
        let points = match p.points.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => default_points,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (2..=MAX_POINTS).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "points={v}: expected a number from 2 to {MAX_POINTS}"
                    ))
                }
            },
        };
        // one bucket past now: a producer's clock slightly ahead still shows
        let step = (hours * 3_600_000.0 / points as f64) as i64;
        Ok(Self {
            from_ms: now_ms - (hours * 3_600_000.0) as i64 + step,
            to_ms: now_ms + step,
            points,
        })
    }

    fn per_bucket(&self) -> usize {
        (EVENT_BUDGET / self.points).clamp(200, 1000)
    }
}

/// One metric event's name, labels and value (`name{k="v",...} value`, as ingest
/// stores it).
fn parse_metric(body: &str) -> Option<(&str, &str, f64)> {
    let (head, value) = body.rsplit_once(' ')?;
    let value: f64 = value.trim().parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((n, l)) => (n, l.strip_suffix('}').unwrap_or(l)),
        None => (head, ""),
    };
    Some((name, labels, value))
}

/// The value of label `key` in a stored label list (`k="v",...`).
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = labels;
    while !rest.is_empty() {
        let (k, after) = rest.split_once("=\"")?;
        let end = after.find('"')?;
        if k.trim_start_matches(',') == key {
            return Some(&after[..end]);
        }
        rest = after[end + 1..].trim_start_matches(',');
    }
    None
}

/// The newest value of each series (name plus labels) in one bucket, and its time.
type Latest<'a> = (i64, HashMap<(&'a str, &'a str), f64>);

fn latest(events: &[Event], keep: impl Fn(&str, &str) -> bool) -> Option<Latest<'_>> {
    let mut out = HashMap::new();
    let mut ts = None;
    // newest first: the first value of each series wins
    for e in events {
        let Some((name, labels, v)) = parse_metric(&e.body) else {
            continue;
        };
        if !keep(name, labels) || !v.is_finite() {
            continue;
        }
        ts.get_or_insert(e.ts_ms);
        out.entry((name, labels)).or_insert(v);
    }
    Some((ts?, out))
}

fn sum_of(m: &HashMap<(&str, &str), f64>, names: &[&str]) -> Option<f64> {
    let v: Vec<f64> = m
        .iter()
        .filter(|((n, _), _)| names.contains(n))
        .map(|(_, v)| *v)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum())
}

fn point(ts: i64, v: f64) -> Value {
    json!([ts, (v * 1000.0).round() / 1000.0])
}

/// A device's key metrics from its buckets: `probe_rtt_ms`, `probe_success`,
/// `cpu_percent`, `errors` (interface errors in each bucket), `disk_used_percent`.
fn device_series(buckets: &[Vec<Event>]) -> BTreeMap<&'static str, Vec<Value>> {
    let mut out: BTreeMap<&'static str, Vec<Value>> = [
        "probe_rtt_ms",
        "probe_success",
        "cpu_percent",
        "errors",
        "disk_used_percent",
    ]
    .into_iter()
    .map(|k| (k, Vec::new()))
    .collect();
    let mut prev_errors: Option<f64> = None;
    let mut prev_cpu: Option<(f64, f64)> = None;
    // oldest bucket first
    for events in buckets {
        let Some((ts, m)) = latest(events, |_, _| true) else {
            continue;
        };
        let one = |name: &str| m.iter().find(|((n, _), _)| *n == name).map(|(_, v)| *v);
        if let Some(s) = one("probe_duration_seconds") {
            out.get_mut("probe_rtt_ms")
                .expect("key")
                .push(point(ts, s * 1000.0));
        }
        if let Some(s) = one("probe_success") {
            out.get_mut("probe_success")
                .expect("key")
                .push(point(ts, s));
        }
        if let Some(c) = one("device_cpu_percent") {
            out.get_mut("cpu_percent").expect("key").push(point(ts, c));
        } else {
            // a host's CPU from its mode counters
            let mode = |mode: &str| {
                m.iter()
                    .filter(|((n, l), _)| {
                        *n == "node_cpu_seconds_total" && label(l, "mode") == Some(mode)
                    })
                    .map(|(_, v)| *v)
                    .reduce(|a, b| a + b)
            };
            if let (Some(idle), Some(user)) = (mode("idle"), mode("user")) {
                if let Some((pi, pu)) = prev_cpu {
                    let (di, du) = (idle - pi, user - pu);
                    if di >= 0.0 && du >= 0.0 && di + du > 0.0 {
                        out.get_mut("cpu_percent")
                            .expect("key")
                            .push(point(ts, 100.0 * du / (di + du)));
                    }
                }
                prev_cpu = Some((idle, user));
            }
        }
        if let Some(e) = sum_of(&m, &["ifInErrors", "ifOutErrors"]) {
            if let Some(p) = prev_errors {
                // a counter reset counts from zero
                let d = if e >= p { e - p } else { e };
                out.get_mut("errors").expect("key").push(point(ts, d));
            }
            prev_errors = Some(e);
        }
        let used = m
            .iter()
            .filter(|((n, _), _)| *n == "node_filesystem_avail_bytes")
            .filter_map(|((_, l), avail)| {
                let mount = label(l, "mountpoint");
                let size = m.iter().find(|((n, l2), _)| {
                    *n == "node_filesystem_size_bytes" && label(l2, "mountpoint") == mount
                })?;
                (*size.1 > 0.0).then(|| 100.0 * (1.0 - avail / size.1))
            })
            .reduce(f64::max);
        if let Some(u) = used {
            out.get_mut("disk_used_percent")
                .expect("key")
                .push(point(ts, u));
        }
    }
    out
}

/// A link's Es/No and lock from its modem's buckets.
fn link_series(buckets: &[Vec<Event>], link: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut esno, mut lock) = (Vec::new(), Vec::new());
    for events in buckets {
        let Some((ts, m)) = latest(events, |n, l| {
            matches!(n, "modem_esno_db" | "modem_lock") && label(l, "link") == Some(link)
        }) else {
            continue;
        };
        for ((n, _), v) in m {
            match n {
                "modem_esno_db" => esno.push(point(ts, v)),
                _ => lock.push(point(ts, v)),
            }
        }
    }
    (esno, lock)
}

fn incident_json(i: &Incident, element: &str) -> Value {
    json!({
        "id": i.id,
        "severity": i.severity.as_str(),
        "state": i.state.as_str(),
        "root_cause": i.root_cause,
        "role": if i.root_cause == element { "root" } else { "affected" },
        "opened_at": rfc3339(i.opened_at_ms),
        "resolved_at": i.resolved_at_ms.map(rfc3339),
        "summary": i.summary,
    })
}

fn health_str(s: &DeviceState) -> String {
    serde_json::to_value(s.health)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn status_str(s: &LinkState) -> String {
    format!("{:?}", s.status).to_lowercase()
}

/// The modem whose metrics carry `link` (its device actor has seen a `modem_*` series
/// labelled with it).
fn modem_of(states: &[DeviceState], link: &str) -> Option<String> {
    let needle = format!("link={link}");
    states
        .iter()
        .find(|s| {
            s.last_values
                .keys()
                .any(|k| k.starts_with("modem_") && k.split(' ').any(|w| w == needle))
        })
        .map(|s| s.id.clone())
}

/// The layer a device is drawn in (top to bottom: where traffic leaves the ship first).
fn layer_of(kind: &str, switch_depth: usize, in_inventory: bool) -> &'static str {
    if !in_inventory {
        return "discovered";
    }
    match kind {
        "modem" => "wan",
        "firewall" | "router" => "perimeter",
        "switch" => match switch_depth {
            0 => "core",
            1 => "distribution",
            _ => "access",
        },
        "server" | "pbx" | "wlc" | "storage" => "servers",
        _ => "edge",
    }
}

/// Layers in drawing order, with their titles.
pub const LAYERS: [(&str, &str); 8] = [
    ("wan", "WAN (modems)"),
    ("perimeter", "Perimeter"),
    ("core", "Core"),
    ("servers", "Servers"),
    ("distribution", "Distribution"),
    ("access", "Access"),
    ("edge", "Edge devices"),
    ("discovered", "Discovered, not in the inventory"),
];

impl Elements {
    /// Routes over `ships`, their incidents on `board` and their logs through `logs`.
    pub fn new(
        ships: Vec<ShipElements>,
        board: IncidentBoard,
        logs: LogSearch,
        clock: Clock,
    ) -> Self {
        Self {
            ships: Arc::new(ships),
            board,
            logs,
            clock,
        }
    }

    /// The routes; wrap them in `auth.protect(Role::Viewer, ..)`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/api/devices", get(devices))
            .route("/api/devices/{id}", get(device))
            .route("/api/links", get(links))
            .route("/api/links/{id}", get(link))
            .route("/api/topology", get(topology))
            .with_state(self.clone())
    }

    fn ship(
        &self,
        ship: Option<&str>,
        has: impl Fn(&ShipElements) -> bool,
    ) -> Result<&ShipElements, (StatusCode, String)> {
        match ship.map(str::trim).filter(|s| !s.is_empty()) {
            Some(id) => self
                .ships
                .iter()
                .find(|s| s.ship == id)
                .ok_or_else(|| not_found(format!("no ship {id} on this node"))),
            None => self
                .ships
                .iter()
                .find(|s| has(s))
                .or_else(|| self.ships.first())
                .ok_or_else(|| not_found("no ship on this node".into())),
        }
    }

    async fn states(roster: &Roster) -> Vec<DeviceState> {
        let calls = roster
            .devices()
            .into_iter()
            .map(|(_, a)| async move { a.call(DeviceMsg::Snapshot, ASK).await.ok() });
        futures::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Metric buckets of `device` over `w` (blocking work on the blocking pool).
    async fn buckets(
        &self,
        ship: &str,
        device: &str,
        w: Window,
    ) -> Result<Vec<Vec<Event>>, (StatusCode, String)> {
        let (logs, ship, device) = (self.logs.clone(), ship.to_owned(), device.to_owned());
        let got = tokio::task::spawn_blocking(move || {
            logs.metric_buckets(&ship, &device, w.from_ms, w.to_ms, w.points, w.per_bucket())
        })
        .await
        .map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("metric history: {e}"),
            )
        })?;
        match got {
            // a ship whose log this node does not search has no history
            None => Ok(Vec::new()),
            Some(r) => r.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e)),
        }
    }

    fn incidents_of(&self, ship: &str, element: &str) -> Vec<Incident> {
        let mut v: Vec<Incident> = self
            .board
            .list(Some(ship), StateFilter::All)
            .into_iter()
            .filter(|i| i.root_cause == element || i.members.iter().any(|m| m == element))
            .collect();
        v.sort_by_key(|i| std::cmp::Reverse(i.opened_at_ms));
        v.truncate(RECENT);
        v
    }

    async fn device(&self, id: &str, p: &ElementParams) -> ApiResult {
        let w = Window::parse(p, self.clock.now_ms(), DEFAULT_POINTS)
            .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let s = self.ship(p.ship.as_deref(), |s| {
            s.roster.devices().iter().any(|(d, _)| d == id)
        })?;
        let addr = s
            .roster
            .devices()
            .into_iter()
            .find(|(d, _)| d == id)
            .map(|(_, a)| a)
            .ok_or_else(|| not_found(format!("no device {id} on ship {}", s.ship)))?;
        let state = addr
            .call(DeviceMsg::Snapshot, ASK)
            .await
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, format!("device {id}: {e}")))?;
        let inventory = s.roster.inventory();
        let spec = inventory.devices.iter().find(|d| d.id == id);
        let children: Vec<&str> = inventory
            .devices
            .iter()
            .filter(|d| d.depends_on.iter().any(|p| p == id))
            .map(|d| d.id.as_str())
            .collect();
        let incidents = self.incidents_of(&s.ship, id);
        // its alerts: the timeline entries about it of its incidents, newest first
        let mut alerts: Vec<(String, Value)> = incidents
            .iter()
            .flat_map(|i| {
                self.board
                    .timeline(&i.id)
                    .into_iter()
                    .filter(|t| t.kind == "alert" && t.source == id)
                    .map(|t| {
                        let at = rfc3339(t.ts_ms);
                        (
                            at.clone(),
                            json!({"at": at, "incident": i.id, "text": t.text}),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        alerts.sort_by(|a, b| b.0.cmp(&a.0));
        alerts.truncate(RECENT);
        let logs = self.logs.clone();
        let lp = LogsParams {
            ship: Some(s.ship.clone()),
            device: Some(id.to_owned()),
            q: Some("severity:warning".into()),
            from: Some("-24h".into()),
            limit: Some("10".into()),
            ..LogsParams::default()
        };
        let lines = tokio::task::spawn_blocking(move || logs.search(&lp))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let buckets = self.buckets(&s.ship, id, w).await?;
        Ok(json!({
            "ship": s.ship,
            "id": id,
            "kind": state.kind,
            "in_inventory": spec.is_some(),
            "parents": spec.map(|d| d.depends_on.clone()).unwrap_or_default(),
            "children": children,
            "health": health_str(&state),
            "last_seen": state.last_seen_ms.map(rfc3339),
            "last_error": state.last_error_ms.map(rfc3339),
            "logs_by_severity": state.logs_by_severity,
            "samples": state.samples,
            "incidents": incidents.iter().map(|i| incident_json(i, id)).collect::<Vec<_>>(),
            "alerts": alerts.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "log_lines": lines,
            "from": rfc3339(w.from_ms),
            "to": rfc3339(w.to_ms),
            "series": device_series(&buckets),
        }))
    }

    async fn link_json(
        &self,
        s: &ShipElements,
        id: &str,
        addr: &Addr<LinkMsg>,
        w: Window,
        modems: &[DeviceState],
        detail: bool,
    ) -> ApiResult {
        let state = addr
            .call(LinkMsg::Snapshot, ASK)
            .await
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, format!("link {id}: {e}")))?;
        let modem = modem_of(modems, id);
        let (esno, lock) = match &modem {
            Some(m) => link_series(&self.buckets(&s.ship, m, w).await?, id),
            None => (Vec::new(), Vec::new()),
        };
        let mut v = json!({
            "ship": s.ship,
            "id": id,
            "kind": state.spec.kind,
            "band": state.spec.band,
            "primary": state.spec.primary,
            "modem": modem,
            "state": status_str(&state),
            "esno_db": state.esno_db,
            "locked": state.locked,
            "risk": (state.risk * 1000.0).round() / 1000.0,
            "predicted_outage_at": state.predicted_outage_ms.map(rfc3339),
            "updated_at": state.last_kpi_ms.map(rfc3339),
            "from": rfc3339(w.from_ms),
            "to": rfc3339(w.to_ms),
            "esno": esno,
        });
        if detail {
            let history: Vec<RiskPoint> = addr
                .call(LinkMsg::RiskHistory, ASK)
                .await
                .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, format!("link {id}: {e}")))?;
            let in_window: Vec<&RiskPoint> = history
                .iter()
                .filter(|p| p.ts_ms >= w.from_ms - 60_000 && p.ts_ms < w.to_ms)
                .collect();
            // each outage predicted in the window once (the earliest minute it was seen)
            let mut predicted: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
            for p in &in_window {
                if let Some(at) = p.predicted_outage_ms {
                    predicted.entry(at).or_insert((p.ts_ms, p.risk));
                }
            }
            let m = v.as_object_mut().expect("object");
            m.insert("lock".into(), json!(lock));
            m.insert(
                "risk_history".into(),
                json!(in_window
                    .iter()
                    .map(|p| point(p.ts_ms, p.risk))
                    .collect::<Vec<_>>()),
            );
            m.insert(
                "predicted_outages".into(),
                json!(predicted
                    .into_iter()
                    .map(|(at, (seen, risk))| json!({"at": rfc3339(at), "predicted_at": rfc3339(seen), "risk": (risk * 1000.0).round() / 1000.0}))
                    .collect::<Vec<_>>()),
            );
            m.insert(
                "incidents".into(),
                json!(self
                    .incidents_of(&s.ship, id)
                    .iter()
                    .map(|i| incident_json(i, id))
                    .collect::<Vec<_>>()),
            );
        }
        Ok(v)
    }

    async fn modems(roster: &Roster) -> Vec<DeviceState> {
        let inventory = roster.inventory();
        let calls = roster
            .devices()
            .into_iter()
            .filter(|(d, _)| {
                inventory
                    .devices
                    .iter()
                    .any(|s| &s.id == d && s.kind == "modem")
            })
            .map(|(_, a)| async move { a.call(DeviceMsg::Snapshot, ASK).await.ok() });
        futures::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn link(&self, id: &str, p: &ElementParams) -> ApiResult {
        let w = Window::parse(p, self.clock.now_ms(), DEFAULT_POINTS)
            .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let s = self.ship(p.ship.as_deref(), |s| s.roster.link(id).is_some())?;
        let addr = s
            .roster
            .link(id)
            .ok_or_else(|| not_found(format!("no link {id} on ship {}", s.ship)))?;
        let modems = Self::modems(&s.roster).await;
        self.link_json(s, id, &addr, w, &modems, true).await
    }

    async fn links(&self, p: &ElementParams) -> ApiResult {
        let w = Window::parse(p, self.clock.now_ms(), LIST_POINTS)
            .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let ships: Vec<&ShipElements> = match p.ship.as_deref().filter(|s| !s.is_empty()) {
            Some(_) => vec![self.ship(p.ship.as_deref(), |_| true)?],
            None => self.ships.iter().collect(),
        };
        let mut out = Vec::new();
        for s in ships {
            let modems = Self::modems(&s.roster).await;
            let mut links = s.roster.links();
            links.sort_by(|a, b| a.0.cmp(&b.0));
            for (id, addr) in links {
                match self.link_json(s, &id, &addr, w, &modems, false).await {
                    Ok(v) => out.push(v),
                    // a link actor restarting is left out of the list, not an error
                    Err((StatusCode::SERVICE_UNAVAILABLE, _)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Value::Array(out))
    }

    async fn device_list(&self, p: &ElementParams) -> ApiResult {
        let s = self.ship(p.ship.as_deref(), |_| true)?;
        let inventory = s.roster.inventory();
        let states = Self::states(&s.roster).await;
        Ok(json!(states
            .iter()
            .map(|d| json!({
                "ship": s.ship,
                "id": d.id,
                "kind": d.kind,
                "health": health_str(d),
                "in_inventory": inventory.devices.iter().any(|x| x.id == d.id),
                "last_seen": d.last_seen_ms.map(rfc3339),
            }))
            .collect::<Vec<_>>()))
    }

    async fn topology(&self, p: &ElementParams) -> ApiResult {
        let s = self.ship(p.ship.as_deref(), |_| true)?;
        let inventory = s.roster.inventory();
        let states = Self::states(&s.roster).await;
        let facts: TopologyFacts = match &s.correlator {
            Some(c) => c
                .call(CorrelatorMsg::Topology, ASK)
                .await
                .unwrap_or_default(),
            None => TopologyFacts::default(),
        };
        let health: HashMap<&str, String> = states
            .iter()
            .map(|d| (d.id.as_str(), health_str(d)))
            .collect();
        let open = self.board.list(Some(&s.ship), StateFilter::Open);
        let mut root_of: HashMap<&str, &str> = HashMap::new();
        let mut affected: HashMap<&str, &str> = HashMap::new();
        for i in open.iter().filter(|i| i.merged_into.is_none()) {
            root_of
                .entry(i.root_cause.as_str())
                .or_insert(i.id.as_str());
            for m in &i.members {
                affected.entry(m.as_str()).or_insert(i.id.as_str());
            }
        }
        let learned: HashMap<&str, &str> = facts
            .learned
            .iter()
            .map(|l| (l.device.as_str(), l.parent.as_str()))
            .collect();
        let kinds: HashMap<&str, &str> = inventory
            .devices
            .iter()
            .map(|d| (d.id.as_str(), d.kind.as_str()))
            .collect();
        let parents_of = |id: &str| -> Vec<String> {
            match learned.get(id) {
                Some(p) => vec![(*p).to_owned()],
                None => inventory
                    .devices
                    .iter()
                    .find(|d| d.id == id)
                    .map(|d| d.depends_on.clone())
                    .unwrap_or_default(),
            }
        };
        // switches above a switch (core 0, distribution 1, access 2+), bounded
        let switch_depth = |id: &str| -> usize {
            let mut depth = 0;
            let mut cur = id.to_owned();
            let mut seen = BTreeSet::new();
            while seen.insert(cur.clone()) && seen.len() < 32 {
                let up = parents_of(&cur)
                    .into_iter()
                    .find(|p| kinds.get(p.as_str()) == Some(&"switch"));
                match up {
                    Some(p) => {
                        depth += 1;
                        cur = p;
                    }
                    None => break,
                }
            }
            depth
        };
        let mut ids: Vec<String> = inventory.devices.iter().map(|d| d.id.clone()).collect();
        let discovered: Vec<String> = states
            .iter()
            .filter(|d| !kinds.contains_key(d.id.as_str()))
            .map(|d| d.id.clone())
            .collect();
        ids.extend(discovered.iter().cloned());
        let nodes: Vec<Value> = ids
            .iter()
            .map(|id| {
                let in_inv = kinds.contains_key(id.as_str());
                let kind = kinds.get(id.as_str()).copied().unwrap_or("discovered");
                json!({
                    "id": id,
                    "kind": kind,
                    "layer": layer_of(kind, switch_depth(id), in_inv),
                    "state": health.get(id.as_str()).cloned().unwrap_or_else(|| "unknown".into()),
                    "in_inventory": in_inv,
                    "parents": parents_of(id),
                    "root_of": root_of.get(id.as_str()),
                    "incident": affected.get(id.as_str()),
                })
            })
            .collect();
        let mut links = Vec::new();
        let mut lks = s.roster.links();
        lks.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, addr) in lks {
            let Ok(st) = addr.call(LinkMsg::Snapshot, ASK).await else {
                continue;
            };
            let modem = modem_of(&states, &id);
            // the path in from the link: its modem, then the modem's parents up to the
            // top of the ship's network
            let mut via = Vec::new();
            if let Some(m) = &modem {
                via.push(m.clone());
                let mut frontier = parents_of(m);
                while let Some(p) = frontier.pop() {
                    if via.contains(&p) || via.len() >= 16 {
                        continue;
                    }
                    frontier.extend(parents_of(&p));
                    via.push(p);
                }
            }
            links.push(json!({
                "id": id,
                "kind": st.spec.kind,
                "primary": st.spec.primary,
                "state": status_str(&st),
                "risk": (st.risk * 1000.0).round() / 1000.0,
                "modem": modem,
                "via": via,
                "root_of": root_of.get(id.as_str()),
            }));
        }
        let mut mismatches: Vec<Value> = discovered
            .iter()
            .map(|d| json!({"kind": "discovered", "device": d, "text": format!("{d} sends telemetry but is not in the inventory")}))
            .collect();
        for l in &facts.learned {
            mismatches.push(json!({
                "kind": "lldp",
                "device": l.device,
                "parent": l.parent,
                "inventory_parents": l.inventory_parents,
                "text": format!(
                    "inventory says {} depends on {} but {} says {} (on port {}, {})",
                    l.device,
                    if l.inventory_parents.is_empty() { "nothing".to_string() } else { l.inventory_parents.join(", ") },
                    l.how,
                    l.parent,
                    l.port,
                    rfc3339(l.at_ms)
                ),
            }));
        }
        Ok(json!({
            "ship": s.ship,
            "layers": LAYERS.iter().map(|(id, title)| json!({"id": id, "title": title})).collect::<Vec<_>>(),
            "nodes": nodes,
            "links": links,
            "adjacencies": facts.adjacencies,
            "mismatches": mismatches,
        }))
    }
}

fn reply(r: ApiResult) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err((code, msg)) => crate::json_error(code, msg),
    }
}

async fn devices(State(e): State<Elements>, Query(p): Query<ElementParams>) -> Response {
    reply(e.device_list(&p).await)
}

async fn device(
    State(e): State<Elements>,
    Path(id): Path<String>,
    Query(p): Query<ElementParams>,
) -> Response {
    reply(e.device(&id, &p).await)
}

async fn links(State(e): State<Elements>, Query(p): Query<ElementParams>) -> Response {
    reply(e.links(&p).await)
}

async fn link(
    State(e): State<Elements>,
    Path(id): Path<String>,
    Query(p): Query<ElementParams>,
) -> Response {
    reply(e.link(&id, &p).await)
}

async fn topology(State(e): State<Elements>, Query(p): Query<ElementParams>) -> Response {
    reply(e.topology(&p).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_bodies_and_labels_parse() {
        let (n, l, v) =
            parse_metric(r#"modem_esno_db{device="modem-vsat-1",link="vsat-1"} 9.25"#).unwrap();
        assert_eq!((n, v), ("modem_esno_db", 9.25));
        assert_eq!(label(l, "link"), Some("vsat-1"));
        assert_eq!(label(l, "device"), Some("modem-vsat-1"));
        assert_eq!(label(l, "ifName"), None);
        assert_eq!(
            parse_metric("probe_success 1"),
            Some(("probe_success", "", 1.0))
        );
        assert_eq!(parse_metric("garbage"), None);
        assert_eq!(parse_metric("x{a=\"b\"} notanumber"), None);
    }
}
