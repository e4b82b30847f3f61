//! Abuse limits shared by SMTP, IMAP and the password page: AUTH failure throttling and
//! connection counting per IP. In-memory, clock passed in by the caller (testable, no I/O).
//!
//! AUTH throttling never lets a third party lock someone else's account out:
//! - Failures are counted per (login, address). Each failure's answer is delayed, the delay
//!   doubling from `first_delay` up to `max_delay` (Dovecot's auth_penalty: 2 s, doubling, 15 s
//!   cap). After `max_failures` that login is refused *from that address only* for `lock`; a
//!   failure after the lock has run out locks again at once, until the pair has been quiet for
//!   `window`. A success clears the pair.
//! - Failures are counted per address across logins (fail2ban's findtime/maxretry/bantime):
//!   `ip_ban_failures` failures, or failures for `ip_ban_accounts` distinct logins, within
//!   `window` ban the address for `ip_ban`. Both thresholds sit well above one person's typos,
//!   so colleagues behind the same NAT are not locked out by one of them.
//! - The same login from another address is checked at once and never delayed.
//! - Logins are keyed in their canonical form ([`crate::naming::canonical_login`], the form the
//!   account is looked up by); IPv6 addresses by their /64 (one host or one LAN), IPv4-mapped
//!   IPv6 as IPv4.
//! - Memory is bounded: logins are kept as keyed hashes, entries quiet for a window are swept,
//!   and each map holds at most `max_entries` (the least recently active are dropped first).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::naming::canonical_login;

/// The knobs of [`AuthThrottle`]. A threshold of 0 disables what it triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures of one login from one address before that pair is locked.
    pub max_failures: u32,
    /// How long a (login, address) pair stays locked.
    pub lock: Duration,
    /// Delay before answering the first failure; doubles with each further failure of the pair.
    pub first_delay: Duration,
    /// Cap of that delay.
    pub max_delay: Duration,
    /// Failures older than this are forgotten (fail2ban's findtime).
    pub window: Duration,
    /// Failures from one address, across logins, within `window` that ban the address.
    pub ip_ban_failures: u32,
    /// Distinct logins failing from one address within `window` that ban the address.
    pub ip_ban_accounts: u32,
    /// How long a ban lasts.
    pub ip_ban: Duration,
    /// Most entries kept per map (pairs, addresses).
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_failures: 5,
            lock: Duration::from_secs(300),
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15),
            window: Duration::from_secs(600),
            ip_ban_failures: 20,
            ip_ban_accounts: 10,
            ip_ban: Duration::from_secs(300),
            max_entries: 100_000,
        }
    }
}

/// Per-address thresholds are clamped to this (each counted failure is kept until it ages out).
const MAX_IP_THRESHOLD: u32 = 1000;
/// Locks and bans are clamped to this.
const MAX_PENALTY: Duration = Duration::from_secs(30 * 86_400);

/// What an AUTH attempt must do before checking the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthGate {
    /// Check the password.
    Proceed,
    /// This login failed too often from this address: refuse without checking, for this long.
    /// The same login from elsewhere is not affected.
    Locked(Duration),
    /// This address failed too often across logins: refuse every login from it without
    /// checking, for this long.
    Banned(Duration),
}

/// What a recorded failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Wait this long before answering the failure.
    pub delay: Duration,
    /// This failure locked the login from this address (worth an audit event).
    pub locked: bool,
    /// This failure banned the address (worth an audit event).
    pub banned: bool,
}

#[derive(Debug)]
struct Pair {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

impl Pair {
    fn idle(&self, now: Instant, window: Duration) -> bool {
        self.locked_until.is_none_or(|until| until <= now)
            && now.saturating_duration_since(self.last) > window
    }
}

#[derive(Debug)]
struct Address {
    /// Times of the recent failures, oldest first, at most `ip_ban_failures`.
    failures: VecDeque<Instant>,
    /// Distinct logins (hashes) that failed recently, with their last failure.
    logins: Vec<(u64, Instant)>,
    last: Instant,
    banned_until: Option<Instant>,
}

impl Address {
    fn idle(&self, now: Instant, window: Duration) -> bool {
        self.banned_until.is_none_or(|until| until <= now)
            && now.saturating_duration_since(self.last) > window
    }

    fn forget_older_than(&mut self, now: Instant, window: Duration) {
        let old = |t: &Instant| now.saturating_duration_since(*t) > window;
        while self.failures.front().is_some_and(old) {
            self.failures.pop_front();
        }
        self.logins.retain(|(_, t)| !old(t));
    }
}

#[derive(Debug, Default)]
struct State {
    pairs: HashMap<(u64, IpAddr), Pair>,
    addresses: HashMap<IpAddr, Address>,
    last_sweep: Option<Instant>,
}

/// Counts AUTH failures per (login, address) and per address; see the module documentation.
#[derive(Debug)]
pub struct AuthThrottle {
    config: ThrottleConfig,
    /// Keys login hashes (random per process: nobody can aim for collisions).
    hasher: RandomState,
    state: Mutex<State>,
}

/// The address a failure is charged to: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
pub fn throttle_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// Drops idle entries if `map` is full, then the least recently active down to 90 % of `max`.
fn make_room<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    max: usize,
    idle: impl Fn(&V) -> bool,
    last: impl Fn(&V) -> Instant,
) {
    if map.len() < max {
        return;
    }
    map.retain(|_, v| !idle(v));
    if map.len() < max {
        return;
    }
    let excess = map.len() + 1 - max + max / 10;
    let mut times: Vec<Instant> = map.values().map(&last).collect();
    let nth = excess.min(times.len()) - 1;
    let cutoff = *times.select_nth_unstable(nth).1;
    let mut dropped = 0;
    map.retain(|_, v| {
        if dropped < excess && last(v) <= cutoff {
            dropped += 1;
            false
        } else {
            true
        }
    });
}

impl AuthThrottle {
    pub fn new(config: ThrottleConfig) -> AuthThrottle {
        let config = ThrottleConfig {
            lock: config.lock.min(MAX_PENALTY),
            ip_ban: config.ip_ban.min(MAX_PENALTY),
            window: config.window.min(MAX_PENALTY),
            max_delay: config.max_delay.min(MAX_PENALTY),
            ip_ban_failures: config.ip_ban_failures.min(MAX_IP_THRESHOLD),
            ip_ban_accounts: config.ip_ban_accounts.min(MAX_IP_THRESHOLD),
            max_entries: config.max_entries.max(1),
            ..config
        };
        AuthThrottle {
            config,
            hasher: RandomState::new(),
            state: Mutex::default(),
        }
    }

    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn login_hash(&self, login: &str) -> u64 {
        self.hasher.hash_one(canonical_login(login))
    }

    /// Decides whether an attempt from `ip` for `login` may have its password checked.
    pub fn check(&self, ip: IpAddr, login: &str, now: Instant) -> AuthGate {
        let key = throttle_key(ip);
        let login = self.login_hash(login);
        let state = self.state();
        if let Some(until) = state.addresses.get(&key).and_then(|a| a.banned_until) {
            if until > now {
                return AuthGate::Banned(until - now);
            }
        }
        if let Some(until) = state.pairs.get(&(login, key)).and_then(|p| p.locked_until) {
            if until > now {
                return AuthGate::Locked(until - now);
            }
        }
        AuthGate::Proceed
    }

    /// Records a wrong password (or unknown login) from `ip`.
    pub fn failure(&self, ip: IpAddr, login: &str, now: Instant) -> Failure {
        let c = &self.config;
        let key = throttle_key(ip);
        let login = self.login_hash(login);
        let mut guard = self.state();
        let state = &mut *guard;
        if state
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= c.window)
        {
            state.pairs.retain(|_, p| !p.idle(now, c.window));
            state.addresses.retain(|_, a| !a.idle(now, c.window));
            state.last_sweep = Some(now);
        }

        if !state.pairs.contains_key(&(login, key)) {
            make_room(
                &mut state.pairs,
                c.max_entries,
                |p| p.idle(now, c.window),
                |p| p.last,
            );
        }
        let pair = state.pairs.entry((login, key)).or_insert(Pair {
            failures: 0,
            last: now,
            locked_until: None,
        });
        if now.saturating_duration_since(pair.last) > c.window {
            pair.failures = 0;
        }
        pair.failures = pair.failures.saturating_add(1);
        pair.last = now;
        let mut locked = false;
        if c.max_failures > 0 && pair.failures >= c.max_failures {
            locked = pair.locked_until.is_none_or(|until| until <= now);
            pair.locked_until = Some(now + c.lock);
        }
        let doublings = (pair.failures - 1).min(31);
        let delay = c
            .first_delay
            .saturating_mul(1u32 << doublings)
            .min(c.max_delay);

        if !state.addresses.contains_key(&key) {
            make_room(
                &mut state.addresses,
                c.max_entries,
                |a| a.idle(now, c.window),
                |a| a.last,
            );
        }
        let address = state.addresses.entry(key).or_insert_with(|| Address {
            failures: VecDeque::new(),
            logins: Vec::new(),
            last: now,
            banned_until: None,
        });
        address.forget_older_than(now, c.window);
        address.last = now;
        if c.ip_ban_failures > 0 {
            if address.failures.len() >= c.ip_ban_failures as usize {
                address.failures.pop_front();
            }
            address.failures.push_back(now);
        }
        if c.ip_ban_accounts > 0 {
            let room = address.logins.len() < c.ip_ban_accounts as usize;
            match address.logins.iter_mut().find(|(h, _)| *h == login) {
                Some(entry) => entry.1 = now,
                None if room => address.logins.push((login, now)),
                None => {}
            }
        }
        let mut banned = false;
        let over = (c.ip_ban_failures > 0 && address.failures.len() >= c.ip_ban_failures as usize)
            || (c.ip_ban_accounts > 0 && address.logins.len() >= c.ip_ban_accounts as usize);
        if over && address.banned_until.is_none_or(|until| until <= now) {
            address.banned_until = Some(now + c.ip_ban);
            address.failures.clear();
            address.logins.clear();
            banned = true;
        }
        Failure {
            delay,
            locked,
            banned,
        }
    }

    /// Records a right password: clears the (login, address) pair, and takes its failures back
    /// from the address's count (a colleague's typos do not add up to a ban of the office).
    pub fn success(&self, ip: IpAddr, login: &str) {
        let key = throttle_key(ip);
        let login = self.login_hash(login);
        let mut state = self.state();
        let Some(pair) = state.pairs.remove(&(login, key)) else {
            return;
        };
        if let Some(address) = state.addresses.get_mut(&key) {
            for _ in 0..pair.failures {
                if address.failures.pop_back().is_none() {
                    break;
                }
            }
            address.logins.retain(|(h, _)| *h != login);
        }
    }

    /// Entries held: (login and address pairs, addresses).
    pub fn entries(&self) -> (usize, usize) {
        let state = self.state();
        (state.pairs.len(), state.addresses.len())
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

    use unicode_normalization::UnicodeNormalization;

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            max_failures: 3,
            lock: Duration::from_secs(60),
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            window: Duration::from_secs(600),
            ip_ban_failures: 8,
            ip_ban_accounts: 5,
            ip_ban: Duration::from_secs(120),
            max_entries: 1000,
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Gate {
        Proceed,
        Locked,
        Banned,
    }

    /// One event at a time in milliseconds from the start.
    enum Step {
        /// A wrong password; expected delay (ms), whether it locked the pair, banned the address.
        Fail(&'static str, &'static str, u64, u64, bool, bool),
        /// A check and the gate it must give.
        Check(&'static str, &'static str, u64, Gate),
        /// A right password.
        Ok(&'static str, &'static str),
    }
    use Step::*;

    const A: &str = "192.0.2.1";
    const B: &str = "192.0.2.2";

    #[test]
    fn auth_throttle_table() {
        let nfd: &'static str = Box::leak("nguyễn@dom".nfd().collect::<String>().into_boxed_str());
        assert_ne!(nfd, "nguyễn@dom");
        let scenarios: Vec<(&str, Vec<Step>)> = vec![
            (
                "delays double; the pair locks; the same login elsewhere and other logins proceed",
                vec![
                    Check(A, "a@dom", 0, Gate::Proceed),
                    Fail(A, "a@dom", 0, 1000, false, false),
                    Check(A, "a@dom", 0, Gate::Proceed),
                    Fail(A, "a@dom", 10, 2000, false, false),
                    Fail(A, "a@dom", 20, 4000, true, false),
                    Check(A, "a@dom", 30, Gate::Locked),
                    Check(B, "a@dom", 30, Gate::Proceed),
                    Check(A, "b@dom", 30, Gate::Proceed),
                ],
            ),
            (
                "the lock lifts, a failure after it relocks at once (delay capped), a quiet window forgets",
                vec![
                    Fail(A, "a@dom", 0, 1000, false, false),
                    Fail(A, "a@dom", 0, 2000, false, false),
                    Fail(A, "a@dom", 0, 4000, true, false),
                    Check(A, "a@dom", 59_999, Gate::Locked),
                    Check(A, "a@dom", 60_001, Gate::Proceed),
                    Fail(A, "a@dom", 61_000, 4000, true, false),
                    Check(A, "a@dom", 62_000, Gate::Locked),
                    Check(A, "a@dom", 121_001, Gate::Proceed),
                    Fail(A, "a@dom", 61_000 + 600_001, 1000, false, false),
                ],
            ),
            (
                "failures across logins ban the address, not other addresses; the ban lifts",
                vec![
                    Fail(A, "a@dom", 0, 1000, false, false),
                    Fail(A, "a@dom", 0, 2000, false, false),
                    Fail(A, "a@dom", 0, 4000, true, false),
                    Fail(A, "b@dom", 0, 1000, false, false),
                    Fail(A, "b@dom", 0, 2000, false, false),
                    Fail(A, "b@dom", 0, 4000, true, false),
                    Fail(A, "c@dom", 0, 1000, false, false),
                    Check(A, "c@dom", 0, Gate::Proceed),
                    Check(A, "d@dom", 0, Gate::Proceed),
                    Fail(A, "c@dom", 1000, 2000, false, true),
                    Check(A, "d@dom", 1000, Gate::Banned),
                    Check(A, "a@dom", 1000, Gate::Banned),
                    Check(B, "a@dom", 1000, Gate::Proceed),
                    Check(B, "d@dom", 1000, Gate::Proceed),
                    Check(A, "d@dom", 120_999, Gate::Banned),
                    Check(A, "d@dom", 121_001, Gate::Proceed),
                    // The count started again from zero.
                    Fail(A, "d@dom", 121_001, 1000, false, false),
                ],
            ),
            (
                "failures spread out (7 per window, 4 logins) never ban",
                (0..20u64)
                    .map(|i| {
                        let login = ["a@dom", "b@dom", "c@dom", "d@dom"][i as usize % 4];
                        let count = i / 4 + 1;
                        let delay = (1000 << (count - 1)).min(4000);
                        Fail(A, login, i * 90_000, delay, count >= 3, false)
                    })
                    .collect(),
            ),
            (
                "distinct logins from one address ban it",
                vec![
                    Fail(A, "a@dom", 0, 1000, false, false),
                    Fail(A, "b@dom", 0, 1000, false, false),
                    Fail(A, "c@dom", 0, 1000, false, false),
                    Fail(A, "d@dom", 0, 1000, false, false),
                    Fail(A, "d@dom", 0, 2000, false, false),
                    Check(A, "e@dom", 0, Gate::Proceed),
                    Fail(A, "e@dom", 0, 1000, false, true),
                    Check(A, "f@dom", 0, Gate::Banned),
                ],
            ),
            (
                "spaces, case, a trailing dot and NFD count as the same login",
                vec![
                    Fail(A, " nguyễn@dom", 0, 1000, false, false),
                    Fail(A, "NGUYỄN@DOM.", 0, 2000, false, false),
                    Fail(A, nfd, 0, 4000, true, false),
                    Check(A, "nguyễn@dom", 0, Gate::Locked),
                    Check(A, "nguyễn@dom \t", 0, Gate::Locked),
                    Check(A, "nguyen@dom", 0, Gate::Proceed),
                    Check(B, nfd, 0, Gate::Proceed),
                ],
            ),
            (
                "a success clears the pair and takes its failures back from the address",
                vec![
                    Fail(A, "a@dom", 0, 1000, false, false),
                    Fail(A, "a@dom", 0, 2000, false, false),
                    Ok(A, " A@dom"),
                    Check(A, "a@dom", 0, Gate::Proceed),
                    Fail(A, "a@dom", 0, 1000, false, false),
                    Fail(A, "b@dom", 0, 1000, false, false),
                    Fail(A, "b@dom", 0, 2000, false, false),
                    Fail(A, "b@dom", 0, 4000, true, false),
                    Fail(A, "c@dom", 0, 1000, false, false),
                    Fail(A, "c@dom", 0, 2000, false, false),
                    Fail(A, "c@dom", 0, 4000, true, false),
                    Check(A, "d@dom", 0, Gate::Proceed),
                    Fail(A, "d@dom", 0, 1000, false, true),
                ],
            ),
            (
                "a success elsewhere does not clear the attacker's pair",
                vec![
                    Fail(A, "a@dom", 0, 1000, false, false),
                    Fail(A, "a@dom", 0, 2000, false, false),
                    Fail(A, "a@dom", 0, 4000, true, false),
                    Ok(B, "a@dom"),
                    Check(A, "a@dom", 0, Gate::Locked),
                ],
            ),
            (
                "IPv6 by /64, IPv4-mapped IPv6 as IPv4",
                vec![
                    Fail("2001:db8::1", "a@dom", 0, 1000, false, false),
                    Fail("2001:db8::ffff", "a@dom", 0, 2000, false, false),
                    Fail("2001:db8::1:2", "a@dom", 0, 4000, true, false),
                    Check("2001:db8::abcd", "a@dom", 0, Gate::Locked),
                    Check("2001:db8:0:1::1", "a@dom", 0, Gate::Proceed),
                    Fail("::ffff:10.0.0.1", "a@dom", 0, 1000, false, false),
                    Fail("::ffff:10.0.0.1", "a@dom", 0, 2000, false, false),
                    Fail("10.0.0.1", "a@dom", 0, 4000, true, false),
                    Check("::ffff:10.0.0.1", "a@dom", 0, Gate::Locked),
                ],
            ),
        ];
        for (name, steps) in scenarios {
            let throttle = AuthThrottle::new(config());
            let t0 = Instant::now();
            let at = |ms: u64| t0 + Duration::from_millis(ms);
            for (i, step) in steps.into_iter().enumerate() {
                match step {
                    Fail(ip, login, ms, delay, locked, banned) => {
                        let got = throttle.failure(ip.parse().unwrap(), login, at(ms));
                        let want = Failure {
                            delay: Duration::from_millis(delay),
                            locked,
                            banned,
                        };
                        assert_eq!(got, want, "{name}: step {i} fail {ip} {login:?}");
                    }
                    Check(ip, login, ms, gate) => {
                        let got = match throttle.check(ip.parse().unwrap(), login, at(ms)) {
                            AuthGate::Proceed => Gate::Proceed,
                            AuthGate::Locked(left) => {
                                assert!(left > Duration::ZERO && left <= config().lock);
                                Gate::Locked
                            }
                            AuthGate::Banned(left) => {
                                assert!(left > Duration::ZERO && left <= config().ip_ban);
                                Gate::Banned
                            }
                        };
                        assert_eq!(got, gate, "{name}: step {i} check {ip} {login:?}");
                    }
                    Ok(ip, login) => throttle.success(ip.parse().unwrap(), login),
                }
            }
        }
    }

    #[test]
    fn zero_thresholds_disable_locks_and_bans() {
        let throttle = AuthThrottle::new(ThrottleConfig {
            max_failures: 0,
            ip_ban_failures: 0,
            ip_ban_accounts: 0,
            ..config()
        });
        let ip: IpAddr = A.parse().unwrap();
        let t0 = Instant::now();
        for i in 0..100 {
            let f = throttle.failure(ip, &format!("u{}@dom", i % 7), t0);
            assert!(!f.locked && !f.banned);
            assert!(f.delay <= Duration::from_secs(4));
        }
        assert_eq!(throttle.check(ip, "u1@dom", t0), AuthGate::Proceed);
    }

    #[test]
    fn memory_stays_bounded_under_a_spray() {
        let throttle = AuthThrottle::new(ThrottleConfig {
            max_entries: 500,
            ..config()
        });
        let t0 = Instant::now();
        // One failure per random login from many addresses (no single address is banned).
        for i in 0u32..20_000 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i / 4));
            throttle.failure(
                ip,
                &format!("random{i}@dom"),
                t0 + Duration::from_millis(i.into()),
            );
            let (pairs, addresses) = throttle.entries();
            assert!(pairs <= 500 && addresses <= 500, "{pairs} {addresses}");
        }
        // The most recent entries are the ones kept.
        let last = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + 19_999 / 4));
        throttle.failure(last, "random19999@dom", t0 + Duration::from_secs(20));
        throttle.failure(last, "random19999@dom", t0 + Duration::from_secs(20));
        assert!(matches!(
            throttle.check(last, "random19999@dom", t0 + Duration::from_secs(20)),
            AuthGate::Locked(_)
        ));
        // Everything quiet for a window is swept at the next failure.
        let later = t0 + Duration::from_secs(20 + 601 + 60);
        throttle.failure(last, "x@dom", later);
        assert_eq!(throttle.entries(), (1, 1));
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
