//! Per-caller request rate limits: a token bucket per configured token,
//! and one shared by every anonymous caller. The buckets are made at
//! start-up (and at a reload of the tokens), one per known name, so no
//! request can grow the table.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::error::Error;

/// A bucket of `burst` requests refilled at `rate` per second.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of every caller.
#[derive(Debug)]
pub struct Limiter {
    rate: f64,
    burst: f64,
    per_sec: u32,
    buckets: HashMap<String, Mutex<Bucket>>,
}

impl Limiter {
    /// Buckets for `names` and for [`super::ANONYMOUS`], each full.
    pub fn new(per_sec: u32, burst: u32, names: &[&str]) -> Self {
        let burst = f64::from(burst.max(1));
        let now = Instant::now();
        Self::with_buckets(f64::from(per_sec), burst, per_sec, names, |_| Bucket {
            tokens: burst,
            last: now,
        })
    }

    /// The limiter for a new set of names (tokens reloaded): a name kept
    /// keeps its bucket as it is, so a reload buys nobody a fresh burst;
    /// a new name starts full; a name gone loses its bucket.
    pub fn renamed(&self, names: &[&str]) -> Self {
        let now = Instant::now();
        Self::with_buckets(
            self.rate,
            self.burst,
            self.per_sec,
            names,
            |name| match self.buckets.get(name) {
                Some(old) => {
                    let old = old.lock().unwrap_or_else(PoisonError::into_inner);
                    Bucket {
                        tokens: old.tokens,
                        last: old.last,
                    }
                }
                None => Bucket {
                    tokens: self.burst,
                    last: now,
                },
            },
        )
    }

    /// A bucket from `bucket` for each of `names` and for
    /// [`super::ANONYMOUS`].
    fn with_buckets(
        rate: f64,
        burst: f64,
        per_sec: u32,
        names: &[&str],
        bucket: impl Fn(&str) -> Bucket,
    ) -> Self {
        let buckets = names
            .iter()
            .copied()
            .chain([super::ANONYMOUS])
            .map(|n| (n.to_owned(), Mutex::new(bucket(n))))
            .collect();
        Self {
            rate,
            burst,
            per_sec,
            buckets,
        }
    }

    /// Takes one request from `name`'s bucket, or says when to retry.
    pub fn charge(&self, name: &str) -> Result<(), Error> {
        self.charge_at(name, Instant::now())
    }

    fn charge_at(&self, name: &str, now: Instant) -> Result<(), Error> {
        let Some(bucket) = self
            .buckets
            .get(name)
            .or_else(|| self.buckets.get(super::ANONYMOUS))
        else {
            return Ok(());
        };
        // A poisoned lock only means another request panicked mid-update
        // of two numbers; the bucket is still usable.
        let mut b = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = b.last.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait_ms = ((1.0 - b.tokens) / self.rate * 1000.0).ceil();
        Err(Error::ResourceExhausted {
            message: format!(
                "rate limit of {} requests per second exceeded for {name:?}; retry in {wait_ms} ms",
                self.per_sec
            ),
            retry_after: Duration::from_millis(wait_ms as u64),
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn a_burst_then_the_rate_and_buckets_are_separate() {
        let limiter = Limiter::new(10, 3, &["a", "b"]);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.charge_at("a", t0).unwrap();
        }
        let err = limiter.charge_at("a", t0).unwrap_err();
        assert!(matches!(err, Error::ResourceExhausted { .. }), "{err}");
        // Another token is unaffected.
        limiter.charge_at("b", t0).unwrap();
        // 100 ms at 10/s buys one more request, not two.
        let t1 = t0 + Duration::from_millis(100);
        limiter.charge_at("a", t1).unwrap();
        assert!(limiter.charge_at("a", t1).is_err());
        // The bucket never holds more than the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            limiter.charge_at("a", t2).unwrap();
        }
        assert!(limiter.charge_at("a", t2).is_err());
    }

    #[test]
    fn a_renamed_limiter_keeps_the_buckets_of_the_names_it_keeps() {
        let limiter = Limiter::new(1, 2, &["a", "b"]);
        let t0 = Instant::now();
        for name in ["a", "b"] {
            limiter.charge_at(name, t0).unwrap();
            limiter.charge_at(name, t0).unwrap();
        }
        let next = limiter.renamed(&["a", "c"]);
        // "a" is as empty as it was; "c" is new and full.
        assert!(next.charge_at("a", t0).is_err());
        next.charge_at("c", t0).unwrap();
        next.charge_at("c", t0).unwrap();
        assert!(next.charge_at("c", t0).is_err());
        // "b" is gone: it is charged as an unknown name (anonymous).
        assert!(!next.buckets.contains_key("b"));
        assert_eq!(next.burst, 2.0);
    }

    #[test]
    fn anonymous_callers_share_one_bucket() {
        let limiter = Limiter::new(1, 2, &[]);
        let t0 = Instant::now();
        limiter.charge_at(super::super::ANONYMOUS, t0).unwrap();
        limiter.charge_at(super::super::ANONYMOUS, t0).unwrap();
        assert!(limiter.charge_at(super::super::ANONYMOUS, t0).is_err());
    }
}
