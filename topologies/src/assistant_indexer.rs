//! The assistant's indexer (decision 0061): a supervised child of a ship's services that
//! adds each resolved incident and each device configuration file to the assistant's
//! index as a document of its own, without rebuilding it.
//!
//! - **Incidents**: the indexer follows the ship's event log from a cursor (`log/<ship>`,
//!   the next seq to read) and, for every `incident` event that resolves an incident (not
//!   a merge), writes `incidents/<id>.md`: what happened, the root cause and its
//!   candidates, the evidence, the timeline (from the incident board) and the runbooks run
//!   for it. A reopened incident resolved again replaces its document.
//! - **Configs**: every `*.cfg` and `*.conf` file of the configs folder (`[assistant]
//!   configs`, default `DATA/configs`; the file stem names the device) becomes
//!   `configs/<file>`, chunked by block; a changed file replaces its document.
//!
//! The cursor is committed in the index's `meta.json` together with the documents it
//! produced ([`AssistantIndex::append`](seawatch_assistant::AssistantIndex::append)), so
//! a restart resumes where the last commit left off, and a rebuilt index (cursor 0) gets
//! the ship's incidents again from its log.
//! Without an index the indexer creates one (empty of SOPs) at the first document it
//! has to add; until then its cursors are kept in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use seawatch_actors::incident::board::TimelineEntry;
use seawatch_actors::incident::model::{Incident, IncidentEvent, IncidentEventKind};
use seawatch_actors::incident::IncidentBoard;
use seawatch_actors::log_service::LogReader;
use seawatch_actors::runbook::exec::{Exec, Executions};
use seawatch_assistant::api::AssistantHandle;
use seawatch_assistant::index::digest;
use seawatch_assistant::{chunk_config, chunk_markdown, AppendStats, NewDocument};
use seawatch_runtime::event_log::EventKind;
use seawatch_runtime::supervision::ChildSpec;
use seawatch_runtime::Metrics;

/// Events read from a log per batch.
const BATCH: usize = 2_000;

/// Why a pass failed or an input was skipped.
pub const REASONS: [&str; 4] = ["log", "event", "index", "config"];

/// `{kind}`: `incident` or `config`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The document kind.
    pub kind: &'static str,
}

/// `{reason}`: one of [`REASONS`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why.
    pub reason: &'static str,
}

/// `seawatch_assistant_indexed_total{kind}` and
/// `seawatch_assistant_indexer_errors_total{reason}`.
#[derive(Debug, Clone, Default)]
pub struct IndexerMetrics {
    /// Documents added or replaced, by kind.
    pub indexed: Family<KindLabel, Counter>,
    /// Failed passes and skipped inputs, by reason.
    pub errors: Family<ReasonLabel, Counter>,
}

impl IndexerMetrics {
    /// Registers both families, every label exported at 0.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        for kind in ["incident", "config"] {
            let _ = m.indexed.get_or_create(&KindLabel { kind });
        }
        for reason in REASONS {
            let _ = m.errors.get_or_create(&ReasonLabel { reason });
        }
        metrics.register(
            "seawatch_assistant_indexed",
            "Documents the assistant's indexer added or replaced, by kind",
            m.indexed.clone(),
        );
        metrics.register(
            "seawatch_assistant_indexer_errors",
            "Assistant indexer passes that failed and inputs it skipped, by reason",
            m.errors.clone(),
        );
        m
    }

    fn error(&self, reason: &'static str) {
        self.errors.get_or_create(&ReasonLabel { reason }).inc();
    }
}

/// A failed pass: why (one of [`REASONS`]) and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexerError {
    /// One of [`REASONS`].
    pub reason: &'static str,
    /// In words.
    pub message: String,
}

impl std::fmt::Display for IndexerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "assistant indexer ({}): {}", self.reason, self.message)
    }
}

/// What the indexer reads.
#[derive(Clone)]
pub struct IndexerArgs {
    /// The index (shared with the HTTP route, so added documents are answered at once).
    pub handle: AssistantHandle,
    /// The ships' event logs (one for `seawatch ship`, one per ship in the demo).
    pub logs: Vec<LogReader>,
    /// Incident timelines.
    pub board: IncidentBoard,
    /// Runbook executions (all ships'), for "runbooks run".
    pub executions: Vec<Executions>,
    /// Folder of device configuration files, if any.
    pub configs: Option<PathBuf>,
    /// Its counters.
    pub metrics: IndexerMetrics,
}

/// The cursor name of a ship's log.
pub fn cursor_name(ship: &str) -> String {
    format!("log/{ship}")
}

/// The indexer as a supervised task: a pass every `every` on a blocking thread. A failed
/// pass (an unreadable index, a log read error) is logged and counted and tried again at
/// the next tick: the assistant's index never takes the ship's services down.
pub fn indexer_child(args: IndexerArgs, every: Duration) -> ChildSpec {
    ChildSpec::task("assistant-indexer", "assistant_indexer", move |mut stop| {
        let args = args.clone();
        async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.stopped() => return Ok(()),
                }
                let a = args.clone();
                let pass = tokio::task::spawn_blocking(move || index_once(&a))
                    .await
                    .map_err(|e| format!("assistant indexer: {e}"))?;
                match pass {
                    Ok(stats) if stats != AppendStats::default() => tracing::info!(
                        added = stats.added,
                        replaced = stats.replaced,
                        sections = stats.chunks,
                        "assistant index: documents added"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        args.metrics.error(e.reason);
                        tracing::warn!(error = %e, "assistant indexer pass failed");
                    }
                }
            }
        }
    })
}

/// One pass: reads the logs from their cursors and the configs folder, and appends what
/// is new (blocking).
pub fn index_once(args: &IndexerArgs) -> Result<AppendStats, IndexerError> {
    let err = |e: seawatch_assistant::Error| IndexerError {
        reason: "index",
        message: e.to_string(),
    };
    let mut docs: Vec<NewDocument> = Vec::new();
    let mut cursors = BTreeMap::new();
    for log in &args.logs {
        let name = cursor_name(log.ship_id());
        let end = log.durable_next_seq();
        let mut next = args.handle.cursor(&name).map_err(err)?.max(1);
        if next > end {
            // a younger log than the cursor (the demo's logs start anew): from its start
            next = 1;
        }
        let mut resolved: BTreeMap<String, Incident> = BTreeMap::new();
        while next < end {
            let events = log.read_from(next, BATCH).map_err(|e| IndexerError {
                reason: "log",
                message: format!("log {}: {e}", log.ship_id()),
            })?;
            let Some(last) = events.last() else { break };
            next = last.seq + 1;
            for e in events.iter().filter(|e| e.kind == EventKind::Incident) {
                let Ok(ev) = serde_json::from_str::<IncidentEvent>(&e.body) else {
                    args.metrics.error("event");
                    tracing::warn!(
                        seq = e.seq,
                        "an incident event that does not decode: skipped"
                    );
                    continue;
                };
                if ev.kind == IncidentEventKind::Resolved && ev.incident.merged_into.is_none() {
                    resolved.insert(ev.incident.id.clone(), ev.incident);
                }
            }
        }
        for inc in resolved.values() {
            let runs: Vec<Exec> = args
                .executions
                .iter()
                .flat_map(|x| x.list())
                .filter(|x| x.incident.as_deref() == Some(inc.id.as_str()))
                .collect();
            docs.push(incident_document(inc, &args.board.timeline(&inc.id), &runs));
        }
        cursors.insert(name, next);
    }
    if let Some(dir) = &args.configs {
        docs.extend(config_documents(dir, &args.metrics)?);
    }
    // only what changed: counted by kind once committed
    let mut fresh = Vec::with_capacity(docs.len());
    for d in docs {
        if args.handle.added_digest(&d.source).map_err(err)? != Some(d.digest) {
            fresh.push(d);
        }
    }
    let kinds: Vec<&'static str> = fresh
        .iter()
        .map(|d| seawatch_assistant::api::source_kind(&d.source))
        .collect();
    let stats = args.handle.append(fresh, &cursors).map_err(err)?;
    for kind in kinds {
        args.metrics
            .indexed
            .get_or_create(&KindLabel { kind })
            .inc();
    }
    Ok(stats)
}

/// The documents of the configuration files in `dir` (`*.cfg`, `*.conf`; sorted). A
/// missing folder has none.
pub fn config_documents(
    dir: &Path,
    metrics: &IndexerMetrics,
) -> Result<Vec<NewDocument>, IndexerError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(IndexerError {
                reason: "config",
                message: format!("{}: {e}", dir.display()),
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "cfg" || x == "conf"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                metrics.error("config");
                tracing::warn!(file = %path.display(), error = %e, "config not indexed");
                continue;
            }
        };
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let device = path.file_stem().unwrap_or_default().to_string_lossy();
        let source = format!("configs/{file}");
        out.push(NewDocument {
            digest: digest(text.as_bytes()),
            chunks: chunk_config(&source, &device, &text),
            source,
        });
    }
    Ok(out)
}

fn utc(ms: i64) -> String {
    seawatch_model::time::rfc3339(ms)
}

/// The Markdown document of a resolved incident (`incidents/<id>.md`): sections for what
/// happened, the root cause, the evidence, the timeline and the runbooks run.
pub fn incident_document(inc: &Incident, timeline: &[TimelineEntry], runs: &[Exec]) -> NewDocument {
    let mut md = format!(
        "# Incident {} on {}: {}\n\n## What happened\n",
        inc.id,
        inc.root_cause,
        one_line(&inc.summary)
    );
    let minutes = inc
        .resolved_at_ms
        .map(|r| (r - inc.opened_at_ms).max(0) / 60_000);
    md.push_str(&format!(
        "Last time {} had an incident ({}, {} severity) it opened at {}: {}.",
        inc.root_cause,
        inc.id,
        inc.severity.as_str(),
        utc(inc.opened_at_ms),
        inc.summary.trim_end_matches('.'),
    ));
    if let (Some(r), Some(m)) = (inc.resolved_at_ms, minutes) {
        md.push_str(&format!(" It resolved at {} after {m} min.", utc(r)));
    }
    md.push_str("\n\n## Root cause\n");
    md.push_str(&format!(
        "The root cause was {}, with {} alerts on {} elements ({}).\n",
        inc.root_cause,
        inc.alerts,
        inc.members.len(),
        inc.members.join(", ")
    ));
    for c in inc.candidates.iter().skip(1).take(3) {
        md.push_str(&format!(
            "- Other candidate: {} (score {:.2})\n",
            c.element, c.score
        ));
    }
    md.push_str("\n## Evidence\n");
    if inc.evidence.is_empty() {
        md.push_str("- No evidence recorded.\n");
    }
    for e in &inc.evidence {
        md.push_str(&format!("- {}\n", one_line(e)));
    }
    md.push_str("\n## Timeline\n");
    // the first and last steps of a long timeline
    let n = timeline.len();
    for (i, t) in timeline.iter().enumerate() {
        if n > 24 && (12..n - 12).contains(&i) {
            if i == 12 {
                md.push_str(&format!("- … {} more steps …\n", n - 24));
            }
            continue;
        }
        md.push_str(&format!("- {} {}\n", utc(t.ts_ms), one_line(&t.text)));
    }
    if timeline.is_empty() {
        md.push_str("- No timeline kept.\n");
    }
    md.push_str("\n## Runbooks run\n");
    if runs.is_empty() {
        md.push_str("- No runbook was run for this incident.\n");
    }
    for x in runs {
        let state = serde_json::to_value(x.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        md.push_str(&format!(
            "- Runbook {} on {} requested by {}: {state}\n",
            x.runbook,
            x.targets.join(", "),
            x.requester
        ));
    }
    let source = format!("incidents/{}.md", inc.id);
    NewDocument {
        digest: digest(md.as_bytes()),
        chunks: chunk_markdown(&source, &md),
        source,
    }
}

/// `s` on one line (a unit never spans lines).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
