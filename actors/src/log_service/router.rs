//! The router: a follower of the log that delivers stored observations to the roster.
//!
//! The writer hands it each stored frame's ingest batches ([`Tail`]) through a bounded
//! queue. The router delivers a tail once the durable watermark covers it (nothing
//! reaches an actor before it is durable), waits until the roster has put it in the
//! actors' mailboxes (so the roster is never more than one frame behind), then answers
//! the frame's barriers. Its lag behind the watermark is the gauge
//! `seawatch_eventlog_route_lag_events{ship}`.

use std::time::Instant;

use seawatch_runtime::supervision::{ChildSpec, TaskStop};
use tokio::sync::oneshot;

use super::{take_slot, LogReader, Slot};
use crate::ingest::metrics::IngestMetrics;
use crate::ingest::record::Observation;
use crate::roster::Roster;

/// One stored frame's ingest batches, on their way to the roster.
pub struct Tail {
    /// Seq after the frame's last event: delivered once the watermark reaches it.
    pub end: u64,
    /// The batches (receipt time, observations), in order.
    pub batches: Vec<(Instant, Vec<Observation>)>,
    /// Barriers answered once the batches are in the actors' mailboxes.
    pub done: Vec<oneshot::Sender<()>>,
}

impl Tail {
    /// Observations in the tail.
    pub fn events(&self) -> u64 {
        self.batches.iter().map(|(_, v)| v.len() as u64).sum()
    }
}

/// Start arguments of the router.
#[derive(Clone)]
pub struct RouterArgs {
    pub(super) slot: Slot<Tail>,
    pub(super) reader: LogReader,
    pub(super) roster: Roster,
    pub(super) metrics: IngestMetrics,
    /// Batches remembered for traces (decision 0057; off without `[otel]`).
    pub(super) traces: crate::otel::Traces,
}

/// Puts the queue back for the next incarnation however this one ends (a killed task is
/// dropped mid-await), counting the tail it held, if any, as shed.
struct Held {
    slot: Slot<Tail>,
    rx: Option<tokio::sync::mpsc::Receiver<Tail>>,
    in_hand: u64,
    metrics: IngestMetrics,
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.in_hand > 0 {
            self.metrics.route_shed(self.in_hand);
        }
        if let Some(rx) = self.rx.take() {
            *self.slot.lock() = Some(rx);
        }
    }
}

/// The router as a supervised task child, `eventlog-router` of kind `eventlog`.
pub fn router_child(args: RouterArgs) -> ChildSpec {
    ChildSpec::task("eventlog-router", "eventlog", move |stop| {
        let args = args.clone();
        async move { route_loop(args, stop).await }
    })
}

async fn route_loop(args: RouterArgs, mut stop: TaskStop) -> Result<(), String> {
    let rx = take_slot(&args.slot, "router").await?;
    let mut held = Held {
        slot: args.slot.clone(),
        rx: Some(rx),
        in_hand: 0,
        metrics: args.metrics.clone(),
    };
    let mut watermark = args.reader.watermark();
    loop {
        let rx = held.rx.as_mut().expect("held until drop");
        let tail = tokio::select! {
            t = rx.recv() => match t {
                Some(t) => t,
                None => return Ok(()),
            },
            _ = stop.stopped() => return Ok(()),
        };
        held.in_hand = tail.events();
        // Only what is durable reaches an actor.
        let end = tail.end;
        tokio::select! {
            r = watermark.wait_for(|&w| w >= end) => {
                if r.is_err() {
                    return Ok(());
                }
            }
            _ = stop.stopped() => return Ok(()),
        }
        for (received, items) in tail.batches {
            args.traces
                .batch_routed(args.reader.ship_id(), received, &items);
            args.roster.route(received, items).await;
        }
        held.in_hand = 0;
        if let Err(e) = args.roster.flush().await {
            tracing::warn!(error = %e, "roster did not answer a flush");
        }
        for d in tail.done {
            let _ = d.send(());
        }
        let lag = watermark.borrow().saturating_sub(end);
        args.metrics.route_lag(lag);
    }
}
