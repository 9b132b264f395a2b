//! Words in log lines: the tokenizer, the text part of a [`Query`](super::Query) and the
//! per-block token bloom filters of the [`LogIndex`](super::LogIndex) (decision 0049).
//!
//! * **Tokens** are maximal runs of alphanumeric characters, lowercased: `Link DOWN on
//!   ge-0/0/1:` has the tokens `link`, `down`, `on`, `ge`, `0`, `0`, `1`. A word matches
//!   a token exactly (`error` does not match `errors`), case-insensitively.
//! * **Indexed tokens** are the ones a block's bloom filter holds: tokens without a digit,
//!   and tokens mixing letters and digits of at most [`MAX_NUMERIC_TOKEN`] characters
//!   (`eth0`, `ap17`, `vlan12`). Numbers (ports, pids, counters, address octets) and
//!   longer tokens with digits (ids, MACs) differ in nearly every line; keeping them would
//!   make the filters as large as the text. A query whose words are all unindexed still
//!   answers, by scanning its time range.
//! * Each block's filter also holds its devices ([`device_hash`]), so a `device:` search
//!   skips the blocks where that device wrote nothing, and, for the devices that wrote
//!   only a few lines in the block, their (device, word) pairs ([`pair_hash`], decision
//!   0069), so a `device:` search with words skips the blocks where that device wrote
//!   but not those words.

#[cfg(test)]
use std::collections::HashSet;

/// Tokens with a digit longer than this are not put into block filters.
pub const MAX_NUMERIC_TOKEN: usize = 6;

/// Bloom filter bits per distinct token of a block (about 1 % false positives with
/// [`BLOOM_PROBES`] probes).
pub const BLOOM_BITS_PER_TOKEN: usize = 20;

/// Probes per token (about 1 false positive in 15,000 at 20 bits a token; a search over
/// 24 h of a busy ship checks 42,000 blocks, so this keeps it to a few wasted reads).
pub const BLOOM_PROBES: u64 = 13;

/// The lowercased tokens of `text`, in order.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a (lowercased) token goes into block filters.
pub fn indexed(token: &str) -> bool {
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    digits == 0 || (digits < token.len() && token.chars().count() <= MAX_NUMERIC_TOKEN)
}

/// The filter entry of a device name (not a token: it cannot collide with a word).
pub fn device_hash(device: &str) -> u64 {
    let mut b = Vec::with_capacity(device.len() + 1);
    b.push(0u8);
    b.extend_from_slice(device.as_bytes());
    token_hash(&b)
}

/// Hash of a lowercased token (FNV-1a, then a 64-bit finaliser).
pub fn token_hash(lower: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in lower {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finaliser
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The filter entry of the pair (device, token) (`device` from [`device_hash`], `token`
/// from [`token_hash`]): a block holds the pairs of the devices that wrote only a few
/// lines in it, so a search for such a device and a word skips the blocks where the
/// device wrote but not that word.
pub fn pair_hash(device: u64, token: u64) -> u64 {
    let mut h = device ^ token.rotate_left(23) ^ 0x9e37_79b9_7f4a_7c15;
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Adds the hashes of the indexed tokens of `text` to `set` (no allocation for ASCII).
#[cfg(test)]
pub fn add_indexed_hashes(text: &str, set: &mut HashSet<u64>) {
    for_indexed_hashes(text, |h| {
        set.insert(h);
    });
}

/// Calls `f` with the hash of every indexed token of `text`, in order, repeats included
/// (no allocation for ASCII).
pub fn for_indexed_hashes(text: &str, mut f: impl FnMut(u64)) {
    let mut buf = [0u8; 64];
    for t in text.split(|c: char| !c.is_alphanumeric()) {
        if t.is_empty() {
            continue;
        }
        if t.is_ascii() {
            if t.len() > buf.len() || !indexed(t) {
                if t.len() > buf.len() && !t.bytes().any(|b| b.is_ascii_digit()) {
                    f(token_hash(t.to_ascii_lowercase().as_bytes()));
                }
                continue;
            }
            let b = &mut buf[..t.len()];
            b.copy_from_slice(t.as_bytes());
            b.make_ascii_lowercase();
            f(token_hash(b));
        } else {
            let lower = t.to_lowercase();
            if indexed(&lower) {
                f(token_hash(lower.as_bytes()));
            }
        }
    }
}

/// The words part of a query: every sequence in `all` must occur as consecutive tokens
/// of the line, none in `none` may. A single word is a sequence of one token; a quoted
/// phrase (or a word with punctuation inside, `ge-0/0/1`) is its token sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextQuery {
    /// Required token sequences (lowercased).
    pub all: Vec<Vec<String>>,
    /// Excluded token sequences (lowercased).
    pub none: Vec<Vec<String>>,
}

impl TextQuery {
    /// No words: matches every line.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.none.is_empty()
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        if text.is_ascii() {
            return self.matches_ascii(text);
        }
        let lower = text.to_lowercase();
        let toks: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        self.all.iter().all(|s| contains_seq(&toks, s))
            && !self.none.iter().any(|s| contains_seq(&toks, s))
    }

    /// [`matches`](Self::matches) for an ASCII `text`, without allocating in the common
    /// case: a required sequence whose first token is nowhere in the text (any case)
    /// rejects the line before it is split into tokens.
    fn matches_ascii(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        for seq in &self.all {
            if !seq
                .iter()
                .all(|t| contains_ignore_ascii_case(bytes, t.as_bytes()))
            {
                return false;
            }
        }
        let toks: Vec<&str> = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        let eq = |toks: &[&str], seq: &[String]| match seq.len() {
            0 => true,
            n => toks
                .windows(n)
                .any(|w| w.iter().zip(seq).all(|(a, b)| a.eq_ignore_ascii_case(b))),
        };
        self.all.iter().all(|s| eq(&toks, s)) && !self.none.iter().any(|s| eq(&toks, s))
    }

    /// Hashes a block must (probably) hold to have a match: the indexed tokens of the
    /// required sequences.
    pub fn needles(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .all
            .iter()
            .flatten()
            .filter(|t| indexed(t))
            .map(|t| token_hash(t.as_bytes()))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Whether `needle` (lowercase) occurs in `hay`, ASCII case ignored.
fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if !needle.is_ascii() || hay.len() < needle.len() {
        return false;
    }
    let last = hay.len() - needle.len();
    let (a, b) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut from = 0;
    while from <= last {
        let Some(p) = memchr::memchr2(a, b, &hay[from..=last]) else {
            return false;
        };
        let at = from + p;
        if hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

fn contains_seq(toks: &[&str], seq: &[String]) -> bool {
    match seq.len() {
        0 => true,
        1 => toks.iter().any(|t| *t == seq[0]),
        n => toks
            .windows(n)
            .any(|w| w.iter().zip(seq).all(|(a, b)| *a == b)),
    }
}

/// A bloom filter over the token hashes of one block. Its size is a power of two (at
/// least 64 bits), so two filters of different sizes can be merged into the larger one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBloom {
    bits: Box<[u64]>,
}

impl TokenBloom {
    /// A filter holding `hashes`, [`BLOOM_BITS_PER_TOKEN`] bits each.
    #[cfg(test)]
    pub fn from_hashes(hashes: &HashSet<u64>) -> Self {
        Self::from_distinct(hashes.len(), hashes.iter().copied())
    }

    /// A filter holding `hashes` (`n` of them, distinct), [`BLOOM_BITS_PER_TOKEN`] bits
    /// each.
    pub fn from_distinct(n: usize, hashes: impl IntoIterator<Item = u64>) -> Self {
        let want = (n * BLOOM_BITS_PER_TOKEN).max(64);
        let words = want.next_power_of_two() / 64;
        let mut bloom = Self {
            bits: vec![0u64; words].into_boxed_slice(),
        };
        for h in hashes {
            for p in bloom.positions(h) {
                bloom.bits[p / 64] |= 1 << (p % 64);
            }
        }
        bloom
    }

    fn positions(&self, h: u64) -> impl Iterator<Item = usize> {
        let mask = (self.bits.len() * 64 - 1) as u64;
        let h2 = h.rotate_left(32) | 1;
        (0..BLOOM_PROBES).map(move |i| (h.wrapping_add(i.wrapping_mul(h2)) & mask) as usize)
    }

    /// False if `h` was certainly not added.
    pub fn may_contain(&self, h: u64) -> bool {
        self.positions(h)
            .all(|p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }

    /// A filter holding what either holds, the size of the larger (a position `p` of the
    /// smaller one is every position `≡ p` modulo its size in the larger).
    pub fn union(a: &TokenBloom, b: &TokenBloom) -> TokenBloom {
        let (big, small) = if a.bits.len() >= b.bits.len() {
            (a, b)
        } else {
            (b, a)
        };
        let n = small.bits.len();
        TokenBloom {
            bits: big
                .bits
                .iter()
                .enumerate()
                .map(|(i, w)| w | small.bits[i % n])
                .collect(),
        }
    }

    /// Bytes of the bit array.
    pub fn bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(all: &[&[&str]], none: &[&[&str]]) -> TextQuery {
        let conv = |v: &[&[&str]]| {
            v.iter()
                .map(|s| s.iter().map(|t| t.to_string()).collect())
                .collect()
        };
        TextQuery {
            all: conv(all),
            none: conv(none),
        }
    }

    #[test]
    fn words_match_whole_tokens_case_insensitively() {
        let line = "Interface ge-0/0/1 changed state to DOWN (errors=12)";
        assert!(q(&[&["down"]], &[]).matches(line));
        assert!(q(&[&["interface"], &["errors"]], &[]).matches(line));
        assert!(!q(&[&["error"]], &[]).matches(line));
        assert!(q(&[&["ge", "0", "0", "1"]], &[]).matches(line));
        assert!(!q(&[&["ge", "0", "1"]], &[]).matches(line));
        assert!(q(&[&["state", "to", "down"]], &[]).matches(line));
        assert!(!q(&[&["down"]], &[&["errors"]]).matches(line));
        assert!(q(&[], &[&["up"]]).matches(line));
        assert!(q(&[&["größe"]], &[]).matches("GRÖSSE größe"));
    }

    #[test]
    fn blooms_hold_their_tokens_and_merge() {
        let mut a = HashSet::new();
        add_indexed_hashes("link DOWN on eth0 seq=1234567890 ÄRGER", &mut a);
        let ba = TokenBloom::from_hashes(&a);
        for t in ["link", "down", "on", "eth0", "seq", "ärger"] {
            assert!(ba.may_contain(token_hash(t.as_bytes())), "{t}");
        }
        // The long number is not indexed, nor are plain numbers.
        assert_eq!(a.len(), 6);
        let mut n = HashSet::new();
        add_indexed_hashes("port 54321 pid 17 gi0", &mut n);
        assert_eq!(n.len(), 3);
        let mut b = HashSet::new();
        for i in 0..500 {
            add_indexed_hashes(&format!("word{i}x other"), &mut b);
        }
        let bb = TokenBloom::from_hashes(&b);
        assert!(bb.bytes() > ba.bytes());
        let u = TokenBloom::union(&ba, &bb);
        assert_eq!(u.bytes(), bb.bytes());
        for h in a.iter().chain(&b) {
            assert!(u.may_contain(*h));
        }
        // False positives stay rare.
        let fp = (0..10_000)
            .filter(|i| bb.may_contain(token_hash(format!("absent{i}").as_bytes())))
            .count();
        assert!(fp < 300, "{fp} false positives in 10000");
    }
}
