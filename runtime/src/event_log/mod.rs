#![warn(missing_docs)]
//! Durable, append-only event log for a ship.
//!
//! Events are appended in batches. Each batch becomes one *frame*: the
//! events are archived with rkyv, compressed with zstd and written with a
//! CRC-32 checksummed header in a single `write` call (see the `frame`
//! module docs for the byte layout). Frames are appended to *segment* files
//! named after the sequence number of their first event
//! (`00000000000000000001.seg`); a new segment is started when the active one
//! would exceed [`EventLogConfig::segment_max_bytes`].
//!
//! * **Identity.** The log assigns each event a dense sequence number,
//!   starting at 1. `(ship, seq)` ([`EventId`]) is the event's stable identity.
//! * **Durability.** [`FsyncPolicy`] decides when data is forced to disk.
//!   Readers only ever see *durable* events (up to
//!   [`EventLog::durable_next_seq`]), so an event that is shipped off the ship
//!   cannot be lost in a crash and its sequence number reused.
//! * **Recovery.** On open, the active (last) segment is verified frame by
//!   frame. A torn tail (incomplete or checksum-failing frames at the very
//!   end, as left by a crash mid-write) is truncated away. A damaged frame
//!   that is followed by a valid one is *not* a torn tail; open then fails
//!   with [`EventLogError::Corrupt`] rather than silently dropping data.
//! * **Retention.** [`EventLog::apply_retention`] deletes whole oldest
//!   segments beyond a size budget or older than a maximum age; the active
//!   segment is never deleted.
//! * **Reading.** [`EventLog::read_from`] (or the polling [`LogCursor`]) reads
//!   events from a sequence number on, crossing segments as needed.
//!
//! The log is a plain synchronous struct, meant to be owned by one actor
//! that runs its calls on a blocking thread.

mod frame;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use frame::{FrameDecoder, FrameEncoder, FrameHeader, HEADER_LEN};
pub use types::{ArchivedEvent, ArchivedEventKind, Event, EventId, EventKind, EventRef, NewEvent};

/// Default maximum size of one segment file (64 MiB).
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 64 << 20;
/// Default zstd compression level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
/// Name of the file in the log directory that records the ship id.
pub const SHIP_FILE: &str = "SHIP";
/// File name extension of segment files.
pub const SEGMENT_EXT: &str = "seg";

/// Distance in bytes between entries of the in-memory sparse frame index.
const INDEX_INTERVAL_BYTES: u64 = 64 * 1024;

/// Most events (over all frames) the read cache of [`EventLog::read_from`] keeps
/// decoded: about 40 MB of log lines, enough for a reader that reads up to 8,192 events
/// per call and goes back to where it stopped using them (sync reads ahead of its lanes'
/// room, up to 20,000 events) to find every frame of its window still decoded, and for a
/// reader that trails the writer by half a minute of a busy ship (2,000 events/s:
/// `sim run`'s sync trails by three 5 s barriers, frames hold up to ≈ 9,000 events) to
/// find the frames just appended.
const FRAME_CACHE_EVENTS: usize = 131_072;
/// Most frames the read cache keeps (lookups are a linear scan).
const FRAME_CACHE_FRAMES: usize = 512;

/// A decoded frame, found again by (segment's first seq, offset in the segment).
struct CachedFrame {
    key: (u64, u64),
    header: FrameHeader,
    events: Arc<Vec<Event>>,
}

/// What readers keep between [`EventLog::read_from`] calls: the most recently used
/// decoded frames (a reader that continues inside a frame, or reads the same range again,
/// does not decompress and decode it again) and a zstd context to reuse. Appends put
/// their batch here as written, so a reader following the tail decodes nothing.
///
/// Frames are immutable once written and a (segment, offset) pair names one frame
/// for the life of the [`EventLog`] (recovery only truncates on open; retention
/// removes whole segments, after which their seqs are refused as evicted), so a
/// cached frame is never stale.
#[derive(Default)]
struct ReadCache {
    frames: Vec<CachedFrame>,
    decoder: Option<FrameDecoder>,
    /// Frames decoded from disk since open (tests check the cache with it).
    decoded: u64,
}

impl ReadCache {
    /// Puts a frame first, keeping the most recently used frames within the budget
    /// (the new one always).
    fn insert(&mut self, key: (u64, u64), header: FrameHeader, events: Arc<Vec<Event>>) {
        let mut kept = events.len();
        let keep = self
            .frames
            .iter()
            .take(FRAME_CACHE_FRAMES - 1)
            .take_while(|f| {
                kept += f.events.len();
                kept <= FRAME_CACHE_EVENTS
            })
            .count();
        self.frames.truncate(keep);
        self.frames.insert(
            0,
            CachedFrame {
                key,
                header,
                events,
            },
        );
    }
}

/// When appended data is forced to stable storage.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// `fdatasync` after every batch; `append_batch` returns once the batch is
    /// on disk.
    EveryBatch,
    /// `fdatasync` at most once per interval, checked on append (and by
    /// [`EventLog::flush_if_due`]). A crash may lose up to one interval of
    /// events; readers never see them before they are synced.
    Interval(Duration),
    /// Never `fdatasync` explicitly (except when a segment is sealed); rely
    /// on the OS. Written events are visible to readers immediately. Meant
    /// for tests and throw-away logs.
    Never,
}

/// Which old segments [`EventLog::apply_retention`] deletes.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// Delete oldest segments while the log's total size exceeds this.
    pub max_bytes: Option<u64>,
    /// Delete segments whose newest event is older than this.
    pub max_age: Option<Duration>,
}

/// Configuration of an [`EventLog`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EventLogConfig {
    /// Ship id; part of every event's identity. Recorded in the log
    /// directory on first open and checked on every later open.
    pub ship_id: String,
    /// A new segment is started when appending a frame would take the active
    /// segment beyond this size. A single larger frame gets its own segment.
    pub segment_max_bytes: u64,
    /// When to force data to disk.
    pub fsync: FsyncPolicy,
    /// Retention applied by [`EventLog::apply_retention`].
    pub retention: RetentionPolicy,
    /// zstd compression level (1 is fast and already compresses logs well).
    pub zstd_level: i32,
}

impl EventLogConfig {
    /// Defaults: 64 MiB segments, fsync every 100 ms, no retention limits,
    /// zstd level 1.
    pub fn new(ship_id: impl Into<String>) -> Self {
        Self {
            ship_id: ship_id.into(),
            segment_max_bytes: DEFAULT_SEGMENT_MAX_BYTES,
            fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
            retention: RetentionPolicy::default(),
            zstd_level: DEFAULT_ZSTD_LEVEL,
        }
    }

    fn validate(&self) -> Result<(), EventLogError> {
        let bad = |m: &str| Err(EventLogError::InvalidConfig(m.to_owned()));
        if self.ship_id.is_empty() || self.ship_id.len() > 128 {
            return bad("ship_id must be 1..=128 bytes");
        }
        if self
            .ship_id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return bad("ship_id must not contain whitespace or control characters");
        }
        if self.segment_max_bytes == 0 {
            return bad("segment_max_bytes must be > 0");
        }
        if !(-7..=22).contains(&self.zstd_level) {
            return bad("zstd_level must be in -7..=22");
        }
        Ok(())
    }
}

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// An I/O operation failed.
    #[error("event log i/o error on {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// Stored data failed validation somewhere other than a torn tail.
    #[error("corrupt event log segment {path} at offset {offset}: {reason}")]
    Corrupt {
        /// Segment file.
        path: PathBuf,
        /// Byte offset of the bad frame.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The directory holds the log of a different ship.
    #[error("event log belongs to ship {found:?}, opened as {expected:?}")]
    ShipMismatch {
        /// Ship id from the configuration.
        expected: String,
        /// Ship id recorded in the directory.
        found: String,
    },
    /// The configuration is invalid.
    #[error("invalid event log config: {0}")]
    InvalidConfig(String),
    /// The requested events were deleted by retention.
    #[error("seq {requested} was removed by retention; first available is {first_available}")]
    Evicted {
        /// Requested sequence number.
        requested: u64,
        /// Oldest sequence number still stored.
        first_available: u64,
    },
    /// The requested sequence number was never assigned.
    #[error("seq {requested} is beyond the end of the log (next seq {next_seq})")]
    BeyondEnd {
        /// Requested sequence number.
        requested: u64,
        /// Next sequence number the log will assign.
        next_seq: u64,
    },
    /// A batch could not be encoded (e.g. too large for one frame).
    #[error("cannot encode batch: {0}")]
    Encode(String),
    /// An earlier write or fsync failed in a way that leaves the on-disk state
    /// unknown; reopen the log to recover.
    #[error("event log unusable after an earlier write failure; reopen to recover")]
    Poisoned,
}

/// Result alias for event log operations.
pub type Result<T, E = EventLogError> = std::result::Result<T, E>;

trait IoCtx<T> {
    fn ctx(self, path: &Path) -> Result<T>;
}

impl<T> IoCtx<T> for io::Result<T> {
    fn ctx(self, path: &Path) -> Result<T> {
        self.map_err(|source| EventLogError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

/// Counters and sizes, see [`EventLog::stats`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LogStats {
    /// Ship id.
    pub ship_id: String,
    /// Oldest stored sequence number (== `next_seq` when empty).
    pub first_seq: u64,
    /// Next sequence number to be assigned.
    pub next_seq: u64,
    /// Events below this are durable and visible to readers.
    pub durable_next_seq: u64,
    /// Number of stored events.
    pub events: u64,
    /// Total bytes of all segment files.
    pub bytes: u64,
    /// Number of segment files.
    pub segments: usize,
    /// Batches appended since open.
    pub batches_appended: u64,
    /// `fdatasync` calls since open.
    pub fsyncs: u64,
    /// Torn tails truncated by recovery on open (0 or 1).
    pub torn_tails_truncated: u64,
    /// Bytes dropped by torn tail truncation on open.
    pub truncated_bytes: u64,
    /// Segments deleted by retention since open.
    pub segments_removed: u64,
}

/// What one [`EventLog::apply_retention`] call deleted.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_removed: usize,
    /// Bytes freed.
    pub bytes_removed: u64,
    /// Events deleted.
    pub events_removed: u64,
    /// Oldest sequence number still stored afterwards.
    pub first_seq: u64,
}

#[derive(Debug)]
struct SegmentInfo {
    path: PathBuf,
    len: u64,
}

#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    first_seq: u64,
    offset: u64,
}

/// Summary and sparse frame index of one segment.
#[derive(Debug, Clone)]
struct SegmentMeta {
    end_seq: u64,
    max_ts: Option<i64>,
    index: Vec<IndexEntry>,
}

impl SegmentMeta {
    fn empty(first_seq: u64) -> Self {
        Self {
            end_seq: first_seq,
            max_ts: None,
            index: Vec::new(),
        }
    }

    fn note_frame(&mut self, offset: u64, h: &FrameHeader) {
        if self
            .index
            .last()
            .is_none_or(|e| offset - e.offset >= INDEX_INTERVAL_BYTES)
        {
            self.index.push(IndexEntry {
                first_seq: h.first_seq,
                offset,
            });
        }
        self.end_seq = h.end_seq();
        self.max_ts = Some(self.max_ts.map_or(h.max_ts, |t| t.max(h.max_ts)));
    }

    /// Offset of a frame at or before the one holding `seq`.
    fn locate(&self, seq: u64) -> u64 {
        let p = self.index.partition_point(|e| e.first_seq <= seq);
        if p == 0 {
            0
        } else {
            self.index[p - 1].offset
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    batches_appended: u64,
    fsyncs: u64,
    torn_tails_truncated: u64,
    truncated_bytes: u64,
    segments_removed: u64,
}

/// The durable event log of one ship. See the [module docs](self).
pub struct EventLog {
    dir: PathBuf,
    config: EventLogConfig,
    /// All segments by first sequence number; the last one is active.
    segments: BTreeMap<u64, SegmentInfo>,
    /// Lazily built metadata of sealed segments.
    sealed_meta: Mutex<HashMap<u64, Arc<SegmentMeta>>>,
    /// Recently decoded frames, for reads that continue inside one.
    read_cache: Mutex<ReadCache>,
    active_first: u64,
    active_meta: SegmentMeta,
    active_file: File,
    encoder: FrameEncoder,
    next_seq: u64,
    durable_next_seq: u64,
    last_sync: Instant,
    poisoned: bool,
    counters: Counters,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("dir", &self.dir)
            .field("ship_id", &self.config.ship_id)
            .field("first_seq", &self.first_seq())
            .field("next_seq", &self.next_seq)
            .field("durable_next_seq", &self.durable_next_seq)
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.{SEGMENT_EXT}"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".seg")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok().filter(|&s| s > 0)
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).ctx(dir)?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

fn open_for_append(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(create)
        .open(path)
        .ctx(path)
}

/// Check the frame at `off` of an in-memory segment image.
fn check_frame_at(buf: &[u8], off: usize) -> Result<FrameHeader, String> {
    let rest = &buf[off..];
    if rest.len() < HEADER_LEN {
        return Err(format!("incomplete frame header ({} bytes)", rest.len()));
    }
    let h = FrameHeader::decode(rest)?;
    let len = h.frame_len();
    if (rest.len() as u64) < len {
        return Err(format!(
            "incomplete frame ({} of {len} bytes present)",
            rest.len()
        ));
    }
    let len = len as usize;
    if !frame::crc_ok(&rest[..HEADER_LEN], &h, &rest[HEADER_LEN..len]) {
        return Err("frame checksum mismatch".to_owned());
    }
    Ok(h)
}

/// Offset of the first complete, checksum-valid frame at or after `from`.
fn find_valid_frame(buf: &[u8], from: usize) -> Option<usize> {
    let magic = frame::MAGIC.to_le_bytes();
    let mut i = from;
    while i + HEADER_LEN <= buf.len() {
        let p = buf[i..].windows(4).position(|w| w == magic)?;
        let at = i + p;
        if check_frame_at(buf, at).is_ok() {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// A segment open during a visit: its first seq, the file, and where the
/// frame after the last one read starts (offset, first seq).
type OpenSegment<'a> = (u64, SegmentFile<'a>, Option<(u64, u64)>);

/// Positioned reads of one segment file.
struct SegmentFile<'a> {
    path: &'a Path,
    file: File,
    len: u64,
}

impl<'a> SegmentFile<'a> {
    fn open(path: &'a Path, len: u64) -> Result<Self> {
        Ok(Self {
            path,
            file: File::open(path).ctx(path)?,
            len,
        })
    }

    fn corrupt(&self, offset: u64, reason: impl Into<String>) -> EventLogError {
        EventLogError::Corrupt {
            path: self.path.to_owned(),
            offset,
            reason: reason.into(),
        }
    }

    fn header_at(&mut self, off: u64) -> Result<([u8; HEADER_LEN], FrameHeader)> {
        if off + HEADER_LEN as u64 > self.len {
            return Err(self.corrupt(off, "incomplete frame header"));
        }
        let mut hb = [0u8; HEADER_LEN];
        self.file.seek(SeekFrom::Start(off)).ctx(self.path)?;
        self.file.read_exact(&mut hb).ctx(self.path)?;
        let h = FrameHeader::decode(&hb).map_err(|r| self.corrupt(off, r))?;
        if off + h.frame_len() > self.len {
            return Err(self.corrupt(off, "frame extends past end of segment"));
        }
        Ok((hb, h))
    }

    /// Read, verify and decode the frame at `off`.
    fn frame_at(
        &mut self,
        off: u64,
        decoder: &mut FrameDecoder,
    ) -> Result<(FrameHeader, Vec<Event>)> {
        let (hb, h) = self.header_at(off)?;
        let mut payload = vec![0u8; h.payload_len as usize];
        self.file.read_exact(&mut payload).ctx(self.path)?;
        if !frame::crc_ok(&hb, &h, &payload) {
            return Err(self.corrupt(off, "frame checksum mismatch"));
        }
        let events = decoder
            .decode(&h, &payload)
            .map_err(|r| self.corrupt(off, r))?;
        Ok((h, events))
    }

    /// Read and checksum the frame at `off` without decoding it: its header, the
    /// payload in `payload`.
    fn payload_at(&mut self, off: u64, payload: &mut Vec<u8>) -> Result<FrameHeader> {
        let (hb, h) = self.header_at(off)?;
        payload.clear();
        payload.resize(h.payload_len as usize, 0);
        self.file.read_exact(payload).ctx(self.path)?;
        if !frame::crc_ok(&hb, &h, payload) {
            return Err(self.corrupt(off, "frame checksum mismatch"));
        }
        Ok(h)
    }

    /// Header-only scan of a whole (sealed) segment.
    fn scan(&mut self, first_seq: u64) -> Result<SegmentMeta> {
        let mut meta = SegmentMeta::empty(first_seq);
        let mut off = 0;
        while off < self.len {
            let (_, h) = self.header_at(off)?;
            if h.first_seq != meta.end_seq {
                return Err(self.corrupt(
                    off,
                    format!(
                        "frame starts at seq {}, expected {}",
                        h.first_seq, meta.end_seq
                    ),
                ));
            }
            meta.note_frame(off, &h);
            off += h.frame_len();
        }
        Ok(meta)
    }
}

impl EventLog {
    /// Open (or create) the log in `dir`, recovering from a crash if needed.
    pub fn open(dir: impl AsRef<Path>, config: EventLogConfig) -> Result<Self> {
        config.validate()?;
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).ctx(&dir)?;
        check_ship_file(&dir, &config.ship_id)?;

        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(&dir).ctx(&dir)? {
            let entry = entry.ctx(&dir)?;
            let Some(first) = entry.file_name().to_str().and_then(parse_segment_name) else {
                continue;
            };
            let path = entry.path();
            let len = entry.metadata().ctx(&path)?.len();
            segments.insert(first, SegmentInfo { path, len });
        }
        if segments.is_empty() {
            let path = segment_path(&dir, 1);
            open_for_append(&path, true)?;
            sync_dir(&dir)?;
            segments.insert(1, SegmentInfo { path, len: 0 });
        }

        let mut counters = Counters::default();
        let (&active_first, active) = segments.iter_mut().next_back().expect("non-empty");
        let (active_meta, valid_len) = recover_segment(&active.path, active_first)?;
        if valid_len < active.len {
            let dropped = active.len - valid_len;
            tracing::warn!(
                segment = %active.path.display(),
                valid_len,
                dropped_bytes = dropped,
                "event log: truncating torn tail left by an interrupted write"
            );
            let f = OpenOptions::new()
                .write(true)
                .open(&active.path)
                .ctx(&active.path)?;
            f.set_len(valid_len).ctx(&active.path)?;
            f.sync_all().ctx(&active.path)?;
            active.len = valid_len;
            counters.torn_tails_truncated += 1;
            counters.truncated_bytes += dropped;
        }
        let active_file = open_for_append(&active.path, false)?;
        // Whatever survived a process crash may still sit in the page cache
        // only; make it durable before readers may ship it.
        active_file.sync_data().ctx(&active.path)?;
        let next_seq = active_meta.end_seq;
        let encoder = FrameEncoder::new(config.zstd_level).ctx(&dir)?;

        Ok(Self {
            dir,
            config,
            segments,
            sealed_meta: Mutex::new(HashMap::new()),
            read_cache: Mutex::new(ReadCache::default()),
            active_first,
            active_meta,
            active_file,
            encoder,
            next_seq,
            durable_next_seq: next_seq,
            last_sync: Instant::now(),
            poisoned: false,
            counters,
        })
    }

    /// Append a batch of events as one frame. Assigns sequence numbers and
    /// returns their range. Returns once the batch is durable as far as the
    /// [`FsyncPolicy`] requires. An empty batch writes nothing.
    ///
    /// On error the batch's durability is unknown (it may reappear after a
    /// reopen); after an I/O error the log may be [poisoned](EventLogError::Poisoned).
    pub fn append_batch(&mut self, events: Vec<NewEvent>) -> Result<Range<u64>> {
        if self.poisoned {
            return Err(EventLogError::Poisoned);
        }
        let first = self.next_seq;
        if events.is_empty() {
            return Ok(first..first);
        }
        if events.len() > u32::MAX as usize {
            return Err(EventLogError::Encode("more than u32::MAX events".into()));
        }
        let events: Vec<Event> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| e.with_seq(first + i as u64))
            .collect();
        let h = self
            .encoder
            .encode(&events)
            .map_err(EventLogError::Encode)?;

        let active_len = self.active_len();
        if active_len > 0 && active_len + h.frame_len() > self.config.segment_max_bytes {
            self.roll()?;
        }
        let offset = self.active_len();
        let path = &self.segments[&self.active_first].path;
        if let Err(e) = self.active_file.write_all(self.encoder.frame()) {
            // Cut off whatever part of the frame made it, so the next append
            // does not land behind garbage.
            if self.active_file.set_len(offset).is_err() {
                self.poisoned = true;
            }
            return Err(e).ctx(path);
        }
        self.active_meta.note_frame(offset, &h);
        if let Some(seg) = self.segments.get_mut(&self.active_first) {
            seg.len += h.frame_len();
        }
        // Readers that follow the tail (sync) find the batch decoded: it is what was
        // just written, so it need not be decompressed and decoded again.
        self.read_cache
            .lock()
            .insert((self.active_first, offset), h, Arc::new(events));
        self.next_seq = h.end_seq();
        self.counters.batches_appended += 1;

        match self.config.fsync {
            FsyncPolicy::EveryBatch => self.sync_active()?,
            FsyncPolicy::Interval(d) => {
                if self.last_sync.elapsed() >= d {
                    self.sync_active()?;
                }
            }
            FsyncPolicy::Never => self.durable_next_seq = self.next_seq,
        }
        Ok(first..self.next_seq)
    }

    /// Force all appended events to disk now (no-op if already durable).
    pub fn sync(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(EventLogError::Poisoned);
        }
        if self.durable_next_seq < self.next_seq {
            self.sync_active()?;
        }
        Ok(())
    }

    /// With [`FsyncPolicy::Interval`], sync if the interval has elapsed and
    /// there is unsynced data. Call this periodically so that the tail of a
    /// burst becomes durable (and readable) without waiting for the next
    /// append. Returns whether an fsync happened.
    pub fn flush_if_due(&mut self) -> Result<bool> {
        if let FsyncPolicy::Interval(d) = self.config.fsync {
            if self.durable_next_seq < self.next_seq && self.last_sync.elapsed() >= d {
                self.sync()?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn sync_active(&mut self) -> Result<()> {
        let path = &self.segments[&self.active_first].path;
        if let Err(e) = self.active_file.sync_data() {
            // After a failed fsync the page cache state is unknown; do not
            // pretend otherwise by retrying.
            self.poisoned = true;
            return Err(e).ctx(path);
        }
        self.durable_next_seq = self.next_seq;
        self.last_sync = Instant::now();
        self.counters.fsyncs += 1;
        Ok(())
    }

    fn active_len(&self) -> u64 {
        self.segments[&self.active_first].len
    }

    /// Seal the active segment (fsync) and start a new one at `next_seq`.
    fn roll(&mut self) -> Result<()> {
        self.sync_active()?;
        let first = self.next_seq;
        let path = segment_path(&self.dir, first);
        let file = open_for_append(&path, true)?;
        sync_dir(&self.dir)?;
        let old = std::mem::replace(&mut self.active_meta, SegmentMeta::empty(first));
        self.sealed_meta
            .lock()
            .insert(self.active_first, Arc::new(old));
        self.segments.insert(first, SegmentInfo { path, len: 0 });
        self.active_file = file;
        self.active_first = first;
        Ok(())
    }

    /// Metadata of a sealed segment, scanning it on first use.
    fn sealed_meta(&self, first: u64) -> Result<Arc<SegmentMeta>> {
        if let Some(m) = self.sealed_meta.lock().get(&first) {
            return Ok(m.clone());
        }
        let info = &self.segments[&first];
        let mut sf = SegmentFile::open(&info.path, info.len)?;
        let meta = sf.scan(first)?;
        let expected_end = self
            .segments
            .range(first + 1..)
            .next()
            .map_or(self.next_seq, |(&k, _)| k);
        if meta.end_seq != expected_end {
            return Err(sf.corrupt(
                info.len,
                format!(
                    "segment ends at seq {}, but the next segment starts at {expected_end}",
                    meta.end_seq
                ),
            ));
        }
        let meta = Arc::new(meta);
        self.sealed_meta.lock().insert(first, meta.clone());
        Ok(meta)
    }

    /// The decoded frame at `off` of the segment starting at `seg_first`, from the
    /// read cache or from disk (then cached).
    fn cached_frame(
        &self,
        sf: &mut SegmentFile<'_>,
        seg_first: u64,
        off: u64,
    ) -> Result<(FrameHeader, Arc<Vec<Event>>)> {
        let key = (seg_first, off);
        let decoder = {
            let mut cache = self.read_cache.lock();
            if let Some(i) = cache.frames.iter().position(|f| f.key == key) {
                let f = cache.frames.remove(i);
                let hit = (f.header, f.events.clone());
                cache.frames.insert(0, f);
                return Ok(hit);
            }
            cache.decoder.take()
        };
        let mut decoder = match decoder {
            Some(d) => d,
            None => FrameDecoder::new().ctx(sf.path)?,
        };
        let decoded = sf.frame_at(off, &mut decoder);
        let mut cache = self.read_cache.lock();
        cache.decoder = Some(decoder);
        let (header, events) = decoded?;
        cache.decoded += 1;
        let events = Arc::new(events);
        cache.insert(key, header, events.clone());
        Ok((header, events))
    }

    /// Read up to `max_events` durable events starting at `seq`.
    ///
    /// Returns an empty vector when `seq` is at (or past) the durable end.
    /// Errors with [`EventLogError::Evicted`] if `seq` was removed by
    /// retention and [`EventLogError::BeyondEnd`] if it was never assigned.
    pub fn read_from(&self, seq: u64, max_events: usize) -> Result<Vec<Event>> {
        let first_available = self.first_seq();
        if seq < first_available {
            return Err(EventLogError::Evicted {
                requested: seq,
                first_available,
            });
        }
        if seq > self.next_seq {
            return Err(EventLogError::BeyondEnd {
                requested: seq,
                next_seq: self.next_seq,
            });
        }
        let end = self.durable_next_seq;
        let mut out = Vec::new();
        let mut cur = seq;
        while out.len() < max_events && cur < end {
            let (&seg_first, info) = self
                .segments
                .range(..=cur)
                .next_back()
                .expect("cur >= first_seq");
            let (hint, seg_end) = if seg_first == self.active_first {
                (self.active_meta.locate(cur), self.active_meta.end_seq)
            } else {
                let m = self.sealed_meta(seg_first)?;
                (m.locate(cur), m.end_seq)
            };
            let mut sf = SegmentFile::open(&info.path, info.len)?;
            // Skip frames (headers only) up to the one containing `cur`.
            let mut off = hint;
            loop {
                let (_, h) = sf.header_at(off)?;
                if h.end_seq() > cur {
                    break;
                }
                off += h.frame_len();
            }
            while out.len() < max_events && cur < end.min(seg_end) {
                let (h, events) = self.cached_frame(&mut sf, seg_first, off)?;
                if h.first_seq > cur || h.end_seq() <= cur {
                    return Err(sf.corrupt(
                        off,
                        format!(
                            "expected frame holding seq {cur}, found {}..{}",
                            h.first_seq,
                            h.end_seq()
                        ),
                    ));
                }
                let skip = (cur - h.first_seq) as usize;
                let take = (max_events - out.len())
                    .min(events.len() - skip)
                    .min((end - cur) as usize);
                out.extend_from_slice(&events[skip..skip + take]);
                cur += take as u64;
                off += h.frame_len();
            }
        }
        Ok(out)
    }

    /// Visit the durable events in `ranges` (sorted, non-overlapping seq ranges; what
    /// lies past the durable end is left out) in seq order, without copying them.
    ///
    /// Each frame holding a wanted seq is decoded once: taken from the read cache when
    /// it holds it, otherwise decompressed into a reused buffer and read in place (not
    /// deserialised, not cached), so a reader that wants a few events spread over many
    /// frames pays one decompression per frame and no allocation per event. Returns how
    /// many events were visited. Errors with [`EventLogError::Evicted`] if a range
    /// starts before the oldest stored seq.
    pub fn visit(&self, ranges: &[Range<u64>], f: &mut dyn FnMut(EventRef<'_>)) -> Result<u64> {
        let first_available = self.first_seq();
        let end = self.durable_next_seq;
        let mut visited = 0u64;
        let mut decoder: Option<FrameDecoder> = None;
        let mut payload = Vec::new();
        let mut ri = 0;
        let mut cur = 0u64;
        let mut spans: Vec<Range<usize>> = Vec::new();
        let mut open: Option<OpenSegment<'_>> = None;
        let result = (|| -> Result<()> {
            loop {
                // The next wanted seq.
                while ri < ranges.len() && cur.max(ranges[ri].start) >= ranges[ri].end.min(end) {
                    ri += 1;
                }
                let Some(r) = ranges.get(ri) else {
                    return Ok(());
                };
                if r.start < first_available {
                    return Err(EventLogError::Evicted {
                        requested: r.start,
                        first_available,
                    });
                }
                cur = cur.max(r.start);
                let (&seg_first, info) = self
                    .segments
                    .range(..=cur)
                    .next_back()
                    .expect("cur >= first_seq");
                let hint = if seg_first == self.active_first {
                    self.active_meta.locate(cur)
                } else {
                    self.sealed_meta(seg_first)?.locate(cur)
                };
                // Consecutive frames of one segment share the open file, and
                // a walk resumes after the previous frame when the index's
                // hint lies behind it.
                let mut off = hint;
                match &open {
                    Some((first, _, next)) if *first == seg_first => {
                        if let Some((next_off, next_seq)) = *next {
                            if next_off > hint && next_seq <= cur {
                                off = next_off;
                            }
                        }
                    }
                    _ => open = Some((seg_first, SegmentFile::open(&info.path, info.len)?, None)),
                }
                let (_, sf, next) = open.as_mut().expect("opened above");
                let h = loop {
                    let (_, h) = sf.header_at(off)?;
                    if h.end_seq() > cur {
                        break h;
                    }
                    off += h.frame_len();
                };
                if h.first_seq > cur {
                    return Err(sf.corrupt(
                        off,
                        format!("expected frame holding seq {cur}, found {}..", h.first_seq),
                    ));
                }
                // Every wanted index of this frame.
                spans.clear();
                let frame_end = h.end_seq().min(end);
                let mut j = ri;
                while j < ranges.len() && ranges[j].start < frame_end {
                    let lo = ranges[j].start.max(cur).max(h.first_seq);
                    let hi = ranges[j].end.min(frame_end);
                    if lo < hi {
                        spans.push((lo - h.first_seq) as usize..(hi - h.first_seq) as usize);
                    }
                    if ranges[j].end > frame_end {
                        break;
                    }
                    j += 1;
                }
                cur = frame_end;
                *next = Some((off + h.frame_len(), h.end_seq()));
                let cached = {
                    let cache = self.read_cache.lock();
                    cache
                        .frames
                        .iter()
                        .find(|c| c.key == (seg_first, off))
                        .map(|c| c.events.clone())
                };
                if let Some(events) = cached {
                    for s in &spans {
                        for e in &events[s.clone()] {
                            f(EventRef::from(e));
                        }
                        visited += s.len() as u64;
                    }
                    continue;
                }
                let h = sf.payload_at(off, &mut payload)?;
                let dec = match &mut decoder {
                    Some(d) => d,
                    None => decoder.insert(match self.read_cache.lock().decoder.take() {
                        Some(d) => d,
                        None => FrameDecoder::new().ctx(sf.path)?,
                    }),
                };
                let events = dec.access(&h, &payload).map_err(|r| sf.corrupt(off, r))?;
                for s in &spans {
                    for e in &events[s.clone()] {
                        f(EventRef::from(e));
                    }
                    visited += s.len() as u64;
                }
            }
        })();
        if let Some(d) = decoder {
            self.read_cache.lock().decoder = Some(d);
        }
        result.map(|()| visited)
    }

    /// Delete whole oldest segments beyond the configured size budget or
    /// whose newest event is older than the configured maximum age, measured
    /// against `now_ms` (unix ms). The active segment is never deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<RetentionReport> {
        let policy = self.config.retention;
        let cutoff = policy
            .max_age
            .map(|a| now_ms.saturating_sub(i64::try_from(a.as_millis()).unwrap_or(i64::MAX)));
        let mut total: u64 = self.segments.values().map(|s| s.len).sum();
        let mut report = RetentionReport::default();
        while let Some((&first, info)) = self.segments.iter().next() {
            if first == self.active_first {
                break;
            }
            let over_size = policy.max_bytes.is_some_and(|m| total > m);
            let too_old = match cutoff {
                Some(c) if !over_size => match self.sealed_meta(first) {
                    Ok(m) => m.max_ts.is_none_or(|t| t < c),
                    Err(e) => {
                        tracing::warn!(error = %e, "event log: cannot read segment age; keeping it");
                        false
                    }
                },
                _ => false,
            };
            if !(over_size || too_old) {
                break;
            }
            let next_first = self
                .segments
                .range(first + 1..)
                .next()
                .map(|(&k, _)| k)
                .expect("active segment follows");
            match fs::remove_file(&info.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx(&info.path),
            }
            total -= info.len;
            report.segments_removed += 1;
            report.bytes_removed += info.len;
            report.events_removed += next_first - first;
            self.segments.remove(&first);
            self.sealed_meta.lock().remove(&first);
            self.read_cache.lock().frames.retain(|f| f.key.0 != first);
        }
        if report.segments_removed > 0 {
            sync_dir(&self.dir)?;
            self.counters.segments_removed += report.segments_removed as u64;
        }
        report.first_seq = self.first_seq();
        Ok(report)
    }

    /// Oldest stored sequence number (equals [`next_seq`](Self::next_seq)
    /// when the log holds no events).
    pub fn first_seq(&self) -> u64 {
        *self
            .segments
            .keys()
            .next()
            .expect("at least the active segment")
    }

    /// The sequence number the next appended event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Events below this sequence number are durable and visible to readers.
    pub fn durable_next_seq(&self) -> u64 {
        self.durable_next_seq
    }

    /// The ship id of this log.
    pub fn ship_id(&self) -> &str {
        &self.config.ship_id
    }

    /// Stable identity of the event with sequence number `seq`.
    pub fn event_id(&self, seq: u64) -> EventId {
        EventId {
            ship: self.config.ship_id.clone(),
            seq,
        }
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &EventLogConfig {
        &self.config
    }

    /// Sizes and counters.
    pub fn stats(&self) -> LogStats {
        let first_seq = self.first_seq();
        LogStats {
            ship_id: self.config.ship_id.clone(),
            first_seq,
            next_seq: self.next_seq,
            durable_next_seq: self.durable_next_seq,
            events: self.next_seq - first_seq,
            bytes: self.segments.values().map(|s| s.len).sum(),
            segments: self.segments.len(),
            batches_appended: self.counters.batches_appended,
            fsyncs: self.counters.fsyncs,
            torn_tails_truncated: self.counters.torn_tails_truncated,
            truncated_bytes: self.counters.truncated_bytes,
            segments_removed: self.counters.segments_removed,
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        if !self.poisoned && self.durable_next_seq < self.next_seq {
            let _ = self.active_file.sync_data();
        }
    }
}

/// Verify the active segment; returns its metadata and the length of its
/// valid prefix (shorter than the file if there is a torn tail).
fn recover_segment(path: &Path, first_seq: u64) -> Result<(SegmentMeta, u64)> {
    let buf = fs::read(path).ctx(path)?;
    let mut meta = SegmentMeta::empty(first_seq);
    let mut off = 0usize;
    while off < buf.len() {
        match check_frame_at(&buf, off) {
            Ok(h) => {
                if h.first_seq != meta.end_seq {
                    return Err(EventLogError::Corrupt {
                        path: path.to_owned(),
                        offset: off as u64,
                        reason: format!(
                            "frame starts at seq {}, expected {}",
                            h.first_seq, meta.end_seq
                        ),
                    });
                }
                meta.note_frame(off as u64, &h);
                off += h.frame_len() as usize;
            }
            Err(reason) => {
                if let Some(later) = find_valid_frame(&buf, off + 1) {
                    return Err(EventLogError::Corrupt {
                        path: path.to_owned(),
                        offset: off as u64,
                        reason: format!(
                            "{reason}; a valid frame follows at offset {later}, \
                             so this is damage, not a torn tail"
                        ),
                    });
                }
                break;
            }
        }
    }
    Ok((meta, off as u64))
}

/// Record the ship id on first open; refuse a different one later.
fn check_ship_file(dir: &Path, ship_id: &str) -> Result<()> {
    let path = dir.join(SHIP_FILE);
    match fs::read_to_string(&path) {
        Ok(found) => {
            let found = found.trim_end_matches('\n');
            if found != ship_id {
                return Err(EventLogError::ShipMismatch {
                    expected: ship_id.to_owned(),
                    found: found.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let tmp = dir.join(format!("{SHIP_FILE}.tmp"));
            let mut f = File::create(&tmp).ctx(&tmp)?;
            f.write_all(format!("{ship_id}\n").as_bytes()).ctx(&tmp)?;
            f.sync_all().ctx(&tmp)?;
            fs::rename(&tmp, &path).ctx(&path)?;
            sync_dir(dir)
        }
        Err(e) => Err(e).ctx(&path),
    }
}

/// A reading position that can be polled for new durable events, e.g. by the
/// shore sync shipping from its last acknowledged sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCursor {
    next: u64,
}

impl LogCursor {
    /// A cursor whose next event is `seq`.
    pub fn new(seq: u64) -> Self {
        Self { next: seq }
    }

    /// A cursor at the oldest stored event of `log`.
    pub fn at_start(log: &EventLog) -> Self {
        Self::new(log.first_seq())
    }

    /// Sequence number of the next event this cursor will return.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Read up to `max_events` new durable events and advance past them.
    /// Returns an empty vector when there is nothing new.
    pub fn poll(&mut self, log: &EventLog, max_events: usize) -> Result<Vec<Event>> {
        let events = log.read_from(self.next, max_events)?;
        if let Some(last) = events.last() {
            self.next = last.seq + 1;
        }
        Ok(events)
    }
}
