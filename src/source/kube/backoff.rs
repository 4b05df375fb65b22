//! Reconnection delays: exponential backoff with jitter, so that many streams cut by one API server
//! restart do not reconnect in the same instant.

use std::time::Duration;

/// Exponential backoff: `initial × 2^attempt`, capped at `max`, then scaled by a jitter factor
/// between 0.5 and 1 ("equal jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Returns the delay before reconnection number `attempt` (0 for the first), with `jitter` in
    /// `[0, 1)`: 0 gives half the exponential delay, values near 1 give all of it.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponential = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(31)))
            .min(self.max);
        exponential.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// A small pseudo-random source for jitter (`SplitMix64`). Jitter needs no cryptographic quality,
/// only different values per stream.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// Creates a source from `seed`; streams seed it from their name and the clock.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Returns the next value in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits fill an f64 mantissa exactly.
        #[allow(clippy::cast_precision_loss)]
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_until_cap() {
        let backoff = Backoff::default();
        let full: Vec<u64> = (0..8)
            .map(|attempt| u64::try_from(backoff.delay(attempt, 1.0).as_millis()).expect("fits"))
            .collect();
        assert_eq!(full, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    }

    #[test]
    fn jitter_zero_halves() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(2, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn huge_attempt_stays_capped() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(u32::MAX, 1.0), Duration::from_secs(30));
    }

    #[test]
    fn out_of_range_jitter_clamped() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(0, 7.0), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_in_unit_range() {
        let mut jitter = Jitter::new(42);
        let values: Vec<f64> = (0..1000).map(|_| jitter.next_unit()).collect();
        assert!(values.iter().all(|value| (0.0..1.0).contains(value)));
    }

    #[test]
    fn jitter_differs_by_seed() {
        assert_ne!(
            Jitter::new(1).next_unit().to_bits(),
            Jitter::new(2).next_unit().to_bits()
        );
    }
}
