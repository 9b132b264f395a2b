//! Time as the rest of seawatch sees it.
//!
//! Wall-clock timestamps (event times, incident times) come from a [`Clock`], never from
//! `SystemTime::now()` directly, so that tests and `sim run` control time. Timers and
//! timeouts inside actors use `tokio::time`, which a test pauses with
//! `#[tokio::test(start_paused = true)]`; [`Clock::tokio`] ties wall-clock time to that
//! same paused timeline so both views agree.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in Unix milliseconds. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<ClockInner>,
}

#[derive(Debug)]
enum ClockInner {
    System,
    Tokio {
        base_unix_ms: i64,
        start: tokio::time::Instant,
    },
    Manual {
        now_ms: AtomicI64,
    },
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The operating system's clock.
    pub fn system() -> Self {
        Self {
            inner: Arc::new(ClockInner::System),
        }
    }

    /// A clock that starts at `base_unix_ms` and advances with `tokio::time`: under a paused
    /// tokio runtime it only moves when tokio's time moves (auto-advance or `advance`).
    pub fn tokio(base_unix_ms: i64) -> Self {
        Self {
            inner: Arc::new(ClockInner::Tokio {
                base_unix_ms,
                start: tokio::time::Instant::now(),
            }),
        }
    }

    /// A clock that only moves when told to ([`Clock::advance_ms`], [`Clock::set_ms`]),
    /// used by the simulator to replay scenarios on simulated time.
    pub fn manual(start_unix_ms: i64) -> Self {
        Self {
            inner: Arc::new(ClockInner::Manual {
                now_ms: AtomicI64::new(start_unix_ms),
            }),
        }
    }

    /// Current time in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &*self.inner {
            ClockInner::System => system_now_ms(),
            ClockInner::Tokio {
                base_unix_ms,
                start,
            } => base_unix_ms + start.elapsed().as_millis() as i64,
            ClockInner::Manual { now_ms } => now_ms.load(Ordering::Acquire),
        }
    }

    /// True for clocks that do not follow the operating system's clock.
    pub fn is_simulated(&self) -> bool {
        !matches!(&*self.inner, ClockInner::System)
    }

    /// Moves a manual clock forward by `ms` (never backwards). Returns false, and does
    /// nothing, for clocks that are not manual.
    pub fn advance_ms(&self, ms: i64) -> bool {
        match &*self.inner {
            ClockInner::Manual { now_ms } => {
                now_ms.fetch_add(ms.max(0), Ordering::AcqRel);
                true
            }
            _ => false,
        }
    }

    /// Sets a manual clock to `unix_ms` if that is not earlier than its current time
    /// (time never runs backwards). Returns false for clocks that are not manual.
    pub fn set_ms(&self, unix_ms: i64) -> bool {
        match &*self.inner {
            ClockInner::Manual { now_ms } => {
                now_ms.fetch_max(unix_ms, Ordering::AcqRel);
                true
            }
            _ => false,
        }
    }
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn manual_clock_moves_only_forward_when_told() {
        let clock = Clock::manual(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        assert!(clock.advance_ms(500));
        assert_eq!(clock.now_ms(), 1_500);
        assert!(clock.set_ms(1_200), "set on a manual clock is accepted");
        assert_eq!(clock.now_ms(), 1_500, "time never runs backwards");
        clock.set_ms(9_000);
        assert_eq!(clock.now_ms(), 9_000);
        assert!(clock.is_simulated());
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let clock = Clock::tokio(50_000);
        assert_eq!(clock.now_ms(), 50_000);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now_ms(), 50_000 + 3_600_000);
        assert!(
            !clock.advance_ms(1),
            "only manual clocks are advanced by hand"
        );
    }

    #[test]
    fn system_clock_is_after_2020() {
        let clock = Clock::system();
        assert!(clock.now_ms() > 1_577_836_800_000);
        assert!(!clock.is_simulated());
    }
}
