//! Fleet rollouts in `seawatch sim run` (a scenario's `[[rollout]]` tables; decision 0075).
//!
//! The real rollout code runs: two shore nodes, each a rollout controller
//! ([`controller_child`]) under its own supervision tree in failover mode (a lease per
//! rollout, a fenced journal shared by the nodes), and one bundle agent ([`agent_child`])
//! per ship under the ship's own tree, applying into `DATA/rollout/<ship>/` and rolling
//! back by itself. What is simulated is the transport: [`Bus`] keeps in memory what the
//! JetStream streams and the lease bucket of [`seawatch_actors::rollout::nats`] keep
//! (deliveries a ship reads when its link is up, bundle chunks, reports every node reads,
//! the journal with its expected-last-sequence fencing, leases that run out), so a plain
//! `sim run` needs no server.
//!
//! Everything runs on its own thread, on a paused tokio runtime stepped to each barrier's
//! scenario time, like the embedded shore of sync ([`crate::sim::ShoreSim`]): lease
//! expiry, per-ship timeouts, incident watches and chunk transfer times are scenario
//! time. A ship reaches shore while its sync link is up ([`crate::sim::sync_link`]: its
//! primary link's outages); a chunk takes its size over the rollout's
//! `bulk_bytes_per_s` and is lost if the link goes down before it arrives. The incident
//! watch reads the ship's incident board (what its correlator opened), never the faults.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use seawatch_actors::incident::{IncidentBoard, StateFilter};
use seawatch_actors::rollout::agent::{
    agent_child, AgentArgs, AgentRecord, BundleTargets, IncidentProbe,
};
use seawatch_actors::rollout::bundle::{build_dir, decode, encode, BundleKind, BundleStore};
use seawatch_actors::rollout::controller::{
    controller_child, ControlError, ControllerArgs, RolloutMetrics, RolloutMsg,
};
use seawatch_actors::rollout::nats::{
    assemble, delivery_id, Fenced, Lease, ShipLink, ShoreLink, CHUNK_BYTES, INLINE_MAX,
};
use seawatch_actors::rollout::state::{
    Ev, OnError, Rollout, RolloutRequest, RolloutState, ShipState, WaveSpec, WaveState,
};
use seawatch_actors::rollout::{Delivery, Report, ReportState};
use seawatch_actors::sync::link::LinkProfile;
use seawatch_runtime::supervision::{start_root, Addr, SupervisorHandle, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, ShardKey};
use seawatch_simulators::scenario::{GeneratedBundle, RolloutPlan, Scenario};
use serde::{Deserialize, Serialize};

use crate::sim::SimError;

/// A rollout's lease in the simulated shore: a killed node's rollouts are taken over once
/// it runs out (as in `actors/tests/rollout_fleet.rs`).
pub const SIM_LEASE: Duration = Duration::from_secs(3);
/// The shore nodes `sim run` runs.
pub const SIM_NODES: [&str; 2] = ["shore-0", "shore-1"];
/// How long the rollouts may run on after the scenario's end to finish (simulated).
const DRAIN_LIMIT_MS: i64 = 3_600_000;
/// As `seawatch shore` (decision 0067): a tick a second, leases renewed at each.
const CONTROLLER_TICK: Duration = Duration::from_secs(1);
const AGENT_POLL: Duration = Duration::from_secs(1);
const CALL: Duration = Duration::from_secs(30);

/// The policy in place on every ship before a rollout (what a rollback puts back).
pub const SHIP_POLICY: &str = "package seawatch.remediation\n\ndecision := {\"allow\": false, \"reasons\": [\"v1\"], \"approvals_required\": 0, \"max_parallel\": 1}\n";

/// The bundle a `generate = "good" | "bad"` rollout sends: a policy bundle that compiles
/// (with comments and notes to 1.2 MB, so it travels in 256 KiB chunks), or one that does
/// not (its health check fails on the ship).
pub fn generated_bundle(kind: GeneratedBundle, seed: u64) -> Vec<u8> {
    match kind {
        GeneratedBundle::Good => {
            let mut policy = SHIP_POLICY.replace("\"v1\"", "\"v2\"");
            let mut notes = String::new();
            let mut x = seed | 1;
            while policy.len() + notes.len() <= INLINE_MAX + CHUNK_BYTES {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let line = format!("# {x:016x}\n");
                if policy.len() < 100_000 {
                    policy.push_str(&line);
                } else {
                    notes.push_str(&line);
                }
            }
            encode(
                BundleKind::Policies,
                "policies",
                vec![
                    ("remediation.rego".into(), policy.into_bytes()),
                    ("notes.txt".into(), notes.into_bytes()),
                ],
            )
        }
        GeneratedBundle::Bad => encode(
            BundleKind::Policies,
            "policies",
            vec![(
                "remediation.rego".into(),
                b"package seawatch.remediation\n\ndecision := {\"allow\": \n".to_vec(),
            )],
        ),
    }
}

/// One ship of a rollout in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRolloutShip {
    /// Ship id.
    pub ship: String,
    /// Its wave (1-based).
    pub wave: usize,
    /// `pending`, `sent`, `applying`, `succeeded`, `failed` or `skipped`.
    pub state: String,
    /// Times the ship started to take the delivery (a try cut short by its link counts).
    pub attempts: u32,
    /// Times the ship swapped a bundle in while the rollout ran.
    pub applied: u64,
    /// When it succeeded or failed, seconds since the scenario start.
    pub done_at_s: Option<f64>,
    /// What the ship said (what was checked, or why it failed).
    pub detail: Option<String>,
}

/// Chunk transfer of a rollout's bundle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportChunks {
    /// Chunks of the bundle (0: it travels inline with its delivery).
    pub per_ship: u64,
    /// Chunks the ships fetched in all.
    pub fetched: u64,
    /// Chunks fetched again after the ship had it stored (acknowledged).
    pub resent_after_ack: u64,
}

/// A rollout in the report (`rollouts`, an addition to contracts §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRollout {
    /// Rollout id (null when shore refused it; `error` says why).
    pub id: Option<String>,
    /// The bundle's SHA-256.
    pub bundle: String,
    /// `generated:good`, `generated:bad` or the bundle folder.
    pub source: String,
    /// When shore created it, seconds since the scenario start.
    pub started_at_s: Option<f64>,
    /// Final state: `running`, `awaiting_approval`, `paused`, `aborted` or `completed`.
    pub state: String,
    /// Why it paused or aborted.
    pub reason: Option<String>,
    /// The wave (1-based) whose threshold tripped and stopped it.
    pub stopped_at_wave: Option<usize>,
    /// Waves started.
    pub waves_started: usize,
    /// When it completed, seconds since the scenario start.
    pub completed_at_s: Option<f64>,
    /// Its ships, wave by wave.
    pub ships: Vec<ReportRolloutShip>,
    /// Chunk transfer.
    pub chunks: ReportChunks,
    /// The first ship of wave 1.
    pub canary: Option<String>,
    /// The canary failed and its target folder is back as it was before the rollout.
    pub canary_rolled_back: bool,
    /// When the shore node running it was killed, seconds since the scenario start.
    pub shore_node_killed_at_s: Option<f64>,
    /// From that kill to another node running it, seconds.
    pub failover_s: Option<f64>,
    /// Final reports the ships stored at shore that its journal does not reflect.
    pub reports_not_journaled: u64,
    /// Ships whose delivery was journaled as sent, or whose success was journaled, more
    /// than once.
    pub journaled_twice: u64,
    /// Why it could not be created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A rollout ready to play: its plan and bundle bytes.
struct Prepared {
    plan: RolloutPlan,
    bytes: Vec<u8>,
    sha256: String,
    source: String,
}

/// Reads or generates each `[[rollout]]`'s bundle (`base`: the scenario's folder).
fn prepare(scenario: &Scenario, base: &Path) -> Result<Vec<Prepared>, SimError> {
    scenario
        .rollout
        .iter()
        .enumerate()
        .map(|(i, plan)| {
            let (bytes, source) = match (&plan.bundle, plan.generate) {
                (Some(dir), _) => {
                    let path = base.join(dir);
                    let bytes = build_dir(&path).map_err(|e| {
                        SimError::Io(format!("rollout[{i}].bundle {}: {e}", path.display()))
                    })?;
                    (bytes, path.display().to_string())
                }
                (None, Some(g)) => (
                    generated_bundle(g, scenario.seed),
                    format!(
                        "generated:{}",
                        match g {
                            GeneratedBundle::Good => "good",
                            GeneratedBundle::Bad => "bad",
                        }
                    ),
                ),
                (None, None) => {
                    return Err(SimError::Io(format!(
                        "rollout[{i}]: no bundle, expected bundle = \"DIR\" or generate = \"good\" | \"bad\""
                    )))
                }
            };
            let b = decode(&bytes).map_err(|e| SimError::Io(format!("rollout[{i}]: {e}")))?;
            Ok(Prepared {
                plan: plan.clone(),
                sha256: b.sha256.clone(),
                bytes,
                source,
            })
        })
        .collect()
}

fn request(p: &Prepared) -> RolloutRequest {
    RolloutRequest {
        bundle: p.sha256.clone(),
        ships: None,
        all: Some(true),
        waves: p
            .plan
            .wave
            .iter()
            .map(|w| WaveSpec {
                percent: w.percent,
                success_threshold: w.success_threshold,
                error_threshold: w.error_threshold,
                timeout_s: w.timeout_s,
                approval: false,
                incident_window_s: w.incident_window_s,
            })
            .collect(),
        on_error: match p.plan.on_error.as_deref() {
            Some("abort") => OnError::Abort,
            _ => OnError::Pause,
        },
    }
}

// ---------------------------------------------------------------------------------------
// The transport: what the JetStream streams and the lease bucket hold, in memory.

#[derive(Default)]
struct BusState {
    /// Stream sequence of deliveries and journal events.
    seq: u64,
    /// Each ship's deliveries waiting for it: (seq, payload).
    queues: HashMap<String, Vec<(u64, Vec<u8>)>>,
    /// Message ids of deliveries stored (a repeat is dropped and answers the first seq).
    delivered: HashMap<String, u64>,
    /// Chunked bundles by SHA-256.
    chunked: HashMap<String, Vec<u8>>,
    /// Reports, in arrival order, and their message ids.
    reports: Vec<Report>,
    report_ids: HashSet<String>,
    /// Per node: reports acked, reports handed out by the last `reports`, and reports to
    /// hand out again not before a time (ms).
    acked: HashMap<String, HashSet<usize>>,
    held: HashMap<String, Vec<usize>>,
    retry: HashMap<String, HashMap<usize, i64>>,
    /// The shared journal: per rollout, (seq, event).
    journal: BTreeMap<String, Vec<(u64, Ev)>>,
    /// Leases: rollout → (node, revision, runs out at ms).
    leases: HashMap<String, (String, u64, i64)>,
    lease_rev: u64,
    /// The shared bundle store.
    bundles: HashMap<String, Vec<u8>>,
    /// Successful chunk fetches per (ship, sha256, chunk).
    fetches: HashMap<(String, String, u32), u64>,
    /// Times each ship started to take a delivery, per (rollout, ship).
    taken: HashMap<(String, String), u32>,
    /// Bulk share per rollout id.
    rates: HashMap<String, u64>,
}

/// The simulated transport shared by the shore nodes and the ships.
pub struct Bus {
    clock: Clock,
    start_ms: i64,
    links: HashMap<String, LinkProfile>,
    lease_ms: i64,
    st: Mutex<BusState>,
}

impl Bus {
    fn new(clock: Clock, start_ms: i64, links: HashMap<String, LinkProfile>) -> Self {
        Self {
            clock,
            start_ms,
            links,
            lease_ms: SIM_LEASE.as_millis() as i64,
            st: Mutex::new(BusState::default()),
        }
    }

    /// Whether `ship`'s link to shore is up now.
    fn online(&self, ship: &str) -> bool {
        let t = Duration::from_millis((self.clock.now_ms() - self.start_ms).max(0) as u64);
        self.links
            .get(ship)
            .is_some_and(|p| !p.outages.iter().any(|(a, b)| *a <= t && t < *b))
    }

    fn rate(&self, rollout: &str) -> u64 {
        self.st
            .lock()
            .rates
            .get(rollout)
            .copied()
            .unwrap_or(256 * 1024)
            .max(1)
    }
}

struct MemShore {
    bus: Arc<Bus>,
    node: String,
}

impl ShoreLink for MemShore {
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
        bundle: &'a [u8],
    ) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let id = delivery_id(d);
            let mut st = self.bus.st.lock();
            if let Some(&seq) = st.delivered.get(&id) {
                return Ok(seq);
            }
            let msg = if bundle.len() > INLINE_MAX {
                st.chunked
                    .entry(d.sha256.clone())
                    .or_insert_with(|| bundle.to_vec());
                let mut d = d.clone();
                d.chunks = bundle.len().div_ceil(CHUNK_BYTES) as u32;
                d.size = bundle.len() as u64;
                d.encode(&[])
            } else {
                d.encode(bundle)
            };
            st.seq += 1;
            let seq = st.seq;
            st.delivered.insert(id, seq);
            st.queues
                .entry(d.ship.clone())
                .or_default()
                .push((seq, msg));
            Ok(seq)
        })
    }

    fn withdraw(&self, seq: u64) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            for q in self.bus.st.lock().queues.values_mut() {
                q.retain(|(s, _)| *s != seq);
            }
            Ok(())
        })
    }

    fn reports(&self) -> BoxFuture<'_, Result<Vec<Report>, String>> {
        Box::pin(async move {
            let now = self.bus.clock.now_ms();
            let mut st = self.bus.st.lock();
            let st = &mut *st;
            let acked = st.acked.entry(self.node.clone()).or_default();
            let retry = st.retry.entry(self.node.clone()).or_default();
            let idx: Vec<usize> = (0..st.reports.len())
                .filter(|i| !acked.contains(i) && retry.get(i).is_none_or(|t| *t <= now))
                .take(256)
                .collect();
            let out = idx.iter().map(|&i| st.reports[i].clone()).collect();
            st.held.insert(self.node.clone(), idx);
            Ok(out)
        })
    }

    fn ack_reports<'a>(&'a self, later: &'a [usize]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let now = self.bus.clock.now_ms();
            let mut st = self.bus.st.lock();
            let held = st.held.remove(&self.node).unwrap_or_default();
            for (k, i) in held.into_iter().enumerate() {
                if later.contains(&k) {
                    st.retry
                        .entry(self.node.clone())
                        .or_default()
                        .insert(i, now + 1000);
                } else {
                    st.acked.entry(self.node.clone()).or_default().insert(i);
                }
            }
        })
    }

    fn journal_ids(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, String>> {
        Box::pin(async move {
            Ok(self
                .bus
                .st
                .lock()
                .journal
                .iter()
                .map(|(id, evs)| (id.clone(), evs.len() as u64))
                .collect())
        })
    }

    fn journal_read<'a>(
        &'a self,
        id: &'a str,
        after: u64,
    ) -> BoxFuture<'a, Result<Vec<(u64, Ev)>, String>> {
        Box::pin(async move {
            Ok(self
                .bus
                .st
                .lock()
                .journal
                .get(id)
                .map(|evs| evs.iter().filter(|(s, _)| *s > after).cloned().collect())
                .unwrap_or_default())
        })
    }

    fn journal_append<'a>(
        &'a self,
        ev: &'a Ev,
        expect_last: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, Fenced>> {
        Box::pin(async move {
            let mut st = self.bus.st.lock();
            let last = st
                .journal
                .get(ev.id())
                .and_then(|e| e.last())
                .map_or(0, |(s, _)| *s);
            if expect_last.is_some_and(|x| x != last) {
                return Err(Fenced::Lost);
            }
            st.seq += 1;
            let seq = st.seq;
            st.journal
                .entry(ev.id().to_owned())
                .or_default()
                .push((seq, ev.clone()));
            Ok(seq)
        })
    }

    fn lease<'a>(
        &'a self,
        id: &'a str,
        _held: Option<u64>,
    ) -> BoxFuture<'a, Result<Lease, String>> {
        Box::pin(async move {
            let now = self.bus.clock.now_ms();
            let mut st = self.bus.st.lock();
            let live = st
                .leases
                .get(id)
                .filter(|(_, _, until)| *until > now)
                .cloned();
            match live {
                // Another node's, still running: not ours (a stale `held` included).
                Some((node, _, _)) if node != self.node => Ok(Lease::Other(node)),
                // Ours (renewed; from an earlier incarnation too), or free: take it.
                _ => {
                    st.lease_rev += 1;
                    let rev = st.lease_rev;
                    st.leases.insert(
                        id.to_owned(),
                        (self.node.clone(), rev, now + self.bus.lease_ms),
                    );
                    Ok(Lease::Held(rev))
                }
            }
        })
    }

    fn store_bundle<'a>(
        &'a self,
        sha: &'a str,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.bus
                .st
                .lock()
                .bundles
                .entry(sha.to_owned())
                .or_insert_with(|| bytes.to_vec());
            Ok(())
        })
    }

    fn fetch_bundle<'a>(&'a self, sha: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            self.bus
                .st
                .lock()
                .bundles
                .get(sha)
                .cloned()
                .ok_or_else(|| format!("bundle {sha}: not in the shared store"))
        })
    }

    fn release<'a>(&'a self, id: &'a str, rev: u64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut st = self.bus.st.lock();
            if st.leases.get(id).is_some_and(|(_, r, _)| *r == rev) {
                st.leases.remove(id);
            }
        })
    }
}

struct MemShip {
    bus: Arc<Bus>,
    ship: String,
    chunk_dir: PathBuf,
    /// The delivery being worked on: its seq and payload with the bundle inline.
    held: Mutex<Option<(u64, Vec<u8>)>>,
}

impl MemShip {
    fn down(&self) -> Result<(), String> {
        if self.bus.online(&self.ship) {
            Ok(())
        } else {
            Err(format!("{}: link to shore down", self.ship))
        }
    }

    /// One chunk over the link: it takes its size over the bulk share, and is lost if
    /// the link goes down before it arrives.
    async fn fetch(&self, d: &Delivery, i: u32) -> Result<Bytes, String> {
        self.down()?;
        let bundle = self
            .bus
            .st
            .lock()
            .chunked
            .get(&d.sha256)
            .cloned()
            .ok_or_else(|| format!("bundle {}: no chunks at shore", d.sha256))?;
        let from = i as usize * CHUNK_BYTES;
        let to = (from + CHUNK_BYTES).min(bundle.len());
        let chunk = bundle
            .get(from..to)
            .ok_or_else(|| format!("bundle {} has no chunk {i}", d.sha256))?;
        let rate = self.bus.rate(&d.rollout);
        tokio::time::sleep(Duration::from_secs_f64(chunk.len() as f64 / rate as f64)).await;
        self.down()
            .map_err(|e| format!("chunk {i} lost on the way: {e}"))?;
        *self
            .bus
            .st
            .lock()
            .fetches
            .entry((self.ship.clone(), d.sha256.clone(), i))
            .or_default() += 1;
        Ok(Bytes::copy_from_slice(chunk))
    }
}

impl ShipLink for MemShip {
    fn next(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            self.down()?;
            if let Some((_, p)) = self.held.lock().as_ref() {
                return Ok(Some(p.clone()));
            }
            let first = self
                .bus
                .st
                .lock()
                .queues
                .get(&self.ship)
                .and_then(|q| q.first().cloned());
            let Some((seq, msg)) = first else {
                return Ok(None);
            };
            let (d, bytes) = Delivery::decode(&msg)?;
            *self
                .bus
                .st
                .lock()
                .taken
                .entry((d.rollout.clone(), self.ship.clone()))
                .or_default() += 1;
            let payload = if d.chunks == 0 {
                msg.clone()
            } else {
                if !bytes.is_empty() {
                    return Err("a chunked delivery with bytes after its header".into());
                }
                let fetched = AtomicU64::new(0);
                let bundle = assemble(&d, Some(&self.chunk_dir), &fetched, |i| {
                    let d = d.clone();
                    async move { self.fetch(&d, i).await }
                })
                .await?;
                let mut inline = d.clone();
                inline.chunks = 0;
                inline.size = 0;
                inline.encode(&bundle)
            };
            *self.held.lock() = Some((seq, payload.clone()));
            Ok(Some(payload))
        })
    }

    fn ack(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.down()?;
            let held = self.held.lock().take();
            if let Some((seq, payload)) = held {
                if let Ok((d, _)) = Delivery::decode(&payload) {
                    let _ = tokio::fs::remove_dir_all(self.chunk_dir.join(&d.sha256)).await;
                }
                if let Some(q) = self.bus.st.lock().queues.get_mut(&self.ship) {
                    q.retain(|(s, _)| *s != seq);
                }
            }
            Ok(())
        })
    }

    fn report<'a>(&'a self, r: &'a Report) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.down()?;
            let id = format!("{}:{}:{:?}:{}", r.rollout, r.ship, r.state, r.attempt);
            let mut st = self.bus.st.lock();
            if st.report_ids.insert(id) {
                st.reports.push(r.clone());
            }
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------
// The thread that plays the rollouts.

enum Step {
    To(i64),
    Finish(i64),
}

/// The rollouts of a scenario, played from shore on the scenario's time.
pub struct RolloutSim {
    tx: std::sync::mpsc::SyncSender<Step>,
    thread: Option<std::thread::JoinHandle<Result<Vec<ReportRollout>, SimError>>>,
}

/// One ship as the rollouts see it.
pub struct RolloutShip {
    /// Ship id.
    pub id: String,
    /// Its link to shore (outages as offsets from the scenario's start).
    pub profile: LinkProfile,
}

impl RolloutSim {
    /// Starts the shore nodes and the ships' agents for `scenario`'s rollouts (`None`
    /// when it has none) at unix ms `start_ms`; bundle folders are relative to `base`,
    /// the nodes' and ships' files go under `dir`, the ships' incidents are read from
    /// `board`.
    pub fn start(
        scenario: &Scenario,
        base: &Path,
        ships: Vec<RolloutShip>,
        dir: PathBuf,
        start_ms: i64,
        board: IncidentBoard,
    ) -> Result<Option<Self>, SimError> {
        if scenario.rollout.is_empty() {
            return Ok(None);
        }
        let prepared = prepare(scenario, base)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sim-rollouts".into())
            .spawn(move || rollout_thread(prepared, ships, dir, start_ms, board, rx, ready_tx))
            .map_err(|e| SimError::Io(format!("cannot start the rollout thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Some(Self {
                tx,
                thread: Some(thread),
            })),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(SimError::Io(e))
            }
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                _ => SimError::Io("the rollout thread ended".into()),
            }),
        }
    }

    fn send(&self, step: Step) {
        let send = || {
            let _ = self.tx.send(step);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(send)
            }
            _ => send(),
        }
    }

    /// Plays the rollouts up to unix ms `t_ms` (call after the ships passed that barrier).
    pub fn step(&self, t_ms: i64) {
        self.send(Step::To(t_ms));
    }

    /// Plays on from `end_ms` until every rollout has stopped (completed, paused or
    /// aborted) or for at most an hour, stops everything and reports.
    pub fn finish(mut self, end_ms: i64) -> Result<Vec<ReportRollout>, SimError> {
        self.send(Step::Finish(end_ms));
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| SimError::Io("the rollout thread panicked".into()))?,
            None => Err(SimError::Io("the rollouts were already stopped".into())),
        }
    }
}

impl Drop for RolloutSim {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.send(Step::Finish(i64::MIN));
            let _ = t.join();
        }
    }
}

/// A shore node.
struct Node {
    name: &'static str,
    root: Option<SupervisorHandle>,
    addr: Addr<RolloutMsg>,
}

/// A rollout being played.
struct Play {
    prep: Prepared,
    at_ms: i64,
    kill_ms: Option<i64>,
    id: Option<String>,
    created_ms: Option<i64>,
    error: Option<String>,
    killed: Option<i64>,
    /// Creations refused because the node had not read the shared journal yet.
    tries: u32,
    /// The canary's target folder before the rollout: (canary, files).
    canary_before: Option<(String, BTreeMap<String, Vec<u8>>)>,
    applied_before: HashMap<String, u64>,
}

/// Every file under `dir` (relative path → bytes); empty when it does not exist.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(b) = std::fs::read(&p) {
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                out.insert(rel, b);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn applied(data: &Path) -> u64 {
    AgentRecord::load(&data.join("bundles")).map_or(0, |r| r.applied)
}

fn state_name<T: Serialize>(s: &T) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The ship's critical incidents opened at or after `since` and by now (the board may
/// hold a barrier's worth of incidents ahead of the rollouts' time).
fn probe(board: IncidentBoard, ship: String, clock: Clock) -> IncidentProbe {
    use seawatch_actors::incident::model::IncidentSeverity;
    Arc::new(move |since_ms| {
        let now = clock.now_ms();
        board
            .list(Some(&ship), StateFilter::All)
            .into_iter()
            .find(|i| {
                i.severity == IncidentSeverity::Critical
                    && i.opened_at_ms >= since_ms
                    && i.opened_at_ms <= now
            })
            .map(|i| format!("{}: {}", i.id, i.root_cause))
    })
}

#[allow(clippy::too_many_arguments)]
fn rollout_thread(
    prepared: Vec<Prepared>,
    ships: Vec<RolloutShip>,
    dir: PathBuf,
    start_ms: i64,
    board: IncidentBoard,
    rx: std::sync::mpsc::Receiver<Step>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) -> Result<Vec<ReportRollout>, SimError> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("rollout runtime: {e}")));
            return Err(SimError::Io(format!("rollout runtime: {e}")));
        }
    };
    let t0 = rt.block_on(async { tokio::time::Instant::now() });
    let clock = rt.block_on(async { Clock::tokio(start_ms) });
    let at = |ms: i64| t0 + Duration::from_millis(ms.saturating_sub(start_ms).max(0) as u64);
    let fleet: Vec<String> = ships.iter().map(|s| s.id.clone()).collect();
    let bus = Arc::new(Bus::new(
        clock.clone(),
        start_ms,
        ships
            .iter()
            .map(|s| (s.id.clone(), s.profile.clone()))
            .collect(),
    ));
    let setup = rt.block_on(async {
        let err = |e: &dyn std::fmt::Display| format!("rollouts: {e}");
        let mut agents = Vec::new();
        for s in &ships {
            let data = dir.join(&s.id);
            std::fs::create_dir_all(data.join("policies")).map_err(|e| err(&e))?;
            std::fs::write(data.join("policies/remediation.rego"), SHIP_POLICY)
                .map_err(|e| err(&e))?;
            let (bus, ship, chunk_dir) = (bus.clone(), s.id.clone(), data.join("bundle-chunks"));
            let (child, _) = agent_child(AgentArgs {
                ship: s.id.clone(),
                dir: data.join("bundles"),
                targets: BundleTargets::under(&data),
                connect: Arc::new(move || {
                    let link = MemShip {
                        bus: bus.clone(),
                        ship: ship.clone(),
                        chunk_dir: chunk_dir.clone(),
                        held: Mutex::new(None),
                    };
                    Box::pin(async move { Ok(Arc::new(link) as Arc<dyn ShipLink>) })
                }),
                clock: clock.clone(),
                poll: AGENT_POLL,
                health: Arc::new(|| Ok(())),
                on_applied: seawatch_actors::rollout::agent::reload_nothing(),
                incidents: probe(board.clone(), s.id.clone(), clock.clone()),
            });
            let (root, _) = start_root(
                SupervisorSpec::new(&s.id, ShardKey::new(&s.id)).child(child),
                Runtime::new(clock.clone()),
            )
            .await
            .map_err(|e| err(&e))?;
            agents.push(root);
        }
        let mut nodes = Vec::new();
        for name in SIM_NODES {
            let data = dir.join(name);
            let store = BundleStore::open(&data.join("bundles")).map_err(|e| err(&e))?;
            for p in &prepared {
                store.put(&p.bytes).map_err(|e| err(&e))?;
            }
            let bus = bus.clone();
            let (child, addr) = controller_child(ControllerArgs {
                id_prefix: name.into(),
                dir: data.join("rollouts"),
                bundles: store,
                fleet: fleet.clone(),
                clock: clock.clone(),
                tick: CONTROLLER_TICK,
                grace_ms: 2_000,
                connect: Arc::new(move || {
                    let link = MemShore {
                        bus: bus.clone(),
                        node: name.into(),
                    };
                    Box::pin(async move { Ok(Arc::new(link) as Arc<dyn ShoreLink>) })
                }),
                metrics: RolloutMetrics::default(),
                failover: true,
                push: None,
            });
            let (root, _) = start_root(
                SupervisorSpec::new(name, ShardKey::new(name)).child(child),
                Runtime::new(clock.clone()),
            )
            .await
            .map_err(|e| err(&e))?;
            nodes.push(Node {
                name,
                root: Some(root),
                addr,
            });
        }
        Ok::<_, String>((agents, nodes))
    });
    let (agents, mut nodes) = match setup {
        Ok(x) => {
            let _ = ready.send(Ok(()));
            x
        }
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            return Err(SimError::Io(e));
        }
    };
    let mut plays: Vec<Play> = prepared
        .into_iter()
        .map(|prep| Play {
            at_ms: start_ms + prep.plan.at_s as i64 * 1000,
            kill_ms: prep
                .plan
                .kill_shore_node_at_s
                .map(|s| start_ms + s as i64 * 1000),
            prep,
            id: None,
            created_ms: None,
            error: None,
            killed: None,
            tries: 0,
            canary_before: None,
            applied_before: HashMap::new(),
        })
        .collect();
    let ships_dir = |s: &str| dir.join(s);
    let mut finish = None;
    for step in rx.iter() {
        let t = match step {
            Step::To(t) => t,
            Step::Finish(t) => {
                finish = Some(t);
                break;
            }
        };
        rt.block_on(run_until(
            t, &mut plays, &mut nodes, &bus, &clock, &at, &ships_dir,
        ));
    }
    let mut reports = Vec::new();
    rt.block_on(async {
        if let Some(end) = finish.filter(|t| *t != i64::MIN) {
            run_until(end, &mut plays, &mut nodes, &bus, &clock, &at, &ships_dir).await;
            // Play on until every rollout has stopped, at most DRAIN_LIMIT_MS.
            let mut t = end;
            while t < end + DRAIN_LIMIT_MS {
                let mut going = false;
                for p in &plays {
                    if let Some(r) = current(&nodes, p).await {
                        going |= matches!(
                            r.state,
                            RolloutState::Running | RolloutState::AwaitingApproval
                        );
                    } else {
                        going |= p.id.is_none() && p.error.is_none();
                    }
                }
                if !going {
                    break;
                }
                t += 5_000;
                run_until(t, &mut plays, &mut nodes, &bus, &clock, &at, &ships_dir).await;
            }
            for p in &plays {
                let r = current(&nodes, p).await;
                reports.push(report_of(p, r.as_ref(), &bus, start_ms, &ships_dir));
            }
        }
        for a in agents {
            a.shutdown().await;
        }
        for n in &mut nodes {
            if let Some(r) = n.root.take() {
                r.shutdown().await;
            }
        }
    });
    Ok(reports)
}

/// The rollout as its node sees it (the node running it, else any live node).
async fn current(nodes: &[Node], p: &Play) -> Option<Rollout> {
    let id = p.id.clone()?;
    let mut seen = None;
    for n in nodes.iter().filter(|n| n.root.is_some()) {
        let id = id.clone();
        if let Ok(Some(r)) = n.addr.call(|rp| RolloutMsg::Get(id, rp), CALL).await {
            if r.node.as_deref() == Some(n.name) {
                return Some(r);
            }
            seen.get_or_insert(r);
        }
    }
    seen
}

/// Plays every rollout's actions due by unix ms `t` in time order, then runs to `t`.
async fn run_until(
    t: i64,
    plays: &mut [Play],
    nodes: &mut [Node],
    bus: &Arc<Bus>,
    clock: &Clock,
    at: &impl Fn(i64) -> tokio::time::Instant,
    ships_dir: &impl Fn(&str) -> PathBuf,
) {
    loop {
        // the next due action: (time, play, is a kill)
        let next = plays
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                let create = (p.id.is_none() && p.error.is_none()).then_some((p.at_ms, i, false));
                let kill = p
                    .kill_ms
                    .filter(|_| p.killed.is_none() && p.id.is_some())
                    .map(|k| (k, i, true));
                create.into_iter().chain(kill)
            })
            .filter(|(ms, _, _)| *ms <= t)
            .min();
        let Some((ms, i, kill)) = next else { break };
        tokio::time::sleep_until(at(ms)).await;
        let p = &mut plays[i];
        if kill {
            // The node running it dies where it stands: no hand-over, its lease runs out.
            let r = current(nodes, p).await;
            let owner = r.and_then(|r| r.node);
            if let Some(n) = nodes
                .iter_mut()
                .find(|n| Some(n.name) == owner.as_deref() && n.root.is_some())
            {
                if let Some(root) = n.root.take() {
                    root.shutdown().await;
                }
                tracing::info!(node = n.name, "sim: shore node killed mid-rollout");
            }
            p.killed = Some(clock.now_ms());
            continue;
        }
        let Some(node) = nodes.iter().find(|n| n.root.is_some()) else {
            p.error = Some("no shore node left to create it".into());
            continue;
        };
        // What a rollback must put back, and the swaps so far, taken before shore has
        // the rollout (a delivery may be applied in the same instant it is created).
        let mut fleet: Vec<String> = bus.links.keys().cloned().collect();
        fleet.sort();
        let canary_before = fleet.first().map(|c| {
            let target = target_dir(&p.prep, &ships_dir(c));
            (c.clone(), snapshot(&target))
        });
        let applied_before: HashMap<String, u64> = fleet
            .iter()
            .map(|s| (s.clone(), applied(&ships_dir(s))))
            .collect();
        let req = request(&p.prep);
        let res = node
            .addr
            .call(|rp| RolloutMsg::Create(req, "sim".into(), rp), CALL)
            .await;
        match res {
            Ok(Ok(r)) => {
                bus.st
                    .lock()
                    .rates
                    .insert(r.id.clone(), p.prep.plan.bulk_bytes_per_s);
                // every ship is a target (`all`): the canary is the first by id
                p.canary_before = canary_before.filter(|(c, _)| {
                    r.waves
                        .first()
                        .and_then(|w| w.ships.first())
                        .is_some_and(|s| s.ship == *c)
                });
                p.applied_before = applied_before;
                p.id = Some(r.id);
                p.created_ms = Some(clock.now_ms());
            }
            // The shared journal not read yet (the node's first tick): try again shortly.
            Ok(Err(ControlError::Unavailable(_))) if p.tries < 60 => {
                p.tries += 1;
                p.at_ms = ms + 1_000;
            }
            Ok(Err(e)) => p.error = Some(e.to_string()),
            Err(e) => p.error = Some(format!("shore node did not answer: {e}")),
        }
    }
    tokio::time::sleep_until(at(t)).await;
}

fn target_dir(p: &Prepared, data: &Path) -> PathBuf {
    match decode(&p.bytes) {
        Ok(b) => BundleTargets::under(data).dir(&b),
        Err(_) => data.join("policies"),
    }
}

fn report_of(
    p: &Play,
    r: Option<&Rollout>,
    bus: &Bus,
    start_ms: i64,
    ships_dir: &impl Fn(&str) -> PathBuf,
) -> ReportRollout {
    let secs = |ms: i64| (ms - start_ms) as f64 / 1000.0;
    let st = bus.st.lock();
    let chunks_per = if p.prep.bytes.len() > INLINE_MAX {
        p.prep.bytes.len().div_ceil(CHUNK_BYTES) as u64
    } else {
        0
    };
    let mut chunks = ReportChunks {
        per_ship: chunks_per,
        ..ReportChunks::default()
    };
    for ((_, sha, _), n) in &st.fetches {
        if *sha == p.prep.sha256 {
            chunks.fetched += n;
            chunks.resent_after_ack += n.saturating_sub(1);
        }
    }
    let mut out = ReportRollout {
        id: p.id.clone(),
        bundle: p.prep.sha256.clone(),
        source: p.prep.source.clone(),
        started_at_s: p.created_ms.map(secs),
        state: "not_created".into(),
        reason: p.error.clone(),
        stopped_at_wave: None,
        waves_started: 0,
        completed_at_s: None,
        ships: Vec::new(),
        chunks,
        canary: None,
        canary_rolled_back: false,
        shore_node_killed_at_s: p.killed.map(secs),
        failover_s: None,
        reports_not_journaled: 0,
        journaled_twice: 0,
        error: p.error.clone(),
    };
    let Some(r) = r else {
        return out;
    };
    out.state = state_name(&r.state);
    out.reason = r.reason.clone();
    out.stopped_at_wave = r
        .waves
        .iter()
        .position(|w| w.state == WaveState::Tripped)
        .map(|i| i + 1);
    out.waves_started = r
        .waves
        .iter()
        .filter(|w| !matches!(w.state, WaveState::Pending | WaveState::AwaitingApproval))
        .count();
    out.completed_at_s = (r.state == RolloutState::Completed).then(|| secs(r.updated_ms));
    for w in &r.waves {
        for s in &w.ships {
            let taken = st
                .taken
                .get(&(r.id.clone(), s.ship.clone()))
                .copied()
                .unwrap_or(0);
            let before = p.applied_before.get(&s.ship).copied().unwrap_or(0);
            out.ships.push(ReportRolloutShip {
                ship: s.ship.clone(),
                wave: w.wave,
                state: state_name(&s.state),
                attempts: taken,
                applied: applied(&ships_dir(&s.ship)).saturating_sub(before),
                done_at_s: s.done_ms.map(secs),
                detail: s.detail.clone(),
            });
        }
    }
    if let Some((canary, before)) = &p.canary_before {
        out.canary = Some(canary.clone());
        let failed = r.ship(canary).is_some_and(|s| s.state == ShipState::Failed);
        let target = target_dir(&p.prep, &ships_dir(canary));
        out.canary_rolled_back = failed && snapshot(&target) == *before;
    }
    if let Some(k) = p.killed {
        out.failover_s = r
            .history
            .iter()
            .find(|h| h.at_ms >= k && h.what.starts_with("taken over by"))
            .map(|h| (h.at_ms - k) as f64 / 1000.0);
    }
    out.reports_not_journaled = st
        .reports
        .iter()
        .filter(|x| x.rollout == r.id && x.state != ReportState::Received)
        .filter(|x| !r.reflects(&x.ship, x.attempt, x.state))
        .count() as u64;
    if let Some(evs) = st.journal.get(&r.id) {
        let mut sent: HashMap<&str, u32> = HashMap::new();
        let mut ok: HashMap<&str, u32> = HashMap::new();
        for (_, e) in evs {
            match e {
                Ev::Sent { ship, .. } => *sent.entry(ship).or_default() += 1,
                Ev::Succeeded { ship, .. } => *ok.entry(ship).or_default() += 1,
                _ => {}
            }
        }
        let twice: HashSet<&str> = sent
            .iter()
            .chain(ok.iter())
            .filter(|(_, n)| **n > 1)
            .map(|(s, _)| *s)
            .collect();
        out.journaled_twice = twice.len() as u64;
    }
    out
}
