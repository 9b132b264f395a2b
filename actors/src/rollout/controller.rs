//! Shore's rollout controller: one supervised actor holding every rollout.
//!
//! **Durable.** Every [`Ev`] is appended to `DIR/journal.jsonl` (and synced) before it is
//! applied; a restarted controller (a restarted shore node) replays the journal and goes
//! on where it stood. The journal is the rollouts' history too: nothing is removed from it.
//!
//! **Tick.** Every `tick` the controller reads the ships' reports (journals them, then acks
//! them), lets each rollout [`decide`](Rollout::decide) what happens next, puts the
//! deliveries of started waves in the ships' queues ([`ShoreLink::deliver`]) and, after an
//! abort, takes back those no ship has taken. It reconnects to NATS by itself; without a
//! link, rollouts are still created, read, paused, resumed and aborted.
//!
//! **Pushed.** With a [`PushBus`], every rollout that changed while the controller handled
//! a message (a request, a tick: its own events and, in failover mode, those read from the
//! shared journal) is published once as a [`PushKind::Rollout`] push of the whole rollout,
//! so a console follows a rollout live (decision 0074).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::{Clock, Metrics};

use super::bundle::BundleStore;
use super::nats::{Fenced, Lease, ShoreLink};
use super::state::{Ev, Op, Rollout, RolloutRequest, Rollouts};
use super::{Delivery, Report, ReportState};
use crate::push::{Push, PushBus, PushKind};

/// Opens the controller's transport (called again after a failure).
pub type ShoreConnector =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn ShoreLink>, String>> + Send + Sync>;

/// `{result}` of `seawatch_rollout_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    /// `created`, `rejected`, `controlled`, `conflict`, `not_found`.
    pub result: &'static str,
}

/// `{state}` of `seawatch_rollout_reports_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReportLabel {
    /// `received`, `succeeded`, `failed`, `timeout`, `unknown`.
    pub state: &'static str,
}

/// Rollout metrics.
#[derive(Debug, Clone, Default)]
pub struct RolloutMetrics {
    /// `seawatch_rollout_requests_total{result}`.
    pub requests: Family<RequestLabel, Counter>,
    /// `seawatch_rollout_reports_total{state}`: ship reports (and timeouts) taken.
    pub reports: Family<ReportLabel, Counter>,
}

impl RolloutMetrics {
    /// Registers the metrics into `metrics`; every known label exports 0.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        for result in ["created", "rejected", "controlled", "conflict", "not_found"] {
            let _ = m.requests.get_or_create(&RequestLabel { result });
        }
        for state in ["received", "succeeded", "failed", "timeout", "unknown"] {
            let _ = m.reports.get_or_create(&ReportLabel { state });
        }
        metrics.register(
            "seawatch_rollout_requests",
            "Rollout API requests (create, pause, resume, abort) by result",
            m.requests.clone(),
        );
        metrics.register(
            "seawatch_rollout_reports",
            "Ship reports on rollout deliveries, and timeouts, by state",
            m.reports.clone(),
        );
        m
    }

    /// Counts a request by result.
    pub fn request(&self, result: &'static str) {
        self.requests.get_or_create(&RequestLabel { result }).inc();
    }

    fn report(&self, state: &'static str) {
        self.reports.get_or_create(&ReportLabel { state }).inc();
    }
}

/// Why a request was refused (the API's status code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
    /// 503: the shared journal (failover mode) cannot be reached.
    #[error("{0}")]
    Unavailable(String),
}

/// Messages of the controller.
pub enum RolloutMsg {
    /// Create a rollout (by `by`).
    Create(
        RolloutRequest,
        String,
        RpcReplyPort<Result<Rollout, ControlError>>,
    ),
    /// Pause, resume or abort rollout `id` (by `by`).
    Control(
        String,
        Op,
        String,
        RpcReplyPort<Result<Rollout, ControlError>>,
    ),
    /// One rollout.
    Get(String, RpcReplyPort<Option<Rollout>>),
    /// Every rollout, oldest first.
    List(RpcReplyPort<Vec<Rollout>>),
    /// Read reports, decide, deliver.
    Tick,
}

/// Start arguments of the controller.
#[derive(Clone)]
pub struct ControllerArgs {
    /// Rollout ids are `<id_prefix>-NNNNNN`; a shore node uses its node name, so the ids
    /// of several nodes never collide.
    pub id_prefix: String,
    /// Journal folder (`DATA/rollouts`).
    pub dir: PathBuf,
    /// Shore's bundles.
    pub bundles: BundleStore,
    /// Every ship of the fleet (for `"all": true`).
    pub fleet: Vec<String>,
    /// Shore time.
    pub clock: Clock,
    /// How often to read reports and deliver.
    pub tick: Duration,
    /// Added to every ship's timeout for the report's trip back (ms).
    pub grace_ms: i64,
    /// The transport.
    pub connect: ShoreConnector,
    /// Metrics.
    pub metrics: RolloutMetrics,
    /// Failover mode: the journal is the JetStream stream `SW_ROLLOUT_JOURNAL` (shared by
    /// every shore node) and a node runs a rollout while it holds its lease, so another
    /// node takes it over when this one dies. Without it, `DIR/journal.jsonl`.
    pub failover: bool,
    /// Where changed rollouts are pushed (the console's WebSocket sessions), if anywhere.
    pub push: Option<PushBus>,
}

/// The journal: one JSON event a line.
struct Journal {
    file: std::fs::File,
}

impl Journal {
    /// Opens `dir/journal.jsonl` and returns it with the events it holds. A last line cut
    /// short by a crash is dropped (its event was never applied).
    fn open(dir: &Path) -> Result<(Journal, Vec<Ev>), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("journal.jsonl");
        let mut events = Vec::new();
        let mut good_len = 0u64;
        if let Ok(f) = std::fs::File::open(&path) {
            let mut r = std::io::BufReader::new(f);
            let mut line = String::new();
            loop {
                line.clear();
                let n = r
                    .read_line(&mut line)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                match serde_json::from_str::<Ev>(line.trim_end()) {
                    Ok(ev) => events.push(ev),
                    Err(e) => {
                        return Err(format!(
                            "{}: line {}: {e}",
                            path.display(),
                            events.len() + 1
                        ))
                    }
                }
                good_len += n as u64;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // Drop a torn last line so the next append starts on a line of its own.
        file.set_len(good_len)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((Journal { file }, events))
    }

    fn append(&mut self, ev: &Ev) -> Result<(), String> {
        let mut line = serde_json::to_vec(ev).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| e.to_string())?;
        self.file.sync_data().map_err(|e| e.to_string())
    }
}

/// The controller's state.
pub struct ControllerState {
    args: ControllerArgs,
    /// The local journal (`None` in failover mode: the journal is in JetStream).
    journal: Option<Journal>,
    rollouts: Rollouts,
    next_id: u64,
    link: Option<Arc<dyn ShoreLink>>,
    bundles: HashMap<String, Vec<u8>>,
    /// Failover mode: the rollouts this node holds the lease of (lease revision).
    owned: HashMap<String, u64>,
    /// Failover mode: the journal sequence of each rollout's last event applied here, and
    /// how many events were applied.
    seqs: HashMap<String, (u64, u64)>,
    /// Failover mode: the events of a local journal from before, moved into JetStream at
    /// the first tick with a link.
    legacy: Vec<Ev>,
    /// Failover mode: the shared journal was read at least once (ids are known).
    synced: bool,
    /// Rollouts changed since the last [`ControllerState::publish`].
    dirty: BTreeSet<String>,
}

fn unavailable(e: impl std::fmt::Display) -> ControlError {
    ControlError::Unavailable(format!("rollout journal: {e}"))
}

impl ControllerState {
    /// Whether this node runs rollout `id` (always, without failover).
    fn runs(&self, id: &str) -> bool {
        !self.args.failover || self.owned.contains_key(id)
    }

    async fn record(&mut self, ev: Ev) -> Result<(), ControlError> {
        if let Some(j) = self.journal.as_mut() {
            j.append(&ev)
                .map_err(|e| ControlError::Internal(format!("rollout journal: {e}")))?;
        } else {
            let link = self
                .link
                .clone()
                .ok_or_else(|| unavailable("no NATS link (the journal is in JetStream)"))?;
            let id = ev.id().to_owned();
            // A new rollout's subject must be empty (0): an id in use is never written
            // over.
            let expect = match ev {
                Ev::Created { .. } => Some(0),
                _ => Some(self.seqs.get(&id).map_or(0, |s| s.0)),
            };
            match link.journal_append(&ev, expect).await {
                Ok(seq) => {
                    let e = self.seqs.entry(id).or_default();
                    *e = (seq, e.1 + 1);
                }
                Err(Fenced::Lost) => {
                    // Another node wrote: it runs the rollout now. Read it afresh.
                    self.owned.remove(&id);
                    self.seqs.remove(&id);
                    self.rollouts.by_id.remove(&id);
                    return Err(ControlError::Conflict(format!(
                        "rollout {id} is run by another shore node now"
                    )));
                }
                Err(Fenced::Io(e)) => {
                    self.link = None;
                    return Err(unavailable(e));
                }
            }
        }
        self.dirty.insert(ev.id().to_owned());
        self.rollouts.apply(&ev);
        Ok(())
    }

    /// Pushes each rollout changed since the last call, once, as it stands now.
    fn publish(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        let Some(bus) = &self.args.push else {
            return;
        };
        for id in dirty {
            let Some(r) = self.rollouts.by_id.get(&id) else {
                continue;
            };
            match serde_json::to_value(r) {
                Ok(body) => bus.publish(Push {
                    kind: PushKind::Rollout,
                    ship: None,
                    body,
                }),
                Err(e) => tracing::warn!(rollout = %id, error = %e, "rollout: not pushed"),
            }
        }
    }

    /// Applies what each rollout this node runs decides until nothing more happens now.
    async fn settle(&mut self) -> Result<(), ControlError> {
        let now = self.args.clock.now_ms();
        let ids: Vec<String> = self.rollouts.by_id.keys().cloned().collect();
        for id in ids {
            if !self.runs(&id) {
                continue;
            }
            for _ in 0..64 {
                let Some(r) = self.rollouts.by_id.get(&id) else {
                    break;
                };
                let evs = r.decide(now, self.args.grace_ms);
                if evs.is_empty() {
                    break;
                }
                for ev in evs {
                    if matches!(ev, Ev::Failed { .. }) {
                        self.args.metrics.report("timeout");
                    }
                    self.record(ev).await?;
                }
            }
        }
        Ok(())
    }

    fn report_event(&self, r: &Report, now: i64) -> Option<Ev> {
        let rollout = self.rollouts.by_id.get(&r.rollout)?;
        if rollout.bundle != r.sha256 {
            return None;
        }
        // A report of an earlier try (before a retry) changes nothing.
        let ship = rollout.ship(&r.ship)?;
        if ship.attempt != r.attempt {
            return None;
        }
        let (id, ship) = (r.rollout.clone(), r.ship.clone());
        Some(match r.state {
            ReportState::Received => Ev::Received {
                id,
                at_ms: now,
                ship,
            },
            ReportState::Succeeded => Ev::Succeeded {
                id,
                at_ms: now,
                ship,
                detail: r.detail.clone(),
            },
            ReportState::Failed => Ev::Failed {
                id,
                at_ms: now,
                ship,
                reason: r.detail.clone(),
            },
        })
    }

    /// Failover mode: moves the rollouts of a local journal from before into the shared
    /// one (those not there yet), then renames the file `journal.jsonl.migrated`.
    async fn migrate(&mut self, link: &Arc<dyn ShoreLink>) -> Result<(), ControlError> {
        if self.legacy.is_empty() {
            return Ok(());
        }
        let there: std::collections::HashSet<String> = link
            .journal_ids()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for ev in &self.legacy {
            if !there.contains(ev.id()) {
                link.journal_append(ev, None).await.map_err(|e| {
                    unavailable(format!("moving the local journal into JetStream: {e:?}"))
                })?;
            }
        }
        let path = self.args.dir.join("journal.jsonl");
        std::fs::rename(&path, path.with_extension("jsonl.migrated"))
            .map_err(|e| ControlError::Internal(format!("{}: {e}", path.display())))?;
        tracing::info!(
            events = self.legacy.len(),
            "rollout: local journal moved into JetStream"
        );
        self.legacy.clear();
        Ok(())
    }

    /// Failover mode: reads the events other nodes appended to the shared journal.
    async fn refresh(&mut self, link: &Arc<dyn ShoreLink>) -> Result<(), ControlError> {
        let ids = link.journal_ids().await.map_err(unavailable)?;
        let prefix = format!("{}-", self.args.id_prefix);
        for (id, n) in ids {
            if let Some(k) = id.strip_prefix(&prefix).and_then(|k| k.parse::<u64>().ok()) {
                self.next_id = self.next_id.max(k + 1);
            }
            let (after, applied) = self.seqs.get(&id).copied().unwrap_or((0, 0));
            if self.owned.contains_key(&id) || applied >= n {
                continue;
            }
            for (seq, ev) in link.journal_read(&id, after).await.map_err(unavailable)? {
                self.dirty.insert(id.clone());
                self.rollouts.apply(&ev);
                let e = self.seqs.entry(id.clone()).or_default();
                *e = (seq, e.1 + 1);
            }
        }
        self.synced = true;
        Ok(())
    }

    /// Failover mode: takes a lease on every rollout that needs a node and none runs,
    /// renews ours, gives up those that are done.
    async fn leases(&mut self, link: &Arc<dyn ShoreLink>) -> Result<(), ControlError> {
        let ids: Vec<String> = self.rollouts.by_id.keys().cloned().collect();
        for id in ids {
            let Some(r) = self.rollouts.by_id.get(&id) else {
                continue;
            };
            let (needs, node) = (r.needs_owner(), r.node.clone());
            let held = self.owned.get(&id).copied();
            if !needs {
                if let Some(rev) = held {
                    link.release(&id, rev).await;
                    self.owned.remove(&id);
                }
                continue;
            }
            match link.lease(&id, held).await {
                Ok(Lease::Held(rev)) => {
                    self.owned.insert(id.clone(), rev);
                    if node.as_deref() != Some(self.args.id_prefix.as_str()) {
                        tracing::info!(rollout = %id, from = ?node, "rollout: taking over");
                        self.record(Ev::Owner {
                            id,
                            at_ms: self.args.clock.now_ms(),
                            node: self.args.id_prefix.clone(),
                        })
                        .await?;
                    }
                }
                Ok(Lease::Other(_)) => {
                    self.owned.remove(&id);
                }
                Err(e) => {
                    tracing::debug!(rollout = %id, error = %e, "rollout: lease");
                    self.owned.remove(&id);
                }
            }
        }
        Ok(())
    }

    async fn tick(&mut self) -> Result<(), ControlError> {
        if self.link.is_none() {
            match tokio::time::timeout(Duration::from_secs(5), (self.args.connect)()).await {
                Ok(Ok(l)) => self.link = Some(l),
                Ok(Err(e)) => tracing::debug!(error = %e, "rollout: no link yet"),
                Err(_) => tracing::debug!("rollout: connect timed out"),
            }
        }
        let Some(link) = self.link.clone() else {
            return self.settle().await;
        };
        if self.args.failover {
            self.migrate(&link).await?;
            self.refresh(&link).await?;
            self.leases(&link).await?;
        }
        match link.reports().await {
            Ok(reports) => {
                let now = self.args.clock.now_ms();
                let mut later = Vec::new();
                for (i, r) in reports.iter().enumerate() {
                    let ev = self.report_event(r, now);
                    match ev {
                        Some(ev) if self.runs(&r.rollout) => {
                            self.args.metrics.report(match r.state {
                                ReportState::Received => "received",
                                ReportState::Succeeded => "succeeded",
                                ReportState::Failed => "failed",
                            });
                            if let Err(e) = self.record(ev).await {
                                tracing::warn!(error = %e, "rollout: report not journaled; it comes again");
                                later.push(i);
                            }
                        }
                        Some(_) => {
                            // Another node runs it: ack once that node journaled it, so a
                            // report is never lost with a node that dies.
                            let done = self
                                .rollouts
                                .by_id
                                .get(&r.rollout)
                                .is_some_and(|x| x.reflects(&r.ship, r.attempt, r.state));
                            if !done {
                                later.push(i);
                            }
                        }
                        None if self.args.failover
                            && !self.rollouts.by_id.contains_key(&r.rollout) =>
                        {
                            // Not in the journal as read so far: look again.
                            later.push(i);
                        }
                        None => {
                            // Another shore node's rollout, or a stale report.
                            self.args.metrics.report("unknown");
                            tracing::debug!(rollout = %r.rollout, ship = %r.ship, "rollout: report for no such rollout or ship");
                        }
                    }
                }
                link.ack_reports(&later).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "rollout: reading reports failed; reconnecting");
                self.link = None;
            }
        }
        self.settle().await?;
        if self.link.is_some() {
            self.deliver(&link).await?;
            self.settle().await?;
        }
        Ok(())
    }

    async fn deliver(&mut self, link: &Arc<dyn ShoreLink>) -> Result<(), ControlError> {
        let ids: Vec<String> = self.rollouts.by_id.keys().cloned().collect();
        for id in ids {
            if !self.runs(&id) {
                continue;
            }
            let Some(r) = self.rollouts.by_id.get(&id) else {
                continue;
            };
            let (send, withdraw, sha, kind) =
                (r.to_send(), r.to_withdraw(), r.bundle.clone(), r.kind);
            for (ship, seq) in withdraw {
                // Gone already (the ship took it, or the stream aged it out) is fine.
                if let Err(e) = link.withdraw(seq).await {
                    tracing::debug!(error = %e, ship, "rollout: withdraw");
                }
                self.record(Ev::Withdrawn {
                    id: id.clone(),
                    at_ms: self.args.clock.now_ms(),
                    ship,
                })
                .await?;
            }
            if send.is_empty() {
                continue;
            }
            if !self.bundles.contains_key(&sha) {
                match self.args.bundles.get(&sha) {
                    Ok(Some((_, bytes))) => {
                        self.bundles.insert(sha.clone(), bytes);
                    }
                    // Taken over from another node: the bundle is in the shared store.
                    Ok(None) if self.args.failover => match link.fetch_bundle(&sha).await {
                        Ok(bytes) => {
                            if let Err(e) = self.args.bundles.put(&bytes) {
                                tracing::warn!(bundle = %sha, error = %e, "rollout: bundle not kept locally");
                            }
                            self.bundles.insert(sha.clone(), bytes);
                        }
                        Err(e) => {
                            tracing::error!(rollout = %id, bundle = %sha, error = %e, "rollout: bundle not found");
                            continue;
                        }
                    },
                    other => {
                        tracing::error!(rollout = %id, bundle = %sha, result = ?other.map(|o| o.is_some()), "rollout: bundle unreadable");
                        continue;
                    }
                }
            }
            for ship in send {
                let Some(r) = self.rollouts.by_id.get(&id) else {
                    break;
                };
                let Some(w) = r.wave_of(&ship) else { continue };
                let attempt = r.ship(&ship).map(|s| s.attempt).unwrap_or(0);
                let d = Delivery {
                    rollout: id.clone(),
                    ship: ship.clone(),
                    sha256: sha.clone(),
                    kind,
                    timeout_s: r.waves[w].spec.timeout_s,
                    // the link decides whether the bundle travels in chunks
                    chunks: 0,
                    size: 0,
                    incident_window_s: r.waves[w].spec.incident_window(),
                    attempt,
                };
                let bytes = &self.bundles[&sha];
                // A repeat of a delivery another node stored before it died is dropped by
                // the stream's dedup window (same message id) and answers its sequence.
                match link.deliver(&d, bytes).await {
                    Ok(seq) => {
                        self.record(Ev::Sent {
                            id: id.clone(),
                            at_ms: self.args.clock.now_ms(),
                            ship,
                            seq,
                        })
                        .await?
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "rollout: delivery not stored; reconnecting");
                        self.link = None;
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    async fn create(&mut self, req: RolloutRequest, by: String) -> Result<Rollout, ControlError> {
        let waves = req
            .plan(&self.args.fleet)
            .map_err(ControlError::BadRequest)?;
        let kind = match self.args.bundles.get(&req.bundle) {
            Ok(Some((b, _))) => b.manifest.kind,
            Ok(None) => {
                return Err(ControlError::BadRequest(format!(
                    "bundle {} is not in shore's bundle store: upload it first (POST /api/bundles)",
                    req.bundle
                )))
            }
            Err(e) => return Err(ControlError::Internal(e.to_string())),
        };
        let id = format!("{}-{:06}", self.args.id_prefix, self.next_id);
        if self.args.failover {
            let link = self
                .link
                .clone()
                .filter(|_| self.synced)
                .ok_or_else(|| unavailable("not read yet (the journal is in JetStream)"))?;
            // Every node must be able to deliver it: the bundle goes to the shared store.
            let bytes = match self.args.bundles.get(&req.bundle) {
                Ok(Some((_, b))) => b,
                _ => return Err(ControlError::Internal("bundle vanished".into())),
            };
            link.store_bundle(&req.bundle, &bytes)
                .await
                .map_err(unavailable)?;
            self.bundles.insert(req.bundle.clone(), bytes);
            match link.lease(&id, None).await {
                Ok(Lease::Held(rev)) => {
                    self.owned.insert(id.clone(), rev);
                }
                Ok(Lease::Other(n)) => {
                    self.next_id += 1;
                    return Err(ControlError::Conflict(format!(
                        "rollout id {id} is held by {n}; try again"
                    )));
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        self.next_id += 1;
        let now = self.args.clock.now_ms();
        self.record(Ev::Created {
            id: id.clone(),
            at_ms: now,
            by,
            request: req,
            kind,
            waves,
        })
        .await?;
        if self.args.failover {
            self.record(Ev::Owner {
                id: id.clone(),
                at_ms: now,
                node: self.args.id_prefix.clone(),
            })
            .await?;
        }
        self.settle().await?;
        self.rollouts
            .by_id
            .get(&id)
            .cloned()
            .ok_or_else(|| ControlError::Internal("created rollout missing".into()))
    }

    async fn control(&mut self, id: &str, op: Op, by: &str) -> Result<Rollout, ControlError> {
        let r = self
            .rollouts
            .by_id
            .get(id)
            .ok_or_else(|| ControlError::NotFound(format!("no rollout {id}")))?;
        let evs = r
            .control(op, by, self.args.clock.now_ms())
            .map_err(ControlError::Conflict)?;
        if !self.runs(id) {
            // Failover mode: run it from here if no node does (a retry of a finished one),
            // else the node that runs it is the one to ask.
            let link = self
                .link
                .clone()
                .ok_or_else(|| unavailable("no NATS link (the journal is in JetStream)"))?;
            match link.lease(id, None).await {
                Ok(Lease::Held(rev)) => {
                    self.owned.insert(id.to_owned(), rev);
                    self.record(Ev::Owner {
                        id: id.to_owned(),
                        at_ms: self.args.clock.now_ms(),
                        node: self.args.id_prefix.clone(),
                    })
                    .await?;
                }
                Ok(Lease::Other(n)) => {
                    return Err(ControlError::Conflict(format!(
                        "rollout {id} is run by shore node {n}: ask it"
                    )))
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        for ev in evs {
            self.record(ev).await?;
        }
        self.settle().await?;
        self.rollouts
            .by_id
            .get(id)
            .cloned()
            .ok_or_else(|| ControlError::Internal("rollout missing".into()))
    }
}

/// The controller actor.
pub struct RolloutController;

impl Actor for RolloutController {
    type Msg = RolloutMsg;
    type State = ControllerState;
    type Arguments = ControllerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RolloutMsg>,
        args: ControllerArgs,
    ) -> Result<ControllerState, ActorProcessingErr> {
        let mut rollouts = Rollouts::default();
        let mut created = 0;
        let mut legacy = Vec::new();
        let journal = if args.failover {
            // The journal is in JetStream: read at the first tick with a link. A local
            // one from before moves there.
            if args.dir.join("journal.jsonl").exists() {
                legacy = Journal::open(&args.dir)?.1;
            }
            None
        } else {
            let (journal, events) = Journal::open(&args.dir)?;
            for ev in &events {
                if matches!(ev, Ev::Created { .. }) {
                    created += 1;
                }
                rollouts.apply(ev);
            }
            tracing::info!(
                rollouts = rollouts.by_id.len(),
                events = events.len(),
                "rollout controller: journal replayed"
            );
            Some(journal)
        };
        let _ = myself.cast(RolloutMsg::Tick);
        Ok(ControllerState {
            args,
            journal,
            rollouts,
            next_id: created + 1,
            link: None,
            bundles: HashMap::new(),
            owned: HashMap::new(),
            seqs: HashMap::new(),
            legacy,
            synced: false,
            dirty: BTreeSet::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<RolloutMsg>,
        msg: RolloutMsg,
        st: &mut ControllerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RolloutMsg::Create(req, by, reply) => {
                let r = st.create(req, by).await;
                st.args.metrics.request(match &r {
                    Ok(_) => "created",
                    Err(ControlError::BadRequest(_)) => "rejected",
                    Err(_) => "conflict",
                });
                let internal = matches!(r, Err(ControlError::Internal(_)));
                let _ = reply.send(r.clone());
                if internal {
                    // The journal cannot be written: fail, be restarted, replay.
                    return Err(format!("{:?}", r.err()).into());
                }
            }
            RolloutMsg::Control(id, op, by, reply) => {
                let r = st.control(&id, op, &by).await;
                st.args.metrics.request(match &r {
                    Ok(_) => "controlled",
                    Err(ControlError::NotFound(_)) => "not_found",
                    Err(_) => "conflict",
                });
                let internal = matches!(r, Err(ControlError::Internal(_)));
                let _ = reply.send(r.clone());
                if internal {
                    return Err(format!("{:?}", r.err()).into());
                }
            }
            RolloutMsg::Get(id, reply) => {
                let _ = reply.send(st.rollouts.by_id.get(&id).cloned());
            }
            RolloutMsg::List(reply) => {
                let _ = reply.send(st.rollouts.by_id.values().cloned().collect());
            }
            RolloutMsg::Tick => {
                match st.tick().await {
                    Err(e @ ControlError::Internal(_)) => return Err(e.to_string().into()),
                    // The link or the lease went away: the next tick sees to it.
                    Err(e) => tracing::warn!(error = %e, "rollout: tick"),
                    Ok(()) => {}
                }
                myself.send_after(st.args.tick, || RolloutMsg::Tick);
            }
        }
        st.publish();
        Ok(())
    }
}

/// The controller as a supervised child named `rollouts`, and its stable address.
pub fn controller_child(args: ControllerArgs) -> (ChildSpec, Addr<RolloutMsg>) {
    ChildSpec::actor("rollouts", "rollout_controller", move || {
        (RolloutController, args.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::bundle::{encode, BundleKind};
    use crate::rollout::state::{OnError, RolloutState, WaveSpec};

    #[test]
    fn the_journal_replays_and_drops_a_torn_last_line() {
        let d = tempfile::tempdir().unwrap();
        let (mut j, evs) = Journal::open(d.path()).unwrap();
        assert!(evs.is_empty());
        let ev = Ev::Completed {
            id: "r-1".into(),
            at_ms: 5,
        };
        j.append(&ev).unwrap();
        drop(j);
        let path = d.path().join("journal.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"ev\":\"complet");
        std::fs::write(&path, text).unwrap();
        let (mut j, evs) = Journal::open(d.path()).unwrap();
        assert_eq!(evs, vec![ev.clone()]);
        j.append(&ev).unwrap();
        let (_, evs) = Journal::open(d.path()).unwrap();
        assert_eq!(evs.len(), 2);
    }

    fn args(dir: &Path, clock: Clock) -> ControllerArgs {
        let bundles = BundleStore::open(&dir.join("bundles")).unwrap();
        ControllerArgs {
            id_prefix: "r".into(),
            dir: dir.join("rollouts"),
            bundles,
            fleet: vec!["a".into(), "b".into()],
            clock,
            tick: Duration::from_secs(3600),
            grace_ms: 0,
            connect: Arc::new(|| {
                Box::pin(async { Err::<Arc<dyn ShoreLink>, _>("offline".into()) })
            }),
            metrics: RolloutMetrics::default(),
            failover: false,
            push: None,
        }
    }

    #[tokio::test]
    async fn without_a_link_rollouts_are_created_controlled_and_survive_a_restart() {
        let d = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_800_000_000_000);
        let a = args(d.path(), clock.clone());
        let info = a
            .bundles
            .put(&encode(BundleKind::Runbooks, "r", vec![]))
            .unwrap();
        let (actor, _) = Actor::spawn(None, RolloutController, a.clone())
            .await
            .unwrap();
        let req = approval_request(&info.sha256);
        let r = ractor::call!(actor, RolloutMsg::Create, req.clone(), "root".into())
            .unwrap()
            .unwrap();
        assert_eq!(r.id, "r-000001");
        assert_eq!(r.state, RolloutState::AwaitingApproval);
        let mut bad = req.clone();
        bad.bundle = "b".repeat(64);
        let e = ractor::call!(actor, RolloutMsg::Create, bad, "root".into())
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, ControlError::BadRequest(m) if m.contains("upload it first")));
        let r = ractor::call!(actor, RolloutMsg::Control, r.id, Op::Resume, "root".into())
            .unwrap()
            .unwrap();
        assert_eq!(r.state, RolloutState::Running);
        let e = ractor::call!(
            actor,
            RolloutMsg::Control,
            "r-9".into(),
            Op::Pause,
            "root".into()
        )
        .unwrap()
        .unwrap_err();
        assert!(matches!(e, ControlError::NotFound(_)));
        actor.stop_and_wait(None, None).await.unwrap();

        // A new incarnation replays the journal.
        let (actor, _) = Actor::spawn(None, RolloutController, a).await.unwrap();
        let all = ractor::call!(actor, RolloutMsg::List).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].state, RolloutState::Running);
        assert_eq!(all[0].to_send(), vec!["a", "b"]);
        let r2 = ractor::call!(actor, RolloutMsg::Create, req, "root".into())
            .unwrap()
            .unwrap();
        assert_eq!(r2.id, "r-000002", "ids go on after a restart");
        actor.stop_and_wait(None, None).await.unwrap();
    }

    /// A rollout of `sha` to every ship in one wave that waits for approval.
    fn approval_request(sha: &str) -> RolloutRequest {
        RolloutRequest {
            bundle: sha.to_owned(),
            ships: None,
            all: Some(true),
            waves: vec![WaveSpec {
                percent: 100.0,
                success_threshold: 100.0,
                error_threshold: 0.0,
                timeout_s: 60,
                approval: true,
                incident_window_s: None,
            }],
            on_error: OnError::Pause,
        }
    }

    /// Each request's changes reach the push bus once, as the whole rollout after them.
    #[tokio::test]
    async fn every_change_is_pushed_once_as_the_whole_rollout() {
        let d = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_800_000_000_000);
        let bus = PushBus::new(64);
        let mut rx = bus.subscribe();
        let mut a = args(d.path(), clock.clone());
        a.push = Some(bus.clone());
        let info = a
            .bundles
            .put(&encode(BundleKind::Runbooks, "r", vec![]))
            .unwrap();
        let (actor, _) = Actor::spawn(None, RolloutController, a).await.unwrap();
        let req = approval_request(&info.sha256);
        let r = ractor::call!(actor, RolloutMsg::Create, req, "root".into())
            .unwrap()
            .unwrap();
        let p = rx.try_recv().unwrap();
        assert_eq!(p.kind, PushKind::Rollout);
        assert_eq!(p.ship, None);
        assert_eq!(p.body["id"], r.id.as_str());
        assert_eq!(p.body["state"], "awaiting_approval");
        assert_eq!(p.body["waves"][0]["ships"][0]["state"], "pending");
        assert!(rx.try_recv().is_err(), "one push for the request's events");
        ractor::call!(
            actor,
            RolloutMsg::Control,
            "r-9".into(),
            Op::Pause,
            "root".into()
        )
        .unwrap()
        .unwrap_err();
        assert!(rx.try_recv().is_err(), "a refused request changes nothing");
        ractor::call!(actor, RolloutMsg::Control, r.id, Op::Resume, "root".into())
            .unwrap()
            .unwrap();
        let p = rx.try_recv().unwrap();
        assert_eq!(p.body["state"], "running");
        assert!(p.to_wire().contains(r#""type":"rollout""#));
        let _ = ractor::call!(actor, RolloutMsg::List).unwrap();
        assert!(rx.try_recv().is_err(), "reads push nothing");
        actor.stop_and_wait(None, None).await.unwrap();
    }
}
