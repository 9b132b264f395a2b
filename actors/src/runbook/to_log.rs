//! The audit log into the ship's event log, so that remediation reaches shore with the
//! rest: a supervised follower appends every audit record (policy decisions, proposals,
//! approvals, transitions, steps) to the event log as a `Control` event — the sync's
//! urgent lane — with the record's JSON as body and `runbook` as source.
//!
//! Nothing is lost: the follower's position (`AUDIT/shipped`, the last audit seq appended,
//! written after the log made the events durable) survives crashes, and a restart appends
//! from there. A crash between the append and the position write appends those records
//! again (at least once); each carries its audit `seq` and `hash`, which identify it.

use std::path::PathBuf;
use std::time::Duration;

use seawatch_runtime::event_log::{EventKind, NewEvent};
use seawatch_runtime::supervision::ChildSpec;

use super::service::Remediation;
use crate::log_service::{LogReader, LogService};
use crate::store::clickhouse::{read_cursor, write_cursor};

/// The event source of audit records in the event log.
pub const SOURCE: &str = "runbook";
/// Records appended per round.
const BATCH: usize = 500;

/// One round: appends the records after the position and moves it once they are
/// durable. Returns how many were appended.
pub async fn ship_once(
    remediation: &Remediation,
    log: &LogService,
    reader: &LogReader,
    position: &std::path::Path,
) -> Result<usize, String> {
    let ship = log.ship_id().to_string();
    let since = read_cursor(position, &ship)
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    let recs = remediation
        .audit_since(since, BATCH)
        .map_err(|e| e.to_string())?;
    let Some(last) = recs.last().map(|r| r.seq) else {
        return Ok(0);
    };
    let now = remediation.now_ms();
    let events: Vec<NewEvent> = recs
        .iter()
        .map(|r| NewEvent {
            ts_ms: crate::ingest::decode::parse_rfc3339_ms(r.at.as_bytes())
                .ok()
                .flatten()
                .map_or(now, |(ms, _)| ms),
            kind: EventKind::Control,
            source: SOURCE.into(),
            severity: 5,
            body: serde_json::to_string(r).unwrap_or_default(),
        })
        .collect();
    let n = events.len();
    let range = log.append(events).await.map_err(|e| e.to_string())?;
    let mut durable = reader.watermark();
    while *durable.borrow_and_update() < range.end {
        if durable.changed().await.is_err() {
            return Err("event log closed".into());
        }
    }
    write_cursor(position, &ship, last).map_err(|e| e.to_string())?;
    Ok(n)
}

/// The follower as a supervised task: a round every `every`, or at once after a full one.
pub fn to_log_child(
    remediation: Remediation,
    log: LogService,
    reader: LogReader,
    position: PathBuf,
    every: Duration,
) -> ChildSpec {
    ChildSpec::task("audit-to-log", "runbook", move |mut stop| {
        let (r, log, reader, position) = (
            remediation.clone(),
            log.clone(),
            reader.clone(),
            position.clone(),
        );
        async move {
            loop {
                let n = tokio::select! {
                    n = ship_once(&r, &log, &reader, &position) => n?,
                    _ = stop.stopped() => return Ok(()),
                };
                if n >= BATCH {
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.stopped() => return Ok(()),
                }
            }
        }
    })
}
