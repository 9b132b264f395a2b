//! On-disk frame format.
//!
//! A segment file is a plain concatenation of frames. Each frame holds one
//! appended batch:
//!
//! ```text
//! offset size field
//!      0    4 magic      "SWEV" (0x5345_5756 little endian)
//!      4    4 payload_len  compressed payload bytes
//!      8    4 crc        CRC-32 (IEEE) over bytes 12..44 and the payload
//!     12    8 first_seq  seq of the first event in the batch
//!     20    4 count      number of events (>= 1)
//!     24    4 raw_len    uncompressed (rkyv archive) length
//!     28    8 min_ts     smallest ts_ms in the batch
//!     36    8 max_ts     largest ts_ms in the batch
//!     44    - payload    zstd(rkyv(Vec<Event>))
//! ```
//!
//! All integers are little endian.

use rkyv::util::AlignedVec;

use super::types::{ArchivedEvent, Event};

/// Frame magic, "SWEV" when read as bytes.
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"SWEV");
/// Length of the fixed frame header.
pub(crate) const HEADER_LEN: usize = 44;
/// Upper bound on both the compressed and uncompressed size of one frame.
/// Anything larger is treated as a corrupt header (and refused on append).
pub(crate) const MAX_FRAME_BYTES: u32 = 256 << 20;

/// Decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub payload_len: u32,
    pub crc: u32,
    pub first_seq: u64,
    pub count: u32,
    pub raw_len: u32,
    pub min_ts: i64,
    pub max_ts: i64,
}

impl FrameHeader {
    /// Serialise into the fixed-size header layout.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&self.payload_len.to_le_bytes());
        b[8..12].copy_from_slice(&self.crc.to_le_bytes());
        b[12..20].copy_from_slice(&self.first_seq.to_le_bytes());
        b[20..24].copy_from_slice(&self.count.to_le_bytes());
        b[24..28].copy_from_slice(&self.raw_len.to_le_bytes());
        b[28..36].copy_from_slice(&self.min_ts.to_le_bytes());
        b[36..44].copy_from_slice(&self.max_ts.to_le_bytes());
        b
    }

    /// Parse and sanity-check a header. Does not verify the CRC (that needs
    /// the payload).
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        if b.len() < HEADER_LEN {
            return Err("truncated frame header");
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        if u32_at(0) != MAGIC {
            return Err("bad frame magic");
        }
        let h = FrameHeader {
            payload_len: u32_at(4),
            crc: u32_at(8),
            first_seq: u64_at(12),
            count: u32_at(20),
            raw_len: u32_at(24),
            min_ts: u64_at(28) as i64,
            max_ts: u64_at(36) as i64,
        };
        if h.payload_len == 0 || h.payload_len > MAX_FRAME_BYTES {
            return Err("implausible payload length");
        }
        if h.raw_len == 0 || h.raw_len > MAX_FRAME_BYTES {
            return Err("implausible raw length");
        }
        if h.count == 0 || h.count > h.raw_len {
            return Err("implausible event count");
        }
        if h.first_seq == 0 || h.first_seq.checked_add(u64::from(h.count)).is_none() {
            return Err("implausible first sequence");
        }
        if h.min_ts > h.max_ts {
            return Err("min_ts greater than max_ts");
        }
        Ok(h)
    }

    /// Total on-disk length of the frame.
    pub fn frame_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.payload_len)
    }

    /// Sequence number after the last event in this frame.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + u64::from(self.count)
    }
}

/// CRC over the header fields after the CRC itself, plus the payload.
pub(crate) fn frame_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[12..HEADER_LEN]);
    h.update(payload);
    h.finalize()
}

/// Check the CRC of a complete frame whose header was already decoded.
pub(crate) fn crc_ok(header_bytes: &[u8], h: &FrameHeader, payload: &[u8]) -> bool {
    frame_crc(header_bytes, payload) == h.crc
}

/// Reusable state for building frames (keeps the zstd context and buffers).
pub(crate) struct FrameEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    raw: AlignedVec,
    out: Vec<u8>,
}

impl FrameEncoder {
    pub fn new(level: i32) -> std::io::Result<Self> {
        Ok(Self {
            compressor: zstd::bulk::Compressor::new(level)?,
            raw: AlignedVec::new(),
            out: Vec::new(),
        })
    }

    /// Encode a batch (non-empty, dense sequences) into a complete frame,
    /// available from [`frame`](Self::frame) until the next call.
    pub fn encode(&mut self, events: &Vec<Event>) -> Result<FrameHeader, String> {
        debug_assert!(!events.is_empty());
        let mut raw = std::mem::take(&mut self.raw);
        raw.clear();
        let raw = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(events, raw)
            .map_err(|e| format!("rkyv serialisation failed: {e}"))?;
        let raw_len = raw.len();
        if raw_len as u64 > u64::from(MAX_FRAME_BYTES) {
            self.raw = raw;
            return Err(format!(
                "batch too large: {raw_len} bytes serialised (max {MAX_FRAME_BYTES})"
            ));
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.resize(HEADER_LEN, 0);
        out.reserve(zstd::zstd_safe::compress_bound(raw_len));
        let mut cur = std::io::Cursor::new(out);
        cur.set_position(HEADER_LEN as u64);
        let res = self.compressor.compress_to_buffer(raw.as_slice(), &mut cur);
        let mut out = cur.into_inner();
        self.raw = raw;
        let payload_len = match res {
            Ok(n) => n,
            Err(e) => {
                self.out = out;
                return Err(format!("zstd compression failed: {e}"));
            }
        };
        debug_assert_eq!(out.len(), HEADER_LEN + payload_len);
        if payload_len as u64 > u64::from(MAX_FRAME_BYTES) {
            self.out = out;
            return Err(format!("compressed batch too large: {payload_len} bytes"));
        }
        let (min_ts, max_ts) = events.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| {
            (lo.min(e.ts_ms), hi.max(e.ts_ms))
        });
        let mut h = FrameHeader {
            payload_len: payload_len as u32,
            crc: 0,
            first_seq: events[0].seq,
            count: events.len() as u32,
            raw_len: raw_len as u32,
            min_ts,
            max_ts,
        };
        let hb = h.encode();
        h.crc = frame_crc(&hb, &out[HEADER_LEN..]);
        out[..HEADER_LEN].copy_from_slice(&h.encode());
        self.out = out;
        Ok(h)
    }

    /// The frame built by the last successful [`encode`](Self::encode).
    pub fn frame(&self) -> &[u8] {
        &self.out
    }
}

/// Reusable state for decoding frames (keeps the zstd context and the buffer).
pub(crate) struct FrameDecoder {
    decompressor: zstd::bulk::Decompressor<'static>,
    raw: AlignedVec<16>,
}

impl FrameDecoder {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            decompressor: zstd::bulk::Decompressor::new()?,
            raw: AlignedVec::new(),
        })
    }

    /// Decode and validate a frame payload (CRC must already be checked).
    pub fn decode(&mut self, h: &FrameHeader, payload: &[u8]) -> Result<Vec<Event>, String> {
        let events = self.access(h, payload)?;
        rkyv::deserialize::<Vec<Event>, rkyv::rancor::Error>(events)
            .map_err(|e| format!("archive deserialisation failed: {e}"))
    }

    /// Decompress and validate a frame payload (CRC must already be checked) without
    /// deserialising it: the archived events borrow this decoder's buffer.
    pub fn access(
        &mut self,
        h: &FrameHeader,
        payload: &[u8],
    ) -> Result<&rkyv::vec::ArchivedVec<ArchivedEvent>, String> {
        let raw = &mut self.raw;
        raw.clear();
        raw.resize(h.raw_len as usize, 0);
        let n = self
            .decompressor
            .decompress_to_buffer(payload, raw.as_mut_slice())
            .map_err(|e| format!("zstd decompression failed: {e}"))?;
        if n != h.raw_len as usize {
            return Err(format!(
                "decompressed length {n} does not match header raw_len {}",
                h.raw_len
            ));
        }
        let events =
            rkyv::access::<rkyv::Archived<Vec<Event>>, rkyv::rancor::Error>(self.raw.as_slice())
                .map_err(|e| format!("archive validation failed: {e}"))?;
        if events.len() != h.count as usize {
            return Err(format!(
                "frame holds {} events, header says {}",
                events.len(),
                h.count
            ));
        }
        for (i, e) in events.iter().enumerate() {
            if e.seq.to_native() != h.first_seq + i as u64 {
                return Err(format!(
                    "event seq {} out of order (expected {})",
                    e.seq.to_native(),
                    h.first_seq + i as u64
                ));
            }
        }
        Ok(events)
    }
}
