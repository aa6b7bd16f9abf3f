//! The one retry policy. A request is retried when it is idempotent (its body can be sent
//! again) and the failure is transient: the connection failed, or the registry answered
//! 429 or 5xx. The wait doubles from 400 ms (capped at 6.4 s), or is what `Retry-After`
//! asks (seconds or an HTTP date, capped at 60 s). Upload sessions, whose requests are not
//! repeatable one by one, are restarted whole under the same policy ([`Retry::restartable`]).
//!
//! Every retry loop (the transport's per request, the upload's per session, the manifest's
//! "blob unknown", the streamed layer's) counts its attempts with one [`Attempts`], so both
//! push paths give up alike: after `attempts` tries, after a second attempt that made no
//! progress for the stall time (a timed-out request is retried once), or once the
//! operation has gone `budget` without progress in all (stalled attempts and the waits
//! between them). An attempt that moves bytes never runs into the budget.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::error::RegistryError;

/// How often and how long to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// A request that moves no byte either way for this long fails (`--registry-timeout`).
    pub stall: Duration,
    /// An operation gives up once it has gone this long without progress in all.
    pub budget: Duration,
}

/// `--registry-timeout`'s default: the stall time; the budget is twice it.
pub const DEFAULT_STALL: Duration = Duration::from_secs(20);

impl Default for Retry {
    fn default() -> Self {
        Retry::with_attempts(5)
    }
}

/// The longest a `Retry-After` is honoured.
const MAX_AFTER: Duration = Duration::from_secs(60);

impl Retry {
    /// `attempts` tries under the default timeouts.
    pub fn with_attempts(attempts: u32) -> Retry {
        Retry {
            attempts,
            ..Retry::with_timeout(DEFAULT_STALL)
        }
    }

    /// `--registry-timeout`: the stall time, and twice it as the operation's budget.
    pub fn with_timeout(stall: Duration) -> Retry {
        Retry {
            attempts: 5,
            stall,
            budget: stall * 2,
        }
    }

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
            RegistryError::Unreachable { .. }
            | RegistryError::Io { .. }
            | RegistryError::TimedOut { .. } => true,
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

/// What kind of network failure an attempt met, from its cause chain (getaddrinfo's and
/// the OS's words, as hyper reports them): it decides how often trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCause {
    /// NXDOMAIN / EAI_NONAME: the name does not exist; asking again gives the same answer.
    NoSuchHost,
    /// EAI_AGAIN / SERVFAIL: the resolver could not answer now.
    DnsAgain,
    /// Nothing listens on the port (or a firewall rejects).
    Refused,
    /// The connection was reset, closed or broke otherwise.
    Other,
}

impl NetCause {
    pub fn of(cause: &str) -> NetCause {
        let c = cause.to_ascii_lowercase();
        if c.contains("temporary failure in name resolution") || c.contains("eai_again") {
            NetCause::DnsAgain
        } else if c.contains("name or service not known")
            || c.contains("no address associated with hostname")
            || c.contains("nodename nor servname")
            || c.contains("failed to lookup address")
        {
            NetCause::NoSuchHost
        } else if c.contains("connection refused") {
            NetCause::Refused
        } else {
            NetCause::Other
        }
    }

    /// The most attempts worth making: a name that does not exist once; a resolver
    /// failure twice; a refusal at the run's first contact with the host (a wrong host or
    /// port more likely than a restart) twice; anything else under the whole policy (a
    /// registry restarting mid-run comes back).
    pub fn max_attempts(self, host_answered: bool) -> Option<u32> {
        match self {
            NetCause::NoSuchHost => Some(1),
            NetCause::DnsAgain => Some(2),
            NetCause::Refused if !host_answered => Some(2),
            NetCause::Refused | NetCause::Other => None,
        }
    }

    /// A few words for a log line; `cause` is the full chain (kept for debug logs).
    pub fn describe(self, cause: &str) -> String {
        match self {
            NetCause::NoSuchHost => "no such host (DNS)".into(),
            NetCause::DnsAgain => "DNS lookup failed temporarily".into(),
            NetCause::Refused => "connection refused".into(),
            NetCause::Other => {
                // The innermost cause is the one that says what happened.
                let last = cause.rsplit(": ").next().unwrap_or(cause).trim();
                let last = last.split(" (os error").next().unwrap_or(last);
                let mut s: String = last.chars().take(60).collect();
                if s.len() < last.len() {
                    s.push('…');
                }
                s
            }
        }
    }
}

/// One operation's attempts under the policy.
#[derive(Debug, Clone)]
pub struct Attempts {
    policy: Retry,
    /// Attempts begun.
    pub n: u32,
    /// Time without progress so far: stalled attempts and waits.
    idle: Duration,
    timed_out: bool,
}

impl Attempts {
    pub fn new(policy: Retry) -> Attempts {
        Attempts {
            policy,
            n: 0,
            idle: Duration::ZERO,
            timed_out: false,
        }
    }

    /// Count a new attempt; returns its number (1-based).
    pub fn begin(&mut self) -> u32 {
        self.n += 1;
        self.n
    }

    /// After a failed attempt that may be repeated (`repeatable`), that went `idle` without
    /// progress at its end (`timed_out` when that reached the stall time): how long to wait
    /// before the next, or `None` to give up.
    pub fn next(
        &mut self,
        repeatable: bool,
        idle: Duration,
        timed_out: bool,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if !self.policy.again(self.n, repeatable) {
            return None;
        }
        if timed_out {
            if self.timed_out {
                return None;
            }
            self.timed_out = true;
        }
        let wait = self.policy.delay(self.n, retry_after);
        self.idle += idle + wait;
        (self.idle <= self.policy.budget).then_some(wait)
    }

    /// [`Attempts::next`] for a failed operation (an upload session, a streamed layer):
    /// restartable errors only, a timeout counting as a stalled attempt.
    pub fn next_after(&mut self, e: &RegistryError) -> Option<Duration> {
        if !Retry::restartable(e) {
            return None;
        }
        let timed_out = matches!(e, RegistryError::TimedOut { .. });
        let idle = if timed_out {
            self.policy.stall
        } else {
            Duration::ZERO
        };
        self.next(true, idle, timed_out, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_timed_out_attempt_is_retried_once_and_the_budget_bounds_the_rest() {
        let policy = Retry::with_timeout(Duration::from_secs(20));
        let mut a = Attempts::new(policy);
        a.begin();
        assert!(a.next(true, Duration::from_secs(20), true, None).is_some());
        a.begin();
        assert_eq!(
            a.next(true, Duration::from_secs(20), true, None),
            None,
            "once"
        );
        // Connection failures without a timeout: bounded by the budget, not only the count.
        let mut a = Attempts::new(policy);
        a.begin();
        assert!(a.next(true, Duration::from_secs(15), false, None).is_some());
        a.begin();
        assert!(a.next(true, Duration::from_secs(15), false, None).is_some());
        a.begin();
        assert_eq!(
            a.next(true, Duration::from_secs(15), false, None),
            None,
            "45 s idle"
        );
        // Failures after progress cost nothing but the waits.
        let mut a = Attempts::new(policy);
        for _ in 1..5 {
            a.begin();
            assert!(a.next(true, Duration::ZERO, false, None).is_some());
        }
        a.begin();
        assert_eq!(a.next(true, Duration::ZERO, false, None), None, "attempts");
        let mut a = Attempts::new(policy);
        a.begin();
        assert_eq!(
            a.next(false, Duration::ZERO, false, None),
            None,
            "not repeatable"
        );
        let timeout = RegistryError::TimedOut {
            host: "h".into(),
            what: "GET".into(),
            secs: 20,
        };
        let mut a = Attempts::new(policy);
        a.begin();
        assert!(a.next_after(&timeout).is_some());
        a.begin();
        assert_eq!(a.next_after(&timeout), None);
    }

    #[test]
    fn network_causes_decide_how_often_to_try() {
        let nx = "error sending request for url (https://r.invalid/v2/): client error (Connect): dns error: failed to lookup address information: Name or service not known";
        let again = "client error (Connect): dns error: failed to lookup address information: Temporary failure in name resolution";
        let refused =
            "client error (Connect): tcp connect error: Connection refused (os error 111)";
        let reset =
            "client error (SendRequest): connection error: Connection reset by peer (os error 104)";
        assert_eq!(NetCause::of(nx), NetCause::NoSuchHost);
        assert_eq!(NetCause::of(again), NetCause::DnsAgain);
        assert_eq!(NetCause::of(refused), NetCause::Refused);
        assert_eq!(NetCause::of(reset), NetCause::Other);
        assert_eq!(NetCause::NoSuchHost.max_attempts(true), Some(1));
        assert_eq!(NetCause::DnsAgain.max_attempts(false), Some(2));
        assert_eq!(
            NetCause::Refused.max_attempts(false),
            Some(2),
            "first contact"
        );
        assert_eq!(NetCause::Refused.max_attempts(true), None, "a restart");
        assert_eq!(NetCause::Other.max_attempts(false), None);
        assert_eq!(
            NetCause::of(reset).describe(reset),
            "Connection reset by peer"
        );
        assert_eq!(NetCause::of(nx).describe(nx), "no such host (DNS)");
    }

    #[test]
    fn decisions() {
        let r = Retry::with_attempts(3);
        assert!(r.again(1, true) && r.again(2, true));
        assert!(!r.again(3, true), "bounded");
        assert!(
            !r.again(1, false),
            "never a request that cannot be replayed"
        );
        assert!(
            !Retry::with_attempts(0).again(1, true),
            "0 means one attempt"
        );
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
