//! The shore's VictoriaMetrics: the fleet's synced device samples, with their original
//! timestamps, exactly once by (ship, seq) (decision 0043).
//!
//! VictoriaMetrics does not deduplicate by itself (only with `-dedup.minScrapeInterval`,
//! which seawatch never relies on), and a frame of the metrics lane can come to the shore
//! more than once: the ship resends what shore has not acknowledged, a shore node killed
//! between its writes and its acknowledgement gets the frame again, and a frame is
//! re-applied whenever another of the frame's stores (ClickHouse, `SW_EVENTS`, the lane
//! positions) failed after VictoriaMetrics took it. So the shore keeps, per ship, a
//! durable **applied watermark**: the seq after the last Metric event VictoriaMetrics
//! confirmed, in the JetStream KV bucket `sw_vm_applied` (shared by the shore cluster's
//! nodes, written with a compare-and-set on the revision this node read, so a node that
//! lost the ship cannot move it). A frame's Metric events below the watermark are not
//! written again.
//!
//! The watermark is written after VictoriaMetrics' 2xx, so a crash in between leaves it
//! behind what VictoriaMetrics holds. A ship's applier is therefore *in doubt* when it
//! starts (a new lease holder, a restarted mirror) and after any failure: it then asks
//! VictoriaMetrics which of the batch's samples (series and timestamp) it already holds
//! ([`drop_present`]) and writes only the rest, until a batch finds none of them there.
//! The ship keeps its log until shore acknowledges, so a frame VictoriaMetrics refused is
//! not acknowledged and comes again (the ship's log is the buffer while the shore's
//! VictoriaMetrics is down).
//!
//! **Not covered:** VictoriaMetrics 1.79 confirms writes before they are on disk; a shore
//! server killed with SIGKILL loses its last seconds, and the frames that carried them are
//! already acknowledged to the ship by then. The ship's exporter guards against that by
//! keeping its cursor behind (it still has the log); the shore does not keep the samples,
//! so run the shore's VictoriaMetrics where it is stopped cleanly, or replicated.

use std::sync::Arc;

use async_nats::jetstream::{self, kv};
use seawatch_runtime::event_log::{Event, EventKind};

use super::downsample::{rollup_decision, samples_of, RollupDecision};
use super::wire::Rollup;
use crate::store::victoriametrics::{
    drop_present, sample_of, write_request, VmClient, VmConfig, VmError, VmMetrics, VmSample,
};

/// The KV bucket of the applied watermarks: key = ship id, value = the next seq (decimal).
pub const APPLIED_BUCKET: &str = "sw_vm_applied";

/// The KV bucket of the rollup watermarks (decision 0058): key = ship id, value = the
/// end of the last rollup whose aggregates VictoriaMetrics confirmed (decimal).
pub const ROLLUP_BUCKET: &str = "sw_vm_rollup";

/// The shore's VictoriaMetrics: a client and the metrics. Cheap to share.
#[derive(Debug)]
pub struct ShoreVm {
    client: VmClient,
    batch_max: usize,
    metrics: Option<VmMetrics>,
}

impl ShoreVm {
    /// The server per `config`; does not connect.
    pub fn new(config: &VmConfig, metrics: Option<VmMetrics>) -> Result<Arc<Self>, VmError> {
        if config.batch_max_events == 0 {
            return Err(VmError::InvalidConfig(
                "batch_max_events must be > 0".into(),
            ));
        }
        Ok(Arc::new(Self {
            client: VmClient::new(&config.url, config.request_timeout)?,
            batch_max: config.batch_max_events,
            metrics,
        }))
    }

    /// The client.
    pub fn client(&self) -> &VmClient {
        &self.client
    }
}

/// Opens (creating if missing) the bucket of applied watermarks.
pub async fn applied_bucket(js: &jetstream::Context, replicas: usize) -> Result<kv::Store, String> {
    bucket(js, APPLIED_BUCKET, replicas).await
}

/// Opens (creating if missing) the bucket of rollup watermarks (decision 0058).
pub async fn rollup_bucket(js: &jetstream::Context, replicas: usize) -> Result<kv::Store, String> {
    bucket(js, ROLLUP_BUCKET, replicas).await
}

async fn bucket(js: &jetstream::Context, name: &str, replicas: usize) -> Result<kv::Store, String> {
    match js.get_key_value(name).await {
        Ok(kv) => Ok(kv),
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: name.into(),
                history: 1,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string()),
    }
}

#[derive(Debug, Clone, Copy)]
struct Watermark {
    /// The seq after the last Metric event VictoriaMetrics confirmed.
    next: u64,
    /// KV revision of the ship's key as last read or written (0: no key yet).
    revision: u64,
    in_doubt: bool,
}

/// One ship's applier on the shore node that holds the ship. See the [module docs](self).
pub struct ShipVm {
    vm: Arc<ShoreVm>,
    applied: kv::Store,
    state: tokio::sync::Mutex<Option<Watermark>>,
    rollups: kv::Store,
    rollup_state: tokio::sync::Mutex<Option<Watermark>>,
}

impl std::fmt::Debug for ShipVm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipVm")
            .field("vm", &self.vm)
            .finish_non_exhaustive()
    }
}

impl ShipVm {
    /// An applier writing to `vm` behind the watermarks of `applied` (samples) and
    /// `rollups` (aggregates, decision 0058).
    pub fn new(vm: Arc<ShoreVm>, applied: kv::Store, rollups: kv::Store) -> Self {
        Self {
            vm,
            applied,
            state: tokio::sync::Mutex::new(None),
            rollups,
            rollup_state: tokio::sync::Mutex::new(None),
        }
    }

    /// Forgets the watermarks read so far: the next apply reads them again and starts
    /// in doubt (a restarted mirror).
    pub async fn reset(&self) {
        *self.state.lock().await = None;
        *self.rollup_state.lock().await = None;
    }

    /// Writes the aggregates of a rollup of `ship` once (decision 0058): only if it
    /// starts at or above the ship's rollup watermark ([`rollup_decision`]), then moves
    /// the watermark to its end. Returns the watermark to answer the ship with. A
    /// payload that does not decode is counted (`bad_sample`) and skipped. On `Err`
    /// nothing may be acknowledged.
    pub async fn apply_rollup(&self, ship: &str, r: &Rollup) -> Result<u64, VmError> {
        let mut guard = self.rollup_state.lock().await;
        let w = match *guard {
            Some(w) => w,
            None => {
                let w = read_watermark(&self.rollups, ROLLUP_BUCKET, ship).await?;
                *guard = Some(w);
                w
            }
        };
        if let RollupDecision::Answer(next) = rollup_decision(w.next, r.from_seq, r.end_seq) {
            return Ok(next);
        }
        let mut samples: Vec<VmSample> = match r.decode_rows() {
            Ok(rows) => rows.iter().flat_map(samples_of).collect(),
            Err(e) => {
                tracing::warn!(ship, error = %e, "shore: rollup not understood; not written");
                if let Some(m) = &self.vm.metrics {
                    m.error(ship, "bad_sample", 1);
                }
                Vec::new()
            }
        };
        match write_behind(
            &self.vm,
            &self.rollups,
            ROLLUP_BUCKET,
            ship,
            w,
            &mut samples,
            r.end_seq - 1,
        )
        .await
        {
            Ok(w) => {
                *guard = Some(w);
                if let Some(m) = &self.vm.metrics {
                    m.aggregates(ship, samples.len() as u64);
                }
                Ok(w.next)
            }
            Err(e) => {
                if let Some(m) = &self.vm.metrics {
                    m.error(ship, "write", 1);
                }
                *guard = None;
                Err(e)
            }
        }
    }

    /// Writes the Metric events of `events` (of `ship`, in seq order) that are at or above
    /// the ship's watermark, then moves the watermark past them. Returns how many samples
    /// were written. On `Err` nothing may be acknowledged to the ship.
    pub async fn apply(&self, ship: &str, events: &[Event]) -> Result<u64, VmError> {
        let mut guard = self.state.lock().await;
        let w = match *guard {
            Some(w) => w,
            None => {
                let w = read_watermark(&self.applied, APPLIED_BUCKET, ship).await?;
                *guard = Some(w);
                w
            }
        };
        let fresh: Vec<&Event> = events
            .iter()
            .filter(|e| e.kind == EventKind::Metric && e.seq >= w.next)
            .collect();
        let Some(last) = fresh.iter().map(|e| e.seq).max() else {
            return Ok(0);
        };
        let mut bad = 0u64;
        let mut samples: Vec<VmSample> = fresh
            .iter()
            .filter_map(|e| match sample_of(ship, e) {
                Ok(s) => s,
                Err(_) => {
                    bad += 1;
                    None
                }
            })
            .collect();
        if bad > 0 {
            tracing::warn!(
                ship,
                bad,
                "shore: metric events not understood; not written"
            );
            if let Some(m) = &self.vm.metrics {
                m.error(ship, "bad_sample", bad);
            }
        }
        let result = write_behind(
            &self.vm,
            &self.applied,
            APPLIED_BUCKET,
            ship,
            w,
            &mut samples,
            last,
        )
        .await;
        match result {
            Ok(w) => {
                *guard = Some(w);
                let n = samples.len() as u64;
                if let Some(m) = &self.vm.metrics {
                    m.exported(ship, n);
                }
                Ok(n)
            }
            Err(e) => {
                if let Some(m) = &self.vm.metrics {
                    m.error(ship, "write", 1);
                }
                // VictoriaMetrics may hold part of it now; the watermark is re-read (a
                // compare-and-set that failed means another node moved it).
                *guard = None;
                Err(e)
            }
        }
    }
}

/// Writes `samples` (checking first while in doubt), then moves the watermark of `ship`
/// in `kv` (bucket `bucket`) to `last + 1` with a compare-and-set.
async fn write_behind(
    vm: &ShoreVm,
    kv: &kv::Store,
    bucket: &str,
    ship: &str,
    mut w: Watermark,
    samples: &mut Vec<VmSample>,
    last: u64,
) -> Result<Watermark, VmError> {
    if w.in_doubt && !samples.is_empty() {
        let present = drop_present(&vm.client, ship, samples).await?;
        w.in_doubt = present > 0;
        if present > 0 {
            tracing::info!(ship, present, "shore: samples already in victoriametrics");
        }
    }
    for chunk in samples.chunks(vm.batch_max) {
        vm.client.write(&write_request(chunk)).await?;
    }
    let value = (last + 1).to_string();
    let kv_err = |e: &dyn std::fmt::Display| VmError::Http(format!("{bucket}: {e}"));
    w.revision = if w.revision == 0 {
        kv.create(ship, value.into())
            .await
            .map_err(|e| kv_err(&e))?
    } else {
        kv.update(ship, value.into(), w.revision)
            .await
            .map_err(|e| kv_err(&e))?
    };
    w.next = last + 1;
    Ok(w)
}

async fn read_watermark(kv: &kv::Store, bucket: &str, ship: &str) -> Result<Watermark, VmError> {
    let entry = kv
        .entry(ship)
        .await
        .map_err(|e| VmError::Http(format!("{bucket}: {e}")))?;
    Ok(match entry {
        Some(e) if e.operation == kv::Operation::Put => Watermark {
            next: std::str::from_utf8(&e.value)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            revision: e.revision,
            in_doubt: true,
        },
        _ => Watermark {
            next: 0,
            revision: 0,
            in_doubt: true,
        },
    })
}
