//! Request rate limits: per SCIM token (configurable per organization) and per client address
//! for requests that carry no valid credential.
//!
//! The check runs before any work, so a refused request changes nothing and the client (Entra
//! backs off on 429) can send it again after `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::scim::ScimError;

/// How often one key's refusals reach the log at warn level; the rest go to debug.
const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Rate limit settings of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// SCIM requests per second per token, unless the organization sets its own; 0 turns the
    /// limit off.
    pub per_token: u32,
    /// Requests per second per client address without a valid credential; 0 turns it off.
    pub per_address: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            per_token: 1000,
            per_address: 20,
        }
    }
}

/// The limiters of a running server.
pub struct RateLimits {
    settings: RateLimitSettings,
    /// One limiter per token, remembering the rate it was made for, so an organization's new
    /// setting takes effect at the token's next request.
    tokens: Mutex<HashMap<String, (u32, Arc<DefaultDirectRateLimiter>)>>,
    addresses: Option<DefaultKeyedRateLimiter<IpAddr>>,
    logged: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "RateLimits({:?})", self.settings)
    }
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> RateLimits {
        RateLimits {
            settings,
            tokens: Mutex::new(HashMap::new()),
            addresses: NonZeroU32::new(settings.per_address).map(|rate| RateLimiter::keyed(Quota::per_second(rate))),
            logged: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of a SCIM token; `org_limit` is the organization's own rate.
    pub fn check_token(&self, token_id: &str, org_id: &str, org_limit: Option<u32>) -> Result<(), ScimError> {
        let rate = org_limit.unwrap_or(self.settings.per_token);
        let Some(rate) = NonZeroU32::new(rate) else { return Ok(()) };
        let limiter = self.token_limiter(token_id, rate);
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.log_refusal(&format!("token:{token_id}"), || {
                tracing::warn!(token_id, org_id, rate = rate.get(), "SCIM token over its rate limit; refusing with 429");
            });
            ScimError::too_many_requests(
                format!(
                    "Too many requests for this token: the limit is {rate} per second per token. Retry after the Retry-After delay; nothing of this request was applied."
                ),
                retry_seconds(wait),
            )
        })
    }

    /// Counts a request from a client address that carries no valid credential.
    pub fn check_address(&self, address: IpAddr) -> Result<(), ScimError> {
        let Some(limiter) = &self.addresses else { return Ok(()) };
        limiter.check_key(&address).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.log_refusal(&format!("address:{address}"), || {
                tracing::warn!(%address, rate = self.settings.per_address, "client address over the unauthenticated rate limit; refusing with 429");
            });
            ScimError::too_many_requests(
                format!(
                    "Too many requests without a valid credential from this address: the limit is {} per second.",
                    self.settings.per_address
                ),
                retry_seconds(wait),
            )
        })
    }

    /// Forgets idle address limiters, so spoofed or scanning addresses cannot grow memory.
    pub fn prune(&self) {
        if let Some(limiter) = &self.addresses {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Ok(mut logged) = self.logged.lock() {
            logged.retain(|_, at| at.elapsed() < LOG_INTERVAL);
        }
    }

    fn token_limiter(&self, token_id: &str, rate: NonZeroU32) -> Arc<DefaultDirectRateLimiter> {
        let Ok(mut tokens) = self.tokens.lock() else {
            return Arc::new(RateLimiter::direct(Quota::per_second(rate)));
        };
        match tokens.get(token_id) {
            Some((known_rate, limiter)) if *known_rate == rate.get() => limiter.clone(),
            _ => {
                let limiter = Arc::new(RateLimiter::direct(Quota::per_second(rate)));
                tokens.insert(token_id.to_string(), (rate.get(), limiter.clone()));
                limiter
            }
        }
    }

    /// Logs the first refusal of a key per interval at warn level, and the rest at debug, so
    /// a flood does not flood the log too.
    fn log_refusal(&self, key: &str, warn: impl FnOnce()) {
        let first = match self.logged.lock() {
            Ok(mut logged) => match logged.get(key) {
                Some(at) if at.elapsed() < LOG_INTERVAL => false,
                _ => {
                    logged.insert(key.to_string(), Instant::now());
                    true
                }
            },
            Err(_) => true,
        };
        if first {
            warn();
        } else {
            tracing::debug!(key, "request over the rate limit rejected with 429");
        }
    }
}

/// Rounds a wait up to whole seconds, at least 1, as `Retry-After` counts seconds.
fn retry_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_limit_refuses_after_the_burst() {
        let limits = RateLimits::new(RateLimitSettings { per_token: 2, per_address: 0 });
        assert!(limits.check_token("t", "o", None).is_ok());
        assert!(limits.check_token("t", "o", None).is_ok());
        let refused = limits.check_token("t", "o", None).unwrap_err();
        assert_eq!(refused.status, 429);
        assert!(refused.retry_after_seconds.is_some_and(|seconds| seconds >= 1));
        // Another token has its own budget, and an organization's own rate wins.
        assert!(limits.check_token("u", "o", None).is_ok());
        assert!(limits.check_token("t", "o", Some(100)).is_ok());
    }

    #[test]
    fn zero_turns_limits_off() {
        let limits = RateLimits::new(RateLimitSettings { per_token: 0, per_address: 0 });
        for _ in 0..1000 {
            assert!(limits.check_token("t", "o", None).is_ok());
            assert!(limits.check_address(IpAddr::from([127, 0, 0, 1])).is_ok());
        }
    }

    #[test]
    fn retry_rounds_up() {
        assert_eq!(retry_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_seconds(Duration::from_secs(3)), 3);
    }
}
