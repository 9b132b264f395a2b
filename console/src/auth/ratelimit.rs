//! Login rate limit: a token bucket per source IP, on the injected clock.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;
use seawatch_runtime::Clock;

/// Most source addresses tracked at once; past it, full buckets are forgotten and, if
/// still full, unknown addresses share one bucket (a flood of spoofed sources cannot grow
/// memory without bound).
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// A per-IP token bucket: `burst` attempts at once, then one per `refill_ms`.
#[derive(Debug)]
pub struct LoginLimiter {
    clock: Clock,
    burst: f64,
    refill_ms: f64,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

impl LoginLimiter {
    /// A limiter allowing `burst` attempts, refilled one per `refill_ms`.
    pub fn new(clock: Clock, burst: u32, refill_ms: u64) -> Self {
        Self {
            clock,
            burst: f64::from(burst.max(1)),
            refill_ms: refill_ms.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `ip`: `Ok(())`, or `Err(ms)` to wait before the next one.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        let now = self.clock.now_ms();
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            let (burst, refill) = (self.burst, self.refill_ms);
            buckets.retain(|_, b| refill_of(b, now, burst, refill) < burst);
        }
        let key = if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            None
        } else {
            ip
        };
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at_ms: now,
        });
        b.tokens = refill_of(b, now, self.burst, self.refill_ms);
        b.at_ms = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) * self.refill_ms).ceil() as u64)
        }
    }
}

fn refill_of(b: &Bucket, now: i64, burst: f64, refill_ms: f64) -> f64 {
    let elapsed = (now - b.at_ms).max(0) as f64;
    (b.tokens + elapsed / refill_ms).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_per_ip() {
        let clock = Clock::manual(1_000_000);
        let l = LoginLimiter::new(clock.clone(), 3, 10_000);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.check(Some(a)), Ok(()));
        }
        assert_eq!(l.check(Some(a)), Err(10_000));
        // Another address is not affected.
        assert_eq!(l.check(Some(b)), Ok(()));
        clock.advance_ms(4_000);
        assert_eq!(l.check(Some(a)), Err(6_000));
        clock.advance_ms(6_000);
        assert_eq!(l.check(Some(a)), Ok(()));
        assert!(l.check(Some(a)).is_err());
    }

    #[test]
    fn many_sources_stay_bounded() {
        let clock = Clock::manual(0);
        let l = LoginLimiter::new(clock, 1, 60_000);
        for i in 0..(MAX_TRACKED as u32 + 100) {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = l.check(Some(ip));
        }
        assert!(l.buckets.lock().len() <= MAX_TRACKED + 1);
    }
}
