//! The one retry policy. A request is retried when it is idempotent (its body can be sent
//! again) and the failure is transient: the connection failed, or the registry answered
//! 429 or 5xx. The wait doubles from 400 ms (capped at 6.4 s), or is what `Retry-After`
//! asks (seconds or an HTTP date, capped at 60 s). Upload sessions, whose requests are not
//! repeatable one by one, are restarted whole under the same policy ([`Retry::restartable`]).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::error::RegistryError;

/// How often and how long to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 5 }
    }
}

/// The longest a `Retry-After` is honoured.
const MAX_AFTER: Duration = Duration::from_secs(60);

impl Retry {
    /// Whether another attempt may follow attempt number `attempt` (1-based).
    pub fn again(&self, attempt: u32, idempotent: bool) -> bool {
        idempotent && attempt < self.attempts.max(1)
    }

    /// A status worth asking again for.
    pub fn transient_status(status: StatusCode) -> bool {
        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
    }

    /// An operation failure after which a whole upload session may be started again.
    pub fn restartable(e: &RegistryError) -> bool {
        match e {
            RegistryError::Unreachable { .. } | RegistryError::Io { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// How long to wait after attempt `attempt` failed.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        retry_after.unwrap_or_else(|| Duration::from_millis(200u64 << attempt.min(5)))
    }

    /// `Retry-After` as seconds or an HTTP date, capped at a minute.
    pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
        let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        let wait = match v.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => {
                let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
                let ms = (at.timestamp_millis() - chrono::Utc::now().timestamp_millis()).max(0);
                Duration::from_millis(ms as u64)
            }
        };
        Some(wait.min(MAX_AFTER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn decisions() {
        let r = Retry { attempts: 3 };
        assert!(r.again(1, true) && r.again(2, true));
        assert!(!r.again(3, true), "bounded");
        assert!(
            !r.again(1, false),
            "never a request that cannot be replayed"
        );
        assert!(!Retry { attempts: 0 }.again(1, true), "0 means one attempt");
        assert!(Retry::transient_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(Retry::transient_status(StatusCode::BAD_GATEWAY));
        assert!(!Retry::transient_status(StatusCode::NOT_FOUND));
        assert!(!Retry::transient_status(StatusCode::UNAUTHORIZED));
        let status = |s| RegistryError::Status {
            method: "PUT".into(),
            url: "u".into(),
            status: s,
            message: String::new(),
        };
        assert!(Retry::restartable(&status(503)));
        assert!(!Retry::restartable(&status(400)));
        assert!(!Retry::restartable(&RegistryError::PlainHttp {
            host: "h".into()
        }));
    }

    #[test]
    fn backoff_doubles_and_retry_after_wins() {
        let r = Retry::default();
        assert_eq!(r.delay(1, None), Duration::from_millis(400));
        assert_eq!(r.delay(2, None), Duration::from_millis(800));
        assert_eq!(r.delay(9, None), Duration::from_millis(6400));
        assert_eq!(r.delay(1, Some(Duration::ZERO)), Duration::ZERO);
        let mut h = HeaderMap::new();
        assert_eq!(Retry::retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(Retry::retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(Retry::retry_after(&h), Some(MAX_AFTER));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(Retry::retry_after(&h), Some(Duration::ZERO), "a past date");
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&soon).expect("header"));
        let d = Retry::retry_after(&h).expect("date");
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(Retry::retry_after(&h), None);
    }
}
