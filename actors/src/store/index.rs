//! Embedded index over the ship's event log.
//!
//! [`LogIndex`] follows the [`EventLog`] (see [`LogIndex::catch_up`]) and keeps, in memory:
//!
//! * **blocks**: for every run of `block_events` consecutive sequence numbers, the
//!   smallest and largest event time (the same summary the log keeps per frame) and a
//!   bloom filter of the block's words ([`text::TokenBloom`], decision 0049). Blocks
//!   cover the whole log, so a time range maps to the seq ranges worth reading, and a
//!   word query reads only the blocks whose filter may hold all its words. When
//!   there are more than `max_blocks`, adjacent blocks are merged (coarser, still exact
//!   bounds, filters united), so this stays bounded even for a log of billions of events;
//! * **entries**: for the most recent events only (at most `max_entries`, and none older
//!   than `max_age_ms` behind the newest event time), a 16-byte entry (time, device,
//!   severity) plus per-device and per-severity lists of sequence numbers.
//!
//! A [`Query`] walks the blocks overlapping its time range, newest first, and keeps the
//! `limit` newest matches (by event time, then seq). Within the entry window it uses the
//! device or severity lists and never touches the log; older blocks are read from the log
//! and filtered (the fallback scan). A query with words reads every candidate block
//! from the log (the entry window has no text) after its filter check. Stops as soon as
//! no remaining block can hold a newer match. Finally the bodies of the matches are read
//! from the log.
//!
//! Event times are producer times: they are not required to be monotonic in seq. The
//! index never assumes they are; a skewed clock only makes the block bounds wider.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use seawatch_runtime::event_log::{Event, EventKind, EventLog, EventLogError};

use super::text::{self, TextQuery, TokenBloom};

/// What the index reads: the ship's [`EventLog`] itself or a read view of it
/// ([`LogReader`](crate::log_service::LogReader)).
pub trait LogSource {
    /// Oldest stored seq.
    fn first_seq(&self) -> u64;
    /// Up to `max` durable events from `seq` on (see [`EventLog::read_from`]).
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError>;
}

impl LogSource for EventLog {
    fn first_seq(&self) -> u64 {
        EventLog::first_seq(self)
    }
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        EventLog::read_from(self, seq, max)
    }
}

impl LogSource for crate::log_service::LogReader {
    fn first_seq(&self) -> u64 {
        crate::log_service::LogReader::first_seq(self)
    }
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        crate::log_service::LogReader::read_from(self, seq, max)
    }
}

/// Bounds of a [`LogIndex`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexConfig {
    /// Most events kept in the in-memory entry window (about 32 bytes each, including
    /// the device and severity lists).
    pub max_entries: usize,
    /// Events whose time is more than this behind the newest event time seen leave the
    /// entry window (they stay reachable through the fallback scan).
    pub max_age_ms: i64,
    /// Consecutive events summarised by one time block.
    pub block_events: u32,
    /// Most time blocks kept; beyond this adjacent blocks are merged.
    pub max_blocks: usize,
    /// Events read from the log per call while catching up or scanning.
    pub read_chunk: usize,
}

impl Default for IndexConfig {
    /// One million entries or six hours, blocks of 4,096 events, at most 65,536 blocks
    /// (268 M events, 37 h of a 2,000 events/s ship, before blocks are merged).
    fn default() -> Self {
        Self {
            max_entries: 1_000_000,
            max_age_ms: 6 * 3600 * 1000,
            block_events: 4096,
            max_blocks: 65_536,
            read_chunk: 4096,
        }
    }
}

/// A console query: events in `[from_ms, to_ms)`, optionally of one device, of one kind,
/// at least a given severity and with given words, newest first, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Only events whose `source` equals this.
    pub device: Option<String>,
    /// Only events of this kind.
    pub kind: Option<EventKind>,
    /// Only events whose body matches these words.
    pub text: TextQuery,
    /// Only events at least this severe, i.e. with syslog severity `<=` this value
    /// (0 = emergency ... 7 = debug): `Some(3)` means error and worse.
    pub min_severity: Option<u8>,
    /// Start of the time range, unix ms, inclusive.
    pub from_ms: i64,
    /// End of the time range, unix ms, exclusive.
    pub to_ms: i64,
    /// Most events returned.
    pub limit: usize,
}

impl Query {
    /// All events in `[from_ms, to_ms)`, at most `limit`.
    pub fn new(from_ms: i64, to_ms: i64, limit: usize) -> Self {
        Self {
            device: None,
            kind: None,
            text: TextQuery::default(),
            min_severity: None,
            from_ms,
            to_ms,
            limit,
        }
    }

    /// Restrict to one device (event `source`).
    pub fn device(mut self, device: impl Into<String>) -> Self {
        self.device = Some(device.into());
        self
    }

    /// Restrict to events with severity `<= severity` (at least this severe).
    pub fn min_severity(mut self, severity: u8) -> Self {
        self.min_severity = Some(severity);
        self
    }

    /// Restrict to events of one kind.
    pub fn kind(mut self, kind: EventKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Restrict to events whose body matches `text`.
    pub fn text(mut self, text: TextQuery) -> Self {
        self.text = text;
        self
    }

    fn matches_time(&self, ts: i64) -> bool {
        ts >= self.from_ms && ts < self.to_ms
    }

    /// Whether `e` matches every part of the query.
    pub fn matches(&self, e: &Event) -> bool {
        self.matches_time(e.ts_ms)
            && self.min_severity.is_none_or(|s| e.severity <= s)
            && self.kind.is_none_or(|k| e.kind == k)
            && self.device.as_deref().is_none_or(|d| e.source == d)
            && self.text.matches(&e.body)
    }
}

/// Errors of [`LogIndex`].
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading the event log failed.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// [`LogIndex::observe`] was given events that do not continue the indexed range.
    #[error("events must continue the index: expected seq {expected}, got {found}")]
    Gap {
        /// Next seq the index expected.
        expected: u64,
        /// First seq it was given.
        found: u64,
    },
}

/// Sizes of a [`LogIndex`], for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Events in the in-memory entry window.
    pub entries: usize,
    /// Seq of the oldest event in the entry window (== `next_seq` when empty).
    pub first_entry_seq: u64,
    /// Next seq the index will observe.
    pub next_seq: u64,
    /// Time blocks (including the open one).
    pub blocks: usize,
    /// Distinct devices in the entry window.
    pub devices: usize,
    /// Events read from the log by fallback scans since creation.
    pub scanned_events: u64,
    /// Blocks a word query skipped because their filter lacked a word, since creation.
    pub skipped_blocks: u64,
    /// Bytes of the closed blocks' word filters.
    pub bloom_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first_seq: u64,
    end_seq: u64,
    min_ts: i64,
    max_ts: i64,
}

#[derive(Debug, Clone)]
struct Block {
    span: Span,
    words: TokenBloom,
}

impl Block {
    fn merge(a: Block, b: Block) -> Block {
        Block {
            span: Span {
                first_seq: a.span.first_seq,
                end_seq: b.span.end_seq,
                min_ts: a.span.min_ts.min(b.span.min_ts),
                max_ts: a.span.max_ts.max(b.span.max_ts),
            },
            words: TokenBloom::union(&a.words, &b.words),
        }
    }
}

/// The block being filled: its span, its event count and the hashes of its words.
#[derive(Debug)]
struct OpenBlock {
    span: Span,
    events: u32,
    words: HashSet<u64>,
}

/// Where a candidate block's words are.
enum Words<'a> {
    Bloom(&'a TokenBloom),
    Set(&'a HashSet<u64>),
}

impl Words<'_> {
    fn may_contain(&self, h: u64) -> bool {
        match self {
            Words::Bloom(b) => b.may_contain(h),
            Words::Set(s) => s.contains(&h),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    ts_ms: i64,
    device: u32,
    severity: u8,
    kind: EventKind,
}

/// Top-`limit` matches by (ts, seq), newest wins.
struct TopK {
    limit: usize,
    heap: BinaryHeap<Reverse<(i64, u64)>>,
}

impl TopK {
    /// Offer a match; returns whether it was kept and the seq it displaced, if any.
    fn offer(&mut self, ts: i64, seq: u64) -> (bool, Option<u64>) {
        if self.heap.len() < self.limit {
            self.heap.push(Reverse((ts, seq)));
            return (true, None);
        }
        match self.heap.peek() {
            Some(Reverse(min)) if (ts, seq) > *min => {
                let Reverse((_, out)) = self.heap.pop().expect("peeked");
                self.heap.push(Reverse((ts, seq)));
                (true, Some(out))
            }
            _ => (false, None),
        }
    }

    /// Whether a block whose newest event time is `max_ts` can still contribute.
    fn wants(&self, max_ts: i64) -> bool {
        self.heap.len() < self.limit || self.heap.peek().is_none_or(|Reverse(min)| max_ts >= min.0)
    }
}

/// Bounded in-memory index over an [`EventLog`]. See the [module docs](self).
#[derive(Debug)]
pub struct LogIndex {
    config: IndexConfig,
    next_seq: u64,
    blocks: VecDeque<Block>,
    open: Option<OpenBlock>,
    entries: VecDeque<Entry>,
    first_entry_seq: u64,
    device_ids: HashMap<Box<str>, u32>,
    device_names: Vec<Option<Box<str>>>,
    free_ids: Vec<u32>,
    by_device: Vec<VecDeque<u64>>,
    by_severity: [VecDeque<u64>; 8],
    max_ts_seen: i64,
    bloom_bytes: usize,
    scanned_events: AtomicU64,
    skipped_blocks: AtomicU64,
}

impl LogIndex {
    /// An empty index; [`catch_up`](Self::catch_up) fills it from the log.
    pub fn new(config: IndexConfig) -> Self {
        Self {
            config,
            next_seq: 0,
            blocks: VecDeque::new(),
            open: None,
            entries: VecDeque::new(),
            first_entry_seq: 0,
            device_ids: HashMap::new(),
            device_names: Vec::new(),
            free_ids: Vec::new(),
            by_device: Vec::new(),
            by_severity: Default::default(),
            max_ts_seen: i64::MIN,
            bloom_bytes: 0,
            scanned_events: AtomicU64::new(0),
            skipped_blocks: AtomicU64::new(0),
        }
    }

    /// Index all durable events of `log` not yet seen; returns how many were added.
    ///
    /// The first call reads the whole log once (to build the time blocks). Also drops
    /// whatever the log's retention removed.
    pub fn catch_up(&mut self, log: &(impl LogSource + ?Sized)) -> Result<usize, IndexError> {
        self.drop_evicted(log.first_seq());
        if self.next_seq < log.first_seq() {
            self.reset_to(log.first_seq());
        }
        let mut added = 0;
        loop {
            let events = log.read_from(self.next_seq, self.config.read_chunk.max(1))?;
            let Some(last) = events.last() else {
                return Ok(added);
            };
            self.next_seq = last.seq + 1;
            added += events.len();
            for e in &events {
                self.push(e);
            }
            self.prune();
        }
    }

    /// Index events the caller already holds (e.g. just appended), which must continue
    /// the indexed range; events already indexed are skipped.
    pub fn observe(&mut self, events: &[Event]) -> Result<(), IndexError> {
        let next = self.next_seq;
        let Some(first) = events.iter().find(|e| e.seq >= next) else {
            return Ok(());
        };
        if next != 0 && first.seq != next {
            return Err(IndexError::Gap {
                expected: next,
                found: first.seq,
            });
        }
        if next == 0 {
            self.reset_to(first.seq);
        }
        for e in events.iter().filter(|e| e.seq >= first.seq) {
            if e.seq != self.next_seq {
                return Err(IndexError::Gap {
                    expected: self.next_seq,
                    found: e.seq,
                });
            }
            self.push(e);
            self.next_seq = e.seq + 1;
        }
        self.prune();
        Ok(())
    }

    /// The events matching `q`, newest (by event time, then seq) first.
    ///
    /// Sees what the index has observed; call [`catch_up`](Self::catch_up) first for the
    /// latest events.
    pub fn query(
        &self,
        log: &(impl LogSource + ?Sized),
        q: &Query,
    ) -> Result<Vec<Event>, IndexError> {
        if q.limit == 0 || q.from_ms >= q.to_ms {
            return Ok(Vec::new());
        }
        let first_avail = log.first_seq();
        let mut cands: Vec<(Span, Words<'_>)> = self
            .blocks
            .iter()
            .map(|b| (b.span, Words::Bloom(&b.words)))
            .chain(self.open.as_ref().map(|o| (o.span, Words::Set(&o.words))))
            .filter(|(b, _)| b.max_ts >= q.from_ms && b.min_ts < q.to_ms && b.end_seq > first_avail)
            .collect();
        cands.sort_unstable_by_key(|(b, _)| Reverse((b.max_ts, b.end_seq)));

        let mut top = TopK {
            limit: q.limit,
            heap: BinaryHeap::new(),
        };
        let mut fetched: HashMap<u64, Event> = HashMap::new();
        let device_id = q.device.as_deref().map(|d| self.device_ids.get(d).copied());
        // With words, the entry window (which holds no text) is no help: every block
        // whose filter may hold the words is read from the log.
        let has_text = !q.text.is_empty();
        let mut needles = q.text.needles();
        if let Some(d) = &q.device {
            needles.push(text::device_hash(d));
        }
        for (b, words) in cands {
            if !top.wants(b.max_ts) {
                break;
            }
            if !needles.iter().all(|&h| words.may_contain(h)) {
                self.skipped_blocks.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let lo = b.first_seq.max(first_avail);
            let scan_hi = if has_text {
                b.end_seq
            } else {
                // Entry window part.
                let idx_lo = lo.max(self.first_entry_seq);
                if idx_lo < b.end_seq {
                    self.collect_indexed(idx_lo, b.end_seq, q, device_id, &mut top, &mut fetched);
                }
                b.end_seq.min(self.first_entry_seq)
            };
            // The rest: scan the log.
            let mut cur = lo;
            while cur < scan_hi {
                let n = ((scan_hi - cur) as usize).min(self.config.read_chunk.max(1));
                let events = log.read_from(cur, n)?;
                let Some(last) = events.last() else { break };
                cur = last.seq + 1;
                self.scanned_events
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                for e in events {
                    if e.seq < scan_hi && q.matches(&e) {
                        let (kept, out) = top.offer(e.ts_ms, e.seq);
                        if let Some(out) = out {
                            fetched.remove(&out);
                        }
                        if kept {
                            fetched.insert(e.seq, e);
                        }
                    }
                }
            }
        }

        let mut keys: Vec<(i64, u64)> = top.heap.into_iter().map(|Reverse(k)| k).collect();
        keys.sort_unstable_by_key(|&k| Reverse(k));
        let mut missing: Vec<u64> = keys
            .iter()
            .map(|&(_, s)| s)
            .filter(|s| !fetched.contains_key(s) && *s >= log.first_seq())
            .collect();
        missing.sort_unstable();
        // Read runs of nearby seqs with one call each.
        const MAX_RUN_GAP: u64 = 256;
        let mut i = 0;
        while i < missing.len() {
            let start = missing[i];
            let mut j = i;
            while j + 1 < missing.len() && missing[j + 1] - missing[j] <= MAX_RUN_GAP {
                j += 1;
            }
            let end = missing[j];
            for e in log.read_from(start, (end - start + 1) as usize)? {
                if missing[i..=j].binary_search(&e.seq).is_ok() {
                    fetched.insert(e.seq, e);
                }
            }
            i = j + 1;
        }
        Ok(keys
            .into_iter()
            .filter_map(|(_, s)| fetched.remove(&s))
            .collect())
    }

    /// Newest event time seen (`i64::MIN` before the first event).
    pub fn newest_ts(&self) -> i64 {
        self.max_ts_seen
    }

    /// Current sizes.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            entries: self.entries.len(),
            first_entry_seq: self.first_entry_seq,
            next_seq: self.next_seq,
            blocks: self.blocks.len() + usize::from(self.open.is_some()),
            devices: self.device_ids.len(),
            scanned_events: self.scanned_events.load(Ordering::Relaxed),
            skipped_blocks: self.skipped_blocks.load(Ordering::Relaxed),
            bloom_bytes: self.bloom_bytes,
        }
    }

    fn collect_indexed(
        &self,
        lo: u64,
        hi: u64,
        q: &Query,
        device_id: Option<Option<u32>>,
        top: &mut TopK,
        fetched: &mut HashMap<u64, Event>,
    ) {
        let mut consider = |seq: u64| {
            let e = &self.entries[(seq - self.first_entry_seq) as usize];
            if q.matches_time(e.ts_ms)
                && q.min_severity.is_none_or(|s| e.severity <= s)
                && q.kind.is_none_or(|k| e.kind == k)
                && device_id.is_none_or(|d| d == Some(e.device))
            {
                if let (_, Some(out)) = top.offer(e.ts_ms, seq) {
                    fetched.remove(&out);
                }
            }
        };
        let in_range = |list: &VecDeque<u64>, f: &mut dyn FnMut(u64)| {
            let a = list.partition_point(|&s| s < lo);
            let b = list.partition_point(|&s| s < hi);
            list.range(a..b).for_each(|&s| f(s));
        };
        match (device_id, q.min_severity) {
            (Some(None), _) => {}
            (Some(Some(id)), _) => in_range(&self.by_device[id as usize], &mut consider),
            (None, Some(s)) => {
                for list in &self.by_severity[..=usize::from(s.min(7))] {
                    in_range(list, &mut consider);
                }
            }
            (None, None) => (lo..hi).for_each(consider),
        }
    }

    fn reset_to(&mut self, seq: u64) {
        let config = self.config.clone();
        let scanned = self.scanned_events.load(Ordering::Relaxed);
        let skipped = self.skipped_blocks.load(Ordering::Relaxed);
        *self = Self::new(config);
        self.scanned_events = AtomicU64::new(scanned);
        self.skipped_blocks = AtomicU64::new(skipped);
        self.next_seq = seq;
        self.first_entry_seq = seq;
    }

    fn push(&mut self, e: &Event) {
        if self.entries.is_empty() {
            self.first_entry_seq = e.seq;
        }
        let device = self.intern(&e.source);
        self.entries.push_back(Entry {
            ts_ms: e.ts_ms,
            device,
            severity: e.severity,
            kind: e.kind,
        });
        self.by_device[device as usize].push_back(e.seq);
        self.by_severity[usize::from(e.severity.min(7))].push_back(e.seq);
        self.max_ts_seen = self.max_ts_seen.max(e.ts_ms);

        let open = self.open.get_or_insert_with(|| OpenBlock {
            span: Span {
                first_seq: e.seq,
                end_seq: e.seq,
                min_ts: e.ts_ms,
                max_ts: e.ts_ms,
            },
            events: 0,
            words: HashSet::new(),
        });
        open.span.end_seq = e.seq + 1;
        open.span.min_ts = open.span.min_ts.min(e.ts_ms);
        open.span.max_ts = open.span.max_ts.max(e.ts_ms);
        open.events += 1;
        text::add_indexed_hashes(&e.body, &mut open.words);
        open.words.insert(text::device_hash(&e.source));
        if open.events >= self.config.block_events.max(1) {
            let o = self.open.take().expect("just inserted");
            let b = Block {
                span: o.span,
                words: TokenBloom::from_hashes(&o.words),
            };
            self.bloom_bytes += b.words.bytes();
            self.blocks.push_back(b);
            if self.blocks.len() > self.config.max_blocks.max(2) {
                self.coarsen();
            }
        }
    }

    /// Merge adjacent blocks pairwise, halving their number.
    fn coarsen(&mut self) {
        let old = std::mem::take(&mut self.blocks);
        let mut it = old.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => self.blocks.push_back(Block::merge(a, b)),
                None => self.blocks.push_back(a),
            }
        }
        self.bloom_bytes = self.blocks.iter().map(|b| b.words.bytes()).sum();
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.device_ids.get(name) {
            return id;
        }
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.device_names[id as usize] = Some(name.into());
                id
            }
            None => {
                self.device_names.push(Some(name.into()));
                self.by_device.push(VecDeque::new());
                (self.device_names.len() - 1) as u32
            }
        };
        self.device_ids.insert(name.into(), id);
        id
    }

    /// Shrink the entry window to its bounds.
    fn prune(&mut self) {
        let cutoff = self.max_ts_seen.saturating_sub(self.config.max_age_ms);
        while let Some(front) = self.entries.front() {
            if self.entries.len() <= self.config.max_entries && front.ts_ms >= cutoff {
                break;
            }
            self.pop_entry();
        }
    }

    fn pop_entry(&mut self) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        let seq = self.first_entry_seq;
        self.first_entry_seq += 1;
        let list = &mut self.by_device[e.device as usize];
        debug_assert_eq!(list.front(), Some(&seq));
        list.pop_front();
        if list.is_empty() {
            if let Some(name) = self.device_names[e.device as usize].take() {
                self.device_ids.remove(&name);
            }
            self.free_ids.push(e.device);
        }
        let sev = &mut self.by_severity[usize::from(e.severity.min(7))];
        debug_assert_eq!(sev.front(), Some(&seq));
        sev.pop_front();
    }

    /// Forget everything before `first_seq` (removed by the log's retention).
    fn drop_evicted(&mut self, first_seq: u64) {
        while self.first_entry_seq < first_seq && !self.entries.is_empty() {
            self.pop_entry();
        }
        while self
            .blocks
            .front()
            .is_some_and(|b| b.span.end_seq <= first_seq)
        {
            if let Some(b) = self.blocks.pop_front() {
                self.bloom_bytes -= b.words.bytes();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use seawatch_runtime::event_log::{EventKind, EventLogConfig, FsyncPolicy, NewEvent};

    const T0: i64 = 1_700_000_000_000;
    const WORDS: [&str; 5] = [
        "link down on ge-0/0/1",
        "link up",
        "admin down",
        "DHCP lease renewed",
        "fan speed high",
    ];

    fn words(q: &str) -> TextQuery {
        crate::store::search::parse(q).unwrap().text
    }

    fn open_log(dir: &std::path::Path) -> EventLog {
        let mut cfg = EventLogConfig::new("test-ship");
        cfg.fsync = FsyncPolicy::Never;
        cfg.segment_max_bytes = 64 * 1024;
        EventLog::open(dir, cfg).unwrap()
    }

    /// Appends `n` events in batches: 6 devices, all severities, times roughly increasing
    /// (100 ms apart) with up to 5 s of producer clock jitter.
    fn fill(log: &mut EventLog, rng: &mut SmallRng, n: usize, start_i: usize) {
        let mut i = start_i;
        while i < start_i + n {
            let len = rng.random_range(1..50usize).min(start_i + n - i);
            let batch: Vec<NewEvent> = (0..len)
                .map(|k| {
                    let j = i + k;
                    NewEvent {
                        ts_ms: T0 + j as i64 * 100 + rng.random_range(-5000..5000i64),
                        source: format!("dev-{}", rng.random_range(0..6u32)),
                        severity: rng.random_range(0..8u8),
                        kind: if j.is_multiple_of(7) {
                            EventKind::Metric
                        } else {
                            EventKind::Log
                        },
                        body: format!("event {j} {}", WORDS[j % WORDS.len()]),
                    }
                })
                .collect();
            i += batch.len();
            log.append_batch(batch).unwrap();
        }
    }

    fn brute(log: &EventLog, q: &Query) -> Vec<Event> {
        brute_in(&log.read_from(log.first_seq(), usize::MAX).unwrap(), q)
    }

    fn brute_in(all: &[Event], q: &Query) -> Vec<Event> {
        let mut all: Vec<Event> = all.iter().filter(|e| q.matches(e)).cloned().collect();
        all.sort_by_key(|e| Reverse((e.ts_ms, e.seq)));
        all.truncate(q.limit);
        all
    }

    fn random_query(rng: &mut SmallRng, span_ms: i64) -> Query {
        let a = T0 - 10_000 + rng.random_range(0..span_ms + 20_000);
        let len = rng.random_range(0..span_ms / 2 + 1);
        let mut q = Query::new(a, a + len, rng.random_range(0..60usize));
        if rng.random_bool(0.5) {
            q = q.device(format!("dev-{}", rng.random_range(0..7u32)));
        }
        if rng.random_bool(0.5) {
            q = q.min_severity(rng.random_range(0..8u8));
        }
        if rng.random_bool(0.2) {
            q = q.kind(EventKind::Log);
        }
        if rng.random_bool(0.4) {
            let texts = [
                "down",
                "link -admin",
                "\"link down\"",
                "ge-0/0/1",
                "renewed fan",
                "DHCP",
            ];
            q = q.text(words(texts[rng.random_range(0..texts.len())]));
        }
        q
    }

    #[test]
    fn matches_brute_force_inside_and_beyond_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        let mut rng = SmallRng::seed_from_u64(7);
        fill(&mut log, &mut rng, 20_000, 0);
        let mut idx = LogIndex::new(IndexConfig {
            max_entries: 3_000,
            block_events: 128,
            max_blocks: 64, // forces coarsening
            read_chunk: 500,
            ..IndexConfig::default()
        });
        assert_eq!(idx.catch_up(&log).unwrap(), 20_000);
        let s = idx.stats();
        assert_eq!(s.entries, 3_000);
        assert_eq!(s.next_seq, 20_001);
        assert!(s.blocks <= 65, "{s:?}");
        let span = 20_000 * 100;
        let all = log.read_from(1, usize::MAX).unwrap();
        for _ in 0..300 {
            let q = random_query(&mut rng, span);
            assert_eq!(idx.query(&log, &q).unwrap(), brute_in(&all, &q), "{q:?}");
        }
        // More events arrive; the index follows.
        fill(&mut log, &mut rng, 5_000, 20_000);
        assert_eq!(idx.catch_up(&log).unwrap(), 5_000);
        let all = log.read_from(1, usize::MAX).unwrap();
        for _ in 0..100 {
            let q = random_query(&mut rng, 25_000 * 100);
            assert_eq!(idx.query(&log, &q).unwrap(), brute_in(&all, &q), "{q:?}");
        }
    }

    #[test]
    fn recent_queries_do_not_scan_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        let mut rng = SmallRng::seed_from_u64(11);
        fill(&mut log, &mut rng, 10_000, 0);
        let mut idx = LogIndex::new(IndexConfig {
            max_entries: 4_000,
            block_events: 64,
            ..IndexConfig::default()
        });
        idx.catch_up(&log).unwrap();
        // The last ~200 s are well inside the window.
        let q = Query::new(T0 + 800_000, T0 + 1_000_000, 50)
            .device("dev-2")
            .min_severity(4);
        assert_eq!(idx.query(&log, &q).unwrap(), brute(&log, &q));
        assert_eq!(idx.stats().scanned_events, 0);
        // An old range falls back to scanning, and only its blocks.
        let q = Query::new(T0 + 100_000, T0 + 120_000, 1000);
        assert_eq!(idx.query(&log, &q).unwrap(), brute(&log, &q));
        let scanned = idx.stats().scanned_events;
        assert!(scanned > 0 && scanned < 1_000, "scanned {scanned}");
    }

    #[test]
    fn age_bound_and_device_ids_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        let ev = |ts_ms: i64, source: &str| NewEvent {
            ts_ms,
            kind: EventKind::Metric,
            source: source.into(),
            severity: 6,
            body: String::new(),
        };
        log.append_batch((0..100).map(|i| ev(T0 + i, "old-dev")).collect())
            .unwrap();
        let mut idx = LogIndex::new(IndexConfig {
            max_age_ms: 60_000,
            ..IndexConfig::default()
        });
        idx.catch_up(&log).unwrap();
        assert_eq!(idx.stats().devices, 1);
        log.append_batch((0..10).map(|i| ev(T0 + 3_600_000 + i, "new-dev")).collect())
            .unwrap();
        idx.catch_up(&log).unwrap();
        let s = idx.stats();
        assert_eq!((s.entries, s.devices, s.first_entry_seq), (10, 1, 101));
        // Old events are still found, through the log.
        let q = Query::new(T0, T0 + 50, 1000).device("old-dev");
        let got = idx.query(&log, &q).unwrap();
        assert_eq!(got.len(), 50);
        assert_eq!(got[0].ts_ms, T0 + 49);
        assert_eq!(got, brute(&log, &q));
    }

    #[test]
    fn observe_requires_contiguous_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        let mut rng = SmallRng::seed_from_u64(3);
        fill(&mut log, &mut rng, 300, 0);
        let all = log.read_from(1, usize::MAX).unwrap();
        let mut idx = LogIndex::new(IndexConfig::default());
        idx.observe(&all[..100]).unwrap();
        idx.observe(&all[50..200]).unwrap(); // overlap is skipped
        assert!(matches!(
            idx.observe(&all[250..]),
            Err(IndexError::Gap {
                expected: 201,
                found: 251
            })
        ));
        idx.catch_up(&log).unwrap();
        assert_eq!(idx.stats().next_seq, 301);
        let q = Query::new(i64::MIN, i64::MAX, 1000);
        assert_eq!(idx.query(&log, &q).unwrap(), brute(&log, &q));
    }

    #[test]
    fn word_queries_read_only_blocks_that_may_hold_the_words() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        // 20,000 ordinary lines, and one rare word in the middle.
        let batch = |from: usize, n: usize| -> Vec<NewEvent> {
            (from..from + n)
                .map(|j| NewEvent {
                    ts_ms: T0 + j as i64 * 10,
                    kind: EventKind::Log,
                    source: format!("dev-{}", j % 5),
                    severity: 6,
                    body: if j == 12_345 {
                        "kernel: OOM killer invoked".into()
                    } else {
                        format!(
                            "sshd[{j}]: accepted publickey for ops from 10.0.0.{}",
                            j % 250
                        )
                    },
                })
                .collect()
        };
        for k in 0..20 {
            log.append_batch(batch(k * 1000, 1000)).unwrap();
        }
        let mut idx = LogIndex::new(IndexConfig {
            max_entries: 5_000,
            block_events: 256,
            ..IndexConfig::default()
        });
        idx.catch_up(&log).unwrap();
        let q = Query::new(T0, T0 + 1_000_000, 100).text(words("oom"));
        let got = idx.query(&log, &q).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].seq, 12_346);
        assert_eq!(got, brute(&log, &q));
        let s = idx.stats();
        // 79 blocks of 256: about one is read (a false positive may add one or two).
        assert!(s.scanned_events <= 3 * 256, "{s:?}");
        assert!(s.skipped_blocks >= 75, "{s:?}");
        assert!(s.bloom_bytes > 0);
        // A common word reads blocks newest first and stops at the limit.
        let q = Query::new(T0, T0 + 1_000_000, 10).text(words("accepted publickey"));
        assert_eq!(idx.query(&log, &q).unwrap(), brute(&log, &q));
        assert!(idx.stats().scanned_events - s.scanned_events <= 256);
    }
}
