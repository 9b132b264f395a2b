//! Ship-to-shore sync in the `ship` and `shore` commands, over NATS JetStream.
//!
//! The ship's sync is a supervised child of the ship's subtree, restarted with backoff
//! after an error (it resumes from the positions persisted in `DATA/sync.cursor`); the
//! shore node runs a fleet supervisor with a mirror actor per ship it holds the lease of
//! (`seawatch_actors::sync::fleet`), and serves `GET /api/fleet` (asked of the mirrors),
//! the command, rollout and model routes next to `/metrics` and `/healthz`, and the web
//! console in its shore form (decision 0074): the fleet map, rollouts and models, live
//! over `/ws` (the mirrors push fleet changes, the rollout controller rollout changes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use seawatch_actors::incident::{IncidentBoard, StateFilter};
use seawatch_actors::log_service::LogReader;
use seawatch_actors::push::{Push, PushBus, PushKind};
use seawatch_actors::rollout::agent::{
    agent_child, AgentArgs, BundleTargets, IncidentProbe, ShipConnector,
};
use seawatch_actors::rollout::bundle::BundleStore;
use seawatch_actors::rollout::controller::{
    controller_child, ControllerArgs, RolloutMetrics, RolloutMsg, ShoreConnector,
};
use seawatch_actors::rollout::nats::{NatsShipLink, NatsShoreLink, ShipLink, ShoreLink};
use seawatch_actors::roster::Roster;
use seawatch_actors::store::clickhouse::ClickHouseConfig;
use seawatch_actors::sync::actor::{sync_child, Connector, SyncArgs};
use seawatch_actors::sync::clickhouse::ClickHouseFleetStore;
use seawatch_actors::sync::downsample::DownsampleConfig;
use seawatch_actors::sync::fleet::FleetView;
use seawatch_actors::sync::metrics::SyncMetrics;
use seawatch_actors::sync::nats::{
    check_server, connect_ship, run_shore_node, NatsError, ShipSource, ShoreNodeConfig, ShoreShared,
};
use seawatch_actors::sync::route::SyncRoute;
use seawatch_actors::sync::ship::SyncConfig;
use seawatch_actors::sync::ship::{CommandHandler, SnapshotSource};
use seawatch_actors::sync::shore::{fleet_command_router, fleet_read_router, FleetApi};
use seawatch_actors::sync::wire::{LinkSnapshot, ShipSnapshot};
use seawatch_console::rollouts::RolloutApi;
use seawatch_console::{
    sessions_supervisor, Auth, AuthConfig, ConsoleMetrics, Role, SnapshotSource as WsSnapshots,
    WsConfig, WsHub,
};
use seawatch_runtime::http::{self, Health};
use seawatch_runtime::supervision::{
    start_root, Addr, Backoff, ChildSpec, Restart, Strategy, SupervisorSpec,
};
use seawatch_runtime::{Clock, Runtime, ShardKey};
use tokio::sync::watch;

use crate::config::{ShipConfig, ShoreConfig};

/// What a running ship tells shore in its sync snapshots (the fleet view): its links'
/// states as last pushed, its open incidents and its position.
pub struct LiveShipState {
    /// Ship id.
    pub ship: String,
    /// The ship's incidents.
    pub board: IncidentBoard,
    /// The push bus (it keeps each link's latest state).
    pub push: PushBus,
    /// The roster (it keeps the ship's position).
    pub roster: Roster,
    /// The sync's route: the link it rides, as the running sync reports it.
    pub route: Option<SyncRoute>,
}

impl SnapshotSource for LiveShipState {
    fn snapshot(&self, now_ms: i64) -> ShipSnapshot {
        let mut links: Vec<LinkSnapshot> = self
            .push
            .latest_links_shared(Some(&self.ship))
            .iter()
            .filter_map(|p| {
                Some(LinkSnapshot {
                    id: p.body.get("link")?.as_str()?.to_owned(),
                    status: p.body.get("state")?.as_str()?.to_owned(),
                })
            })
            .collect();
        links.sort_by(|a, b| a.id.cmp(&b.id));
        ShipSnapshot {
            at_ms: now_ms,
            links,
            open_incidents: self
                .board
                .list(Some(&self.ship), StateFilter::Open)
                .into_iter()
                .map(|i| i.id)
                .collect(),
            devices_down: 0,
            backlog_events: 0,
            position: self.roster.position(),
            sync_link: self.route.as_ref().and_then(SyncRoute::active),
        }
    }

    /// Its links' states, open incidents and active link, hashed: a change sends a
    /// snapshot within about a second (decision 0071).
    fn fingerprint(&self) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut links: Vec<(String, String)> = self
            .push
            .latest_links_shared(Some(&self.ship))
            .iter()
            .map(|p| {
                let field = |k: &str| p.body.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                (field("link").to_owned(), field("state").to_owned())
            })
            .collect();
        links.sort();
        links.hash(&mut h);
        for i in self.board.list(Some(&self.ship), StateFilter::Open) {
            i.id.hash(&mut h);
        }
        self.route.as_ref().and_then(SyncRoute::active).hash(&mut h);
        Some(h.finish())
    }

    /// A link of the ship whose link actor last pushed `degraded` (Es/No under the
    /// degraded threshold with hysteresis, or a locked link whose margin is eroding).
    fn link_degraded(&self) -> bool {
        self.push
            .latest_links_shared(Some(&self.ship))
            .iter()
            .any(|p| p.body.get("state").and_then(|s| s.as_str()) == Some("degraded"))
    }

    /// The earliest outage the link actors predict (their `LinkRisk` alert firing, with
    /// a predicted start) on the link sync rides, or on any link while sync reports
    /// none. Its end is the predicted one, or [`DEFAULT_OUTAGE_MS`] after the start when
    /// the cause gives none (a rain fade).
    fn predicted_outage(&self, now_ms: i64) -> Option<(i64, i64)> {
        let riding = self.route.as_ref().and_then(SyncRoute::active);
        predicted_outage_of(
            &self.push.latest_links_shared(Some(&self.ship)),
            riding.as_deref(),
        )
        .filter(|(_, end)| *end + seawatch_actors::sync::ship::OUTAGE_HOLD_AFTER_MS > now_ms)
    }
}

/// How long an outage whose cause predicts no end (rain) is assumed to last, ms.
pub const DEFAULT_OUTAGE_MS: i64 = 10 * 60_000;

/// The earliest predicted outage in the link pushes `links` (see
/// [`SnapshotSource::predicted_outage`] of [`LiveShipState`]): of link `riding` only
/// when given; an outage without a predicted end lasts [`DEFAULT_OUTAGE_MS`].
pub fn predicted_outage_of<P: std::borrow::Borrow<seawatch_actors::push::Push>>(
    links: &[P],
    riding: Option<&str>,
) -> Option<(i64, i64)> {
    crate::remediation::predicted_outages(links)
        .into_iter()
        .filter(|p| riding.is_none_or(|r| p.link == r))
        .map(|p| {
            let end = p.end_ms.unwrap_or(p.start_ms + DEFAULT_OUTAGE_MS);
            (p.start_ms, end.max(p.start_ms))
        })
        .min()
}

/// The ship's sync actor over NATS (`cfg.nats`), a child of the ship's subtree; `None`
/// without `[nats]`. Its snapshots come from `state`; it rides the link `route` names;
/// shore's commands go to `commands`.
pub fn ship_sync_child(
    cfg: &ShipConfig,
    log: LogReader,
    runtime: &Runtime,
    state: Arc<dyn SnapshotSource>,
    route: SyncRoute,
    commands: Arc<dyn CommandHandler>,
) -> Option<ChildSpec> {
    let url = cfg.nats.as_ref()?.url.clone();
    let mut sync = SyncConfig::new(cfg.data.join("sync.cursor"));
    sync.link_share = cfg.sync.link_share;
    sync.downsample = cfg.sync.downsample.as_ref().map(|d| {
        let mut c = DownsampleConfig::new(d.families.clone());
        c.poor_after = Duration::from_secs_f64(d.poor_backlog_s);
        c
    });
    let capacity = (cfg.sync.capacity_mbps * 1e6 / 8.0) as u64;
    let ship = cfg.ship.clone();
    let connect: Connector = Arc::new(move || {
        let (url, ship) = (url.clone(), ship.clone());
        Box::pin(async move {
            match connect_ship(&url, &ship, Some(capacity)).await {
                Ok(conn) => Ok(conn),
                Err(e @ NatsError::ServerTooOld { .. }) => {
                    // The `ship` command's own version check reports this once and
                    // exits 2 (`check_nats_version`); give it the time to, rather than
                    // log the same line from the sync's retry loop as well.
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Err(e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        })
    });
    let (child, _addr) = sync_child(SyncArgs {
        log,
        config: sync,
        connect,
        clock: runtime.clock().clone(),
        metrics: Some(SyncMetrics::register(runtime.metrics())),
        commands: Some(commands),
        snapshot: Some(state),
        route: Some(route),
    });
    Some(child)
}

/// How long a node waits at start for the NATS server's version before it starts anyway.
const VERSION_WAIT: Duration = Duration::from_secs(1);

/// A NATS server version check started by [`check_nats_version`] that had no answer yet.
pub struct PendingVersionCheck(tokio::task::JoinHandle<Result<String, NatsError>>);

impl PendingVersionCheck {
    /// Resolves with the error if the server turns out too old; never resolves otherwise.
    pub async fn too_old(self) -> NatsError {
        match self.0.await {
            Ok(Err(e @ NatsError::ServerTooOld { .. })) => e,
            _ => std::future::pending().await,
        }
    }
}

/// Checks the version of the NATS server at `url` before a node starts: waits up to a
/// second for its INFO. `Err` when the server is too old (the caller exits 2 before
/// writing anything); `Ok(Some(_))` when it has not answered yet (a ship starts
/// offline), to be watched while the node runs; `Ok(None)` otherwise (new enough, or a
/// problem the node's own connect reports).
pub async fn check_nats_version(url: &str) -> Result<Option<PendingVersionCheck>, NatsError> {
    let url = url.to_owned();
    let mut check = tokio::spawn(async move { check_server(&url).await });
    match tokio::time::timeout(VERSION_WAIT, &mut check).await {
        Ok(Ok(Err(e @ NatsError::ServerTooOld { .. }))) => Err(e),
        Ok(_) => Ok(None),
        Err(_) => Ok(Some(PendingVersionCheck(check))),
    }
}

/// Opens the fleet store in ClickHouse. A bad config is an error at once; an unreachable
/// server is retried (with backoff, up to about a minute), as ClickHouse may still be
/// starting.
async fn open_clickhouse(c: ClickHouseConfig) -> Result<Arc<ClickHouseFleetStore>, String> {
    use seawatch_actors::store::clickhouse::SinkError;
    let mut backoff = Duration::from_millis(250);
    let mut waited = Duration::ZERO;
    loop {
        match ClickHouseFleetStore::open(c.clone()).await {
            Ok(s) => return Ok(s),
            Err(e @ SinkError::InvalidConfig(_)) => return Err(e.to_string()),
            Err(e) if waited >= Duration::from_secs(60) => return Err(e.to_string()),
            Err(e) => {
                tracing::warn!(error = %e, "shore: clickhouse not reachable yet; retrying");
                tokio::time::sleep(backoff).await;
                waited += backoff;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Runs a shore node until SIGINT/SIGTERM; returns the exit status.
pub async fn run_shore(
    cfg: ShoreConfig,
    url: String,
    listen: SocketAddr,
    data: &std::path::Path,
) -> i32 {
    // Refuse a server too old for our JetStream client before writing anything. One
    // that answers later is refused by the node loop below.
    if let Err(e) = check_nats_version(&url).await {
        eprintln!("seawatch shore: {e}");
        return crate::exit::EXIT_USAGE;
    }
    let clock = Clock::system();
    // The node's actors (fleet supervisor, mirrors) report on the same /metrics.
    let runtime = Runtime::new(clock.clone());
    let metrics = runtime.metrics().clone();
    // 200 once the tree is up and while none of its permanent children is down.
    let health = Health::of_tree(&runtime);
    let clickhouse = match &cfg.clickhouse {
        None => None,
        Some(ch) => {
            let mut c = ClickHouseConfig::new(ch.url.clone());
            c.database = ch.database.clone();
            c.table = ch.table.clone();
            c.user = ch.user.clone();
            c.password = ch.password.clone();
            match open_clickhouse(c).await {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("seawatch shore: clickhouse: {e}");
                    return crate::exit::EXIT_USAGE;
                }
            }
        }
    };
    let sync_metrics = SyncMetrics::register(&metrics);
    for s in &cfg.ships {
        sync_metrics.shore_sources(&s.id);
    }
    let victoriametrics = match &cfg.victoriametrics {
        None => None,
        Some(vm) => {
            use seawatch_actors::store::victoriametrics::{VmConfig, VmMetrics};
            let vm_metrics = VmMetrics::register(&metrics);
            for s in &cfg.ships {
                vm_metrics.ship(&s.id);
            }
            match seawatch_actors::sync::victoriametrics::ShoreVm::new(
                &VmConfig::new(vm.url.clone()),
                Some(vm_metrics),
            ) {
                Ok(v) => Some(v),
                Err(e) => {
                    eprintln!("seawatch shore: victoriametrics: {e}");
                    return crate::exit::EXIT_USAGE;
                }
            }
        }
    };
    let traces = match crate::config::OtelSection::traces(&cfg.otel, "seawatch-shore", &cfg.node) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("seawatch shore: {e}");
            return crate::exit::EXIT_USAGE;
        }
    };
    // Fleet and rollout changes for the console's WebSocket sessions.
    let push = PushBus::new(1024);
    // GET /api/logs at shore: the ships' logs in ClickHouse, or a 501 saying it needs
    // ClickHouse (decision 0077).
    let log_routes = match &clickhouse {
        Some(store) => seawatch_console::logs::LogSearch::clickhouse(
            store.clone(),
            cfg.ships.iter().map(|s| s.id.clone()).collect(),
            clock.clone(),
            seawatch_console::logs::LogSearchMetrics::register(&metrics),
        )
        .routes(),
        None => seawatch_console::logs::not_configured_routes(),
    };
    let shared = ShoreShared {
        push: Some(push.clone()),
        metrics: Some(sync_metrics),
        traces: traces.clone(),
        clickhouse,
        victoriametrics,
        runtime: Some(runtime.clone()),
        ..Default::default()
    };
    let node_cfg = ShoreNodeConfig {
        url: url.clone(),
        node: cfg.node.clone(),
        ships: cfg
            .ships
            .iter()
            .map(|s| ShipSource {
                ship: s.id.clone(),
                domain: s.domain.clone().unwrap_or_else(|| s.id.clone()),
            })
            .collect(),
        replicas: cfg.replicas,
        lease: Duration::from_secs_f64(cfg.lease_s),
    };
    let listener = match std::net::TcpListener::bind(listen).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("seawatch shore: http {listen}: {e}");
            return crate::exit::EXIT_USAGE;
        }
    };
    // Every route but /healthz, /metrics and /api/login needs a token (contracts §2):
    // viewers read the fleet, operators send commands to ships.
    if let Err(e) = std::fs::create_dir_all(data) {
        eprintln!("seawatch shore: --data {}: {e}", data.display());
        return crate::exit::EXIT_USAGE;
    }
    let console_metrics = ConsoleMetrics::register(&metrics);
    let auth = match Auth::open(
        data,
        &AuthConfig::default(),
        clock.clone(),
        console_metrics.clone(),
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("seawatch shore: {e}");
            return crate::exit::EXIT_USAGE;
        }
    };
    let api = FleetApi {
        fleet: shared.fleet.clone(),
        commands: shared.commands.clone(),
        clock: clock.clone(),
    };
    // Rollouts (contracts §10): bundles in DATA/bundles, the journal in DATA/rollouts.
    let (rollouts, rollout_api) =
        match rollout_controller(&cfg, &url, data, &clock, &metrics, push.clone()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("seawatch shore: {e}");
                return crate::exit::EXIT_USAGE;
            }
        };
    // The model registry (decision 0065): its API, and the gate evaluator child.
    let (evaluator, model_api) =
        crate::models::shore_registry(&url, cfg.replicas, &rollout_api, &clock, &metrics);
    // The console's live side: a supervised session per WebSocket; a new or lagging
    // session gets the fleet and (admins) the rollouts as they stand.
    let (sessions, sessions_addr) = sessions_supervisor(ShardKey::new("shore"));
    let ws = WsHub::new(
        push,
        Arc::new(ShoreSnapshots {
            ships: cfg.ships.iter().map(|s| s.id.clone()).collect(),
            fleet: shared.fleet.clone(),
            rollouts: rollout_api.controller.clone(),
        }),
        sessions_addr,
        console_metrics,
        WsConfig::default(),
    );
    let app = http::router(metrics.clone(), health.clone())
        .merge(auth.routes())
        .merge(ws.routes(&auth))
        .merge(seawatch_console::models::routes(&auth, model_api))
        .merge(auth.protect(Role::Viewer, fleet_read_router(api.clone())))
        .merge(auth.protect(Role::Viewer, log_routes))
        .merge(auth.protect(Role::Operator, fleet_command_router(api)))
        .merge(seawatch_console::rollouts::routes(&auth, rollout_api))
        // runbook proposals to ships (commands over the sync) and their executions as
        // the ships' audit records tell them
        .merge(seawatch_console::shore_runbooks::routes(
            &auth,
            seawatch_console::shore_runbooks::ShoreRunbookApi {
                commands: shared.commands.clone(),
                executions: shared.executions.clone(),
                clock: clock.clone(),
            },
        ))
        // the web console, in its shore form (decision 0074)
        .merge(seawatch_console::ui::routes(
            seawatch_console::ui::Node::Shore,
        ));
    // The tree: the HTTP server and the node loop are its children, so a server that
    // dies is restarted and /healthz says so meanwhile, and the node's retries (the
    // cluster may still be electing its JetStream leader, or be unreachable for a while)
    // are the supervisor's backoff, not a loop of ours.
    let (too_old_tx, mut too_old) = watch::channel::<Option<String>>(None);
    let spec = SupervisorSpec::new("shore", ShardKey::new("shore"))
        .strategy(Strategy::OneForOne)
        // Up to about 6 restarts a minute at the capped backoff, for as long as it takes.
        .intensity(1_000, Duration::from_secs(3_600))
        .backoff(Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
            ..Backoff::default()
        })
        .child(sessions)
        .child(crate::demo::http_child(listener, app))
        .child(rollouts)
        .child(evaluator)
        .child(shore_node_child(node_cfg, shared, clock, too_old_tx));
    let (root, root_ended) = match start_root(spec, runtime).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("seawatch shore: {e}");
            return 1;
        }
    };
    health.set(true);
    println!("{}", sourcing_line(&cfg));
    println!("  console: http://{listen}/ (API: http://{listen}/api/fleet)");
    let pw = data.join("initial-admin-password");
    if pw.exists() {
        println!("  sign in: user admin, first password in {}", pw.display());
    }
    let status = tokio::select! {
        _ = crate::exit::wait_for_shutdown_signal() => 0,
        // A server too old for our JetStream client is not going to get newer: say so
        // once and exit 2 instead of retrying.
        Ok(e) = too_old.wait_for(Option::is_some) => {
            eprintln!("seawatch shore: {}", e.as_deref().unwrap_or_default());
            crate::exit::EXIT_USAGE
        }
        _ = root_ended => {
            eprintln!("seawatch shore: the supervision tree gave up");
            1
        }
    };
    root.shutdown().await;
    if traces.is_on() {
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    status
}

/// The rollout controller child and the API's view of it: ids prefixed with the node's
/// name, the fleet of the config's `[[ship]]` tables, the NATS link at `url`.
fn rollout_controller(
    cfg: &ShoreConfig,
    url: &str,
    data: &std::path::Path,
    clock: &Clock,
    metrics: &seawatch_runtime::Metrics,
    push: PushBus,
) -> Result<(ChildSpec, RolloutApi), String> {
    let bundles = BundleStore::open(&data.join("bundles")).map_err(|e| e.to_string())?;
    let rollout_metrics = RolloutMetrics::register(metrics);
    let (url, replicas, node) = (url.to_owned(), cfg.replicas, cfg.node.clone());
    // a rollout's lease runs out as a ship's does: another node takes it over then
    let lease = Duration::from_secs_f64(cfg.lease_s);
    let connect: ShoreConnector = Arc::new(move || {
        let (url, node) = (url.clone(), node.clone());
        Box::pin(async move {
            let link = NatsShoreLink::connect(&url, replicas, &node)
                .await?
                .with_leases(lease, replicas)
                .await?;
            Ok(Arc::new(link) as Arc<dyn ShoreLink>)
        })
    });
    let (child, controller) = controller_child(ControllerArgs {
        id_prefix: cfg.node.clone(),
        dir: data.join("rollouts"),
        bundles: bundles.clone(),
        fleet: cfg.ships.iter().map(|s| s.id.clone()).collect(),
        clock: clock.clone(),
        tick: Duration::from_secs(1),
        grace_ms: 30_000,
        connect,
        metrics: rollout_metrics.clone(),
        // the journal in JetStream and a lease per rollout (decision 0067)
        failover: true,
        // every change to the console's sessions (decision 0074)
        push: Some(push),
    });
    Ok((
        child,
        RolloutApi {
            controller,
            bundles,
            metrics: rollout_metrics,
        },
    ))
}

/// What a shore console session gets on subscribing (and in place of pushes it lagged
/// behind on): the fleet view and every rollout (the sessions pass rollouts to admins
/// only).
struct ShoreSnapshots {
    ships: Vec<String>,
    fleet: FleetView,
    rollouts: Addr<RolloutMsg>,
}

impl WsSnapshots for ShoreSnapshots {
    fn ships(&self) -> Vec<String> {
        self.ships.clone()
    }

    fn snapshot(&self, ship: Option<&str>) -> futures::future::BoxFuture<'static, Vec<Push>> {
        let mut pushes: Vec<Push> = self.fleet.pushes(ship);
        let rollouts = self.rollouts.clone();
        Box::pin(async move {
            // A controller busy or between incarnations: the pushes that follow tell.
            if let Ok(all) = rollouts
                .call(RolloutMsg::List, Duration::from_secs(2))
                .await
            {
                pushes.extend(all.into_iter().filter_map(|r| {
                    serde_json::to_value(r).ok().map(|body| Push {
                        kind: PushKind::Rollout,
                        ship: None,
                        body,
                    })
                }));
            }
            pushes
        })
    }
}

/// The bundle agent of a ship with `[nats]`: deliveries from shore's `SW_ROLLOUT` stream
/// through the ship's leaf (shore's JetStream domain `shore`), into the runbook and policy
/// folders of the config (the remediation reloads them) or under `DATA`.
pub fn ship_bundle_agent(
    cfg: &ShipConfig,
    runtime: &Runtime,
    reload: seawatch_actors::rollout::agent::OnApplied,
    incidents: IncidentProbe,
) -> Option<ChildSpec> {
    let url = cfg.nats.as_ref()?.url.clone();
    // the bulk lane's share of the link (`[nats] bulk_bytes_per_s`)
    let bulk = cfg.nats.as_ref()?.bulk_bytes_per_s;
    let mut targets = BundleTargets::under(&cfg.data);
    if let Some(d) = &cfg.runbooks.dir {
        targets.runbooks = d.clone();
    }
    if let Some(d) = &cfg.policy.dir {
        targets.policies = d.clone();
    }
    let ship = cfg.ship.clone();
    // chunks of a large bundle wait here for the rest, across link drops and restarts
    let chunks = cfg.data.join("bundle-chunks");
    let connect: ShipConnector = Arc::new(move || {
        let (url, ship, chunks) = (url.clone(), ship.clone(), chunks.clone());
        Box::pin(async move {
            let link = NatsShipLink::connect(&url, &ship, Some("shore"))
                .await?
                .with_chunk_dir(chunks)
                .with_bulk_rate(bulk);
            Ok(Arc::new(link) as Arc<dyn ShipLink>)
        })
    });
    let tree = runtime.clone();
    let (child, _) = agent_child(AgentArgs {
        ship: cfg.ship.clone(),
        dir: cfg.data.join("bundles"),
        targets,
        connect,
        clock: runtime.clock().clone(),
        poll: Duration::from_secs(2),
        // The ship is healthy while none of its supervision tree's permanent children
        // is down (what /healthz says).
        health: Arc::new(move || match tree.children_down() {
            0 => Ok(()),
            n => Err(format!("{n} supervised children down")),
        }),
        on_applied: reload,
        incidents,
    });
    Some(child)
}

/// The shore node loop as a task child: an error fails the child and the supervisor
/// restarts it after its backoff; a server too old for our client is reported on
/// `too_old` and ends the child normally (transient: not restarted).
fn shore_node_child(
    cfg: ShoreNodeConfig,
    shared: ShoreShared,
    clock: Clock,
    too_old: watch::Sender<Option<String>>,
) -> ChildSpec {
    ChildSpec::task("node", "shore", move |mut stop| {
        let (cfg, shared, clock, too_old) =
            (cfg.clone(), shared.clone(), clock.clone(), too_old.clone());
        async move {
            let (stop_tx, stop_rx) = watch::channel(false);
            let run = run_shore_node(cfg, shared, clock, stop_rx);
            tokio::pin!(run);
            let result = tokio::select! {
                r = &mut run => r,
                _ = stop.stopped() => {
                    let _ = stop_tx.send(true);
                    run.await
                }
            };
            match result {
                Ok(()) => Ok(()),
                Err(e @ NatsError::ServerTooOld { .. }) => {
                    too_old.send_replace(Some(e.to_string()));
                    Ok(())
                }
                Err(e) => {
                    tracing::warn!(error = %e, "shore node: restarting");
                    Err(e.to_string())
                }
            }
        }
    })
    .restart(Restart::Transient)
}

/// At most this many ship ids are listed in the shore's start line.
const LISTED_SHIPS: usize = 20;

/// The shore's start line: which ships it sources, or, with no `[[ship]]` table, that it
/// serves none and how to add one.
fn sourcing_line(cfg: &ShoreConfig) -> String {
    let node = &cfg.node;
    if cfg.ships.is_empty() {
        return format!(
            "seawatch shore {node}: serves 0 ships: add a [[ship]] table per ship to the \
             --config file (id = \"SHIP\", and domain = \"DOMAIN\" when its leaf's JetStream \
             domain is not its id)"
        );
    }
    let mut ids: Vec<&str> = cfg.ships.iter().map(|s| s.id.as_str()).collect();
    let more = ids.len().saturating_sub(LISTED_SHIPS);
    ids.truncate(LISTED_SHIPS);
    let mut list = ids.join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    format!(
        "seawatch shore {node}: sources {} ship{}: {list}",
        cfg.ships.len(),
        if cfg.ships.len() == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shore(toml: &str) -> ShoreConfig {
        ShoreConfig::parse(toml, "test.toml").unwrap()
    }

    #[test]
    fn the_start_line_names_the_ships_sourced() {
        let cfg =
            shore("node = \"shore-a\"\n[[ship]]\nid = \"aurora\"\n[[ship]]\nid = \"borealis\"\n");
        assert_eq!(
            sourcing_line(&cfg),
            "seawatch shore shore-a: sources 2 ships: aurora, borealis"
        );
    }

    #[test]
    fn without_ship_tables_the_shore_says_it_serves_none_and_how_to_add_them() {
        let line = sourcing_line(&shore("node = \"shore-a\"\n"));
        assert!(line.starts_with("seawatch shore shore-a: serves 0 ships: add a [[ship]] table"));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_long_fleet_is_listed_in_one_bounded_line() {
        let mut toml = String::from("node = \"n\"\n");
        for i in 0..500 {
            toml.push_str(&format!("[[ship]]\nid = \"ship-{i}\"\n"));
        }
        let line = sourcing_line(&shore(&toml));
        assert!(line.starts_with("seawatch shore n: sources 500 ships: ship-0, ship-1,"));
        assert!(line.ends_with("ship-19 and 480 more"), "{line}");
    }
}
