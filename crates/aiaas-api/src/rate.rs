//! Per-key request rates: a token bucket per API key that holds one second of its rate (the
//! key's `rate_limit`, else the server's default) and refills continuously. A call that finds
//! its bucket empty is refused with 429 and a `Retry-After` saying when a token will be there.

use aiaas_service::KeyRecord;
use aiaas_types::KeyId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The buckets of every key that has called since the server started.
pub struct RateLimits {
    /// Requests per second of a key without its own `rate_limit`.
    default_rate: f64,
    buckets: Mutex<HashMap<KeyId, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimits {
    pub fn new(default_rate: f64) -> RateLimits {
        RateLimits {
            default_rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for a call by `key`; when there is none, how long until there is.
    pub fn take(&self, key: &KeyRecord) -> Result<(), Duration> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &KeyRecord, now: Instant) -> Result<(), Duration> {
        let rate = key.rate_limit.unwrap_or(self.default_rate);
        // One second of calls at once, and never less than one.
        let capacity = rate.max(1.0);
        let mut buckets = self.buckets.lock().expect("rate limit lock");
        let bucket = buckets.entry(key.id.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiaas_types::{KeyName, Role};

    fn key(rate: Option<f64>) -> KeyRecord {
        KeyRecord {
            id: KeyId::new("k").unwrap(),
            name: KeyName::new("k").unwrap(),
            role: Role::Viewer,
            models: None,
            created_at_ms: 0,
            expires_at_ms: None,
            rate_limit: rate,
        }
    }

    #[test]
    fn a_bucket_holds_one_second_of_calls_and_refills_at_the_rate() {
        let limits = RateLimits::new(1000.0);
        let (key, start) = (key(Some(4.0)), Instant::now());
        for _ in 0..4 {
            assert!(limits.take_at(&key, start).is_ok());
        }
        let wait = limits.take_at(&key, start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-9, "{wait:?}");
        assert!(
            limits
                .take_at(&key, start + Duration::from_millis(250))
                .is_ok()
        );
        assert!(
            limits
                .take_at(&key, start + Duration::from_millis(250))
                .is_err()
        );
        // Idle time refills up to the capacity, no further.
        let later = start + Duration::from_secs(60);
        for _ in 0..4 {
            assert!(limits.take_at(&key, later).is_ok());
        }
        assert!(limits.take_at(&key, later).is_err());
    }

    #[test]
    fn a_key_without_its_own_rate_gets_the_default_and_a_slow_rate_still_allows_one() {
        let limits = RateLimits::new(2.0);
        let (default, start) = (key(None), Instant::now());
        assert!(limits.take_at(&default, start).is_ok());
        assert!(limits.take_at(&default, start).is_ok());
        assert!(limits.take_at(&default, start).is_err());
        let slow = RateLimits::new(0.5);
        assert!(slow.take_at(&default, start).is_ok());
        let wait = slow.take_at(&default, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2));
    }
}
