//! The log search of `GET /api/logs` over the shore's ClickHouse events table (decision
//! 0077): the same [`Query`] the ship's [`LogIndex`](super::LogIndex) answers (parsed by
//! [`search::parse`](super::search::parse), never a second parser), the same lines, in the
//! same order (event time, then seq, newest first; ship name for ties), at most `limit`.
//!
//! **Translation.** Every user value (ship, device, the regular expressions built from
//! the query's words) goes to the server through the `clickhouse` crate's bound
//! parameters (`?`, escaped by the crate); the SQL text itself holds only fixed words and
//! integers computed here. A word of the query is one of its lowercased alphanumeric
//! tokens, so the expressions are built from `[0-9a-z]` and fixed punctuation only:
//!
//! * `device:` → `PREWHERE source = ?` (the bodies of granules where the device wrote
//!   nothing are not read); `severity:` → `severity <= N`; `kind:` → `kind = 'log'`…
//! * a word or phrase of ASCII tokens → `match(lower(body), ?)` with
//!   `(^|[^0-9a-z])t1[^0-9a-z]+t2…([^0-9a-z]|$)`; `-word` → `NOT match(…)`. This is exact
//!   for ASCII lines, where tokens are runs of `[0-9A-Za-z]` (`lower` is ASCII-only in
//!   ClickHouse). Lines with non-ASCII characters pass these conditions (`lengthUTF8(body)
//!   != length(body)`) and are decided here by [`TextQuery::matches`], the ship's own
//!   matcher, which also re-checks every returned line. ClickHouse 18.16's regular
//!   expressions are UTF-8 but have no Unicode "alphanumeric" class and its `(?i)` flag
//!   is mishandled by its literal prefilter (`match('DOWN', '(?i)down')` is 0), hence
//!   `lower(body)`.
//!
//! **Reading.** ClickHouse 18.16 cannot read a table in its sort order to stop early
//! (`optimize_read_in_order` came later), so `ORDER BY ts_ms DESC LIMIT n` over a day
//! would read every row of the day. The search walks time slices instead, newest first,
//! starting at the newest stored event (the active parts' `max_time`) with
//! [`FIRST_SLICE_MS`] and doubling the slice each time, until `limit` lines are found or
//! the range is exhausted. Each slice is one `... ORDER BY ts_ms DESC, seq DESC, ship
//! LIMIT k` (continued past its last row while lines were dropped), narrowed by the
//! table's `(ship, ts, seq)` key and its daily partitions through `ts` bounds. Rows
//! stored twice and not merged yet (`ReplacingMergeTree`) are dropped as they stream in.
//!
//! 18.16 has no data-skipping indexes (`INDEX … TYPE tokenbf_v1` is a syntax error), so
//! a word that is rare over a long range reads that range's bodies.

use clickhouse::Row;
use seawatch_runtime::event_log::{Event, EventKind};
use serde::Deserialize;

use super::clickhouse::{ClickHouseSink, SinkError};
use super::index::Query;
use super::text::TextQuery;

/// The first (newest) time slice searched; each further slice is twice as long.
pub const FIRST_SLICE_MS: i64 = 10_000;

/// A row as the search reads it.
#[derive(Row, Deserialize, Debug)]
struct LineRow {
    ship: String,
    seq: u64,
    ts_ms: i64,
    kind: i8,
    source: String,
    severity: u8,
    body: String,
}

fn kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::Log => "log",
        EventKind::Metric => "metric",
        EventKind::Incident => "incident",
        EventKind::State => "state",
        EventKind::Control => "control",
        EventKind::Other => "other",
    }
}

fn kind_of(code: i8) -> EventKind {
    match code {
        0 => EventKind::Log,
        1 => EventKind::Metric,
        2 => EventKind::Incident,
        3 => EventKind::State,
        4 => EventKind::Control,
        _ => EventKind::Other,
    }
}

/// The `WHERE` conditions of a query (without the time range and the ships) and their
/// bound string values, in order. Integers are written into the text; strings only ever
/// go to a `?`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Conditions {
    /// `cond AND cond ...` (empty: none), with `?` for each of `binds`.
    pub sql: Vec<String>,
    /// The values of the `?`s.
    pub binds: Vec<String>,
}

/// A line holds a character outside ASCII: the word conditions let it through and
/// [`TextQuery::matches`] decides.
const NON_ASCII: &str = "lengthUTF8(body) != length(body)";

/// The regular expression that finds the token sequence `seq` in a lowercased ASCII
/// line, or `None` if a token is not ASCII alphanumeric (no ASCII line holds it).
pub fn sequence_regex(seq: &[String]) -> Option<String> {
    if seq.is_empty()
        || seq.iter().any(|t| {
            t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        })
    {
        return None;
    }
    Some(format!(
        "(^|[^0-9a-z]){}([^0-9a-z]|$)",
        seq.join("[^0-9a-z]+")
    ))
}

/// The conditions of `q`'s severity, kind and words (the device is a `PREWHERE` of its
/// own).
pub fn conditions(q: &Query) -> Conditions {
    let mut c = Conditions::default();
    if let Some(s) = q.min_severity {
        c.sql.push(format!("severity <= {s}"));
    }
    if let Some(k) = q.kind {
        c.sql.push(format!("kind = '{}'", kind_name(k)));
    }
    text_conditions(&q.text, &mut c);
    c
}

fn text_conditions(t: &TextQuery, c: &mut Conditions) {
    for seq in &t.all {
        match sequence_regex(seq) {
            Some(re) => {
                c.sql
                    .push(format!("({NON_ASCII} OR match(lower(body), ?))"));
                c.binds.push(re);
            }
            None => c.sql.push(NON_ASCII.into()),
        }
    }
    for seq in &t.none {
        // A token outside ASCII is in no ASCII line: nothing to exclude here.
        if let Some(re) = sequence_regex(seq) {
            c.sql
                .push(format!("({NON_ASCII} OR NOT match(lower(body), ?))"));
            c.binds.push(re);
        }
    }
}

/// `DateTime` seconds of a ms time, as the sink stores `ts` (clamped to `UInt32`).
fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000).clamp(0, i64::from(u32::MAX))
}

/// Searches the events of `ships` in `sink`'s table for `q`: the lines the ship's index
/// answers for the same query over the same events, newest first, at most `q.limit`.
/// Returns `(ship, event)` pairs. See the [module docs](self).
pub async fn search(
    sink: &ClickHouseSink,
    ships: &[String],
    q: &Query,
) -> Result<Vec<(String, Event)>, SinkError> {
    let mut out: Vec<(String, Event)> = Vec::new();
    if ships.is_empty() || q.limit == 0 || q.from_ms >= q.to_ms {
        return Ok(out);
    }
    let Some((min_s, max_s)) = extent(sink).await? else {
        return Ok(out);
    };
    // Nothing stored before `min_s` or after `max_s` (seconds): clamp the walk to that.
    // (`ts` 0 also holds events dated before 1970: no lower clamp then.)
    let lo_bound = if min_s == 0 {
        q.from_ms
    } else {
        q.from_ms.max(min_s.saturating_mul(1000))
    };
    let mut hi = q.to_ms.min((max_s + 1).saturating_mul(1000));
    let cond = conditions(q);
    let mut span = FIRST_SLICE_MS;
    while hi > lo_bound && out.len() < q.limit {
        let lo = hi.saturating_sub(span).max(lo_bound);
        slice(sink, ships, q, &cond, lo, hi, &mut out).await?;
        hi = lo;
        span = span.saturating_mul(2);
    }
    Ok(out)
}

/// The oldest and newest `ts` (seconds) of the table's active parts, `None` if empty.
async fn extent(sink: &ClickHouseSink) -> Result<Option<(i64, i64)>, SinkError> {
    let cfg = sink.config();
    let (lo, hi, parts): (u32, u32, u64) = tokio::time::timeout(
        cfg.request_timeout,
        sink.client()
            .query(
                "SELECT toUInt32(min(min_time)), toUInt32(max(max_time)), count() \
                 FROM system.parts WHERE database = ? AND table = ? AND active",
            )
            .bind(cfg.database.as_str())
            .bind(cfg.table.as_str())
            .fetch_one(),
    )
    .await
    .map_err(|_| SinkError::Timeout(cfg.request_timeout))??;
    Ok((parts > 0).then_some((i64::from(lo), i64::from(hi))))
}

/// Reads the lines of `[lo, hi)` newest first into `out` until it holds `q.limit`.
#[allow(clippy::too_many_arguments)]
async fn slice(
    sink: &ClickHouseSink,
    ships: &[String],
    q: &Query,
    cond: &Conditions,
    lo: i64,
    hi: i64,
    out: &mut Vec<(String, Event)>,
) -> Result<(), SinkError> {
    let cfg = sink.config();
    let mut after: Option<(i64, u64, String)> = None;
    loop {
        let want = q.limit - out.len();
        if want == 0 {
            return Ok(());
        }
        let mut sql = format!(
            "SELECT ship, seq, ts_ms, kind, source, severity, body FROM `{}` {}\
             WHERE ship IN ({}) AND ts >= toDateTime({}) AND ts <= toDateTime({}) \
             AND ts_ms >= {lo} AND ts_ms < {hi}",
            cfg.table,
            if q.device.is_some() {
                "PREWHERE source = ? "
            } else {
                ""
            },
            vec!["?"; ships.len()].join(", "),
            secs(lo),
            secs(hi - 1),
        );
        for c in &cond.sql {
            sql.push_str(" AND ");
            sql.push_str(c);
        }
        if let Some((ts, seq, _)) = &after {
            sql.push_str(&format!(
                " AND (ts_ms < {ts} OR (ts_ms = {ts} AND (seq < {seq} OR (seq = {seq} AND ship > ?))))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY ts_ms DESC, seq DESC, ship ASC LIMIT {want}"
        ));
        let mut query = sink.client().query(&sql);
        if let Some(d) = &q.device {
            query = query.bind(d.as_str());
        }
        for s in ships {
            query = query.bind(s.as_str());
        }
        for b in &cond.binds {
            query = query.bind(b.as_str());
        }
        if let Some((_, _, ship)) = &after {
            query = query.bind(ship.as_str());
        }
        // Read-only (settings may still be set), bounded like every other request.
        let secs_limit = cfg.request_timeout.as_secs().max(1).to_string();
        let query = query
            .with_setting("readonly", "2")
            .with_setting("max_execution_time", secs_limit);
        let rows: Vec<LineRow> =
            tokio::time::timeout(cfg.request_timeout, query.fetch_all::<LineRow>())
                .await
                .map_err(|_| SinkError::Timeout(cfg.request_timeout))??;
        let n = rows.len();
        let mut last = None;
        for r in rows {
            last = Some((r.ts_ms, r.seq, r.ship.clone()));
            // A row stored twice (not merged yet) follows its twin.
            if out
                .last()
                .is_some_and(|(s, e)| e.seq == r.seq && e.ts_ms == r.ts_ms && *s == r.ship)
            {
                continue;
            }
            if !q.text.matches(&r.body) {
                continue;
            }
            out.push((
                r.ship,
                Event {
                    seq: r.seq,
                    ts_ms: r.ts_ms,
                    kind: kind_of(r.kind),
                    source: r.source,
                    severity: r.severity,
                    body: r.body,
                },
            ));
        }
        if n < want {
            return Ok(());
        }
        after = last;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::search::parse;

    fn query(q: &str) -> Query {
        let s = parse(q).unwrap();
        let mut query = Query::new(0, 1, 10).text(s.text);
        query.device = s.device;
        query.min_severity = s.min_severity;
        query.kind = s.kind;
        query
    }

    #[test]
    fn words_become_bound_regexes_and_fields_fixed_sql() {
        let c = conditions(&query(
            r#"Link "state to down" -flap device:core-sw-1 severity:warning"#,
        ));
        assert_eq!(
            c.sql,
            vec![
                "severity <= 4".to_string(),
                "kind = 'log'".into(),
                format!("({NON_ASCII} OR match(lower(body), ?))"),
                format!("({NON_ASCII} OR match(lower(body), ?))"),
                format!("({NON_ASCII} OR NOT match(lower(body), ?))"),
            ]
        );
        assert_eq!(
            c.binds,
            vec![
                "(^|[^0-9a-z])link([^0-9a-z]|$)".to_string(),
                "(^|[^0-9a-z])state[^0-9a-z]+to[^0-9a-z]+down([^0-9a-z]|$)".into(),
                "(^|[^0-9a-z])flap([^0-9a-z]|$)".into(),
            ]
        );
        // Hostile text never reaches the SQL: only its alphanumeric tokens, bound.
        let c = conditions(&query(r#"x'); DROP TABLE events; -- device:a'b\c"#));
        assert_eq!(
            c.binds,
            ["x", "drop", "table", "events"].map(|w| format!("(^|[^0-9a-z]){w}([^0-9a-z]|$)"))
        );
        assert!(c.sql.iter().all(|s| !s.to_lowercase().contains("drop")));
        // A non-ASCII word: only non-ASCII lines can hold it; as a negation, no condition.
        let c = conditions(&query("café -naïve kind:any"));
        assert_eq!(c.sql, vec![NON_ASCII.to_string()]);
        assert!(c.binds.is_empty());
    }
}
