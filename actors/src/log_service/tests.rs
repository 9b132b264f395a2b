use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use ractor::Actor;
use seawatch_model::ShipId;
use seawatch_runtime::event_log::{EventKind, EventLogConfig, NewEvent};
use seawatch_runtime::supervision::{start_root, SupervisorSpec};
use seawatch_runtime::{Clock, Metrics, Runtime};

use super::*;
use crate::device::DeviceMsg;
use crate::ingest::pipeline::{batch, SendError};
use crate::ingest::record::{Observation, Source};
use crate::inventory::Inventory;
use crate::roster::{roster_child, Discovered, RosterArgs, RosterMetrics, RosterView};

const WAIT: Duration = Duration::from_secs(10);

fn service(dir: &std::path::Path, cfg: &PipelineConfig) -> LogService {
    LogService::new(EventLog::open(dir, EventLogConfig::new("s")).unwrap(), cfg)
}

fn roster_args(registry: &Metrics, runtime: &Runtime, metrics: &IngestMetrics) -> RosterArgs {
    RosterArgs {
        ship: "s".into(),
        runtime: runtime.clone(),
        inventory: Arc::new(RwLock::new(Inventory::empty("s"))),
        discovered: Discovered::in_memory(),
        alerts: crate::alert::AlertSink::none(),
        push: None,
        ingest_metrics: metrics.clone(),
        link_metrics: crate::link::LinkMetrics::register(registry),
        link_risk: Default::default(),
        detectors: None,
        metrics: RosterMetrics::register(registry),
        view: RosterView::default(),
    }
}

fn record(i: u64) -> NewEvent {
    NewEvent {
        ts_ms: i as i64,
        kind: EventKind::Incident,
        source: "correlator".into(),
        severity: 3,
        body: format!("record {i}"),
    }
}

#[test]
fn a_stopping_writer_stores_what_is_already_queued() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = PipelineConfig::default();
    let svc = service(dir.path(), &cfg);
    let metrics = IngestMetrics::register(&Metrics::new(), "s");
    let sender = svc.ingest_sender(metrics.clone());
    for i in 0..3 {
        let obs = Observation::log("", 1, None, "app", &format!("queued {i}"));
        sender.try_send(batch(Source::Ndjson, vec![obs])).unwrap();
    }
    // Stop was requested before the writer got to the queue (a shutdown racing with
    // ingest): the queued, already-accepted events must still be stored.
    let args = svc.writer_args(metrics.clone(), cfg, Clock::system());
    writer::run_until_drained(&args, true, rt.handle()).unwrap();
    let reader = svc.reader();
    assert_eq!(reader.next_seq(), 4, "all 3 queued events stored");
    assert_eq!(reader.durable_next_seq(), 4);
    assert_eq!(*reader.watermark().borrow(), 4, "watermark published");
    assert_eq!(metrics.durable_total(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_ingest_batches_share_the_one_writer_in_queue_order() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PipelineConfig::default();
    let svc = service(dir.path(), &cfg);
    let metrics = IngestMetrics::register(&Metrics::new(), "s");
    let sender = svc.ingest_sender(metrics.clone());
    let (writer, join) = Actor::spawn(
        None,
        WriterActor,
        svc.writer_args(metrics.clone(), cfg, Clock::system()),
    )
    .await
    .unwrap();
    let obs = |t: &str| Observation::log("sw-1", 1, None, "app", t);
    sender
        .send(batch(Source::Ndjson, vec![obs("a"), obs("b")]))
        .await
        .unwrap();
    let seqs = svc.append(vec![record(1), record(2)]).await.unwrap();
    assert_eq!(seqs, 3..5, "records follow the batch queued before them");
    sender
        .send(batch(Source::Ndjson, vec![obs("c")]))
        .await
        .unwrap();
    sender.barrier().await.unwrap();
    let reader = svc.reader();
    assert_eq!(
        *reader.watermark().borrow(),
        6,
        "a barrier makes it durable"
    );
    let mut cursor = reader.cursor(1);
    let got = cursor.next(100).await.unwrap().unwrap();
    let bodies: Vec<&str> = got.iter().map(|e| e.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["app: a", "app: b", "record 1", "record 2", "app: c"]
    );
    assert_eq!(cursor.position(), 6);
    assert!(cursor.poll(100).unwrap().is_empty(), "at the watermark");
    writer.stop(None);
    join.await.unwrap();
}

/// A router that does not take its batches (its roster is slow, or it is restarting)
/// never holds durability: the writer makes what it stored durable and then waits, and
/// the listeners' queue fills (a sender that cannot wait is refused and counts it).
/// Once the router runs, everything stored reaches the device actor; nothing is shed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_router_holds_back_ingest_but_never_durability() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PipelineConfig {
        queue_batches: 2,
        route_batches: 1,
        ..PipelineConfig::default()
    };
    let svc = service(dir.path(), &cfg);
    let registry = Metrics::new();
    let metrics = IngestMetrics::register(&registry, "s");
    let runtime = Runtime::new(Clock::system());
    let (roster_spec, roster) = roster_child(roster_args(&registry, &runtime, &metrics));
    let router = svc.router_child(roster.clone(), metrics.clone(), Default::default());
    let sender = svc.ingest_sender(metrics.clone());
    let (writer, join) = Actor::spawn(
        None,
        WriterActor,
        svc.writer_args(metrics.clone(), cfg, Clock::system()),
    )
    .await
    .unwrap();
    let mut sent = 0u64;
    let mut refused = 0u64;
    let deadline = Instant::now() + WAIT;
    let reader = svc.reader();
    // Send until the queue stays full: refused, and refused again after a pause in
    // which the writer stored nothing more.
    let mut stored_at_refusal = None;
    loop {
        let obs = Observation::log("dev-1", sent as i64, None, "app", "x");
        match sender.try_send(batch(Source::SyslogUdp, vec![obs])) {
            Ok(()) => sent += 1,
            Err(SendError::Full) => {
                refused += 1;
                let stored = reader.next_seq();
                if stored_at_refusal == Some(stored) {
                    break;
                }
                stored_at_refusal = Some(stored);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "the queue never stayed full");
        tokio::task::yield_now().await;
    }
    // Stored frames: one in the router's queue, one the writer waits to hand over.
    let mut wm = reader.watermark();
    tokio::time::timeout(WAIT, wm.wait_for(|&w| w == reader.next_seq() && w > 1))
        .await
        .expect("what the writer stored becomes durable without the router")
        .unwrap();
    assert!(reader.next_seq() - 1 < sent, "the rest waits in the queue");

    // The router (and the roster) start: everything is stored and delivered.
    let (root, _join) = start_root(
        SupervisorSpec::new("root", &ShipId::new("s"))
            .child(roster_spec)
            .child(router),
        runtime.clone(),
    )
    .await
    .unwrap();
    tokio::time::timeout(WAIT, sender.barrier())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reader.durable_next_seq(), sent + 1, "all stored");
    let dev = roster.device("dev-1").await.unwrap();
    let st = dev.call(DeviceMsg::Snapshot, WAIT).await.unwrap();
    assert_eq!(
        st.logs_by_severity.iter().sum::<u64>(),
        sent,
        "all delivered"
    );
    assert_eq!(metrics.route_shed_total(), 0);
    assert_eq!(
        metrics.dropped_total(Source::SyslogUdp),
        refused,
        "refused, counted"
    );
    root.shutdown().await;
    writer.stop(None);
    join.await.unwrap();
}
