//! RFC 6587 stream framing for syslog over TCP.
//!
//! Both framings are accepted on the same connection and detected **per
//! frame**:
//! - octet counting: `MSG-LEN SP SYSLOG-MSG`, recognised when a frame starts
//!   with `[1-9][0-9]{0,9} <` (the `<` of the PRI must follow the space, which
//!   keeps PRI-less newline-framed lines such as `123 foo` on the newline path);
//! - non-transparent framing: the message ends at LF or NUL; a CR before the
//!   LF is dropped (CRLF).
//!
//! Frames over `max_frame` bytes are reported once as
//! [`DecodeError::TooLong`] and skipped: an oversized newline frame is
//! discarded up to its delimiter (resync at the next LF/NUL), an oversized
//! octet-counted frame is discarded by its announced length, without being
//! buffered. A connection that ends inside an octet-counted frame yields
//! [`DecodeError::Truncated`] from [`SyslogFramer::finish`].
//!
//! The output depends only on the byte stream, never on how it was chunked
//! (property-tested). Frames are `Bytes` split off the internal `BytesMut`:
//! no copy per frame.

use bytes::{Buf, Bytes, BytesMut};

use super::DecodeError;

/// Default maximum frame size: 64 KiB.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// Counters kept by a framer (for `seawatch_ingest_*` metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramerStats {
    /// Frames returned (both framings).
    pub frames: u64,
    /// Of which octet-counted.
    pub octet_counted: u64,
    /// Oversized frames skipped.
    pub oversized: u64,
    /// Octet-counted frames cut short by end of stream.
    pub truncated: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary.
    Start,
    /// In a newline-delimited frame; `scanned` bytes hold no delimiter.
    Newline { scanned: usize },
    /// Octet-counted frame of `len` bytes; header already consumed.
    Counted { len: usize },
    /// Dropping the rest of an oversized octet-counted frame.
    Discard { remaining: usize },
    /// Dropping an oversized newline frame up to its delimiter.
    SkipLine,
}

/// Streaming RFC 6587 framer: push TCP chunks in, pull complete frames out.
///
/// ```
/// use seawatch_actors::ingest::decode::SyslogFramer;
/// let mut f = SyslogFramer::new(64 * 1024);
/// f.push(b"<34>1 - - - - - - hi\n11 <13>hello");
/// f.push(b" x");
/// assert_eq!(&f.next_frame().unwrap().unwrap()[..], b"<34>1 - - - - - - hi");
/// assert_eq!(&f.next_frame().unwrap().unwrap()[..], b"<13>hello x");
/// assert!(f.next_frame().is_none());
/// ```
#[derive(Debug)]
pub struct SyslogFramer {
    buf: BytesMut,
    state: State,
    max_frame: usize,
    stats: FramerStats,
}

impl Default for SyslogFramer {
    fn default() -> Self {
        SyslogFramer::new(DEFAULT_MAX_FRAME)
    }
}

fn is_delim(b: u8) -> bool {
    matches!(b, b'\n' | b'\r' | b'\0')
}

impl SyslogFramer {
    /// A framer rejecting frames longer than `max_frame` bytes (min 1).
    pub fn new(max_frame: usize) -> Self {
        SyslogFramer {
            buf: BytesMut::with_capacity(8 * 1024),
            state: State::Start,
            max_frame: max_frame.max(1),
            stats: FramerStats::default(),
        }
    }

    /// Appends received bytes. Drain [`next_frame`](Self::next_frame) after
    /// each push so the buffer stays bounded by about `max_frame`.
    pub fn push(&mut self, chunk: &[u8]) {
        if let (State::Discard { remaining }, true) = (self.state, self.buf.is_empty()) {
            // Skip without buffering (only when nothing earlier is pending).
            let k = remaining.min(chunk.len());
            self.state = if remaining == k {
                State::Start
            } else {
                State::Discard {
                    remaining: remaining - k,
                }
            };
            self.buf.extend_from_slice(&chunk[k..]);
            return;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The receive buffer, for reading straight into it
    /// (`socket.read_buf(framer.buffer_mut())`); then call `next_frame`.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Counters so far.
    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// Bytes currently buffered (a partial frame).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, an error for a skipped frame, or `None` when
    /// more input is needed.
    pub fn next_frame(&mut self) -> Option<Result<Bytes, DecodeError>> {
        loop {
            match self.state {
                State::Start => {
                    let skip = self.buf.iter().take_while(|b| is_delim(**b)).count();
                    self.buf.advance(skip);
                    if self.buf.is_empty() {
                        return None;
                    }
                    match self.octet_header() {
                        Header::NeedMore => return None,
                        Header::Newline => self.state = State::Newline { scanned: 0 },
                        Header::Counted { header, len } => {
                            self.buf.advance(header);
                            if len > self.max_frame {
                                self.stats.oversized += 1;
                                self.state = State::Discard { remaining: len };
                                return Some(Err(DecodeError::TooLong));
                            }
                            self.state = State::Counted { len };
                        }
                    }
                }
                State::Newline { scanned } => {
                    let found = memchr::memchr2(b'\n', b'\0', &self.buf[scanned..]);
                    let Some(i) = found else {
                        if self.buf.len() > self.max_frame {
                            self.buf.clear();
                            self.stats.oversized += 1;
                            self.state = State::SkipLine;
                            return Some(Err(DecodeError::TooLong));
                        }
                        self.state = State::Newline {
                            scanned: self.buf.len(),
                        };
                        return None;
                    };
                    let end = scanned + i;
                    self.state = State::Start;
                    if end > self.max_frame {
                        self.buf.advance(end + 1);
                        self.stats.oversized += 1;
                        return Some(Err(DecodeError::TooLong));
                    }
                    let mut frame = self.buf.split_to(end + 1);
                    frame.truncate(end);
                    if frame.last() == Some(&b'\r') {
                        frame.truncate(end - 1);
                    }
                    if frame.is_empty() {
                        continue;
                    }
                    self.stats.frames += 1;
                    return Some(Ok(frame.freeze()));
                }
                State::Counted { len } => {
                    if self.buf.len() < len {
                        self.buf.reserve(len - self.buf.len());
                        return None;
                    }
                    self.state = State::Start;
                    self.stats.frames += 1;
                    self.stats.octet_counted += 1;
                    return Some(Ok(self.buf.split_to(len).freeze()));
                }
                State::Discard { remaining } => {
                    let k = remaining.min(self.buf.len());
                    self.buf.advance(k);
                    if k < remaining {
                        self.state = State::Discard {
                            remaining: remaining - k,
                        };
                        return None;
                    }
                    self.state = State::Start;
                }
                State::SkipLine => match memchr::memchr2(b'\n', b'\0', &self.buf) {
                    Some(i) => {
                        self.buf.advance(i + 1);
                        self.state = State::Start;
                    }
                    None => {
                        self.buf.clear();
                        return None;
                    }
                },
            }
        }
    }

    /// End of stream: returns the final unterminated newline frame, if any,
    /// or `Err(Truncated)` if the stream stopped inside an octet-counted
    /// frame. Call after draining `next_frame`; the framer is reset.
    pub fn finish(&mut self) -> Option<Result<Bytes, DecodeError>> {
        let state = std::mem::replace(&mut self.state, State::Start);
        let out = match state {
            State::Start | State::Newline { .. } => {
                let skip = self.buf.iter().take_while(|b| is_delim(**b)).count();
                self.buf.advance(skip);
                let mut frame = self.buf.split();
                if frame.last() == Some(&b'\r') {
                    frame.truncate(frame.len() - 1);
                }
                if frame.is_empty() {
                    None
                } else if frame.len() > self.max_frame {
                    self.stats.oversized += 1;
                    Some(Err(DecodeError::TooLong))
                } else {
                    self.stats.frames += 1;
                    Some(Ok(frame.freeze()))
                }
            }
            State::Counted { .. } => {
                self.stats.truncated += 1;
                Some(Err(DecodeError::Truncated))
            }
            State::Discard { .. } | State::SkipLine => None,
        };
        self.buf.clear();
        out
    }

    fn octet_header(&self) -> Header {
        let b = &self.buf[..];
        if !(b'1'..=b'9').contains(&b[0]) {
            return Header::Newline;
        }
        let n = b.iter().take(11).take_while(|c| c.is_ascii_digit()).count();
        if n > 10 {
            return Header::Newline;
        }
        match (b.get(n), b.get(n + 1)) {
            (None, _) => Header::NeedMore,
            (Some(b' '), None) => Header::NeedMore,
            (Some(b' '), Some(b'<')) => {
                // n <= 10 digits always fits in u64.
                let len = b[..n]
                    .iter()
                    .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
                Header::Counted {
                    header: n + 1,
                    len: usize::try_from(len).unwrap_or(usize::MAX),
                }
            }
            _ => Header::Newline,
        }
    }
}

enum Header {
    NeedMore,
    Newline,
    Counted { header: usize, len: usize },
}
