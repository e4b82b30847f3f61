//! Abuse limits shared by SMTP and IMAP: AUTH failure throttling per IP and per account, and
//! connection counting per IP. In-memory, clock passed in by the caller (testable, no I/O).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// What an AUTH attempt must do before checking the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthGate {
    /// Go ahead after waiting this long (grows with recent failures).
    Proceed(Duration),
    /// Too many failures: refuse without checking, until this much time has passed.
    Locked(Duration),
}

/// Counts AUTH failures per IP and per account; a success clears the account's count.
#[derive(Debug)]
pub struct AuthThrottle {
    max_failures: u32,
    lock_for: Duration,
    by_ip: Mutex<HashMap<IpAddr, Failures>>,
    by_account: Mutex<HashMap<String, Failures>>,
}

impl AuthThrottle {
    pub fn new(max_failures: u32, lock_for: Duration) -> AuthThrottle {
        AuthThrottle {
            max_failures: max_failures.max(1),
            lock_for,
            by_ip: Mutex::default(),
            by_account: Mutex::default(),
        }
    }

    fn gate_of(&self, entry: Option<&Failures>, now: Instant) -> AuthGate {
        match entry {
            Some(f) => match f.locked_until {
                Some(until) if until > now => AuthGate::Locked(until - now),
                _ => AuthGate::Proceed(Duration::from_millis(250 * u64::from(f.count.min(8)))),
            },
            None => AuthGate::Proceed(Duration::ZERO),
        }
    }

    /// Decides whether an attempt from `ip` for `account` may proceed.
    pub fn check(&self, ip: IpAddr, account: &str, now: Instant) -> AuthGate {
        let by_ip = self.gate_of(self.by_ip.lock().unwrap().get(&ip), now);
        let by_account = self.gate_of(
            self.by_account.lock().unwrap().get(&account.to_lowercase()),
            now,
        );
        match (by_ip, by_account) {
            (AuthGate::Locked(a), AuthGate::Locked(b)) => AuthGate::Locked(a.max(b)),
            (AuthGate::Locked(a), _) | (_, AuthGate::Locked(a)) => AuthGate::Locked(a),
            (AuthGate::Proceed(a), AuthGate::Proceed(b)) => AuthGate::Proceed(a.max(b)),
        }
    }

    fn bump(&self, entry: &mut Failures, now: Instant) -> bool {
        // Failures older than the lock period are forgotten.
        if now.duration_since(entry.last) > self.lock_for {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        if entry.count >= self.max_failures {
            entry.locked_until = Some(now + self.lock_for);
            entry.count = 0;
            return true;
        }
        false
    }

    /// Records a failure; returns true when it just caused a lock (worth logging).
    pub fn failure(&self, ip: IpAddr, account: &str, now: Instant) -> bool {
        let fresh = Failures {
            count: 0,
            last: now,
            locked_until: None,
        };
        let locked_ip = self.bump(self.by_ip.lock().unwrap().entry(ip).or_insert(fresh), now);
        let locked_account = self.bump(
            self.by_account
                .lock()
                .unwrap()
                .entry(account.to_lowercase())
                .or_insert(fresh),
            now,
        );
        locked_ip || locked_account
    }

    pub fn success(&self, account: &str) {
        self.by_account
            .lock()
            .unwrap()
            .remove(&account.to_lowercase());
    }
}

/// Counts open connections per IP against a cap.
#[derive(Debug, Default)]
pub struct PerIpConnections {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIpConnections {
    /// Takes a slot for `ip` if fewer than `max` are open.
    pub fn try_acquire(&self, ip: IpAddr, max: usize) -> bool {
        let mut open = self.open.lock().unwrap();
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    pub fn release(&self, ip: IpAddr) {
        let mut open = self.open.lock().unwrap();
        if let Some(n) = open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_unlocks_later() {
        let throttle = AuthThrottle::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(
            throttle.check(ip, "a@x", t0),
            AuthGate::Proceed(Duration::ZERO)
        );
        assert!(!throttle.failure(ip, "a@x", t0));
        assert!(
            matches!(throttle.check(ip, "a@x", t0), AuthGate::Proceed(d) if d > Duration::ZERO)
        );
        assert!(!throttle.failure(ip, "a@x", t0));
        assert!(throttle.failure(ip, "a@x", t0));
        assert!(
            matches!(throttle.check(ip, "b@x", t0), AuthGate::Locked(_)),
            "IP locked for every account"
        );
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(
            matches!(throttle.check(other, "a@x", t0), AuthGate::Locked(_)),
            "account locked from every IP"
        );
        let later = t0 + Duration::from_secs(61);
        assert!(matches!(
            throttle.check(ip, "a@x", later),
            AuthGate::Proceed(_)
        ));
    }

    #[test]
    fn per_ip_cap() {
        let conns = PerIpConnections::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(conns.try_acquire(ip, 2));
        assert!(conns.try_acquire(ip, 2));
        assert!(!conns.try_acquire(ip, 2));
        conns.release(ip);
        assert!(conns.try_acquire(ip, 2));
    }
}
