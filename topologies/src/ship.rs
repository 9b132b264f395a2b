//! A ship's supervision tree.
//!
//! The tree holds dynamic supervisors: `devices` and `links` (one actor per inventoried
//! device or link) and `detectors` (one detector actor per device, plus the ship's
//! peer actor `_peers`). Each
//! ship is one shard: every actor below is registered under the ship's id.

use std::time::Duration;

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;
use seawatch_actors::alert::AlertSink;
use seawatch_actors::detect::actor::{DetectorConfig, DetectorMetrics, DetectorWiring};
use seawatch_actors::detect::peer::{peer_child, PeerArgs, PeerConfig};
use seawatch_actors::device::DeviceMsg;
use seawatch_actors::incident::api::IncidentView;
use seawatch_actors::incident::StateFilter;
use seawatch_actors::incident::{
    correlator_child, sink_to, CorrelatorArgs, CorrelatorConfig, CorrelatorMsg, IncidentBoard,
    IncidentMetrics,
};
use seawatch_actors::ingest::listen;
use seawatch_actors::ingest::metrics::IngestMetrics;
use seawatch_actors::ingest::pipeline::{
    queue, writer_child, IngestSender, PipelineConfig, Router, WriterArgs,
};
use seawatch_actors::inventory::Inventory;
use seawatch_actors::link::LinkMetrics;
use seawatch_actors::push::{Push, PushBus, PushKind};
use seawatch_actors::runbook::{ApprovalBoard, RunbookMetrics};
use seawatch_actors::store::actor::{exporter_child, ExporterArgs};
use seawatch_actors::store::clickhouse::{ClickHouseConfig, ExporterConfig};
use seawatch_console::{
    sessions_supervisor, Access, Auth, ConsoleMetrics, ConsoleRuntime, Role, SnapshotSource,
    WsConfig, WsHub,
};
use seawatch_runtime::event_log::EventLog;
use seawatch_runtime::http::{self, Health};
use seawatch_runtime::supervision::{
    start_root, Addr, Backoff, ChildSpec, Strategy, SupervisorHandle, SupervisorMsg, SupervisorSpec,
};
use seawatch_runtime::{Clock, Metrics, Runtime, RuntimeError, ShipId};
use tokio::task::JoinHandle;

use crate::config::ShipConfig;

/// Handles to a ship tree's dynamic supervisors.
#[derive(Debug, Clone)]
pub struct ShipTree {
    /// The ship.
    pub ship: ShipId,
    /// Supervisor of the device actors.
    pub devices: Addr<SupervisorMsg>,
    /// Supervisor of the link actors.
    pub links: Addr<SupervisorMsg>,
    /// Supervisor of the detector actors.
    pub detectors: Addr<SupervisorMsg>,
}

fn dynamic(name: &'static str, ship: &ShipId) -> (ChildSpec, Addr<SupervisorMsg>) {
    let ship = ship.clone();
    ChildSpec::supervisor(name, move || {
        SupervisorSpec::new(name, &ship)
            .strategy(Strategy::OneForOne)
            // Many independent children: tolerate a storm of restarts before escalating.
            .intensity(1_000, Duration::from_secs(60))
            .backoff(Backoff::default())
    })
}

/// The dynamic supervisors of a ship (devices, links, detectors), in start order, and
/// their addresses.
pub fn ship_supervisors(ship: &ShipId) -> (Vec<ChildSpec>, ShipTree) {
    let (devices, devices_addr) = dynamic("devices", ship);
    let (links, links_addr) = dynamic("links", ship);
    let (detectors, detectors_addr) = dynamic("detectors", ship);
    (
        vec![devices, links, detectors],
        ShipTree {
            ship: ship.clone(),
            devices: devices_addr,
            links: links_addr,
            detectors: detectors_addr,
        },
    )
}

/// A ship's subtree (one shard) over `children`, in start order.
pub fn ship_subtree_of(ship: &ShipId, children: Vec<ChildSpec>) -> ChildSpec {
    let ship2 = ship.clone();
    let (spec, _addr) = ChildSpec::supervisor(ship.as_str(), move || {
        // rest_for_one: the device and link actors come before what consumes their
        // samples, so a restart of one restarts what depends on it, in order.
        let mut spec = SupervisorSpec::new(&format!("ship:{ship2}"), &ship2)
            .strategy(Strategy::RestForOne)
            .intensity(10, Duration::from_secs(60));
        for c in &children {
            spec = spec.child(c.clone());
        }
        spec
    });
    spec.in_shard(ship)
}

/// The spec of one ship's subtree (a shard) and handles to its dynamic supervisors;
/// `extra` children start after them, in order.
pub fn ship_subtree(ship: &ShipId, extra: Vec<ChildSpec>) -> (ChildSpec, ShipTree) {
    let (mut children, tree) = ship_supervisors(ship);
    children.extend(extra);
    (ship_subtree_of(ship, children), tree)
}

/// Starts the ship's peer actor under the `detectors` supervisor and returns what the
/// router needs to give every device a detector actor raising alerts to `sink`.
pub async fn start_detectors(
    tree: &ShipTree,
    metrics: &Metrics,
    sink: AlertSink,
) -> Result<DetectorWiring, RuntimeError> {
    let ship = tree.ship.as_str().to_string();
    let detector_metrics = DetectorMetrics::register(metrics);
    let config = Arc::new(DetectorConfig::default());
    let (peer, peer_addr) = peer_child(PeerArgs {
        ship: ship.clone(),
        config: PeerConfig {
            window_ms: config.summary_ms,
            ..PeerConfig::default()
        },
        sink: sink.clone(),
        metrics: Some(detector_metrics.clone()),
        firing: Default::default(),
    });
    match tree
        .detectors
        .call(
            |r| SupervisorMsg::AddChild(peer, r),
            Duration::from_secs(10),
        )
        .await?
    {
        Ok(()) | Err(RuntimeError::DuplicateChild(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(DetectorWiring {
        supervisor: tree.detectors.clone(),
        ship,
        config,
        sink,
        peer: Some(peer_addr),
        metrics: Some(detector_metrics),
    })
}

/// A running ship edge node: supervision tree, event log, ingest listeners and HTTP.
pub struct ShipNode {
    /// Shared runtime services.
    pub runtime: Runtime,
    /// The root supervisor.
    pub root: SupervisorHandle,
    /// Handles to the ship's dynamic supervisors.
    pub tree: ShipTree,
    /// The durable event log.
    pub log: Arc<RwLock<EventLog>>,
    /// Finds device and link actors.
    pub router: Arc<Router>,
    /// The listeners' queue.
    pub sender: IngestSender,
    /// Ingest metrics.
    pub metrics: IngestMetrics,
    /// `/healthz` state.
    pub health: Health,
    /// Users, tokens and the ingest token of the HTTP API.
    pub auth: Auth,
    /// State changes pushed to the console's WebSocket sessions.
    pub push: PushBus,
    /// Where the HTTP server listens.
    pub http_addr: SocketAddr,
    /// Where the syslog TCP listener listens.
    pub syslog_tcp_addr: SocketAddr,
    /// Where the syslog UDP listener listens.
    pub syslog_udp_addr: SocketAddr,
    /// The ship's incidents (`GET /api/incidents` reads it).
    pub incidents: IncidentBoard,
    /// The ship's correlator.
    pub correlator: Addr<CorrelatorMsg>,
    /// Runbook executions waiting for (or past) an operator's approval.
    pub runbooks: ApprovalBoard,
    tasks: Vec<JoinHandle<()>>,
}

/// Why a ship node could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShipStartError {
    /// The event log could not be opened.
    #[error("event log in {path}: {source}")]
    EventLog {
        /// Its directory.
        path: String,
        /// The error.
        source: seawatch_runtime::event_log::EventLogError,
    },
    /// A listener could not bind.
    #[error("{what} {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The supervision tree did not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// Users or tokens could not be loaded or created.
    #[error(transparent)]
    Auth(#[from] seawatch_console::auth::AuthError),
}

impl ShipNode {
    /// Starts a ship node from `cfg` with `inventory`.
    pub async fn start(
        cfg: &ShipConfig,
        inventory: Inventory,
        clock: Clock,
    ) -> Result<Self, ShipStartError> {
        let runtime = Runtime::new(clock.clone());
        let ship = ShipId::new(&cfg.ship);
        let log_cfg = cfg.event_log_config().map_err(ShipStartError::Config)?;
        let log_dir = cfg.data.join("eventlog").join(&cfg.ship);
        let log = EventLog::open(&log_dir, log_cfg).map_err(|source| ShipStartError::EventLog {
            path: log_dir.display().to_string(),
            source,
        })?;
        let log = Arc::new(RwLock::new(log));
        let metrics = IngestMetrics::register(runtime.metrics(), &cfg.ship);
        let link_metrics = LinkMetrics::register(runtime.metrics());
        let pipeline = PipelineConfig::default();
        let (sender, slot) = queue(&pipeline, metrics.clone());

        // The router needs the device and link supervisors' addresses, which exist before
        // the tree starts and follow every restart.
        let (mut children, tree) = ship_supervisors(&ship);
        let mut inventory = inventory;
        inventory.ship = cfg.ship.clone();
        let incidents = IncidentBoard::new();
        let push = PushBus::default();
        let (correlator, correlator_addr) = correlator_child(CorrelatorArgs {
            ship: cfg.ship.clone(),
            inventory: inventory.clone(),
            config: CorrelatorConfig::default(),
            board: incidents.clone(),
            push: push.clone(),
            log: Some(log.clone()),
            metrics: IncidentMetrics::register(runtime.metrics()),
        });
        // the correlator starts before the device and link actors that raise alerts
        children.insert(0, correlator);
        let router = Router::new(
            inventory,
            tree.devices.clone(),
            tree.links.clone(),
            metrics.clone(),
            link_metrics,
        );
        router.set_alert_sink(sink_to(correlator_addr.clone()));
        router.set_push(push.clone());
        let (writer, _writer_addr) = writer_child(WriterArgs {
            log: log.clone(),
            slot,
            router: router.clone(),
            metrics: metrics.clone(),
            config: pipeline,
            clock: clock.clone(),
        });
        children.push(writer);
        if let Some(ch) = &cfg.clickhouse {
            let mut c = ClickHouseConfig::new(ch.url.clone());
            c.database = ch.database.clone();
            c.table = ch.table.clone();
            c.user = ch.user.clone();
            c.password = ch.password.clone();
            let cursor = cfg.data.join(format!("clickhouse-{}.cursor", cfg.ship));
            let (exporter, _) = exporter_child(ExporterArgs {
                clickhouse: c,
                exporter: ExporterConfig::new(cursor),
                log: log.clone(),
            });
            children.push(exporter);
        }
        if let Some(sync) = crate::sync::ship_sync_child(cfg, log.clone(), &runtime) {
            children.push(sync);
        }
        // WebSocket sessions come last: they only read what the rest produces.
        let (sessions, sessions_addr) = sessions_supervisor(&ship);
        children.push(sessions);
        let spec = SupervisorSpec::new("root", &ship)
            .intensity(3, Duration::from_secs(60))
            .child(ship_subtree_of(&ship, children));
        let (root, _join) = start_root(spec, runtime.clone()).await?;
        router.attach_detectors(
            start_detectors(&tree, runtime.metrics(), sink_to(correlator_addr.clone())).await?,
        );
        router.reconcile().await?;

        let (tcp_addr, tcp_task) = listen::syslog_tcp(cfg.syslog, sender.clone(), clock.clone())
            .await
            .map_err(|source| ShipStartError::Bind {
                what: "syslog tcp",
                addr: cfg.syslog,
                source,
            })?;
        let udp_bind = SocketAddr::new(cfg.syslog.ip(), tcp_addr.port());
        let (udp_addr, udp_task) = listen::syslog_udp(udp_bind, sender.clone(), clock.clone())
            .await
            .map_err(|source| ShipStartError::Bind {
                what: "syslog udp",
                addr: udp_bind,
                source,
            })?;
        let health = Health::new();
        let console_metrics = ConsoleMetrics::register(runtime.metrics());
        let auth = Auth::open(&cfg.data, &cfg.auth, clock.clone(), console_metrics.clone())?;
        let runbooks = ApprovalBoard::new(
            push.clone(),
            clock.clone(),
            RunbookMetrics::register(runtime.metrics()),
        );
        let snapshots: Arc<dyn SnapshotSource> = Arc::new(ShipSnapshots {
            ship: cfg.ship.clone(),
            incidents: incidents.clone(),
            runbooks: runbooks.clone(),
            push: push.clone(),
        });
        // The HTTP server, the WebSocket sockets and the push fan-out get their own thread,
        // so that push latency does not queue behind ingest work (decision 0013).
        let console_rt = ConsoleRuntime::start()
            .map_err(|e| ShipStartError::Config(format!("console runtime thread: {e}")))?;
        let ws = WsHub::new_on(
            &console_rt,
            push.clone(),
            snapshots,
            sessions_addr,
            console_metrics,
            WsConfig::default(),
        );
        // Open: /healthz, /metrics, /api/login and the UI's static files (no data).
        // Everything else goes through `auth.protect(role, router)`.
        let app = http::router(runtime.metrics().clone(), health.clone())
            .merge(auth.routes())
            .merge(auth.protect(
                Access::Ingest,
                listen::http_routes(sender.clone(), clock.clone()),
            ))
            .merge(ws.routes(&auth))
            .merge(auth.protect(
                Role::Viewer,
                seawatch_actors::incident::api::routes(incidents.clone()),
            ))
            .merge(seawatch_console::runbooks::routes(&auth, runbooks.clone()))
            .merge(seawatch_console::ui::routes());
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ShipStartError::Bind {
                what: "http",
                addr: cfg.listen,
                source,
            })?;
        let http_addr = listener
            .local_addr()
            .map_err(|source| ShipStartError::Bind {
                what: "http",
                addr: cfg.listen,
                source,
            })?;
        let http_task = console_rt.serve(listener, app);
        // event time for silence detection and correlation: the ship's clock, every second
        let tick_task = {
            let router = router.clone();
            let correlator = correlator_addr.clone();
            let clock = clock.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    let now_ms = clock.now_ms();
                    for (_, d) in router.devices() {
                        let _ = d.send(DeviceMsg::Tick {
                            now_ms,
                            reply: None,
                        });
                    }
                    let _ = correlator.send(CorrelatorMsg::Tick {
                        now_ms,
                        reply: None,
                    });
                }
            })
        };
        health.set(true);
        Ok(Self {
            runtime,
            root,
            tree,
            log,
            router,
            sender,
            metrics,
            health,
            auth,
            push,
            http_addr,
            syslog_tcp_addr: tcp_addr,
            syslog_udp_addr: udp_addr,
            incidents,
            correlator: correlator_addr,
            runbooks,
            tasks: vec![tcp_task, udp_task, http_task, tick_task],
        })
    }

    /// Stops listeners, then the tree in order (the writer syncs the log last).
    pub async fn shutdown(&self) {
        self.health.set(false);
        for t in &self.tasks {
            t.abort();
        }
        self.root.shutdown().await;
    }
}

/// What a ship's WebSocket session gets instead of the deltas it missed: the ship's
/// incidents as they would be pushed.
struct ShipSnapshots {
    ship: String,
    incidents: IncidentBoard,
    runbooks: ApprovalBoard,
    push: PushBus,
}

impl SnapshotSource for ShipSnapshots {
    fn ships(&self) -> Vec<String> {
        vec![self.ship.clone()]
    }

    fn snapshot(&self, ship: Option<&str>) -> futures::future::BoxFuture<'static, Vec<Push>> {
        let pushes = if ship.is_none_or(|s| s == self.ship) {
            self.incidents
                .list(Some(&self.ship), StateFilter::All)
                .iter()
                .filter_map(|inc| {
                    serde_json::to_value(IncidentView::from_incident(inc))
                        .ok()
                        .map(|body| Push {
                            kind: PushKind::Incident,
                            ship: Some(self.ship.clone()),
                            body,
                        })
                })
                .chain(self.runbooks.snapshot(Some(&self.ship)))
                .chain(self.push.latest_links(Some(&self.ship)))
                .collect()
        } else {
            Vec::new()
        };
        Box::pin(async move { pushes })
    }
}
