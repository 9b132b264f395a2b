//! The production transport: NATS JetStream across leaf nodes, and the shore cluster.
//!
//! **Ship.** The ship's nats-server is a leaf node of the shore cluster with its own
//! JetStream domain (`deploy/nats/ship-leaf.conf`). Sync publishes its frames into the
//! ship's local stream `SW_UP_<ship>` (subject `seawatch.up.<ship>`), which is durable on
//! the ship whether the satellite link is up or not, and listens for shore's answers on
//! `seawatch.down.<ship>` (core NATS across the leaf connection: answers are not stored;
//! a lost one is answered again when the ship resends). The link counts as up while a
//! shore node answers `seawatch.ping` within a second.
//!
//! **Shore.** The fleet stream `SW_FLEET` (domain `shore`) sources every ship's stream
//! across its domain. Each ship's mirror lives on exactly one shore node: the node holding
//! the ship's key in the KV bucket `sw_owners` (created if absent, refreshed every
//! `lease / 3` but at least every second, expiring after `lease` when its node dies, and
//! taken over at once when its holder stops announcing itself on `seawatch.shore.alive`
//! for 2 s). The owner runs the ship's mirror actor under its fleet supervisor
//! (`super::fleet`: started when the lease is won, stopped when it is lost, restarted and
//! rebuilt from `sw_positions` when it fails). The mirror reads the ship's
//! frames through the durable pull consumer `mirror-<ship>`, stores new events in the
//! stream `SW_EVENTS` (subject `seawatch.events.<ship>`, message id `ship:seq`, so even a
//! retry after a crash inside the dedup window is dropped by JetStream), then moves the
//! ship's positions in the KV bucket `sw_positions` with a compare-and-set on the revision
//! it read (a node that lost the ship without knowing cannot move them), then acks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use ractor::ActorRef;
use seawatch_runtime::{Clock, Runtime};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::clickhouse::ClickHouseFleetStore;
use super::fleet::{Applied, FleetSupervisor, MirrorArgs, MirrorIo, MirrorMsg};
use super::link::{ShipConn, ShipTransport, TransportError};
use super::metrics::SyncMetrics;
use super::shore::{Commands, Decision, FleetView, Mirror};
use super::wire::{Down, Up};

/// Errors of the NATS transport.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Connecting failed.
    #[error("connect {url}: {reason}")]
    Connect {
        /// The server URL (credentials removed).
        url: String,
        /// Why.
        reason: String,
    },
    /// A JetStream or KV call failed.
    #[error("jetstream: {0}")]
    JetStream(String),
    /// A ship id unusable as a subject token.
    #[error("ship id {0:?}: use letters, digits, '-' and '_'")]
    ShipId(String),
    /// The server is older than [`MIN_SERVER_VERSION`]: its JetStream API answers do not
    /// parse, so retrying cannot help.
    #[error(
        "nats-server {version} at {url} is too old: seawatch needs NATS JetStream {}.{} or newer",
        MIN_SERVER_VERSION.0,
        MIN_SERVER_VERSION.1
    )]
    ServerTooOld {
        /// The version the server announced in its INFO.
        version: String,
        /// The server URL (credentials removed).
        url: String,
    },
}

/// The oldest nats-server (major, minor) seawatch works with. The JetStream API answers
/// of 2.9 and older do not match what the client expects ("data did not match any
/// variant of untagged enum Response"), and `ship-leaf.conf` uses 2.10's syntax.
pub const MIN_SERVER_VERSION: (u64, u64) = (2, 10);

/// Parses a nats-server version as its INFO gives it (`2.9.10`, `v2.10.0-beta.1`,
/// `2.11.0-RC.3`) into (major, minor, patch); a missing patch reads as 0. `None` when
/// the text is not a version.
pub fn parse_server_version(version: &str) -> Option<(u64, u64, u64)> {
    let v = version.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Whether a server announcing `version` is older than [`MIN_SERVER_VERSION`]. A version
/// that does not parse is given the benefit of the doubt (`false`): a fork or a future
/// format should not be refused on its spelling.
pub fn server_too_old(version: &str) -> bool {
    parse_server_version(version)
        .is_some_and(|(major, minor, _)| (major, minor) < MIN_SERVER_VERSION)
}

fn js_err(e: impl std::fmt::Display) -> NatsError {
    NatsError::JetStream(e.to_string())
}

fn check_ship(ship: &str) -> Result<(), NatsError> {
    let ok = !ship.is_empty()
        && ship.len() <= 64
        && ship
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(NatsError::ShipId(ship.to_owned()))
    }
}

/// The ship's local stream.
pub fn ship_stream(ship: &str) -> String {
    format!("SW_UP_{ship}")
}

fn up_subject(ship: &str) -> String {
    format!("seawatch.up.{ship}")
}

fn down_subject(ship: &str) -> String {
    format!("seawatch.down.{ship}")
}

const PING: &str = "seawatch.ping";
const FLEET: &str = "SW_FLEET";
const EVENTS: &str = "SW_EVENTS";
const OWNERS: &str = "sw_owners";
const POSITIONS: &str = "sw_positions";
/// The ships' runbook executions as shore received them (`runbook::remote`).
const EXECUTIONS: &str = "sw_executions";

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &url[..a + 3], &url[b + 1..]),
        _ => url.to_owned(),
    }
}

/// Splits `scheme://user:password@host:port` into the URL without credentials and the
/// credentials (the client does not read them from the URL).
fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    if let (Some(a), Some(b)) = (url.find("://"), url.rfind('@')) {
        if b > a {
            let creds = &url[a + 3..b];
            let bare = format!("{}{}", &url[..a + 3], &url[b + 1..]);
            if let Some((u, p)) = creds.split_once(':') {
                return (bare, Some((u.to_owned(), p.to_owned())));
            }
        }
    }
    (url.to_owned(), None)
}

/// One connection to `url`, with the `user:password@` of the URL as its credentials (the
/// client does not read them from the URL; without this a shore's or a ship's rollout and
/// model links were refused by a server that requires a user). No version check.
pub async fn connect_url(url: &str) -> Result<async_nats::Client, String> {
    let (bare, creds) = split_credentials(url);
    let opts = match creds {
        Some((user, password)) => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        None => async_nats::ConnectOptions::new(),
    };
    opts.connect(bare)
        .await
        .map_err(|e| format!("{}: {e}", redact(url)))
}

/// How long [`connect`] waits for the server's INFO (the client connects in the
/// background); about what the first JetStream request would wait before failing anyway.
const INFO_WAIT: Duration = Duration::from_secs(5);

/// Connects to `url` (retrying in the background until the server answers) and, once
/// the server's INFO arrives within `info_wait` (forever with `None`), refuses a server
/// older than [`MIN_SERVER_VERSION`].
async fn connect_checked(
    url: &str,
    info_wait: Option<Duration>,
) -> Result<async_nats::Client, NatsError> {
    let (bare, creds) = split_credentials(url);
    let mut opts = async_nats::ConnectOptions::new();
    if let Some((user, password)) = creds {
        opts = async_nats::ConnectOptions::with_user_and_password(user, password);
    }
    let client = opts
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(bare)
        .await
        .map_err(|e| NatsError::Connect {
            url: redact(url),
            reason: e.to_string(),
        })?;
    let started = tokio::time::Instant::now();
    let info = loop {
        if let Some(info) = client.try_server_info() {
            break info;
        }
        if info_wait.is_some_and(|w| started.elapsed() >= w) {
            return Err(NatsError::Connect {
                url: redact(url),
                reason: "no answer from the server yet".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if server_too_old(&info.version) {
        return Err(NatsError::ServerTooOld {
            version: info.version,
            url: redact(url),
        });
    }
    Ok(client)
}

async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    connect_checked(url, Some(INFO_WAIT)).await
}

/// Waits until the server at `url` answers (however long that takes: a ship starts
/// offline) and returns its version, or [`NatsError::ServerTooOld`]. The CLI calls it
/// once at start so that a server too old ends the process with one plain line instead
/// of a connect-and-retry loop.
pub async fn check_server(url: &str) -> Result<String, NatsError> {
    let client = connect_checked(url, None).await?;
    Ok(client.server_info().version)
}

/// Connects a ship's sync to its local leaf server at `url`.
pub async fn connect_ship(
    url: &str,
    ship: &str,
    capacity_bytes_per_s: Option<u64>,
) -> Result<ShipConn, NatsError> {
    check_ship(ship)?;
    let client = connect(url).await?;
    let js = jetstream::new(client.clone());
    js.get_or_create_stream(stream::Config {
        name: ship_stream(ship),
        subjects: vec![up_subject(ship)],
        storage: stream::StorageType::File,
        max_bytes: 512 << 20,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await
    .map_err(js_err)?;

    // Frames go out in order through one publisher, behind a bounded queue. The three
    // tasks below belong to the connection: `NatsShipEnd` owns them and aborts them when
    // the sync that holds it ends (stopped, restarted or killed), so none outlives it.
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let subject = up_subject(ship);
    let js2 = js.clone();
    let publisher = Owned(tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            match js2.publish(subject.clone(), Bytes::from(frame)).await {
                Ok(ack) => {
                    if let Err(e) = ack.await {
                        tracing::debug!(error = %e, "sync: local publish not acknowledged");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "sync: local publish failed"),
            }
        }
    }));

    // Frames from shore (acks, commands): the subscription's own buffer is bounded (the
    // client's, 65,536 messages); this hand-off to the sync loop is unbounded because
    // the loop drains it on every turn and ShipConn's receiver type is shared with the
    // simulated link.
    let (down_tx, down_rx) = mpsc::unbounded_channel();
    let mut sub = client.subscribe(down_subject(ship)).await.map_err(js_err)?;
    let subscriber = Owned(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            match Down::decode(&msg.payload) {
                Ok(d) => {
                    if down_tx.send(d).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "sync: bad frame from shore dropped"),
            }
        }
    }));

    let (state_tx, state_rx) = watch::channel(false);
    let pinger = client.clone();
    let ship_b = Bytes::from(ship.to_owned());
    let prober = Owned(tokio::spawn(async move {
        loop {
            let ok = matches!(
                tokio::time::timeout(Duration::from_secs(1), pinger.request(PING, ship_b.clone()))
                    .await,
                Ok(Ok(_))
            );
            state_tx.send_if_modified(|s| std::mem::replace(s, ok) != ok);
            if state_tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }));

    Ok(ShipConn {
        tx: Arc::new(NatsShipEnd {
            out: out_tx,
            state: state_rx,
            capacity: capacity_bytes_per_s,
            _tasks: [publisher, subscriber, prober],
        }),
        rx: down_rx,
    })
}

/// Frames queued for the local publisher at most. The sync paces its sends to the
/// link's rate, so the queue stays near empty while the leaf answers; a frame that finds
/// it full is not sent (`send` says so) and goes again after its ack timeout, like a
/// frame lost on the way.
const OUT_QUEUE: usize = 256;

struct NatsShipEnd {
    out: mpsc::Sender<Vec<u8>>,
    state: watch::Receiver<bool>,
    capacity: Option<u64>,
    /// The publisher, the subscriber to shore's frames and the link prober: they end
    /// with this end.
    _tasks: [Owned; 3],
}

impl ShipTransport for NatsShipEnd {
    fn send(&self, up: Up) -> Result<(), TransportError> {
        if !*self.state.borrow() {
            return Err(TransportError::LinkDown);
        }
        self.out.try_send(up.encode()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                TransportError::NotConnected("nats publisher queue full".into())
            }
            mpsc::error::TrySendError::Closed(_) => {
                TransportError::NotConnected("nats publisher stopped".into())
            }
        })
    }

    fn link_state(&self) -> watch::Receiver<bool> {
        self.state.clone()
    }

    fn capacity_bytes_per_s(&self) -> Option<u64> {
        self.capacity
    }
}

/// A ship the shore cluster sources: its id and JetStream domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipSource {
    /// Ship id.
    pub ship: String,
    /// The ship leaf's JetStream domain.
    pub domain: String,
}

/// How a shore node runs.
#[derive(Debug, Clone)]
pub struct ShoreNodeConfig {
    /// Server URL (with credentials).
    pub url: String,
    /// This node's name (unique in the cluster).
    pub node: String,
    /// The ships to source.
    pub ships: Vec<ShipSource>,
    /// Replicas of the shore streams and buckets (3 in a 3-node cluster).
    pub replicas: usize,
    /// A dead node's ships move after this.
    pub lease: Duration,
}

/// Ensures the shore streams and buckets exist (idempotent; any node may call it).
pub async fn ensure_shore(
    js: &jetstream::Context,
    cfg: &ShoreNodeConfig,
) -> Result<(kv::Store, kv::Store), NatsError> {
    for s in &cfg.ships {
        check_ship(&s.ship)?;
    }
    let sources: Vec<stream::Source> = cfg
        .ships
        .iter()
        .map(|s| stream::Source {
            name: ship_stream(&s.ship),
            external: Some(stream::External {
                api_prefix: format!("$JS.{}.API", s.domain),
                delivery_prefix: None,
            }),
            ..Default::default()
        })
        .collect();
    js.create_or_update_stream(stream::Config {
        name: FLEET.into(),
        sources: Some(sources),
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        max_age: Duration::from_secs(7 * 86_400),
        ..Default::default()
    })
    .await
    .map_err(js_err)?;
    js.create_or_update_stream(stream::Config {
        name: EVENTS.into(),
        subjects: vec!["seawatch.events.>".into()],
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .map_err(js_err)?;
    let owners = match js.get_key_value(OWNERS).await {
        Ok(kv) => kv,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: OWNERS.into(),
                history: 1,
                max_age: cfg.lease,
                num_replicas: cfg.replicas,
                ..Default::default()
            })
            .await
            .map_err(js_err)?,
    };
    let positions = match js.get_key_value(POSITIONS).await {
        Ok(kv) => kv,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: POSITIONS.into(),
                history: 1,
                num_replicas: cfg.replicas,
                ..Default::default()
            })
            .await
            .map_err(js_err)?,
    };
    Ok((owners, positions))
}

/// The `sw_executions` bucket (created if missing; idempotent).
async fn executions_bucket(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<kv::Store, NatsError> {
    match js.get_key_value(EXECUTIONS).await {
        Ok(kv) => Ok(kv),
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: EXECUTIONS.into(),
                history: 1,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(js_err),
    }
}

/// Shared state of a shore node, for its API.
#[derive(Clone, Default)]
pub struct ShoreShared {
    /// The ships whose mirrors live on this node.
    pub fleet: FleetView,
    /// Commands for ships.
    pub commands: Commands,
    /// Metrics.
    pub metrics: Option<SyncMetrics>,
    /// The fleet log in ClickHouse, when configured; the events then go there (exactly
    /// once by (ship, seq)) instead of the `SW_EVENTS` stream.
    pub clickhouse: Option<Arc<ClickHouseFleetStore>>,
    /// The fleet's VictoriaMetrics, when configured: the metrics lane's samples go there
    /// too, exactly once by (ship, seq) (`super::victoriametrics`).
    pub victoriametrics: Option<Arc<super::victoriametrics::ShoreVm>>,
    /// The runtime the node's actors run with (metrics, registry); a private one if
    /// `None`.
    pub runtime: Option<Runtime>,
    /// Ships heard that the node does not source, already warned about (kept across
    /// reconnects so each is warned about once).
    pub unknown_ships: Arc<parking_lot::Mutex<UnknownShips>>,
    /// Traces (decision 0057): a span for each traced incident record applied.
    pub traces: crate::otel::Traces,
    /// The runbook executions of the ships this node serves, from their audit records.
    pub executions: crate::runbook::remote::ShoreExecutions,
    /// Where the mirrors push fleet changes (the node's console), if anywhere.
    pub push: Option<crate::push::PushBus>,
}

/// At most this many unconfigured ship ids are remembered (and warned about) by a shore
/// node; past it one last warning says so and the rest go unreported.
pub const UNKNOWN_SHIPS_CAP: usize = 256;

/// Ships that ping the shore (their sync is running and reaches shore) but have no
/// `[[ship]]` table: the shore does not source their streams, so their events never
/// arrive. Each id is reported once; the set is bounded by [`UNKNOWN_SHIPS_CAP`].
#[derive(Debug, Default)]
pub struct UnknownShips {
    warned: std::collections::HashSet<String>,
    full: bool,
}

/// What a shore node should say about a ship it heard from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownShipNote {
    /// A ship id not configured, heard for the first time.
    NotSourced(String),
    /// The cap was just reached; further unconfigured ships go unreported.
    CapReached,
}

impl UnknownShips {
    /// Notes a ping from `ship` (the raw payload); returns what to warn about, if
    /// anything. Configured ships, ids already reported and payloads that are not a
    /// usable ship id give `None`.
    pub fn heard(&mut self, ship: &[u8], sourced: &[ShipSource]) -> Option<UnknownShipNote> {
        let ship = std::str::from_utf8(ship).ok()?;
        check_ship(ship).ok()?;
        if self.full || sourced.iter().any(|s| s.ship == ship) || self.warned.contains(ship) {
            return None;
        }
        if self.warned.len() >= UNKNOWN_SHIPS_CAP {
            self.full = true;
            return Some(UnknownShipNote::CapReached);
        }
        self.warned.insert(ship.to_owned());
        Some(UnknownShipNote::NotSourced(ship.to_owned()))
    }
}

/// Bound on every JetStream request of a shore node (API calls, publish acks). The
/// client's default is 5 s; a request to a stream whose leader just died waits that long
/// before it fails, and the lease loop would stall with it. Leader elections take 4-9 s,
/// so a short bound plus retries on the next tick finds the new leader sooner.
const JS_TIMEOUT: Duration = Duration::from_millis(2_500);

/// Bound on the mirror's set-up requests while it looks for a new leader.
const SETUP_TIMEOUT: Duration = Duration::from_secs(1);

/// A fetch (1 s expiry) not ended by the server within this is lost (its consumer's
/// leader died); the mirror starts over.
const FETCH_STALL: Duration = Duration::from_secs(4);

/// Shore nodes announce they are alive here every [`ALIVE_EVERY`] (core NATS, no
/// JetStream): a lease whose holder has not been heard for [`DEAD_AFTER`] is taken over
/// at once with a compare-and-set on its revision, without waiting for it to expire.
const ALIVE: &str = "seawatch.shore.alive";
const ALIVE_EVERY: Duration = Duration::from_millis(500);
const DEAD_AFTER: Duration = Duration::from_millis(2_000);
/// How often a node looks at the leases (takes free ones, refreshes its own).
const LEASE_TICK: Duration = Duration::from_millis(500);

/// The lease refresh period for a lease of `lease`: a third of it, at most 1 s.
pub fn lease_refresh(lease: Duration) -> Duration {
    (lease / 3).min(Duration::from_secs(1))
}

/// Runs a shore node until `shutdown` turns true: answers pings, takes the leases of ships
/// no live node holds, and runs the mirrors of the ships it holds.
///
/// Failover: a node takes a ship when its lease is free (never taken, deleted by a node
/// that stopped cleanly, or expired `lease` after its holder's last refresh), or at once
/// when the holder has not announced itself on `seawatch.shore.alive` for 2 s. It learns
/// of deletes and takeovers by watching the lease bucket, and looks at every lease every
/// 500 ms in any case.
pub async fn run_shore_node(
    cfg: ShoreNodeConfig,
    shared: ShoreShared,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), NatsError> {
    let client = connect(&cfg.url).await?;
    let mut js = jetstream::new(client.clone());
    js.set_timeout(JS_TIMEOUT);
    let (owners, positions) = ensure_shore(&js, &cfg).await?;
    let executions_kv = executions_bucket(&js, cfg.replicas).await?;
    let vm_applied = match &shared.victoriametrics {
        Some(_) => Some((
            super::victoriametrics::applied_bucket(&js, cfg.replicas)
                .await
                .map_err(js_err)?,
            super::victoriametrics::rollup_bucket(&js, cfg.replicas)
                .await
                .map_err(js_err)?,
        )),
        None => None,
    };

    let mut pings = client
        .queue_subscribe(PING, "shore".into())
        .await
        .map_err(js_err)?;
    let ponger = client.clone();
    let (sourced, unknown, node) = (
        cfg.ships.clone(),
        shared.unknown_ships.clone(),
        cfg.node.clone(),
    );
    let _ping_task = Owned(tokio::spawn(async move {
        while let Some(m) = pings.next().await {
            match unknown.lock().heard(&m.payload, &sourced) {
                Some(UnknownShipNote::NotSourced(ship)) => tracing::warn!(
                    node = %node,
                    ship = %ship,
                    "shore: ship {ship} reaches shore but is not sourced (no [[ship]] table with id = \"{ship}\" in the shore config); its events are not stored"
                ),
                Some(UnknownShipNote::CapReached) => tracing::warn!(
                    node = %node,
                    "shore: {UNKNOWN_SHIPS_CAP} unconfigured ships reported; further ones are not"
                ),
                None => {}
            }
            if let Some(reply) = m.reply {
                let _ = ponger.publish(reply, Bytes::from_static(b"pong")).await;
            }
        }
    }));

    // Liveness of the other nodes, by name.
    let seen: Arc<parking_lot::Mutex<HashMap<Bytes, std::time::Instant>>> = Arc::default();
    let mut alive_sub = client.subscribe(ALIVE).await.map_err(js_err)?;
    let seen2 = seen.clone();
    let _listen_task = Owned(tokio::spawn(async move {
        while let Some(m) = alive_sub.next().await {
            seen2.lock().insert(m.payload, std::time::Instant::now());
        }
    }));
    let announcer = client.clone();
    let me = Bytes::from(cfg.node.clone());
    let me2 = me.clone();
    let _announce_task = Owned(tokio::spawn(async move {
        let mut every = tokio::time::interval(ALIVE_EVERY);
        loop {
            every.tick().await;
            let _ = announcer.publish(ALIVE, me2.clone()).await;
        }
    }));
    let started = std::time::Instant::now();
    let alive = |holder: &Bytes| -> bool {
        if started.elapsed() < DEAD_AFTER {
            return true; // not listened long enough to tell
        }
        seen.lock()
            .get(holder)
            .is_some_and(|t| t.elapsed() < DEAD_AFTER)
    };

    // Lease changes: deletes (a node stopped), puts by others (a takeover).
    let mut changes = match owners.watch_all().await {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "shore: cannot watch leases; polling only");
            None
        }
    };

    // The node's actors: a fleet supervisor with one mirror actor per ship held.
    let runtime = shared
        .runtime
        .clone()
        .unwrap_or_else(|| Runtime::new(clock.clone()));
    let mut fleet_sup = FleetSupervisor::start(&cfg.node, runtime, shared.fleet.clone())
        .await
        .map_err(|e| NatsError::JetStream(format!("fleet supervisor: {e}")))?;
    // Leases this node holds: revision and when it was last written.
    let mut held: HashMap<String, (u64, std::time::Instant)> = HashMap::new();
    let refresh = lease_refresh(cfg.lease);
    let mut tick = tokio::time::interval(LEASE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut only: Option<String> = None;
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
                continue;
            }
            change = async {
                match changes.as_mut() {
                    Some(w) => w.next().await,
                    None => std::future::pending().await,
                }
            } => {
                match change {
                    Some(Ok(e)) => {
                        if e.operation == kv::Operation::Put && e.value == me {
                            continue; // our own write
                        }
                        only = Some(e.key);
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "shore: lease watch error");
                        continue;
                    }
                    None => {
                        changes = None;
                        continue;
                    }
                }
            }
            _ = tick.tick() => {}
        }
        for s in &cfg.ships {
            if only.as_ref().is_some_and(|k| k != &s.ship) {
                continue;
            }
            let held_now = lease_step(&owners, &s.ship, &me, &mut held, refresh, &alive).await;
            let running = fleet_sup.has(&s.ship);
            if held_now && !running {
                tracing::info!(node = %cfg.node, ship = %s.ship, "shore: serving ship");
                let io: Arc<dyn MirrorIo> = Arc::new(NatsMirrorIo {
                    js: js.clone(),
                    client: client.clone(),
                    positions: positions.clone(),
                    clickhouse: shared.clickhouse.clone(),
                    vm: shared.victoriametrics.clone().zip(vm_applied.clone()).map(
                        |(vm, (kv, rollups))| super::victoriametrics::ShipVm::new(vm, kv, rollups),
                    ),
                    metrics: shared.metrics.clone(),
                    revision: AtomicU64::new(0),
                    traces: shared.traces.clone(),
                    node: cfg.node.clone(),
                    executions: shared.executions.clone(),
                    executions_kv: executions_kv.clone(),
                });
                let args = MirrorArgs {
                    ship: s.ship.clone(),
                    node: cfg.node.clone(),
                    io,
                    fleet: shared.fleet.clone(),
                    commands: shared.commands.clone(),
                    push: shared.push.clone(),
                    metrics: shared.metrics.clone(),
                    clock: clock.clone(),
                };
                if let Err(e) = fleet_sup.start_mirror(args).await {
                    tracing::warn!(node = %cfg.node, ship = %s.ship, error = %e, "shore: cannot start mirror; retried on the next lease tick");
                }
            } else if !held_now && running {
                tracing::info!(node = %cfg.node, ship = %s.ship, "shore: ship moved away");
                fleet_sup.stop_mirror(&s.ship).await;
            }
        }
    }
    fleet_sup.shutdown().await;
    // Hand the ships over at once: delete our leases (only if still ours).
    for (ship, (rev, _)) in held {
        let _ = owners.delete_expect_revision(&ship, Some(rev)).await;
    }
    Ok(())
}

/// A task that ends with its owner: aborted when dropped, so a shore node whose future is
/// dropped (cancelled, or its task aborted) leaves no mirror or responder behind that
/// would go on consuming a ship's frames after another node took the ship.
struct Owned(JoinHandle<()>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes, refreshes or keeps off the ship's lease; true if this node holds it.
async fn lease_step(
    owners: &kv::Store,
    ship: &str,
    me: &Bytes,
    held: &mut HashMap<String, (u64, std::time::Instant)>,
    refresh: Duration,
    alive: &impl Fn(&Bytes) -> bool,
) -> bool {
    let entry = match owners.entry(ship).await {
        Ok(e) => e,
        // Cannot tell (leader election, timeout): keep what we believe until the lease
        // would have run out; the positions' compare-and-set guards the overlap.
        Err(_) => {
            return held
                .get(ship)
                .is_some_and(|(_, at)| at.elapsed() < refresh * 2)
        }
    };
    let result = match entry {
        Some(e) if e.operation == kv::Operation::Put && e.value == *me => {
            if held
                .get(ship)
                .is_some_and(|(rev, at)| *rev == e.revision && at.elapsed() < refresh)
            {
                return true;
            }
            owners
                .update(ship, me.clone(), e.revision)
                .await
                .map_err(|_| ())
        }
        Some(e) if e.operation == kv::Operation::Put => {
            if alive(&e.value) {
                held.remove(ship);
                return false;
            }
            tracing::info!(ship, holder = %String::from_utf8_lossy(&e.value), "shore: lease holder silent; taking over");
            owners
                .update(ship, me.clone(), e.revision)
                .await
                .map_err(|_| ())
        }
        _ => owners.create(ship, me.clone()).await.map_err(|_| ()),
    };
    match result {
        Ok(rev) => {
            held.insert(ship.to_owned(), (rev, std::time::Instant::now()));
            true
        }
        Err(_) => {
            held.remove(ship);
            false
        }
    }
}

fn parse_positions(b: &[u8]) -> Option<[u64; 4]> {
    let s = std::str::from_utf8(b).ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<u64>().ok());
    Some([it.next()??, it.next()??, it.next()??, it.next()??])
}

/// A ship's mirror I/O on a NATS shore node: positions in `sw_positions` (compare-and-set
/// on the revision this incarnation read), events in `SW_EVENTS` or ClickHouse, answers
/// on `seawatch.down.<ship>`, frames from the durable consumer `mirror-<ship>` (acked
/// only after the mirror actor applied and answered them).
struct NatsMirrorIo {
    js: jetstream::Context,
    client: async_nats::Client,
    positions: kv::Store,
    clickhouse: Option<Arc<ClickHouseFleetStore>>,
    /// The ship's samples to the fleet's VictoriaMetrics, when configured.
    vm: Option<super::victoriametrics::ShipVm>,
    metrics: Option<SyncMetrics>,
    /// Revision of the ship's positions as this mirror last read or wrote them (0: none).
    revision: AtomicU64,
    /// Traces: the apply of a traced incident record is a span of its trace.
    traces: crate::otel::Traces,
    /// This shore node.
    node: String,
    /// The ship's runbook executions, folded from its audit records.
    executions: crate::runbook::remote::ShoreExecutions,
    /// ... and stored, one key an execution (`<ship>.<id>`).
    executions_kv: kv::Store,
}

/// Bound on a mirror actor's apply of one frame, seen from its feed.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

impl NatsMirrorIo {
    async fn restore_positions(&self, ship: &str) -> Result<(Mirror, u64), NatsError> {
        let (start, revision) = match self.positions.entry(ship).await.map_err(js_err)? {
            Some(e) if e.operation == kv::Operation::Put => {
                (parse_positions(&e.value).unwrap_or([1; 4]), e.revision)
            }
            _ => ([1; 4], 0),
        };
        self.revision.store(revision, Ordering::Release);
        if let Some(vm) = &self.vm {
            vm.reset().await;
        }
        // the ship's executions as stored: this node may be new to the ship
        let mut stored = Vec::new();
        let prefix = format!("{ship}.");
        let mut keys = self.executions_kv.keys().await.map_err(js_err)?;
        while let Some(k) = keys.next().await {
            let k = k.map_err(js_err)?;
            if !k.starts_with(&prefix) {
                continue;
            }
            if let Some(v) = self.executions_kv.get(&k).await.map_err(js_err)? {
                match serde_json::from_slice(&v) {
                    Ok(s) => stored.push(s),
                    Err(e) => {
                        tracing::warn!(%ship, key = %k, error = %e, "shore: unreadable stored execution skipped")
                    }
                }
            }
        }
        self.executions.load(ship, stored);
        let stored = match &self.clickhouse {
            Some(ch) => ch.count_async(ship).await.map_err(js_err)?,
            None => 0,
        };
        Ok((Mirror::at(ship, start), stored))
    }

    async fn apply_frame(
        &self,
        mirror: &mut Mirror,
        up: Up,
        now_ms: i64,
    ) -> Result<Applied, NatsError> {
        mirror.heard(now_ms);
        let b = match up {
            Up::Batch(b) => b,
            Up::Snapshot { snapshot, .. } => {
                mirror.snapshot(snapshot);
                return Ok(Applied::default());
            }
            Up::Reply(_) => return Ok(Applied::default()),
            Up::Rollup(r) => {
                // Aggregates go to VictoriaMetrics only, behind their own watermark
                // (decision 0058); without one they are taken and dropped.
                let next = match &self.vm {
                    Some(vm) => vm.apply_rollup(mirror.ship(), &r).await.map_err(js_err)?,
                    None => r.end_seq,
                };
                return Ok(Applied {
                    answer: Some(Down::RollupAck { next }),
                    ..Default::default()
                });
            }
        };
        let ship = mirror.ship().to_owned();
        match mirror.decide(&b) {
            Decision::Answer(d) => Ok(Applied {
                answer: Some(d),
                ..Default::default()
            }),
            Decision::Store {
                lane,
                events,
                end,
                dropped,
            } => {
                let started = std::time::SystemTime::now();
                // Samples first: a frame VictoriaMetrics did not take is not acknowledged
                // (and one it took is not written again: its watermark).
                if let Some(vm) = &self.vm {
                    vm.apply(&ship, &events).await.map_err(js_err)?;
                }
                let (new, present) = match &self.clickhouse {
                    Some(ch) => ch.store_events(&ship, &events).await.map_err(js_err)?,
                    None => {
                        let subject = format!("seawatch.events.{ship}");
                        publish_events(&self.js, &subject, &ship, &events).await?
                    }
                };
                // runbook executions: stored before the batch is acknowledged (a failed
                // put fails the frame; it comes again and is folded once)
                for x in self.executions.observe(&ship, &events) {
                    let key = format!("{ship}.{}", x.exec.id);
                    let value = serde_json::to_vec(&x).unwrap_or_default();
                    self.executions_kv
                        .put(key, value.into())
                        .await
                        .map_err(js_err)?;
                }
                let mut next = mirror.positions();
                next[lane.index()] = next[lane.index()].max(end);
                let value = format!("{} {} {} {}", next[0], next[1], next[2], next[3]);
                let revision = self.revision.load(Ordering::Acquire);
                let revision = if revision == 0 {
                    self.positions
                        .create(&ship, value.into())
                        .await
                        .map_err(js_err)?
                } else {
                    self.positions
                        .update(&ship, value.into(), revision)
                        .await
                        .map_err(js_err)?
                };
                self.revision.store(revision, Ordering::Release);
                if let Some(m) = &self.metrics {
                    m.shore_applied(&ship, new, dropped + present);
                }
                self.traces
                    .shore_applied(&ship, &self.node, &events, started);
                Ok(Applied {
                    answer: Some(mirror.commit(lane, end)),
                    total: None,
                    added: new,
                })
            }
        }
    }
}

impl MirrorIo for NatsMirrorIo {
    fn restore<'a>(&'a self, ship: &'a str) -> BoxFuture<'a, Result<(Mirror, u64), String>> {
        Box::pin(async move {
            self.restore_positions(ship)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn apply<'a>(
        &'a self,
        mirror: &'a mut Mirror,
        up: Up,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Applied, String>> {
        Box::pin(async move {
            self.apply_frame(mirror, up, now_ms)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn send<'a>(&'a self, ship: &'a str, down: Down) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Answers are not stored: a lost one is answered again when the ship resends.
            let _ = self
                .client
                .publish(down_subject(ship), Bytes::from(down.encode()))
                .await;
        })
    }

    fn feed<'a>(
        &'a self,
        ship: &'a str,
        mirror: ActorRef<MirrorMsg>,
    ) -> BoxFuture<'a, Result<Option<JoinHandle<()>>, String>> {
        Box::pin(async move {
            let consumer = mirror_consumer(&self.js, ship)
                .await
                .map_err(|e| e.to_string())?;
            let ship = ship.to_owned();
            Ok(Some(tokio::spawn(async move {
                let result = feed_mirror(consumer, &ship, &mirror).await;
                // The mirror fails on a feed error and is restarted, rebuilt from the store.
                let _ = mirror.cast(MirrorMsg::FeedEnded(result.map_err(|e| e.to_string())));
            })))
        })
    }
}

/// Pulls the ship's frames from its durable consumer and hands them to its mirror actor
/// one at a time, acking each once the mirror applied and answered it. Returns on a
/// consumer error, or when the mirror does not apply a frame (it failed; it is restarted
/// and this feed with it).
async fn feed_mirror(
    consumer: consumer::PullConsumer,
    ship: &str,
    mirror: &ActorRef<MirrorMsg>,
) -> Result<(), NatsError> {
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(64)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(js_err)?;
        loop {
            // A pull request sent to a consumer leader that then died is never answered:
            // without this bound the mirror would wait for it forever. Give up; the mirror
            // is restarted and looks the consumer's new leader up.
            let msg = match tokio::time::timeout(FETCH_STALL, batch.next()).await {
                Ok(Some(m)) => m.map_err(js_err)?,
                Ok(None) => break,
                Err(_) => {
                    return Err(NatsError::JetStream(
                        "fetch not answered; consumer leader lost?".into(),
                    ))
                }
            };
            match Up::decode(&msg.payload) {
                Err(e) => tracing::warn!(ship, error = %e, "shore: bad frame dropped"),
                Ok(up) if up.ship() != ship => {}
                Ok(up) => {
                    let applied = mirror
                        .call(|r| MirrorMsg::Up(up, Some(r)), Some(APPLY_TIMEOUT))
                        .await;
                    if !matches!(applied, Ok(ractor::rpc::CallResult::Success(()))) {
                        return Err(NatsError::JetStream(
                            "frame not applied by the mirror; not acked".into(),
                        ));
                    }
                }
            }
            msg.ack().await.map_err(js_err)?;
        }
    }
}

/// Publishes events into `SW_EVENTS` with message ids `ship:seq` (JetStream drops a
/// repeat within its dedup window); returns (new, already present).
async fn publish_events(
    js: &jetstream::Context,
    subject: &str,
    ship: &str,
    events: &[seawatch_runtime::event_log::Event],
) -> Result<(u64, u64), NatsError> {
    let mut acks = Vec::with_capacity(events.len());
    for e in events {
        let mut h = HeaderMap::new();
        h.insert("Nats-Msg-Id", format!("{ship}:{}", e.seq).as_str());
        let body = serde_json::to_vec(e).map_err(js_err)?;
        acks.push(
            js.publish_with_headers(subject.to_owned(), h, Bytes::from(body))
                .await
                .map_err(js_err)?,
        );
    }
    let mut new = 0;
    for a in acks {
        if !a.await.map_err(js_err)?.duplicate {
            new += 1;
        }
    }
    Ok((new, events.len() as u64 - new))
}

/// The ship's durable consumer on the fleet stream (created if missing).
///
/// Right after a server died, the fleet stream or the consumer may have no leader until
/// its raft election ends; a request sent meanwhile is never answered and waits for its
/// whole timeout. So ask with a 1 s bound a few times (the new leader is found within
/// about a second of its election), then once with the normal bound in case the server
/// is only slow.
async fn mirror_consumer(
    js: &jetstream::Context,
    ship: &str,
) -> Result<consumer::PullConsumer, NatsError> {
    let mut last = None;
    for bound in [SETUP_TIMEOUT, SETUP_TIMEOUT, SETUP_TIMEOUT, JS_TIMEOUT] {
        let mut quick = js.clone();
        quick.set_timeout(bound);
        let attempt = async {
            let fleet = quick.get_stream(FLEET).await.map_err(js_err)?;
            fleet
                .get_or_create_consumer(
                    &format!("mirror-{ship}"),
                    consumer::pull::Config {
                        durable_name: Some(format!("mirror-{ship}")),
                        filter_subject: up_subject(ship),
                        ack_policy: consumer::AckPolicy::Explicit,
                        ack_wait: Duration::from_secs(3),
                        max_ack_pending: 1_000,
                        ..Default::default()
                    },
                )
                .await
                .map_err(js_err)
        };
        match attempt.await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| NatsError::JetStream("no attempt".into())))
}

/// Every event stored at shore for `ship`, by seq, with how many times each is stored
/// (reads the `SW_EVENTS` stream; for audits and tests).
pub async fn stored_events(
    url: &str,
    ship: &str,
) -> Result<std::collections::BTreeMap<u64, u32>, NatsError> {
    let client = connect(url).await?;
    let js = jetstream::new(client);
    let events = js.get_stream(EVENTS).await.map_err(js_err)?;
    let consumer: consumer::PullConsumer = events
        .create_consumer(consumer::pull::Config {
            filter_subject: format!("seawatch.events.{ship}"),
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(js_err)?;
    let pending = consumer.cached_info().num_pending;
    let mut out = std::collections::BTreeMap::new();
    let mut seen = 0u64;
    while seen < pending {
        let mut batch = consumer
            .fetch()
            .max_messages(1_000)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .map_err(js_err)?;
        let mut got = 0;
        while let Some(m) = batch.next().await {
            let m = m.map_err(js_err)?;
            let e: seawatch_runtime::event_log::Event =
                serde_json::from_slice(&m.payload).map_err(js_err)?;
            *out.entry(e.seq).or_insert(0) += 1;
            got += 1;
        }
        if got == 0 {
            break;
        }
        seen += got;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions_parse_as_info_gives_them() {
        assert_eq!(parse_server_version("2.9.10"), Some((2, 9, 10)));
        assert_eq!(parse_server_version("v2.10.0-beta.1"), Some((2, 10, 0)));
        assert_eq!(parse_server_version("2.11.0-RC.3"), Some((2, 11, 0)));
        assert_eq!(parse_server_version("2.12"), Some((2, 12, 0)));
        assert_eq!(parse_server_version(" 2.15.1+build.7 "), Some((2, 15, 1)));
        for bad in [
            "", "v", "2", "two.ten", "2.x.1", "2.10.1.4", "-1.2.3", "2..1",
        ] {
            assert_eq!(parse_server_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn servers_older_than_2_10_are_too_old() {
        for old in ["2.9.10", "2.9.25", "2.2.0", "1.4.1", "v2.9.0-beta"] {
            assert!(server_too_old(old), "{old}");
        }
        for ok in ["2.10.0", "2.10.0-RC.1", "2.11.4", "2.15.1", "3.0.0"] {
            assert!(!server_too_old(ok), "{ok}");
        }
        // Unparseable: not refused on its spelling.
        assert!(!server_too_old(""));
        assert!(!server_too_old("nightly"));
    }

    #[test]
    fn too_old_error_is_one_plain_line_without_credentials() {
        let e = NatsError::ServerTooOld {
            version: "2.9.10".into(),
            url: redact("nats://user:secret@10.0.0.1:4222"),
        };
        assert_eq!(
            e.to_string(),
            "nats-server 2.9.10 at nats://10.0.0.1:4222 is too old: seawatch needs NATS \
             JetStream 2.10 or newer"
        );
    }

    fn sourced(ids: &[&str]) -> Vec<ShipSource> {
        ids.iter()
            .map(|id| ShipSource {
                ship: (*id).into(),
                domain: (*id).into(),
            })
            .collect()
    }

    #[test]
    fn an_unconfigured_ship_is_reported_once_and_configured_ones_never() {
        let cfg = sourced(&["aurora"]);
        let mut u = UnknownShips::default();
        assert_eq!(u.heard(b"aurora", &cfg), None);
        assert_eq!(
            u.heard(b"borealis", &cfg),
            Some(UnknownShipNote::NotSourced("borealis".into()))
        );
        assert_eq!(u.heard(b"borealis", &cfg), None);
        // Payloads that are not a ship id are ignored, not logged.
        assert_eq!(u.heard(b"", &cfg), None);
        assert_eq!(u.heard(b"a.b", &cfg), None);
        assert_eq!(u.heard(&[0xff, 0xfe], &cfg), None);
        assert_eq!(u.heard("x\nforged log line".as_bytes(), &cfg), None);
    }

    #[test]
    fn unknown_ships_are_bounded() {
        let cfg = sourced(&[]);
        let mut u = UnknownShips::default();
        for i in 0..UNKNOWN_SHIPS_CAP {
            let id = format!("ship-{i}");
            assert!(matches!(
                u.heard(id.as_bytes(), &cfg),
                Some(UnknownShipNote::NotSourced(_))
            ));
        }
        assert_eq!(
            u.heard(b"one-too-many", &cfg),
            Some(UnknownShipNote::CapReached)
        );
        for i in 0..1_000 {
            assert_eq!(u.heard(format!("more-{i}").as_bytes(), &cfg), None);
        }
        assert_eq!(u.warned.len(), UNKNOWN_SHIPS_CAP);
    }

    /// A fake nats-server announcing `version`: sends INFO, answers PING with PONG.
    async fn fake_server(version: &'static str) -> String {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let info = format!(
                        "INFO {{\"server_id\":\"fake\",\"server_name\":\"fake\",\"version\":\"{version}\",\"proto\":1,\"host\":\"127.0.0.1\",\"port\":{},\"max_payload\":1048576,\"jetstream\":true}}\r\n",
                        addr.port()
                    );
                    if w.write_all(info.as_bytes()).await.is_err() {
                        return;
                    }
                    let mut lines = BufReader::new(r).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.starts_with("PING") && w.write_all(b"PONG\r\n").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        format!("nats://user:pw@{addr}")
    }

    #[tokio::test]
    async fn connecting_to_a_2_9_server_fails_once_with_its_version() {
        let url = fake_server("2.9.10").await;
        let err = tokio::time::timeout(Duration::from_secs(10), check_server(&url))
            .await
            .expect("the check answers as soon as the INFO arrives")
            .unwrap_err();
        assert!(
            matches!(&err, NatsError::ServerTooOld { version, url } if version == "2.9.10" && !url.contains("pw")),
            "{err}"
        );
        let err = connect_ship(&url, "aurora", None).await.err().unwrap();
        assert!(matches!(err, NatsError::ServerTooOld { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_2_10_server_passes_the_check() {
        let url = fake_server("2.10.7").await;
        let version = tokio::time::timeout(Duration::from_secs(10), check_server(&url))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(version, "2.10.7");
    }
}
