//! `seawatch demo` (contracts §1): a shore and N simulated ships in one process on
//! embedded defaults, replaying a built-in scenario in real time through the real
//! pipeline, with the console in front.
//!
//! The ships are the `sim run` engine ([`crate::sim`]): each ship's telemetry goes
//! decoders → event log → device and link actors → correlator, and each ship syncs to an
//! embedded shore ([`ShoreSim`]) over a simulated link that is out while the scenario has
//! the ship's primary link out. The console serves `/api/incidents` (every ship), the
//! shore's `/api/fleet`, `/ws`, the web UI, `/metrics` and `/healthz`, and the runbook
//! routes over every ship's remediation service — the one `seawatch ship` runs
//! ([`crate::remediation`]): an incident suggests runbooks, an operator proposes one and
//! another approves it. The `builtin` driver silences mail in an outbox that sends
//! nothing (the demo has no mail relay); `ssh` and `http` runbooks fail at their first
//! step, nothing sent, since a simulated device has no address to reach.
//!
//! The built-in scenario ([`scenario`]) sails N copies of `assets/demo-ship.toml`, each on
//! a Caribbean voyage of its own ([`DEMO_ROUTES`]: positions move on the fleet map), and
//! repeats a fault schedule every [`CYCLE_S`] seconds, rotating the faults over the
//! ships: interface errors at 20 s, a distribution switch down at 40 s and a VSAT blockage
//! (or a rain fade, every other cycle) at 70 s, then a disk filling, a firewall CPU storm
//! and a flapping access switch later in the cycle. So a first incident opens within the
//! first two minutes and a demo left running keeps having them (for [`DURATION_S`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::Json;
use seawatch_actors::incident::api::IncidentView;
use seawatch_actors::incident::{CorrelatorConfig, IncidentBoard, StateFilter};
use seawatch_actors::mail::Outbox;
use seawatch_actors::push::{Push, PushBus, PushKind};
use seawatch_actors::runbook::exec::Executions;
use seawatch_actors::runbook::service::{RemediationMetrics, RemediationPaths};
use seawatch_actors::sync::metrics::SyncMetrics;
use seawatch_actors::sync::ship::SnapshotSource as SyncSnapshotSource;
use seawatch_actors::sync::shore::FleetView;
use seawatch_console::{
    sessions_supervisor, Auth, AuthConfig, ConsoleMetrics, Role, SnapshotSource, WsConfig, WsHub,
};
use seawatch_runtime::http::{self, Health};
use seawatch_runtime::supervision::ChildSpec;
use seawatch_runtime::ShardKey;
use seawatch_simulators::generate::{SimOptions, Simulator};
use seawatch_simulators::scenario::{Fault, FaultKind, Scenario, ScenarioError};

use crate::remediation::{
    provision_starters, remediation_service, RemediationArgs, RemediationService,
};
use crate::sim::{
    play, sync_link, FleetOptions, PlayOptions, ShoreShip, ShoreSim, SimError, SimFleet,
};

/// The demo ship's inventory (one `[[ship]]` table), built into the binary.
pub const DEMO_SHIP: &str = include_str!("../assets/demo-ship.toml");
/// The fault schedule repeats every this many seconds.
pub const CYCLE_S: u64 = 600;
/// Length of the built-in scenario: a week.
pub const DURATION_S: u64 = 7 * 86_400;

/// Voyages (waypoints lat, lon) the demo's ships sail, in turn: `ship-1` the inventory's
/// own (Miami to Nassau), the next ones other Caribbean cruises, so that the fleet map
/// shows ships apart and moving; from the ninth on, the same voyages sailed back.
pub const DEMO_ROUTES: [&[[f64; 2]]; 8] = [
    &[[25.77, -80.19], [25.6, -79.4], [25.06, -77.35]],
    &[[25.06, -77.35], [25.6, -79.4], [25.77, -80.19]],
    &[[26.09, -80.11], [26.45, -79.0], [26.35, -77.6]],
    &[[28.41, -80.6], [27.2, -79.6], [25.82, -77.94]],
    &[
        [25.77, -80.19],
        [24.4, -81.3],
        [23.0, -84.5],
        [20.5, -86.95],
    ],
    &[[18.47, -66.12], [18.33, -64.93], [18.02, -63.05]],
    &[[26.09, -80.11], [24.0, -76.0], [21.46, -71.14]],
    &[[29.3, -94.8], [25.5, -90.0], [20.5, -86.95]],
];

/// The built-in scenario for `ships` ships (`ship-1` … `ship-N`), each on a voyage of
/// [`DEMO_ROUTES`].
pub fn scenario(ships: usize) -> Result<Scenario, ScenarioError> {
    let base = Scenario::parse_inventory(DEMO_SHIP, "built-in demo ship")?;
    let ids: Vec<String> = (1..=ships).map(|i| format!("ship-{i}")).collect();
    let ship = ids
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let mut s = base.clone();
            s.id = id.clone();
            let mut route = DEMO_ROUTES[k % DEMO_ROUTES.len()].to_vec();
            if (k / DEMO_ROUTES.len()) % 2 == 1 {
                route.reverse();
            }
            s.route = route;
            s
        })
        .collect();
    let mut fault = Vec::new();
    let n = ids.len().max(1);
    for c in 0..DURATION_S / CYCLE_S {
        let at = c * CYCLE_S;
        let ship_of = |k: usize| ids[(c as usize + k) % n].clone();
        let even = c % 2 == 0;
        let mut add = |k: usize, target: &str, kind: FaultKind, offset_s: u64, duration_s: u64| {
            fault.push(Fault {
                ship: ship_of(k),
                target: target.to_owned(),
                kind,
                at_s: at + offset_s,
                duration_s,
            })
        };
        add(
            2,
            if even { "acc-sw-3" } else { "acc-sw-7" },
            FaultKind::InterfaceErrors,
            20,
            300,
        );
        add(
            0,
            if even {
                "dist-sw-fwd-1"
            } else {
                "dist-sw-aft-2"
            },
            FaultKind::Down,
            40,
            240,
        );
        if even {
            add(1, "vsat-1", FaultKind::Blockage, 70, 180);
        } else {
            add(1, "vsat-1", FaultKind::RainFade, 70, 300);
        }
        add(0, "pms-db-1", FaultKind::DiskFull, 330, 180);
        add(1, "fw-1", FaultKind::CpuSaturation, 420, 150);
        add(2, "acc-sw-5", FaultKind::Flapping, 400, 120);
    }
    let sc = Scenario {
        name: "demo".into(),
        seed: 2026,
        duration_s: DURATION_S,
        ship,
        fault,
        rollout: Vec::new(),
    };
    sc.validate("built-in demo scenario")?;
    Ok(sc)
}

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated ships (at least 1).
    pub ships: usize,
    /// Console address.
    pub listen: SocketAddr,
    /// Data directory (users, tokens, the runbooks and policies in `DATA/runbooks` and
    /// `DATA/policies`, written on first start; the ships' logs, audit logs and silences
    /// under `DATA/demo`, wiped at start).
    pub data: PathBuf,
    /// Pace: 1.0 is real time; tests play faster. `None`: as fast as possible.
    pub speed: Option<f64>,
    /// Unix ms of the scenario's second 0 (default: now).
    pub start_ms: Option<i64>,
    /// Simulated time between correlation barriers (and sync steps), ms.
    pub tick_ms: i64,
}

impl DemoOptions {
    /// The defaults of `seawatch demo`: 3 ships, 127.0.0.1:8080, `./seawatch-data`, real
    /// time, a barrier every second.
    pub fn new() -> Self {
        Self {
            ships: 3,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("./seawatch-data"),
            speed: Some(1.0),
            start_ms: None,
            tick_ms: 1_000,
        }
    }
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Bad options.
    #[error("{0}")]
    Usage(String),
    /// The console could not bind.
    #[error("--listen {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Users or tokens could not be loaded or created.
    #[error(transparent)]
    Auth(#[from] seawatch_console::auth::AuthError),
    /// The ships or the shore failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The built-in scenario is invalid (a bug).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// A running demo: ships, shore and console.
pub struct Demo {
    /// The scenario being played (its faults are the ground truth; nothing on the ships
    /// reads them).
    pub scenario: Scenario,
    /// The ships.
    pub fleet: SimFleet,
    shore: Option<ShoreSim>,
    /// The shore's fleet view.
    pub fleet_view: FleetView,
    /// Users and tokens of the console.
    pub auth: Auth,
    /// Each ship's runbook executions, in the scenario's ship order (the same remediation
    /// service as `seawatch ship`'s; the console's runbooks page shows them).
    pub executions: Vec<Executions>,
    /// Where the console listens.
    pub http_addr: SocketAddr,
    /// `DATA/initial-admin-password`.
    pub password_file: PathBuf,
    start_ms: i64,
    speed: Option<f64>,
    tick_ms: i64,
    health: Health,
}

impl Demo {
    /// Builds the ships, the shore and the console and starts serving; the scenario
    /// starts with [`Demo::play`].
    pub async fn start(opts: &DemoOptions) -> Result<Self, DemoError> {
        if opts.ships == 0 {
            return Err(DemoError::Usage("--ships: expected at least 1".into()));
        }
        std::fs::create_dir_all(&opts.data)
            .map_err(|e| DemoError::Usage(format!("--data {}: {e}", opts.data.display())))?;
        // The ships' logs and sync positions are the demo's own: start from nothing.
        let work = opts.data.join("demo");
        if work.exists() {
            std::fs::remove_dir_all(&work)
                .map_err(|e| DemoError::Usage(format!("--data {}: {e}", work.display())))?;
        }
        let scenario = scenario(opts.ships)?;
        // The starter runbooks and policy, written on first start (then the operator's to
        // edit: they are re-read every 5 s); each ship keeps its audit log and the mail
        // silences its runbooks add under DATA/demo (anew each start, like its log).
        let paths = RemediationPaths::under(&opts.data);
        provision_starters(&paths.runbooks, &paths.policies).map_err(|e| {
            DemoError::Usage(format!(
                "--data {}: starter runbooks: {e}",
                opts.data.display()
            ))
        })?;
        let (sessions, sessions_addr) = sessions_supervisor(ShardKey::new("shore"));
        let mut engines: Vec<RemediationService> = Vec::new();
        let mut metrics: Option<RemediationMetrics> = None;
        let fleet = SimFleet::start_with(
            &scenario,
            &FleetOptions {
                data: work.clone(),
                correlator: CorrelatorConfig::default(),
                log_fsync: None,
            },
            vec![sessions],
            |runtime, inventory, parts, ship_opts| {
                let ship = parts.ship.as_str();
                let fail = |e: String| SimError::Io(format!("ship {ship}: remediation: {e}"));
                // no SMTP relay in the demo: an outbox that only keeps silences (the
                // builtin driver's), nothing is mailed
                let outbox = Outbox::open(&work.join("outbox").join(ship))
                    .map_err(|e| fail(e.to_string()))?;
                let (kinds, _) = crate::ship::element_kinds(inventory);
                let service = remediation_service(RemediationArgs {
                    ship: parts.ship.clone(),
                    data: opts.data.clone(),
                    paths: RemediationPaths {
                        audit: work.join("audit").join(ship),
                        ..paths.clone()
                    },
                    metrics: metrics
                        .get_or_insert_with(|| RemediationMetrics::register(runtime.metrics()))
                        .clone(),
                    kinds,
                    links: inventory
                        .links
                        .iter()
                        .map(|l| (l.id.clone(), l.kind.clone(), l.primary))
                        .collect(),
                    clock: ship_opts.clock.clone(),
                    push: ship_opts.push.clone(),
                    incidents: ship_opts.board.clone(),
                    outbox: Some(Arc::new(parking_lot::Mutex::new(outbox))),
                    log: parts.log.clone(),
                    // the demo's simulated network gives each ship one sync link
                    sync_route: None,
                })
                .map_err(|e| fail(e.to_string()))?;
                let child = service.supervisor.clone();
                engines.push(service);
                Ok(vec![child])
            },
        )
        .await?;
        let start_ms = opts
            .start_ms
            .unwrap_or_else(|| fleet.runtime.clock().now_ms());
        let shore = ShoreSim::start(
            fleet
                .ships
                .iter()
                .zip(&scenario.ship)
                .map(|(s, sc)| ShoreShip {
                    id: s.id.clone(),
                    log: s.log.clone(),
                    profile: sync_link(&scenario, sc),
                    snapshot: Some(Arc::new(crate::sync::LiveShipState {
                        ship: s.id.clone(),
                        board: fleet.board.clone(),
                        push: fleet.push.clone(),
                        roster: s.roster().clone(),
                        // the demo's simulated network has one link per ship
                        route: None,
                    }) as Arc<dyn SyncSnapshotSource>),
                    cursor_every: None,
                })
                .collect(),
            work.join("sync"),
            start_ms,
            Some(fleet.push.clone()),
            Some(SyncMetrics::register(fleet.runtime.metrics())),
        )?;
        let fleet_view = shore.fleet();
        let metrics = fleet.runtime.metrics().clone();
        let console_metrics = ConsoleMetrics::register(&metrics);
        let auth = Auth::open(
            &opts.data,
            &AuthConfig::default(),
            fleet.runtime.clock().clone(),
            console_metrics.clone(),
        )?;
        let snapshots: Arc<dyn SnapshotSource> = Arc::new(FleetSnapshots {
            ships: scenario.ship.iter().map(|s| s.id.clone()).collect(),
            board: fleet.board.clone(),
            fleet: fleet_view.clone(),
            executions: engines.iter().map(|e| e.executions.clone()).collect(),
            push: fleet.push.clone(),
        });
        let ws = WsHub::new(
            fleet.push.clone(),
            snapshots,
            sessions_addr,
            console_metrics,
            WsConfig::default(),
        );
        let health = Health::of_tree(&fleet.runtime);
        let view = fleet_view.clone();
        // The ships' logs, searchable (GET /api/logs, decision 0049).
        let log_search = seawatch_console::logs::LogSearch::new(
            fleet.ships.iter().map(|s| s.log.clone()).collect(),
            seawatch_actors::store::IndexConfig::default(),
            fleet.runtime.clock().clone(),
            seawatch_console::logs::LogSearchMetrics::register(&metrics),
        );
        // The assistant over DATA/assistant (an SOP index built with `seawatch assistant
        // index --corpus DIR --data DATA`, or an empty one the indexer creates), with the
        // ships' resolved incidents and DATA/configs added as they come (decision 0061).
        let assistant = seawatch_assistant::api::AssistantHandle::new(opts.data.clone(), None);
        let indexer = crate::assistant_indexer::indexer_child(
            crate::assistant_indexer::IndexerArgs {
                handle: assistant.clone(),
                logs: fleet.ships.iter().map(|s| s.log.clone()).collect(),
                board: fleet.board.clone(),
                executions: engines.iter().map(|e| e.executions.clone()).collect(),
                configs: Some(opts.data.join("configs")),
                metrics: crate::assistant_indexer::IndexerMetrics::register(&metrics),
            },
            std::time::Duration::from_secs(2),
        );
        // Each ship's device, link and topology pages (issue 19).
        let elements = seawatch_console::elements::Elements::new(
            fleet
                .ships
                .iter()
                .map(|s| seawatch_console::elements::ShipElements {
                    ship: s.id.clone(),
                    roster: s.roster().clone(),
                    correlator: Some(s.correlator().clone()),
                })
                .collect(),
            fleet.board.clone(),
            log_search.clone(),
            fleet.runtime.clock().clone(),
        );
        // Open: /healthz, /metrics, /api/login and the UI's static files; the rest needs a
        // token (viewer).
        let app = http::router(metrics, health.clone())
            .merge(auth.routes())
            .merge(ws.routes(&auth))
            .merge(auth.protect(
                Role::Viewer,
                seawatch_actors::incident::api::routes(fleet.board.clone()),
            ))
            .merge(auth.protect(
                Role::Viewer,
                axum::Router::new().route("/api/fleet", get(move || fleet_json(view.clone()))),
            ))
            .merge(auth.protect(Role::Viewer, log_search.routes()))
            .merge(auth.protect(Role::Viewer, elements.routes()))
            .merge(seawatch_console::runbooks::routes(
                &auth,
                engines.iter().map(|e| e.api.clone()).collect(),
            ))
            .merge(auth.protect(Role::Viewer, seawatch_assistant::api::routes(assistant)))
            .merge(seawatch_console::ui::routes(
                seawatch_console::ui::Node::Demo,
            ));
        let listener = std::net::TcpListener::bind(opts.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| DemoError::Bind {
                addr: opts.listen,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| DemoError::Bind {
            addr: opts.listen,
            source,
        })?;
        // The console's server is a child of the fleet's tree: restarted if it fails,
        // stopped (first) with the tree.
        fleet
            .add_child(log_search.follower_child(std::time::Duration::from_secs(1)))
            .await?;
        fleet.add_child(indexer).await?;
        fleet.add_child(http_child(listener, app)).await?;
        health.set(true);
        Ok(Self {
            scenario,
            fleet,
            shore: Some(shore),
            fleet_view,
            auth,
            executions: engines.into_iter().map(|e| e.executions).collect(),
            http_addr,
            password_file: opts.data.join("initial-admin-password"),
            start_ms,
            speed: opts.speed,
            tick_ms: opts.tick_ms,
            health,
        })
    }

    /// Unix ms of the scenario's second 0.
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Plays the scenario from its start until `until_ms` (unix ms) or its end. After
    /// every barrier the shore's sync catches up to the barrier's time; this returns once
    /// it has caught up to the last one.
    pub async fn play(&self, until_ms: Option<i64>) -> Result<(), SimError> {
        let sim = Simulator::with_options(
            &self.scenario,
            SimOptions {
                start_ms: self.start_ms,
            },
        );
        let Some(shore) = &self.shore else {
            return Err(SimError::Io("the demo was stopped".into()));
        };
        let fleet = &self.fleet;
        let mut step = |t: i64| shore.step(t, fleet.horizons());
        play(
            fleet,
            sim,
            &PlayOptions {
                tick_ms: self.tick_ms,
                speed: self.speed,
                progress: false,
                until_ms,
            },
            &mut step,
        )
        .await?;
        shore.caught_up().await;
        Ok(())
    }

    /// Stops the console, the ships (in order) and the shore.
    pub async fn shutdown(mut self) {
        self.health.set(false);
        self.fleet.shutdown().await;
        // dropping the shore stops its thread without draining
        drop(self.shore.take());
    }
}

/// An HTTP server as a task child serving `listener` (bound once, so a restarted server
/// keeps its address): the demo's console and the shore's API.
pub(crate) fn http_child(listener: std::net::TcpListener, app: axum::Router) -> ChildSpec {
    let listener = Arc::new(listener);
    ChildSpec::task("http", "listener", move |mut stop| {
        let (listener, app) = (listener.clone(), app.clone());
        async move {
            let l = listener
                .try_clone()
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(|e| format!("http listener: {e}"))?;
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            tokio::select! {
                r = std::future::IntoFuture::into_future(axum::serve(l, app)) => Err(match r {
                    Ok(()) => "http server ended".to_string(),
                    Err(e) => format!("http server: {e}"),
                }),
                _ = stop.stopped() => Ok(()),
            }
        }
    })
}

async fn fleet_json(view: FleetView) -> Json<Vec<seawatch_actors::sync::shore::FleetShip>> {
    Json(view.ships())
}

/// What a WebSocket session gets instead of the deltas it missed: the incidents of the
/// ship it watches (or every ship) and the fleet view.
struct FleetSnapshots {
    ships: Vec<String>,
    board: IncidentBoard,
    fleet: FleetView,
    executions: Vec<Executions>,
    push: PushBus,
}

impl SnapshotSource for FleetSnapshots {
    fn ships(&self) -> Vec<String> {
        self.ships.clone()
    }

    fn snapshot(&self, ship: Option<&str>) -> futures::future::BoxFuture<'static, Vec<Push>> {
        let mut pushes: Vec<Push> = self
            .board
            .list(ship, StateFilter::All)
            .iter()
            .filter_map(|inc| {
                serde_json::to_value(IncidentView::from_incident(inc))
                    .ok()
                    .map(|body| Push {
                        kind: PushKind::Incident,
                        ship: Some(inc.ship.clone()),
                        body,
                    })
            })
            .collect();
        pushes.extend(self.fleet.pushes(ship));
        pushes.extend(
            self.executions
                .iter()
                .filter(|e| ship.is_none_or(|w| w == e.ship()))
                .flat_map(Executions::snapshot),
        );
        pushes.extend(self.push.latest_links(ship));
        Box::pin(async move { pushes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_demo_ship_sails_a_voyage_of_its_own() {
        let base = Scenario::parse_inventory(DEMO_SHIP, "demo ship").unwrap();
        let sc = scenario(10).unwrap();
        assert_eq!(sc.ship[0].route, base.route, "ship-1 keeps the inventory's");
        let first: Vec<&Vec<[f64; 2]>> = sc.ship[..DEMO_ROUTES.len()]
            .iter()
            .map(|s| &s.route)
            .collect();
        for (i, a) in first.iter().enumerate() {
            assert!(a.len() >= 2, "ship-{} sails", i + 1);
            for b in &first[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let mut back = sc.ship[0].route.clone();
        back.reverse();
        assert_eq!(sc.ship[8].route, back, "ship-9 sails ship-1's voyage back");
    }
}
