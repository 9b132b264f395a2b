//! A ship's supervision tree, assembled once ([`assemble_ship`]) for `seawatch ship`
//! ([`ShipNode`]), `sim run` and `seawatch demo` (`crate::sim::SimFleet`).
//!
//! ```text
//! ship:ID — rest_for_one
//! ├─ eventlog-writer          the one writer of the ship's event log (decision 0037)
//! ├─ followers — rest_for_one
//! │  ├─ roster                owns the device, link, detector and peer actors
//! │  ├─ correlator            alerts → incidents (appended through the writer)
//! │  └─ eventlog-router       follows the durable watermark, routes to the roster
//! └─ what the caller adds: services (exporter, sync, mail, `runbooks` — the
//!    remediation reload and executor — console sessions), the edge
//! ```
//!
//! Why this order is in `docs/decisions/0023-one-ship-tree.md`. Each ship is one shard:
//! every actor below is registered under the ship's id.

use std::path::PathBuf;
use std::time::Duration;

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;
use seawatch_actors::alert::AlertSink;
use seawatch_actors::detect::actor::{DetectorConfig, DetectorMetrics};
use seawatch_actors::incident::api::IncidentView;
use seawatch_actors::incident::StateFilter;
use seawatch_actors::incident::{
    correlator_child, sink_to, CorrelatorArgs, CorrelatorConfig, CorrelatorMsg, IncidentBoard,
    IncidentMetrics,
};
use seawatch_actors::ingest::listen;
use seawatch_actors::ingest::metrics::IngestMetrics;
use seawatch_actors::ingest::pipeline::{IngestSender, PipelineConfig};
use seawatch_actors::link::settings::{LinkRiskCell, LinkRiskSettings};
use seawatch_actors::link::LinkMetrics;
use seawatch_actors::log_service::{LogReader, LogService};
use seawatch_actors::otel::Traces;
use seawatch_actors::push::{Push, PushBus, PushKind};
use seawatch_actors::rollout::agent::OnApplied;
use seawatch_actors::roster::{
    roster_child, DetectorSetup, Discovered, Roster, RosterArgs, RosterMetrics, RosterView,
};
use seawatch_actors::runbook::exec::Executions;
use seawatch_actors::runbook::service::{Remediation, RemediationMetrics, RemediationPaths};
use seawatch_actors::store::actor::{exporter_child, ExporterArgs};
use seawatch_actors::store::clickhouse::{ClickHouseConfig, ExporterConfig};
use seawatch_actors::sync::route::{RouteLink, SyncRoute};
use seawatch_console::{
    sessions_supervisor, Access, Auth, ConsoleMetrics, ConsoleRuntime, Role, SnapshotSource,
    WsConfig, WsHub,
};
use seawatch_model::Inventory;
use seawatch_model::ShipId;
use seawatch_runtime::event_log::{EventLog, EventLogConfig};
use seawatch_runtime::http::{self, Health};
use seawatch_runtime::supervision::{
    start_root, Addr, ChildSpec, Strategy, SupervisorHandle, SupervisorSpec, TaskStop,
};
use seawatch_runtime::{Clock, Metrics, Runtime, RuntimeError};

use crate::config::ShipConfig;
use crate::remediation::RemediationArgs;

/// The metric families every ship of a node shares: registered once per registry.
pub struct ShipFamilies {
    ingest: Option<IngestMetrics>,
    link: LinkMetrics,
    incident: IncidentMetrics,
    detector: DetectorMetrics,
    roster: RosterMetrics,
}

impl ShipFamilies {
    /// Registers the families in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        Self {
            ingest: None,
            link: LinkMetrics::register(metrics),
            incident: IncidentMetrics::register(metrics),
            detector: DetectorMetrics::register(metrics),
            roster: RosterMetrics::register(metrics),
        }
    }

    /// `ship`'s ingest metrics: the first ship registers the families, the others share
    /// them.
    fn ingest_for(&mut self, metrics: &Metrics, ship: &str) -> IngestMetrics {
        match &self.ingest {
            None => {
                let m = IngestMetrics::register(metrics, ship);
                self.ingest = Some(m.clone());
                m
            }
            Some(first) => first.for_ship(ship),
        }
    }
}

/// What differs between the ships [`assemble_ship`] builds (`seawatch ship`, `sim run`,
/// the demo): parameters, never a second assembly.
#[derive(Clone)]
pub struct ShipOptions {
    /// The data directory: the event log goes to `DATA/eventlog/SHIP`, the discovered
    /// devices to `DATA/roster/SHIP.discovered`.
    pub data: PathBuf,
    /// The event log's configuration (its fsync policy: `sim run` never fsyncs).
    pub log: EventLogConfig,
    /// Time for the event log's retention (the system clock in `sim run`).
    pub clock: Clock,
    /// Correlator timing.
    pub correlator: CorrelatorConfig,
    /// Detector actors (one per device, and the peer actor); `None` runs none.
    pub detectors: Option<DetectorConfig>,
    /// The link-risk model's settings the link actors start with (the default: the
    /// built-in tuning).
    pub link_risk: LinkRiskSettings,
    /// Where incidents go (shared by a fleet's ships).
    pub board: IncidentBoard,
    /// State changes for WebSocket sessions (shared by a fleet's ships).
    pub push: PushBus,
    /// Also sees every alert the ship raises (`sim run` collects outage predictions).
    pub tap: Option<AlertSink>,
    /// Traces (`[otel]`, decision 0057; off by default).
    pub traces: Traces,
}

impl ShipOptions {
    /// `seawatch ship`'s options for `cfg`.
    pub fn from_config(cfg: &ShipConfig, clock: Clock) -> Result<Self, ShipStartError> {
        Ok(Self {
            data: cfg.data.clone(),
            log: cfg.event_log_config().map_err(ShipStartError::Config)?,
            clock,
            correlator: CorrelatorConfig::default(),
            detectors: Some(live_detector_config(&cfg.data.join("detectors"))),
            link_risk: live_link_risk(&cfg.data.join("models")),
            board: IncidentBoard::new(),
            push: PushBus::default(),
            tap: None,
            traces: crate::config::OtelSection::traces(&cfg.otel, "seawatch-ship", &cfg.ship)
                .map_err(ShipStartError::Config)?,
        })
    }
}

/// The detector settings a ship starts with: `DATA/detectors` (where rollouts of
/// detector settings put them) over the defaults. Settings that do not load are reported
/// and the defaults run (the bundle agent puts back the previous version of an apply it
/// did not finish, and pushes it to the detectors).
pub fn live_detector_config(dir: &std::path::Path) -> DetectorConfig {
    match seawatch_actors::detect::settings::load_config(dir, &DetectorConfig::default()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "detector settings do not load; running the defaults");
            DetectorConfig::default()
        }
    }
}

/// The link-risk settings a ship starts with: the link-risk model in `DATA/models`
/// (where rollouts of a `link-risk` champion put it: the folder with a `link-risk.json`,
/// decision 0079), or the built-in tuning when there is none. Settings that do not load
/// are reported and the built-in tuning runs (the bundle agent puts back the previous
/// version of an apply it did not finish, and pushes it to the link actors).
pub fn live_link_risk(models: &std::path::Path) -> LinkRiskSettings {
    match seawatch_actors::link::settings::find(models) {
        Ok(Some((name, settings))) => {
            tracing::info!(dir = %models.display(), model = %name, "link actors run the link-risk model");
            settings
        }
        Ok(None) => LinkRiskSettings::default(),
        Err(e) => {
            tracing::error!(dir = %models.display(), error = %e, "link-risk model does not load; running the built-in tuning");
            LinkRiskSettings::default()
        }
    }
}

/// One assembled ship: its children and the handles the rest of the node uses.
pub struct ShipParts {
    /// The ship.
    pub ship: ShipId,
    /// The durable event log (its one writer is a child of the subtree).
    pub log: LogService,
    /// The listeners' side of the ingest queue.
    pub sender: IngestSender,
    /// Ingest metrics.
    pub metrics: IngestMetrics,
    /// The roster (device, link and detector actors).
    pub roster: Roster,
    /// The correlator.
    pub correlator: Addr<CorrelatorMsg>,
    children: Vec<ChildSpec>,
}

impl ShipParts {
    /// The ship's subtree (one shard): the writer and the followers, then `extra` in
    /// order.
    pub fn subtree(&self, extra: Vec<ChildSpec>) -> ChildSpec {
        let ship = self.ship.clone();
        let mut children = self.children.clone();
        children.extend(extra);
        let (spec, _addr) = ChildSpec::supervisor(self.ship.as_str(), move || {
            // rest_for_one: each child depends only on those started before it.
            let mut spec = SupervisorSpec::new(&format!("ship:{ship}"), &ship)
                .strategy(Strategy::RestForOne)
                .intensity(10, Duration::from_secs(60));
            for c in &children {
                spec = spec.child(c.clone());
            }
            spec
        });
        spec.in_shard(&self.ship)
    }
}

/// Builds one ship from its inventory: event log, ingest queue, the writer, the roster
/// and the correlator, wired together. The one place a ship is assembled.
pub fn assemble_ship(
    runtime: &Runtime,
    families: &mut ShipFamilies,
    inventory: Inventory,
    opts: &ShipOptions,
) -> Result<ShipParts, ShipStartError> {
    let id = inventory.ship.to_string();
    let ship = ShipId::new(&id);
    let log_dir = opts.data.join("eventlog").join(&id);
    let log =
        EventLog::open(&log_dir, opts.log.clone()).map_err(|source| ShipStartError::EventLog {
            path: log_dir.display().to_string(),
            source,
        })?;
    let metrics = families.ingest_for(runtime.metrics(), &id);
    let pipeline = PipelineConfig::default();
    let log = LogService::new(log, &pipeline);
    let sender = log.ingest_sender(metrics.clone());
    let (correlator, correlator_addr) = correlator_child(CorrelatorArgs {
        ship: id.clone(),
        inventory: inventory.clone(),
        config: opts.correlator,
        board: opts.board.clone(),
        push: opts.push.clone(),
        log: Some(log.clone()),
        metrics: families.incident.clone(),
        traces: opts.traces.clone(),
    });
    let to_correlator = sink_to(correlator_addr.clone());
    let alerts = match &opts.tap {
        None => to_correlator,
        Some(tap) => {
            let tap = tap.clone();
            AlertSink::from_fn(move |a| {
                tap.raise(a.clone());
                to_correlator.raise(a);
            })
        }
    };
    if opts.detectors.is_some() {
        families.detector.for_ship(&id);
    }
    let (roster, roster_handle) = roster_child(RosterArgs {
        ship: id.clone(),
        runtime: runtime.clone(),
        inventory: Arc::new(RwLock::new(inventory)),
        discovered: Discovered::persisted(
            opts.data.join("roster").join(format!("{id}.discovered")),
        ),
        alerts,
        push: Some(opts.push.clone()),
        ingest_metrics: metrics.clone(),
        link_metrics: families.link.clone(),
        link_risk: LinkRiskCell::new(opts.link_risk.clone()),
        detectors: opts
            .detectors
            .clone()
            .map(|c| DetectorSetup::new(c, Some(families.detector.clone()))),
        metrics: families.roster.clone(),
        view: RosterView::default(),
    });
    let writer = log.writer_child(metrics.clone(), pipeline, opts.clock.clone());
    let router = log.router_child(roster_handle.clone(), metrics.clone(), opts.traces.clone());
    let followers = {
        let ship = ship.clone();
        ChildSpec::supervisor("followers", move || {
            // The roster before the correlator: a re-created roster's device actors
            // raise afresh whatever is still wrong, so the correlator starts afresh with
            // them; a correlator crash costs only the correlator. The router last: it
            // only needs the roster's (stable) address, and its crash costs nothing else;
            // on shutdown it stops first, while the roster still takes what it holds.
            SupervisorSpec::new("followers", &ship)
                .strategy(Strategy::RestForOne)
                .intensity(10, Duration::from_secs(60))
                .child(roster.clone())
                .child(correlator.clone())
                .child(router.clone())
        })
        .0
    };
    Ok(ShipParts {
        ship,
        log,
        sender,
        metrics,
        roster: roster_handle,
        correlator: correlator_addr,
        children: vec![writer, followers],
    })
}

/// A running ship edge node: supervision tree, event log, ingest listeners and HTTP.
pub struct ShipNode {
    /// Shared runtime services.
    pub runtime: Runtime,
    /// The root supervisor.
    pub root: SupervisorHandle,
    /// The durable event log (read view).
    pub log: LogReader,
    /// The roster: the device, link and detector actors, and the routing to them.
    pub roster: Roster,
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
    /// The runbook catalogue, the remediation policy and the audit log.
    pub remediation: Remediation,
    /// Traces (`[otel]`): flushed on shutdown.
    pub traces: Traces,
    /// The runbook executions.
    pub executions: Executions,
    /// Which link the ship's sync rides.
    pub sync_route: SyncRoute,
    /// What the bundle agent calls after it swapped a bundle in or rolled one back: reloads
    /// runbooks and policies, pushes detector settings to the running detectors and the
    /// link-risk model to the running link actors.
    pub bundle_reload: OnApplied,
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
        let opts = ShipOptions::from_config(cfg, clock.clone())?;
        let incidents = opts.board.clone();
        let push = opts.push.clone();
        let mut families = ShipFamilies::register(runtime.metrics());
        let mut inventory = inventory;
        inventory.ship = ShipId::new(&cfg.ship);
        let inventory_kinds = element_kinds(&inventory);
        let primary_links: Vec<(String, String, bool)> = inventory
            .links
            .iter()
            .map(|l| (l.id.clone(), l.kind.clone(), l.primary))
            .collect();
        // which link sync rides: DATA/sync.link, the primary link by default (moved by
        // the builtin runbook driver, followed by every incarnation of the sync actor)
        let sync_route = SyncRoute::open(
            &cfg.ship,
            cfg.data.join("sync.link"),
            inventory
                .links
                .iter()
                .map(|l| RouteLink {
                    id: l.id.clone(),
                    kind: l.kind.clone(),
                    primary: l.primary,
                    capacity_bytes_per_s: l
                        .capacity_mbps
                        .filter(|c| c.is_finite() && *c > 0.0)
                        .map(|c| (c * 1e6 / 8.0) as u64),
                })
                .collect(),
            Some(opts.push.clone()),
        );
        let parts = assemble_ship(&runtime, &mut families, inventory, &opts)?;
        let (log, sender, metrics) = (
            parts.log.reader(),
            parts.sender.clone(),
            parts.metrics.clone(),
        );
        let (roster, correlator_addr) = (parts.roster.clone(), parts.correlator.clone());
        // Services: they read what the writer and the followers produce.
        let mut services = Vec::new();
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
            services.push(exporter);
        }
        if let Some(vm) = &cfg.victoriametrics {
            services.push(vm_exporter(cfg, &vm.url, log.clone(), &runtime));
        }
        let live = Arc::new(crate::sync::LiveShipState {
            ship: cfg.ship.clone(),
            board: incidents.clone(),
            push: push.clone(),
            roster: roster.clone(),
            route: Some(sync_route.clone()),
        });
        // the sync child starts here, in the services' order; it is built below, once the
        // remediation service that handles shore's commands exists
        let sync_at = services.len();
        let mail_outbox = mail_outbox_child(cfg, &inventory_kinds, &log, &clock, &runtime)?.map(
            |(child, outbox)| {
                services.push(child);
                outbox
            },
        );
        let service = crate::remediation::remediation_service(RemediationArgs {
            ship: ship.clone(),
            data: cfg.data.clone(),
            paths: {
                let mut paths = RemediationPaths::under(&cfg.data);
                if let Some(d) = &cfg.runbooks.dir {
                    paths.runbooks = d.clone();
                }
                if let Some(d) = &cfg.policy.dir {
                    paths.policies = d.clone();
                }
                paths
            },
            metrics: RemediationMetrics::register(runtime.metrics()),
            kinds: inventory_kinds.0.clone(),
            links: primary_links,
            clock: clock.clone(),
            push: push.clone(),
            incidents: incidents.clone(),
            outbox: mail_outbox.clone(),
            log: parts.log.clone(),
            sync_route: Some(sync_route.clone()),
        })
        .map_err(|e| ShipStartError::Config(e.to_string()))?;
        if let Some(sync) = crate::sync::ship_sync_child(
            cfg,
            log.clone(),
            &runtime,
            live,
            sync_route.clone(),
            service.commands.clone(),
        ) {
            services.insert(sync_at, sync);
        }
        let remediation = service.remediation.clone();
        let bundle_reload: OnApplied;
        {
            // Bundles from shore's rollouts: runbooks and policies are reloaded at once,
            // detector settings are pushed to the running detectors and the link-risk
            // model in DATA/models to the running link actors (which report what they run
            // to the health check); other kinds are read where they are used.
            let rem = remediation.clone();
            let detectors = opts
                .detectors
                .is_some()
                .then(|| (roster.clone(), cfg.data.join("detectors")));
            let links = (roster.clone(), cfg.data.join("models"));
            let reload: OnApplied = Arc::new(move |kind| {
                use seawatch_actors::rollout::bundle::BundleKind;
                let (rem, detectors, links) = (rem.clone(), detectors.clone(), links.clone());
                Box::pin(async move {
                    match (kind, detectors) {
                        (BundleKind::Runbooks | BundleKind::Policies, _) => {
                            rem.reload();
                            Ok("reloaded".to_string())
                        }
                        (BundleKind::Detectors, Some((roster, dir))) => {
                            seawatch_actors::detect::settings::reload(&roster, &dir).await
                        }
                        (BundleKind::Model, _) => {
                            seawatch_actors::link::settings::reload(&links.0, &links.1).await
                        }
                        (other, _) => Ok(format!("{} read at their next use", other.as_str())),
                    }
                })
            });
            // the health check's "no new critical incident within N s" reads the board
            let probe = seawatch_actors::rollout::agent::critical_incidents(
                incidents.clone(),
                cfg.ship.clone(),
            );
            bundle_reload = reload.clone();
            if let Some(agent) = crate::sync::ship_bundle_agent(cfg, &runtime, reload, probe) {
                services.push(agent);
            }
            // Challengers delivered to DATA/models/shadow-* are scored beside the
            // champion on the live events, never acting (decision 0065).
            if let Some(shadow) = crate::models::ship_shadow_runner(cfg, &runtime, log.clone()) {
                services.push(shadow);
            }
        }
        services.push(service.supervisor);
        let (executions, exec_api) = (service.executions, service.api);
        // The log search: an index following the log (decision 0049).
        let log_search = seawatch_console::logs::LogSearch::new(
            vec![log.clone()],
            seawatch_actors::store::IndexConfig::default(),
            clock.clone(),
            seawatch_console::logs::LogSearchMetrics::register(runtime.metrics()),
        );
        services.push(log_search.follower_child(Duration::from_secs(1)));
        // The assistant answers from DATA/assistant (built by `seawatch assistant index`);
        // its indexer adds resolved incidents and device configs to it (decision 0061).
        let assistant = seawatch_assistant::api::AssistantHandle::new(
            cfg.data.clone(),
            cfg.assistant.embedding_model.clone(),
        );
        services.push(crate::assistant_indexer::indexer_child(
            crate::assistant_indexer::IndexerArgs {
                handle: assistant.clone(),
                logs: vec![log.clone()],
                board: incidents.clone(),
                executions: vec![executions.clone()],
                configs: Some(
                    cfg.assistant
                        .configs
                        .clone()
                        .unwrap_or_else(|| cfg.data.join("configs")),
                ),
                metrics: crate::assistant_indexer::IndexerMetrics::register(runtime.metrics()),
            },
            Duration::from_secs(5),
        ));
        // WebSocket sessions come last: they only read what the rest produces.
        let (sessions, sessions_addr) = sessions_supervisor(&ship);
        services.push(sessions);
        let services = one_for_one("services", &ship, services);
        // The edge binds its sockets once; each incarnation of a listener serves a clone,
        // so a restarted listener keeps its address.
        let bind_err = |what: &'static str, addr: SocketAddr| {
            move |source| ShipStartError::Bind { what, addr, source }
        };
        let tcp = bind_tcp(cfg.syslog).map_err(bind_err("syslog tcp", cfg.syslog))?;
        let tcp_addr = tcp
            .local_addr()
            .map_err(bind_err("syslog tcp", cfg.syslog))?;
        let udp_bind = SocketAddr::new(cfg.syslog.ip(), tcp_addr.port());
        let udp = std::net::UdpSocket::bind(udp_bind)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(bind_err("syslog udp", udp_bind))?;
        let udp_addr = udp.local_addr().map_err(bind_err("syslog udp", udp_bind))?;
        let web = bind_tcp(cfg.listen).map_err(bind_err("http", cfg.listen))?;
        let http_addr = web.local_addr().map_err(bind_err("http", cfg.listen))?;

        let health = Health::of_tree(&runtime);
        let console_metrics = ConsoleMetrics::register(runtime.metrics());
        let auth = Auth::open(&cfg.data, &cfg.auth, clock.clone(), console_metrics.clone())?;
        let snapshots: Arc<dyn SnapshotSource> = Arc::new(ShipSnapshots {
            ship: cfg.ship.clone(),
            incidents: incidents.clone(),
            executions: executions.clone(),
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
            .merge(auth.protect(Role::Viewer, log_search.routes()))
            .merge(
                auth.protect(
                    Role::Viewer,
                    seawatch_console::elements::Elements::new(
                        vec![seawatch_console::elements::ShipElements {
                            ship: cfg.ship.to_string(),
                            roster: roster.clone(),
                            correlator: Some(correlator_addr.clone()),
                        }],
                        incidents.clone(),
                        log_search.clone(),
                        clock.clone(),
                    )
                    .routes(),
                ),
            )
            .merge(seawatch_console::runbooks::routes(&auth, vec![exec_api]))
            .merge(seawatch_console::ui::routes(
                seawatch_console::ui::Node::Ship,
            ));
        let app = app
            .merge(seawatch_console::silences::routes(
                &auth,
                mail_outbox.clone(),
                clock.clone(),
            ))
            .merge(auth.protect(
                Role::Operator,
                seawatch_actors::mail::api::routes(mail_outbox, clock.clone()),
            ));
        // The assistant, opened at the first question.
        let app = app.merge(auth.protect(Role::Viewer, seawatch_assistant::api::routes(assistant)));
        // The edge (one_for_one): what faces the network, and the ticker. It starts last
        // and stops first, so nothing is accepted that the tree behind cannot take.
        let edge = one_for_one(
            "edge",
            &ship,
            vec![
                syslog_tcp_child(tcp, sender.clone(), clock.clone()),
                syslog_udp_child(udp, sender.clone(), clock.clone()),
                http_child(web, console_rt, app),
                ticker_child(roster.clone(), correlator_addr.clone(), clock.clone()),
            ]
            .into_iter()
            .chain(cfg.inventory.clone().map(|path| {
                inventory_reload_child(
                    roster.clone(),
                    correlator_addr.clone(),
                    path,
                    cfg.ship.clone(),
                )
            }))
            .collect(),
        );
        let spec = SupervisorSpec::new("root", &ship)
            .intensity(3, Duration::from_secs(60))
            .child(parts.subtree(vec![services, edge]));
        let (root, _join) = start_root(spec, runtime.clone()).await?;
        health.set(true);
        Ok(Self {
            runtime,
            root,
            log,
            roster,
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
            remediation,
            traces: opts.traces.clone(),
            executions,
            sync_route,
            bundle_reload,
        })
    }

    /// Stops the tree in order: the edge first (listeners, HTTP, ticker), the writer
    /// last (it syncs the log).
    pub async fn shutdown(&self) {
        self.health.set(false);
        self.root.shutdown().await;
        if self.traces.is_on() {
            let traces = self.traces.clone();
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
    }
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// A one_for_one supervisor `name` of `ship`'s shard over `children` (at most 10
/// restarts a minute): the ship's services, its edge, its runbooks.
pub(crate) fn one_for_one(
    name: &'static str,
    ship: &ShipId,
    children: Vec<ChildSpec>,
) -> ChildSpec {
    let ship = ship.clone();
    ChildSpec::supervisor(name, move || {
        let mut spec = SupervisorSpec::new(name, &ship)
            .strategy(Strategy::OneForOne)
            .intensity(10, Duration::from_secs(60));
        for c in &children {
            spec = spec.child(c.clone());
        }
        spec
    })
    .0
}

/// Runs `serve` until it ends (an error: a listener never ends on its own) or the task
/// is asked to stop.
async fn until_stopped<F>(mut stop: TaskStop, serve: F) -> Result<(), String>
where
    F: std::future::Future<Output = std::io::Result<()>>,
{
    tokio::select! {
        r = serve => Err(match r {
            Ok(()) => "ended".to_string(),
            Err(e) => e.to_string(),
        }),
        _ = stop.stopped() => Ok(()),
    }
}

fn syslog_tcp_child(
    listener: std::net::TcpListener,
    sender: IngestSender,
    clock: Clock,
) -> ChildSpec {
    let listener = Arc::new(listener);
    ChildSpec::task("syslog-tcp", "listener", move |stop| {
        let (listener, sender, clock) = (listener.clone(), sender.clone(), clock.clone());
        async move {
            let l = listener
                .try_clone()
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(|e| format!("syslog tcp listener: {e}"))?;
            until_stopped(stop, listen::serve_syslog_tcp(l, sender, clock)).await
        }
    })
}

fn syslog_udp_child(socket: std::net::UdpSocket, sender: IngestSender, clock: Clock) -> ChildSpec {
    let socket = Arc::new(socket);
    ChildSpec::task("syslog-udp", "listener", move |stop| {
        let (socket, sender, clock) = (socket.clone(), sender.clone(), clock.clone());
        async move {
            let s = socket
                .try_clone()
                .and_then(tokio::net::UdpSocket::from_std)
                .map_err(|e| format!("syslog udp socket: {e}"))?;
            until_stopped(stop, listen::serve_syslog_udp(s, sender, clock)).await
        }
    })
}

fn http_child(
    listener: std::net::TcpListener,
    console_rt: ConsoleRuntime,
    app: axum::Router,
) -> ChildSpec {
    let listener = Arc::new(listener);
    ChildSpec::task("http", "listener", move |mut stop| {
        let (listener, console_rt, app) = (listener.clone(), console_rt.clone(), app.clone());
        async move {
            let l = listener
                .try_clone()
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(|e| format!("http listener: {e}"))?;
            // The server runs on the console's runtime; it ends with this task.
            struct AbortOnDrop(tokio::task::JoinHandle<()>);
            impl Drop for AbortOnDrop {
                fn drop(&mut self) {
                    self.0.abort();
                }
            }
            let mut server = AbortOnDrop(console_rt.serve(l, app));
            tokio::select! {
                _ = &mut server.0 => Err("http server ended".to_string()),
                _ = stop.stopped() => Ok(()),
            }
        }
    })
}

/// Re-reads the inventory file on SIGHUP and reconciles the roster's device and link
/// actors and the correlator's topology without a restart. A bad file is reported and
/// the running inventory kept. Where there is no SIGHUP (not unix) it waits to be stopped.
fn inventory_reload_child(
    roster: Roster,
    correlator: Addr<CorrelatorMsg>,
    path: std::path::PathBuf,
    ship: String,
) -> ChildSpec {
    ChildSpec::task("inventory-reload", "reload", move |mut stop| {
        let (roster, correlator, path, ship) = (
            roster.clone(),
            correlator.clone(),
            path.clone(),
            ship.clone(),
        );
        async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("SIGHUP: {e}"))?;
                loop {
                    tokio::select! {
                        got = hup.recv() => {
                            if got.is_none() {
                                return Err("SIGHUP stream ended".to_string());
                            }
                        }
                        _ = stop.stopped() => return Ok(()),
                    }
                    match crate::inventory::load(&path, &ship) {
                        Ok(inv) => {
                            // the correlator's topology follows the inventory
                            let _ = correlator.send(CorrelatorMsg::Inventory(inv.clone()));
                            match roster.reload(inv).await {
                                Ok(()) => {
                                    tracing::info!(path = %path.display(), "inventory reloaded")
                                }
                                Err(e) => tracing::error!(error = %e, "inventory reload failed"),
                            }
                        }
                        Err(e) => tracing::error!(
                            error = %e,
                            "inventory reload: keeping the running inventory"
                        ),
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = (roster, correlator, path, ship);
                stop.stopped().await;
                Ok(())
            }
        }
    })
}

/// Event time for silence detection and correlation: the ship's clock, every second.
fn ticker_child(roster: Roster, correlator: Addr<CorrelatorMsg>, clock: Clock) -> ChildSpec {
    ChildSpec::task("ticker", "ticker", move |mut stop| {
        let (roster, correlator, clock) = (roster.clone(), correlator.clone(), clock.clone());
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.stopped() => return Ok(()),
                }
                let now_ms = clock.now_ms();
                roster.tick(now_ms).await;
                let _ = correlator.send(CorrelatorMsg::Tick {
                    now_ms,
                    reply: None,
                });
            }
        }
    })
}

/// What a ship's WebSocket session gets instead of the deltas it missed: the ship's
/// incidents as they would be pushed.
struct ShipSnapshots {
    ship: String,
    incidents: IncidentBoard,
    executions: seawatch_actors::runbook::exec::Executions,
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
                .chain(self.executions.snapshot())
                .chain(self.push.latest_links(Some(&self.ship)))
                .collect()
        } else {
            Vec::new()
        };
        Box::pin(async move { pushes })
    }
}

/// Element id → device or link kind, for the mail routes' `match.device_kind`.
#[allow(clippy::type_complexity)]
pub(crate) fn element_kinds(
    inventory: &Inventory,
) -> (
    Arc<std::collections::HashMap<String, String>>,
    Arc<std::collections::HashMap<String, Vec<String>>>,
) {
    let kinds = inventory
        .devices
        .iter()
        .map(|d| (d.id.clone(), d.kind.clone()))
        .chain(
            inventory
                .links
                .iter()
                .map(|l| (l.id.clone(), l.kind.clone())),
        )
        .collect();
    let parents = inventory
        .devices
        .iter()
        .map(|d| (d.id.clone(), d.depends_on.clone()))
        .collect();
    (Arc::new(kinds), Arc::new(parents))
}

/// The VictoriaMetrics exporter child (`[victoriametrics]`, decision 0043): the log's
/// device samples by remote write, its cursor in `DATA/victoriametrics-SHIP.cursor`.
fn vm_exporter(
    cfg: &ShipConfig,
    url: &str,
    log: seawatch_actors::log_service::LogReader,
    runtime: &Runtime,
) -> ChildSpec {
    use seawatch_actors::store::victoriametrics::{VmConfig, VmExporterConfig, VmMetrics};
    use seawatch_actors::store::vm_actor::{vm_exporter_child, VmExporterArgs};
    let metrics = VmMetrics::register(runtime.metrics());
    metrics.ship(&cfg.ship);
    let cursor = cfg
        .data
        .join(format!("victoriametrics-{}.cursor", cfg.ship));
    vm_exporter_child(VmExporterArgs {
        vm: VmConfig::new(url),
        exporter: VmExporterConfig::new(cursor),
        log,
        metrics: Some(metrics),
    })
    .0
}

/// The mail outbox child and its outbox when `[email]` is configured (the outbox under
/// `DATA/outbox` is opened here, once, so `GET /api/notifications` and every incarnation
/// of the actor share it). Its metrics are exported at 0 either way.
#[allow(clippy::type_complexity)]
fn mail_outbox_child(
    cfg: &ShipConfig,
    (kinds, parents): &(
        Arc<std::collections::HashMap<String, String>>,
        Arc<std::collections::HashMap<String, Vec<String>>>,
    ),
    log: &LogReader,
    clock: &Clock,
    runtime: &Runtime,
) -> Result<
    Option<(
        ChildSpec,
        Arc<parking_lot::Mutex<seawatch_actors::mail::Outbox>>,
    )>,
    ShipStartError,
> {
    use seawatch_actors::mail::{outbox_child, Outbox, OutboxArgs, OutboxMetrics};
    let metrics = OutboxMetrics::register(runtime.metrics(), &cfg.ship);
    let Some(email) = &cfg.email else {
        return Ok(None);
    };
    let dir = cfg.data.join("outbox");
    let config_err =
        |e: seawatch_actors::mail::store::StoreError| ShipStartError::Config(e.to_string());
    let mut outbox = Outbox::open(&dir).map_err(config_err)?;
    // A new outbox starts at the log's end (the tree has not started: nothing of this
    // run is in the log yet); history from before mail was configured is not mailed.
    if outbox.position().is_none() {
        outbox.checkpoint(log.next_seq()).map_err(config_err)?;
    }
    let outbox = Arc::new(parking_lot::Mutex::new(outbox));
    let (child, _) = outbox_child(OutboxArgs {
        ship: cfg.ship.clone(),
        email: email.clone(),
        outbox: outbox.clone(),
        log: log.clone(),
        kinds: kinds.clone(),
        parents: parents.clone(),
        clock: clock.clone(),
        metrics,
    });
    Ok(Some((child, outbox)))
}
