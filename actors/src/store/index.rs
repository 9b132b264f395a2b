//! Embedded index over the ship's event log.
//!
//! [`LogIndex`] follows the [`EventLog`] (see [`LogIndex::catch_up`]) and keeps, in memory:
//!
//! * **blocks**: for every run of `block_events` consecutive sequence numbers, the
//!   smallest and largest event time (the same summary the log keeps per frame), a
//!   bloom filter of the block's words and devices ([`text::TokenBloom`], decision 0049)
//!   and the exact lines of its **rare keys** (decision 0069): every word or device with
//!   at most [`RARE_LINES`] lines in the block has the list of those lines, and a device
//!   that rare also puts its (device, word) pairs into the filter. Blocks cover the
//!   whole log, so a time range maps to the seq ranges worth reading; a query reads only
//!   the blocks whose filter may hold all its words (and, for a rare device, the pairs),
//!   and of those only the listed lines when one of its keys is listed. When there are
//!   more than `max_blocks`, adjacent blocks are merged (coarser, still exact bounds,
//!   filters united, a key stays listed when each half lists it or certainly lacks it),
//!   so this stays bounded even for a log of billions of events;
//! * **entries**: for the most recent events only (at most `max_entries`, and none older
//!   than `max_age_ms` behind the newest event time), a 16-byte entry (time, device,
//!   severity) plus per-device and per-severity lists of sequence numbers.
//!
//! A [`Query`] walks the blocks overlapping its time range, newest first, and keeps the
//! `limit` newest matches (by event time, then seq). Within the entry window a query
//! without words uses the device or severity lists and never touches the log; anything
//! else is read from the log with [`EventLog::visit`] (frames decoded in place, only the
//! frames holding wanted lines) and filtered exactly. Stops as soon as no remaining block
//! can hold a newer match. Finally the bodies of the matches are read from the log.
//!
//! Nothing here is durable: the index is rebuilt from the log when a node starts and
//! follows it; the log stays the store of record.
//!
//! Event times are producer times: they are not required to be monotonic in seq. The
//! index never assumes they are; a skewed clock only makes the block bounds wider.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use std::ops::Range;

use seawatch_runtime::event_log::{Event, EventKind, EventLog, EventLogError, EventRef};

use super::text::{self, TextQuery, TokenBloom};

/// What the index reads: the ship's [`EventLog`] itself or a read view of it
/// ([`LogReader`](crate::log_service::LogReader)).
pub trait LogSource {
    /// Oldest stored seq.
    fn first_seq(&self) -> u64;
    /// Up to `max` durable events from `seq` on (see [`EventLog::read_from`]).
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError>;
    /// Visits the durable events of `ranges` without copying them (see
    /// [`EventLog::visit`]); returns how many were visited.
    fn visit(
        &self,
        ranges: &[Range<u64>],
        f: &mut dyn FnMut(EventRef<'_>),
    ) -> Result<u64, EventLogError>;
}

impl LogSource for EventLog {
    fn first_seq(&self) -> u64 {
        EventLog::first_seq(self)
    }
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        EventLog::read_from(self, seq, max)
    }
    fn visit(
        &self,
        ranges: &[Range<u64>],
        f: &mut dyn FnMut(EventRef<'_>),
    ) -> Result<u64, EventLogError> {
        EventLog::visit(self, ranges, f)
    }
}

impl LogSource for crate::log_service::LogReader {
    fn first_seq(&self) -> u64 {
        crate::log_service::LogReader::first_seq(self)
    }
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        crate::log_service::LogReader::read_from(self, seq, max)
    }
    fn visit(
        &self,
        ranges: &[Range<u64>],
        f: &mut dyn FnMut(EventRef<'_>),
    ) -> Result<u64, EventLogError> {
        crate::log_service::LogReader::visit(self, ranges, f)
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
        self.matches_ref(&EventRef::from(e))
    }

    /// Whether `e` matches every part of the query.
    pub fn matches_ref(&self, e: &EventRef<'_>) -> bool {
        self.matches_time(e.ts_ms)
            && self.min_severity.is_none_or(|s| e.severity <= s)
            && self.kind.is_none_or(|k| e.kind == k)
            && self.device.as_deref().is_none_or(|d| e.source == d)
            && self.text.matches(e.body)
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
    /// Events read from the log by queries (block scans and exact line reads) since
    /// creation.
    pub scanned_events: u64,
    /// Blocks a query skipped because their filter lacked a word, since creation.
    pub skipped_blocks: u64,
    /// Bytes of the closed blocks' word filters.
    pub bloom_bytes: usize,
    /// Bytes of the closed blocks' rare-key line lists.
    pub postings_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first_seq: u64,
    end_seq: u64,
    min_ts: i64,
    max_ts: i64,
}

/// A key (word, device) with at most this many lines in a block gets the exact list of
/// those lines in the block; a device that rare also gets its (device, word) pairs in
/// the block's filter.
pub const RARE_LINES: u32 = 8;

/// The lines of a block's rare keys: `keys` sorted, the lines (offsets from the block's
/// first seq, ascending) of `keys[i]` are `offs[ends[i - 1]..ends[i]]`.
///
/// A key that is listed has **all** its lines in the block listed (counted by hash,
/// so a hash shared by two words lists the lines of both: a superset, filtered exactly
/// afterwards). A key that is not listed may be absent, common, or left out to bound
/// memory: the filter decides then.
#[derive(Debug, Clone, Default)]
struct Postings {
    keys: Box<[u64]>,
    ends: Box<[u32]>,
    offs: Box<[u32]>,
}

impl Postings {
    fn get(&self, key: u64) -> Option<&[u32]> {
        let i = self.keys.binary_search(&key).ok()?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.offs[start..self.ends[i] as usize])
    }

    fn bytes(&self) -> usize {
        self.keys.len() * 12 + self.offs.len() * 4
    }

    fn build(mut list: Vec<(u64, Vec<u32>)>) -> Self {
        list.sort_unstable_by_key(|(k, _)| *k);
        let mut ends = Vec::with_capacity(list.len());
        let mut offs = Vec::new();
        let keys = list
            .into_iter()
            .map(|(k, o)| {
                offs.extend(o);
                ends.push(offs.len() as u32);
                k
            })
            .collect();
        Self {
            keys,
            ends: ends.into(),
            offs: offs.into(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u64, &[u32])> {
        self.keys.iter().enumerate().map(|(i, &k)| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            (k, &self.offs[start..self.ends[i] as usize])
        })
    }
}

#[derive(Debug, Clone)]
struct Block {
    span: Span,
    words: TokenBloom,
    rare: Postings,
}

impl Block {
    fn merge(a: Block, b: Block) -> Block {
        // A key stays listed if each half lists it or certainly lacks it (then the
        // merged list still has all its lines; a device listed this way still has all
        // its pairs in the united filter).
        let shift = (b.span.first_seq - a.span.first_seq) as u32;
        let mut list: Vec<(u64, Vec<u32>)> = Vec::new();
        for (k, offs) in a.rare.iter() {
            match b.rare.get(k) {
                Some(more) => list.push((
                    k,
                    offs.iter()
                        .copied()
                        .chain(more.iter().map(|o| o + shift))
                        .collect(),
                )),
                None if !b.words.may_contain(k) => list.push((k, offs.to_vec())),
                None => {}
            }
        }
        for (k, offs) in b.rare.iter() {
            if a.rare.get(k).is_none() && !a.words.may_contain(k) {
                list.push((k, offs.iter().map(|o| o + shift).collect()));
            }
        }
        Block {
            span: Span {
                first_seq: a.span.first_seq,
                end_seq: b.span.end_seq,
                min_ts: a.span.min_ts.min(b.span.min_ts),
                max_ts: a.span.max_ts.max(b.span.max_ts),
            },
            words: TokenBloom::union(&a.words, &b.words),
            rare: Postings::build(list),
        }
    }
}

/// Lines of one key in the open block; `offs` is kept while there are at most
/// [`RARE_LINES`].
#[derive(Debug, Default)]
struct KeyLines {
    lines: u32,
    offs: Vec<u32>,
}

/// The block being filled: its span, its event count, the lines of its keys (word and
/// device hashes) and, for each device while it has few lines (while its key is listed),
/// its words; a device's words are dropped once it has more.
#[derive(Debug)]
struct OpenBlock {
    span: Span,
    events: u32,
    keys: HashMap<u64, KeyLines>,
    device_words: HashMap<u64, Vec<u64>>,
}

impl OpenBlock {
    fn add(&mut self, key: u64, off: u32) {
        let k = self.keys.entry(key).or_default();
        k.lines += 1;
        if k.lines <= RARE_LINES {
            k.offs.push(off);
        } else if k.lines == RARE_LINES + 1 {
            k.offs = Vec::new();
        }
    }

    fn listed(&self, key: u64) -> Option<&[u32]> {
        self.keys
            .get(&key)
            .filter(|k| k.lines <= RARE_LINES)
            .map(|k| k.offs.as_slice())
    }

    /// Closes the block: the filter holds every key, and the pairs of the rare devices
    /// that are listed; at most `max_offs` lines are listed and `max_pairs` pairs added
    /// (rarest keys first, devices before words).
    fn close(self, max_offs: usize, max_pairs: usize) -> Block {
        let mut entries: Vec<u64> = self.keys.keys().copied().collect();
        let mut list = Vec::new();
        let mut used = 0;
        let mut devices: Vec<(u32, u64, &Vec<u64>)> = self
            .device_words
            .iter()
            .filter_map(|(&d, w)| Some((self.keys.get(&d)?.lines, d, w)))
            .filter(|&(lines, _, _)| lines <= RARE_LINES)
            .collect();
        devices.sort_unstable();
        let mut pairs = 0;
        for (lines, d, words) in devices {
            let mut words = words.clone();
            words.sort_unstable();
            words.dedup();
            if used + lines as usize > max_offs || pairs + words.len() > max_pairs {
                continue;
            }
            used += lines as usize;
            pairs += words.len();
            entries.extend(words.iter().map(|&w| text::pair_hash(d, w)));
            list.push((d, self.keys[&d].offs.clone()));
        }
        let mut rare: Vec<(u32, u64)> = self
            .keys
            .iter()
            .filter(|(k, l)| l.lines <= RARE_LINES && !self.device_words.contains_key(k))
            .map(|(&k, l)| (l.lines, k))
            .collect();
        rare.sort_unstable();
        for (lines, k) in rare {
            if used + lines as usize > max_offs {
                break;
            }
            used += lines as usize;
            list.push((k, self.keys[&k].offs.clone()));
        }
        entries.sort_unstable();
        entries.dedup();
        Block {
            span: self.span,
            words: TokenBloom::from_distinct(entries.len(), entries),
            rare: Postings::build(list),
        }
    }
}

/// A candidate block of a query: closed or the open one.
enum BlockRef<'a> {
    Closed(&'a Block),
    Open(&'a OpenBlock),
}

impl BlockRef<'_> {
    fn span(&self) -> Span {
        match self {
            BlockRef::Closed(b) => b.span,
            BlockRef::Open(o) => o.span,
        }
    }

    fn may_contain(&self, h: u64) -> bool {
        match self {
            BlockRef::Closed(b) => b.words.may_contain(h),
            BlockRef::Open(o) => o.keys.contains_key(&h),
        }
    }

    fn listed(&self, h: u64) -> Option<&[u32]> {
        match self {
            BlockRef::Closed(b) => b.rare.get(h),
            BlockRef::Open(o) => o.listed(h),
        }
    }

    /// For a device listed in this block: whether it may have written a line with all
    /// of `needles`, by its (device, word) pairs.
    fn pairs_may_contain(&self, device: u64, needles: &[u64]) -> bool {
        match self {
            BlockRef::Closed(b) => needles
                .iter()
                .all(|&n| b.words.may_contain(text::pair_hash(device, n))),
            BlockRef::Open(o) => match (o.listed(device), o.device_words.get(&device)) {
                (Some(_), Some(words)) => needles.iter().all(|n| words.contains(n)),
                _ => true,
            },
        }
    }

    /// Which lines of the block may match: `None` none (skip it), `Some(None)` any
    /// (read it whole), `Some(Some(offsets))` only these.
    fn plan(&self, device: Option<u64>, needles: &[u64]) -> Option<Option<Vec<u32>>> {
        let mut cands: Option<Vec<u32>> = None;
        for &k in device.iter().chain(needles) {
            match self.listed(k) {
                Some(offs) => {
                    cands = Some(match cands {
                        None => offs.to_vec(),
                        Some(c) => intersect(&c, offs),
                    });
                    if cands.as_ref().is_some_and(Vec::is_empty) {
                        return None;
                    }
                }
                None if !self.may_contain(k) => return None,
                None => {}
            }
        }
        if let Some(d) = device {
            if !needles.is_empty()
                && self.listed(d).is_some()
                && !self.pairs_may_contain(d, needles)
            {
                return None;
            }
        }
        Some(cands)
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
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
    postings_bytes: usize,
    line_keys: Vec<u64>,
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
            postings_bytes: 0,
            line_keys: Vec::new(),
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
        let chunk = self.config.read_chunk.max(1) as u64;
        loop {
            let range = self.next_seq..self.next_seq + chunk;
            let n = log.visit(std::slice::from_ref(&range), &mut |e| {
                debug_assert_eq!(e.seq, self.next_seq);
                self.push(&e);
                self.next_seq = e.seq + 1;
            })?;
            if n == 0 {
                return Ok(added);
            }
            added += n as usize;
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
            self.push(&EventRef::from(e));
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
        let mut cands: Vec<BlockRef<'_>> = self
            .blocks
            .iter()
            .map(BlockRef::Closed)
            .chain(self.open.as_ref().map(BlockRef::Open))
            .filter(|b| {
                let s = b.span();
                s.max_ts >= q.from_ms && s.min_ts < q.to_ms && s.end_seq > first_avail
            })
            .collect();
        cands.sort_unstable_by_key(|b| {
            let s = b.span();
            Reverse((s.max_ts, s.end_seq))
        });

        let mut top = TopK {
            limit: q.limit,
            heap: BinaryHeap::new(),
        };
        let mut fetched: HashMap<u64, Event> = HashMap::new();
        let device_id = q.device.as_deref().map(|d| self.device_ids.get(d).copied());
        // With words, the entry window (which holds no text) is no help: the lines are
        // read from the log.
        let has_text = !q.text.is_empty();
        let needles = q.text.needles();
        let device = q.device.as_deref().map(text::device_hash);
        let mut ranges: Vec<Range<u64>> = Vec::new();
        for b in cands {
            let span = b.span();
            if !top.wants(span.max_ts) {
                break;
            }
            let Some(plan) = b.plan(device, &needles) else {
                self.skipped_blocks.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let lo = span.first_seq.max(first_avail);
            let mut hi = span.end_seq;
            if !has_text {
                // Entry window part.
                let idx_lo = lo.max(self.first_entry_seq);
                if idx_lo < hi {
                    self.collect_indexed(idx_lo, hi, q, device_id, &mut top, &mut fetched);
                }
                hi = hi.min(self.first_entry_seq);
            }
            if lo >= hi {
                continue;
            }
            // The rest: read from the log, the listed lines only when there are some.
            ranges.clear();
            match plan {
                None => ranges.push(lo..hi),
                Some(offs) => {
                    for o in offs {
                        let s = span.first_seq + u64::from(o);
                        if s < lo || s >= hi {
                            continue;
                        }
                        match ranges.last_mut() {
                            Some(r) if r.end == s => r.end = s + 1,
                            _ => ranges.push(s..s + 1),
                        }
                    }
                }
            }
            let n = log.visit(&ranges, &mut |e| {
                if q.matches_ref(&e) {
                    let (kept, out) = top.offer(e.ts_ms, e.seq);
                    if let Some(out) = out {
                        fetched.remove(&out);
                    }
                    if kept {
                        fetched.insert(e.seq, e.to_event());
                    }
                }
            })?;
            self.scanned_events.fetch_add(n, Ordering::Relaxed);
        }

        let mut keys: Vec<(i64, u64)> = top.heap.into_iter().map(|Reverse(k)| k).collect();
        keys.sort_unstable_by_key(|&k| Reverse(k));
        let mut missing: Vec<u64> = keys
            .iter()
            .map(|&(_, s)| s)
            .filter(|s| !fetched.contains_key(s) && *s >= log.first_seq())
            .collect();
        missing.sort_unstable();
        let ranges: Vec<Range<u64>> = missing.iter().map(|&s| s..s + 1).collect();
        log.visit(&ranges, &mut |e| {
            fetched.insert(e.seq, e.to_event());
        })?;
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
            postings_bytes: self.postings_bytes,
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

    fn push(&mut self, e: &EventRef<'_>) {
        if self.entries.is_empty() {
            self.first_entry_seq = e.seq;
        }
        let device = self.intern(e.source);
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
            keys: HashMap::new(),
            device_words: HashMap::new(),
        });
        let off = (e.seq - open.span.first_seq) as u32;
        open.span.end_seq = e.seq + 1;
        open.span.min_ts = open.span.min_ts.min(e.ts_ms);
        open.span.max_ts = open.span.max_ts.max(e.ts_ms);
        open.events += 1;
        // Each key once per line.
        let keys = &mut self.line_keys;
        keys.clear();
        text::for_indexed_hashes(e.body, |h| keys.push(h));
        let d = text::device_hash(e.source);
        keys.push(d);
        keys.sort_unstable();
        keys.dedup();
        for &k in keys.iter() {
            open.add(k, off);
        }
        let lines = open.keys[&d].lines;
        let words = open.device_words.entry(d).or_default();
        if lines <= RARE_LINES {
            words.extend(keys.iter().filter(|&&k| k != d));
        } else if lines == RARE_LINES + 1 {
            *words = Vec::new();
        }
        if open.events >= self.config.block_events.max(1) {
            let o = self.open.take().expect("just inserted");
            let n = self.config.block_events.max(1) as usize;
            let b = o.close(n / 4, n / 2);
            self.bloom_bytes += b.words.bytes();
            self.postings_bytes += b.rare.bytes();
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
        self.postings_bytes = self.blocks.iter().map(|b| b.rare.bytes()).sum();
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
                self.postings_bytes -= b.rare.bytes();
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

    /// A skewed log like a ship's: 4 chatty devices, 30 quiet ones (a line now and
    /// then), words drawn from a vocabulary with a long tail (so most blocks hold rare
    /// words), mixed case, a few non-ASCII lines, numbers and ids; producer clocks jitter.
    fn fill_skewed(log: &mut EventLog, rng: &mut SmallRng, n: usize, start: usize) {
        const VOCAB: [&str; 24] = [
            "link",
            "down",
            "up",
            "state",
            "changed",
            "to",
            "interface",
            "accepted",
            "publickey",
            "for",
            "deny",
            "allow",
            "fan",
            "speed",
            "high",
            "DHCP",
            "lease",
            "renewed",
            "segfault",
            "OOM",
            "killer",
            "Größe",
            "überlast",
            "eth0",
        ];
        let mut i = start;
        while i < start + n {
            let len = rng.random_range(1..80usize).min(start + n - i);
            let batch: Vec<NewEvent> = (0..len)
                .map(|k| {
                    let j = i + k;
                    let dev = if rng.random_bool(0.05) {
                        format!("quiet-{}", rng.random_range(0..30u32))
                    } else {
                        format!("busy-{}", rng.random_range(0..4u32))
                    };
                    let words = rng.random_range(2..8usize);
                    let mut body = String::new();
                    for w in 0..words {
                        // Long tail: word k with probability about 1/(k+1)^2.
                        let k = ((rng.random::<f64>().powi(3)) * VOCAB.len() as f64) as usize;
                        let word = VOCAB[k.min(VOCAB.len() - 1)];
                        let word = if rng.random_bool(0.2) {
                            word.to_uppercase()
                        } else {
                            word.to_owned()
                        };
                        if w > 0 {
                            body.push(if rng.random_bool(0.8) { ' ' } else { ':' });
                        }
                        body.push_str(&word);
                        if rng.random_bool(0.1) {
                            body.push_str(&format!(" {}", rng.random_range(0..100_000u32)));
                        }
                    }
                    NewEvent {
                        ts_ms: T0 + j as i64 * 100 + rng.random_range(-3000..3000i64),
                        source: dev,
                        severity: rng.random_range(0..8u8),
                        kind: if j.is_multiple_of(11) {
                            EventKind::Metric
                        } else {
                            EventKind::Log
                        },
                        body,
                    }
                })
                .collect();
            i += batch.len();
            log.append_batch(batch).unwrap();
        }
    }

    /// A query for the skewed log: often a quiet device, words from real lines (so
    /// rare words and phrases that exist are asked for), negations, time ranges, limits.
    fn skewed_query(rng: &mut SmallRng, all: &[Event], span_ms: i64) -> Query {
        let a = T0 - 5_000 + rng.random_range(0..span_ms + 10_000);
        let len = if rng.random_bool(0.3) {
            span_ms * 2
        } else {
            rng.random_range(0..span_ms / 2 + 1)
        };
        let limit = [0, 1, 3, 10, 50, 1000][rng.random_range(0..6usize)];
        let mut q = Query::new(a, a + len, limit);
        let sample = &all[rng.random_range(0..all.len())];
        if rng.random_bool(0.6) {
            q = q.device(if rng.random_bool(0.8) {
                sample.source.clone()
            } else {
                format!("quiet-{}", rng.random_range(0..32u32))
            });
        }
        if rng.random_bool(0.2) {
            q = q.min_severity(rng.random_range(0..8u8));
        }
        if rng.random_bool(0.1) {
            q = q.kind(EventKind::Log);
        }
        let toks = text::tokens(&sample.body);
        let mut parts = Vec::new();
        match rng.random_range(0..5u32) {
            0 => {}
            1 => parts.push(toks[rng.random_range(0..toks.len())].clone()),
            2 if toks.len() >= 2 => {
                let k = rng.random_range(0..toks.len() - 1);
                parts.push(format!("\"{} {}\"", toks[k], toks[k + 1].to_uppercase()));
            }
            3 => {
                parts.push(toks[rng.random_range(0..toks.len())].clone());
                parts.push(
                    ["segfault", "oom", "größe", "fan", "eth0"][rng.random_range(0..5usize)].into(),
                );
            }
            _ => {
                parts.push(toks[rng.random_range(0..toks.len())].clone());
                parts.push(format!(
                    "-{}",
                    ["down", "up", "link"][rng.random_range(0..3usize)]
                ));
            }
        }
        if !parts.is_empty() {
            q = q.text(words(&parts.join(" ")));
        }
        q
    }

    /// Every path of the index (rare-key line lists, (device, word) pairs, whole-block
    /// reads, the entry window, merged blocks, the open block) answers exactly what a
    /// scan of the whole log answers.
    #[test]
    fn rare_keys_and_device_word_pairs_match_brute_force() {
        for (seed, block_events, max_blocks) in
            [(21u64, 64u32, 10_000usize), (22, 32, 24), (23, 256, 4)]
        {
            let dir = tempfile::tempdir().unwrap();
            let mut log = open_log(dir.path());
            let mut rng = SmallRng::seed_from_u64(seed);
            fill_skewed(&mut log, &mut rng, 12_000, 0);
            let mut idx = LogIndex::new(IndexConfig {
                max_entries: 1_500,
                block_events,
                max_blocks,
                read_chunk: 700,
                ..IndexConfig::default()
            });
            idx.catch_up(&log).unwrap();
            let s = idx.stats();
            assert!(s.postings_bytes > 0, "{s:?}");
            assert!(s.blocks <= max_blocks + 1, "{s:?}");
            // More lines, the last block left open.
            fill_skewed(
                &mut log,
                &mut rng,
                1_000 + block_events as usize / 2,
                12_000,
            );
            idx.catch_up(&log).unwrap();
            let all = log.read_from(1, usize::MAX).unwrap();
            let span = all.len() as i64 * 100;
            let mut nonempty = 0;
            for _ in 0..600 {
                let q = skewed_query(&mut rng, &all, span);
                let want = brute_in(&all, &q);
                nonempty += usize::from(!want.is_empty());
                assert_eq!(idx.query(&log, &q).unwrap(), want, "seed {seed}: {q:?}");
            }
            assert!(
                nonempty > 200,
                "seed {seed}: only {nonempty} queries found lines"
            );
        }
    }

    /// A quiet device, alone or with a word, is answered from its listed lines and its
    /// pairs: only the frames of its own lines are read, not whole blocks.
    #[test]
    fn quiet_devices_read_only_their_own_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        // 40,000 lines of one busy device; every 500th line is the quiet device's,
        // alternately "fan speed high" and "link down".
        let mk = |j: usize| NewEvent {
            ts_ms: T0 + j as i64 * 10,
            kind: EventKind::Log,
            source: if j % 500 == 7 {
                "quiet".into()
            } else {
                "busy".into()
            },
            severity: 6,
            body: if j % 500 == 7 {
                if (j / 500).is_multiple_of(2) {
                    "fan speed high".into()
                } else {
                    "link down".into()
                }
            } else {
                format!("link up fan speed normal {j}")
            },
        };
        for k in 0..40 {
            log.append_batch((k * 1000..(k + 1) * 1000).map(mk).collect())
                .unwrap();
        }
        let mut idx = LogIndex::new(IndexConfig {
            max_entries: 1_000,
            block_events: 1024,
            ..IndexConfig::default()
        });
        idx.catch_up(&log).unwrap();
        let q = Query::new(T0, T0 + 1_000_000, 1000).device("quiet");
        let got = idx.query(&log, &q).unwrap();
        assert_eq!(got.len(), 80);
        assert_eq!(got, brute(&log, &q));
        let s = idx.stats();
        // The window's part comes from the entries; older ones are read one by one.
        assert!(s.scanned_events <= 80, "{s:?}");
        // "high" is in every block (the busy device says it too) but the quiet device
        // wrote it only in half of them: the pairs skip the others.
        let q = Query::new(T0, T0 + 1_000_000, 1000)
            .device("quiet")
            .text(words("high"));
        let got = idx.query(&log, &q).unwrap();
        assert_eq!(got.len(), 40);
        assert_eq!(got, brute(&log, &q));
        let s2 = idx.stats();
        assert!(s2.scanned_events - s.scanned_events <= 40, "{s2:?}");
    }
}
