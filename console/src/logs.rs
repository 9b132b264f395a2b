//! `GET /api/logs?ship=&device=&q=&from=&to=&limit=` (viewer, contracts §2): the stored
//! log lines of the node's ships, newest first, as a JSON array of
//! `{"seq","ship","device","ts","severity","text"}` (`ts` RFC 3339 UTC, `severity` the
//! syslog name).
//!
//! Each ship's durable event log is read through its embedded [`LogIndex`] (time blocks,
//! per-block word filters, the recent entries per device and severity, decision 0049;
//! per-block lines of rare words and devices, decision 0069).
//! [`LogSearch::follower_child`] keeps the indexes following their logs; a query also
//! catches its index up first, so it sees everything durable when it starts.
//!
//! * `q`: the search language of [`seawatch_actors::store::search`] (words, "phrases",
//!   `-word`, `device:`, `severity:` meaning that level or worse, `kind:`);
//! * `from`, `to`: RFC 3339, `now`, `-1h` style or unix ms; `from` defaults to an hour
//!   before now, `to` to no end (a producer's clock ahead of the ship's still shows);
//! * `limit`: default 100, at most 1000;
//! * `ship`: one of the node's ships (all of them by default);
//! * `device`: as `device:` in `q` (both given must agree).
//!
//! A bad query is a 400 with `{"error": "..."}` saying what to change, counted by
//! `seawatch_log_bad_queries_total{reason}`; an unknown ship is a 404.
//!
//! **At shore** ([`LogSearch::clickhouse`], decision 0077) the same route, parameters,
//! language (the same parser) and answers come from the ClickHouse events table the shore
//! stores its ships' logs in ([`seawatch_actors::store::clickhouse_search`]): `ship` is
//! one of the ships the shore sources (its `[[ship]]` tables), all of them by default; a
//! ClickHouse failure is a 503. A shore without ClickHouse answers 501 saying so
//! ([`not_configured_routes`]). The search page's live tail re-runs the search every 2 s
//! on either.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use seawatch_actors::log_service::LogReader;
use seawatch_actors::store::search::{self, SearchError};
use seawatch_actors::store::{IndexConfig, LogIndex};
use seawatch_actors::sync::clickhouse::ClickHouseFleetStore;
use seawatch_model::time::rfc3339;
use seawatch_runtime::event_log::Event;
use seawatch_runtime::supervision::ChildSpec;
use seawatch_runtime::{Clock, Metrics};
use serde::{Deserialize, Serialize};

use crate::metrics::{ReasonLabel, ResultLabel};

/// Lines returned without `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Most lines one query returns.
pub const MAX_LIMIT: usize = 1000;
/// The window without `from`: the last hour.
pub const DEFAULT_WINDOW_MS: i64 = 3_600_000;

/// Query parameters of `GET /api/logs`.
#[derive(Debug, Default, Deserialize)]
pub struct LogsParams {
    /// One ship.
    pub ship: Option<String>,
    /// One device.
    pub device: Option<String>,
    /// The search.
    pub q: Option<String>,
    /// Start (inclusive).
    pub from: Option<String>,
    /// End (exclusive).
    pub to: Option<String>,
    /// Most lines.
    pub limit: Option<String>,
}

/// One stored line as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Seq in the ship's event log.
    pub seq: u64,
    /// Ship id.
    pub ship: String,
    /// Device (the event's source).
    pub device: String,
    /// Event time, RFC 3339 UTC.
    pub ts: String,
    /// Syslog severity name.
    pub severity: String,
    /// The line.
    pub text: String,
}

/// `seawatch_log_queries_total{result}` and `seawatch_log_bad_queries_total{reason}`.
#[derive(Debug, Clone, Default)]
pub struct LogSearchMetrics {
    /// Queries by result: `ok`, `bad_request`, `error`.
    pub queries: Family<ResultLabel, Counter>,
    /// Refused queries by reason ([`search::REASONS`]).
    pub bad: Family<ReasonLabel, Counter>,
}

impl LogSearchMetrics {
    /// Registers both families, every label exported at 0.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        for result in ["ok", "bad_request", "error"] {
            let _ = m.queries.get_or_create(&ResultLabel { result });
        }
        for reason in search::REASONS {
            let _ = m.bad.get_or_create(&ReasonLabel { reason });
        }
        metrics.register(
            "seawatch_log_queries",
            "Log searches (GET /api/logs) by result",
            m.queries.clone(),
        );
        metrics.register(
            "seawatch_log_bad_queries",
            "Log searches refused as bad requests, by reason",
            m.bad.clone(),
        );
        m
    }
}

struct ShipLog {
    ship: String,
    reader: LogReader,
    index: RwLock<LogIndex>,
}

impl ShipLog {
    /// Catches the index up with the log (blocking).
    fn catch_up(&self) -> Result<usize, String> {
        self.index
            .write()
            .catch_up(&self.reader)
            .map_err(|e| e.to_string())
    }
}

/// The shore's ships' logs in ClickHouse.
struct FleetLogs {
    store: Arc<ClickHouseFleetStore>,
    ships: Vec<String>,
}

/// The log search of a node: one index per ship, or at shore the ClickHouse table.
/// Cheap to clone.
#[derive(Clone)]
pub struct LogSearch {
    ships: Arc<Vec<ShipLog>>,
    shore: Option<Arc<FleetLogs>>,
    clock: Clock,
    metrics: LogSearchMetrics,
}

/// Why a search failed.
enum Failure {
    Bad(SearchError),
    NoShip(String),
    Internal(String),
    Unavailable(String),
}

/// `GET /api/logs` of a shore without ClickHouse: 501 saying what to configure (there is
/// no store of the ships' logs to search, and no answer is made up).
pub fn not_configured_routes() -> Router {
    async fn not_configured() -> Response {
        crate::json_error(
            StatusCode::NOT_IMPLEMENTED,
            "log search at shore reads the ships' logs from ClickHouse, and this shore has \
             none: add a [clickhouse] table (url = \"http://HOST:8123\") to its config \
             (docs/clickhouse.md), or search on the ship"
                .to_owned(),
        )
    }
    Router::new().route("/api/logs", get(not_configured))
}

impl LogSearch {
    /// Searches `logs` (one per ship) with indexes bounded by `config`.
    pub fn new(
        logs: Vec<LogReader>,
        config: IndexConfig,
        clock: Clock,
        metrics: LogSearchMetrics,
    ) -> Self {
        let ships = logs
            .into_iter()
            .map(|reader| ShipLog {
                ship: reader.ship_id().to_owned(),
                reader,
                index: RwLock::new(LogIndex::new(config.clone())),
            })
            .collect();
        Self {
            ships: Arc::new(ships),
            shore: None,
            clock,
            metrics,
        }
    }

    /// At shore: searches the logs `store` holds of `ships` (the ships the shore sources;
    /// `ship=` must be one of them, all by default). See the [module docs](self).
    pub fn clickhouse(
        store: Arc<ClickHouseFleetStore>,
        ships: Vec<String>,
        clock: Clock,
        metrics: LogSearchMetrics,
    ) -> Self {
        Self {
            ships: Arc::new(Vec::new()),
            shore: Some(Arc::new(FleetLogs { store, ships })),
            clock,
            metrics,
        }
    }

    /// The route; wrap it in `auth.protect(Role::Viewer, ..)`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/api/logs", get(logs))
            .with_state(self.clone())
    }

    /// A supervised task that keeps every index following its log: it catches up
    /// whenever a log's durable watermark moves (at most every `every`).
    pub fn follower_child(&self, every: Duration) -> ChildSpec {
        let this = self.clone();
        ChildSpec::task("log-index", "log_index", move |mut stop| {
            let this = this.clone();
            async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = stop.stopped() => return Ok(()),
                    }
                    let ships = this.ships.clone();
                    tokio::task::spawn_blocking(move || {
                        for s in ships.iter() {
                            if s.reader.durable_next_seq() > s.index.read().stats().next_seq {
                                s.catch_up()?;
                            }
                        }
                        Ok::<(), String>(())
                    })
                    .await
                    .map_err(|e| format!("log index follower: {e}"))??;
                }
            }
        })
    }

    /// The ships searched, in order.
    pub fn ships(&self) -> Vec<String> {
        match &self.shore {
            Some(shore) => shore.ships.clone(),
            None => self.ships.iter().map(|s| s.ship.clone()).collect(),
        }
    }

    /// Metric history for charts (blocking): `device`'s metric events on `ship` in
    /// `[from_ms, to_ms)` cut into `buckets` equal spans, at most the `per_bucket` newest
    /// of each span (newest first), so a chart reads at most `buckets × per_bucket`
    /// events whatever the window. Goes through the index like a search (its entry
    /// window answers without scanning the log). `None` for a ship not on this node.
    pub fn metric_buckets(
        &self,
        ship: &str,
        device: &str,
        from_ms: i64,
        to_ms: i64,
        buckets: usize,
        per_bucket: usize,
    ) -> Option<Result<Vec<Vec<Event>>, String>> {
        let s = self.ships.iter().find(|s| s.ship == ship)?;
        Some(s.catch_up().and_then(|_| {
            let index = s.index.read();
            let n = buckets.max(1) as i64;
            let span = ((to_ms - from_ms) / n).max(1);
            (0..n)
                .map(|b| {
                    let lo = from_ms + b * span;
                    let hi = if b == n - 1 { to_ms } else { lo + span };
                    let q = seawatch_actors::store::Query::new(lo, hi, per_bucket.max(1))
                        .device(device)
                        .kind(seawatch_runtime::event_log::EventKind::Metric);
                    index.query(&s.reader, &q).map_err(|e| e.to_string())
                })
                .collect()
        }))
    }

    /// Runs one search (blocking: catches up and reads the logs).
    pub fn search(&self, p: &LogsParams) -> Result<Vec<LogLine>, (StatusCode, String)> {
        match self.run(p) {
            Ok(v) => {
                self.result("ok");
                Ok(v)
            }
            Err(Failure::Bad(e)) => {
                self.result("bad_request");
                self.metrics
                    .bad
                    .get_or_create(&ReasonLabel { reason: e.reason })
                    .inc();
                Err((StatusCode::BAD_REQUEST, e.message))
            }
            Err(Failure::NoShip(ship)) => {
                self.result("bad_request");
                self.metrics
                    .bad
                    .get_or_create(&ReasonLabel { reason: "ship" })
                    .inc();
                Err((
                    StatusCode::NOT_FOUND,
                    format!("no ship {ship} on this node"),
                ))
            }
            Err(Failure::Internal(e)) => {
                self.result("error");
                tracing::warn!(error = %e, "log search failed");
                Err((StatusCode::INTERNAL_SERVER_ERROR, e))
            }
            Err(Failure::Unavailable(e)) => {
                self.result("error");
                tracing::warn!(error = %e, "log search in clickhouse failed");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the shore's log store (ClickHouse) failed: {e}"),
                ))
            }
        }
    }

    fn result(&self, result: &'static str) {
        self.metrics
            .queries
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    fn run(&self, p: &LogsParams) -> Result<Vec<LogLine>, Failure> {
        let now = self.clock.now_ms();
        let mut s = search::parse(p.q.as_deref().unwrap_or("")).map_err(Failure::Bad)?;
        if let Some(d) = p.device.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            if s.device.as_deref().is_some_and(|x| x != d) {
                return Err(Failure::Bad(SearchError::new(
                    "field",
                    format!(
                        "device={d} and device:{} in q disagree",
                        s.device.as_deref().unwrap_or_default()
                    ),
                )));
            }
            s.device = Some(d.to_owned());
        }
        let to_ms = match p.to.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(v) => search::parse_time("to", v, now).map_err(Failure::Bad)?,
            None => i64::MAX,
        };
        let from_ms = match p.from.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(v) => search::parse_time("from", v, now).map_err(Failure::Bad)?,
            None => now.min(to_ms).saturating_sub(DEFAULT_WINDOW_MS),
        };
        if from_ms >= to_ms {
            return Err(Failure::Bad(SearchError::new(
                "time",
                "from must be before to",
            )));
        }
        let limit = match p.limit.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(Failure::Bad(SearchError::new(
                        "limit",
                        format!("limit={v}: expected a number from 1 to {MAX_LIMIT}"),
                    )))
                }
            },
        };
        let mut q = seawatch_actors::store::Query::new(from_ms, to_ms, limit).text(s.text);
        q.device = s.device;
        q.min_severity = s.min_severity;
        q.kind = s.kind;
        if let Some(shore) = &self.shore {
            let ships = match p.ship.as_deref().filter(|v| !v.is_empty()) {
                Some(ship) if shore.ships.iter().any(|s| s == ship) => vec![ship.to_owned()],
                Some(ship) => return Err(Failure::NoShip(ship.to_owned())),
                None => shore.ships.clone(),
            };
            let found = shore
                .store
                .search_logs(ships, q)
                .map_err(|e| Failure::Unavailable(e.to_string()))?;
            return Ok(found.into_iter().map(|(ship, e)| line(ship, e)).collect());
        }
        let ships: Vec<&ShipLog> = match p.ship.as_deref().filter(|v| !v.is_empty()) {
            Some(ship) => {
                let one: Vec<&ShipLog> = self.ships.iter().filter(|s| s.ship == ship).collect();
                if one.is_empty() {
                    return Err(Failure::NoShip(ship.to_owned()));
                }
                one
            }
            None => self.ships.iter().collect(),
        };
        let mut out: Vec<(&str, Event)> = Vec::new();
        for ship in ships {
            ship.catch_up().map_err(Failure::Internal)?;
            let found = ship
                .index
                .read()
                .query(&ship.reader, &q)
                .map_err(|e| Failure::Internal(e.to_string()))?;
            out.extend(found.into_iter().map(|e| (ship.ship.as_str(), e)));
        }
        out.sort_by(|(sa, a), (sb, b)| {
            (b.ts_ms, b.seq)
                .cmp(&(a.ts_ms, a.seq))
                .then_with(|| sa.cmp(sb))
        });
        out.truncate(limit);
        Ok(out
            .into_iter()
            .map(|(ship, e)| line(ship.to_owned(), e))
            .collect())
    }
}

fn line(ship: String, e: Event) -> LogLine {
    LogLine {
        seq: e.seq,
        ship,
        device: e.source,
        ts: rfc3339(e.ts_ms),
        severity: search::severity_name(e.severity).to_owned(),
        text: e.body,
    }
}

async fn logs(State(s): State<LogSearch>, Query(p): Query<LogsParams>) -> Response {
    match tokio::task::spawn_blocking(move || s.search(&p)).await {
        Ok(Ok(lines)) => Json(lines).into_response(),
        Ok(Err((code, msg))) => crate::json_error(code, msg),
        Err(e) => crate::json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("log search: {e}"),
        ),
    }
}
