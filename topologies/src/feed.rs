//! Feeds simulator telemetry into a ship through the real decoders, in process: the bytes
//! a simulated device would send go through `parse_syslog` and the NDJSON decoder, exactly
//! like traffic from the network listeners (contracts §3: the ship sees only telemetry).

use std::time::Instant;

use seawatch_actors::ingest::decode::{decode_ndjson, parse_syslog, NdjsonRecord, SyslogOptions};
use seawatch_actors::ingest::pipeline::{IngestSender, SendError};
use seawatch_actors::ingest::record::{IngestBatch, ObservationExt, Source};
use seawatch_model::Observation;
use seawatch_simulators::generate::{PayloadKind, TelemetryRef};

/// Most observations per batch handed to the pipeline.
pub const FEED_BATCH: usize = 1024;

/// Decodes one telemetry record into `out`, counting rejects on `sender`'s metrics.
pub fn decode_into(t: &TelemetryRef<'_>, sender: &IngestSender, out: &mut Vec<Observation>) {
    match t.kind {
        PayloadKind::Syslog => {
            let line = t.bytes.strip_suffix(b"\n").unwrap_or(t.bytes);
            match parse_syslog(line, &SyslogOptions::at(t.ts_ms)) {
                Ok(rec) => match Observation::from_syslog(&rec, t.ts_ms, None) {
                    Some(o) => out.push(o),
                    None => sender
                        .metrics()
                        .malformed(Source::Simulator, "no_host", line),
                },
                Err(e) => sender
                    .metrics()
                    .malformed(Source::Simulator, e.reason(), line),
            }
        }
        PayloadKind::Metric => {
            let batch = decode_ndjson(t.bytes);
            for e in &batch.errors {
                sender
                    .metrics()
                    .malformed(Source::Simulator, e.error.reason(), t.bytes);
            }
            for r in batch.records {
                out.push(match r {
                    NdjsonRecord::Metric(m) => Observation::from_metric(m),
                    NdjsonRecord::Log(l) => Observation::log(
                        &l.host,
                        l.ts_ms.unwrap_or(t.ts_ms),
                        l.severity,
                        l.app.as_deref().unwrap_or(""),
                        &l.message,
                    ),
                });
            }
        }
    }
}

/// Sends decoded observations in batches of [`FEED_BATCH`], waiting for room.
pub async fn send_all(sender: &IngestSender, items: Vec<Observation>) -> Result<(), SendError> {
    if items.len() <= FEED_BATCH {
        // the common case: one batch, the vector handed on as it is
        return sender
            .send(IngestBatch {
                source: Source::Simulator,
                received: Instant::now(),
                items,
                done: None,
                stored: None,
            })
            .await;
    }
    let mut it = items.into_iter();
    loop {
        let chunk: Vec<Observation> = it.by_ref().take(FEED_BATCH).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        sender
            .send(IngestBatch {
                source: Source::Simulator,
                received: Instant::now(),
                items: chunk,
                done: None,
                stored: None,
            })
            .await?;
    }
}
