//! The per-second output arena: lines are written into one reusable buffer and indexed,
//! then sorted by timestamp; nothing is allocated per line.

/// A byte writer over the arena with fast number formatting.
pub(crate) struct W<'a> {
    pub buf: &'a mut Vec<u8>,
}

impl W<'_> {
    #[inline]
    pub(crate) fn b(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    #[inline]
    pub(crate) fn s(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub(crate) fn u(&mut self, v: u64) {
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(v).as_bytes());
    }

    #[inline]
    pub(crate) fn i(&mut self, v: i64) {
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(v).as_bytes());
    }

    #[inline]
    pub(crate) fn pad2(&mut self, v: u32) {
        self.buf.push(b'0' + (v / 10 % 10) as u8);
        self.buf.push(b'0' + (v % 10) as u8);
    }

    #[inline]
    pub(crate) fn pad3(&mut self, v: u32) {
        self.buf.push(b'0' + (v / 100 % 10) as u8);
        self.pad2(v % 100);
    }

    /// A float with a fixed number of decimals (0..=4).
    pub(crate) fn fixed(&mut self, v: f64, decimals: u32) {
        let scale = 10u64.pow(decimals);
        let neg = v < 0.0;
        let scaled = (v.abs() * scale as f64).round() as u64;
        if neg && scaled != 0 {
            self.buf.push(b'-');
        }
        self.u(scaled / scale);
        if decimals > 0 {
            self.buf.push(b'.');
            let frac = scaled % scale;
            let mut div = scale / 10;
            while div > 0 {
                self.buf.push(b'0' + (frac / div % 10) as u8);
                div /= 10;
            }
        }
    }

    /// A float in the shortest round-trip form (JSON-valid; finite values only).
    pub(crate) fn float(&mut self, v: f64) {
        let v = if v.is_finite() { v } else { 0.0 };
        let mut b = ryu::Buffer::new();
        self.buf.extend_from_slice(b.format(v).as_bytes());
    }

    /// An IPv4 address.
    pub(crate) fn ip(&mut self, ip: [u8; 4]) {
        for (i, o) in ip.iter().enumerate() {
            if i > 0 {
                self.buf.push(b'.');
            }
            self.u(u64::from(*o));
        }
    }

    /// A MAC address from 48 random bits.
    pub(crate) fn mac(&mut self, bits: u64) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for i in 0..6 {
            if i > 0 {
                self.buf.push(b':');
            }
            let byte = (bits >> (40 - 8 * i)) as u8;
            self.buf.push(HEX[(byte >> 4) as usize]);
            self.buf.push(HEX[(byte & 15) as usize]);
        }
    }
}

/// One generated record, pointing into the arena.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    pub ts_ms: i64,
    pub ship: u32,
    pub metric: bool,
    pub start: u32,
    pub end: u32,
}

/// The arena of one simulated second.
#[derive(Default)]
pub(crate) struct Batch {
    pub bytes: Vec<u8>,
    pub recs: Vec<Rec>,
}

impl Batch {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.recs.clear();
    }

    /// Writes one record with `f` and indexes it.
    #[inline]
    pub(crate) fn push(&mut self, ts_ms: i64, ship: u32, metric: bool, f: impl FnOnce(&mut W)) {
        let start = self.bytes.len() as u32;
        f(&mut W {
            buf: &mut self.bytes,
        });
        let end = self.bytes.len() as u32;
        self.recs.push(Rec {
            ts_ms,
            ship,
            metric,
            start,
            end,
        });
    }

    pub(crate) fn sort(&mut self) {
        self.recs.sort_by_key(|r| r.ts_ms);
    }
}
