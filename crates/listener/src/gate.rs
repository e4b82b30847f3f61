//! The connection gate: who gets a connection slot.
//!
//! - The per-IP cap is checked first: an address at its cap is refused at once, so it never
//!   waits for, or takes, the slots other addresses free.
//! - Then the total: a free slot at once; when all are taken, the first one freed within the
//!   slot wait, for at most `max / 10 + 1` waiting connections (the rest are refused at once).
//! - A connection arriving while fewer than a tenth of the slots are free wakes the sessions
//!   waiting on [`Gate::pressure_notified`]: they then check whether to shed slow clients.
//!
//! A [`Pass`] holds both the slot and the per-IP count; dropping it releases both.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use policy::limits::PerIpConnections;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its address has `max_per_ip` connections open already.
    PerIp,
    /// Every slot stayed taken (or too many connections already wait for one).
    Total,
}

impl Refused {
    /// The `reason` label of `govmail_connections_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refused::PerIp => "per_ip",
            Refused::Total => "total",
        }
    }

    /// The words a refusal says, whatever the protocol wraps them in.
    pub fn text(self) -> &'static str {
        match self {
            Refused::PerIp => "Too many connections from your address",
            Refused::Total => "Too many connections, try again later",
        }
    }
}

/// Connection caps of one protocol (all its listeners share them).
#[derive(Debug)]
pub struct Gate {
    max_connections: usize,
    max_per_ip: usize,
    /// How long a connection waits for a slot when all are taken; zero: refused at once.
    slot_wait: Duration,
    slots: Arc<Semaphore>,
    per_ip: Arc<PerIpConnections>,
    /// Connections waiting for a slot now.
    waiters: AtomicUsize,
    pressure: Notify,
}

/// An admitted connection's slot and per-IP count, released on drop.
#[derive(Debug)]
pub struct Pass {
    per_ip: Arc<PerIpConnections>,
    ip: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.per_ip.release(self.ip);
    }
}

impl Gate {
    pub fn new(max_connections: usize, max_per_ip: usize, slot_wait: Duration) -> Gate {
        Gate {
            max_connections,
            max_per_ip,
            slot_wait,
            slots: Arc::new(Semaphore::new(max_connections)),
            per_ip: Default::default(),
            waiters: AtomicUsize::new(0),
            pressure: Notify::new(),
        }
    }

    /// Admits a connection from `ip`, or says why not. Waits at most the slot wait.
    pub async fn admit(&self, ip: IpAddr) -> Result<Pass, Refused> {
        // Per IP first: one address never waits for, or takes, the slots others free.
        if !self.per_ip.try_acquire(ip, self.max_per_ip) {
            return Err(Refused::PerIp);
        }
        if self.under_pressure() {
            self.pressure.notify_waiters();
        }
        match self.slot().await {
            Some(slot) => Ok(Pass {
                per_ip: self.per_ip.clone(),
                ip,
                _slot: slot,
            }),
            None => {
                self.per_ip.release(ip);
                Err(Refused::Total)
            }
        }
    }

    /// True when fewer than a tenth of the slots are free: slow unauthenticated sessions are
    /// then shed.
    pub fn under_pressure(&self) -> bool {
        self.slots.available_permits().saturating_mul(10) < self.max_connections
    }

    /// Completes when a connection arrives while slots run low (see [`Gate::under_pressure`]).
    pub fn pressure_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.pressure.notified()
    }

    /// Most connections that wait for a slot at once.
    pub fn max_waiters(&self) -> usize {
        self.max_connections / 10 + 1
    }

    /// A slot: at once if one is free; when all are taken, the first one freed within the slot
    /// wait, unless [`Gate::max_waiters`] connections wait already.
    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.slot_wait.is_zero() {
            return None;
        }
        let waiting = self.waiters.fetch_add(1, Ordering::SeqCst);
        let permit = if waiting < self.max_waiters() {
            tokio::time::timeout(self.slot_wait, self.slots.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            None
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        permit
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[tokio::test]
    async fn per_ip_cap_refuses_before_the_total_is_looked_at() {
        let gate = Gate::new(2, 1, Duration::from_secs(60));
        let _first = gate.admit(ip(1)).await.unwrap();
        let _other = gate.admit(ip(2)).await.unwrap();
        // Every slot is taken and the slot wait is long: a per-IP refusal must not wait.
        let refused = tokio::time::timeout(Duration::from_millis(500), gate.admit(ip(1)))
            .await
            .expect("refused at once, not after the slot wait");
        assert_eq!(refused.unwrap_err(), Refused::PerIp);
    }

    #[tokio::test]
    async fn an_address_at_its_cap_does_not_take_a_freed_slot() {
        let gate = Arc::new(Gate::new(2, 1, Duration::from_secs(5)));
        let held = gate.admit(ip(1)).await.unwrap();
        let freed = gate.admit(ip(2)).await.unwrap();
        assert_eq!(gate.admit(ip(1)).await.unwrap_err(), Refused::PerIp);
        drop(freed);
        // The freed slot goes to a new address; address 1 is still refused per IP.
        assert_eq!(gate.admit(ip(1)).await.unwrap_err(), Refused::PerIp);
        let _third = gate.admit(ip(3)).await.unwrap();
        drop(held);
    }

    #[tokio::test]
    async fn drop_releases_the_slot_and_the_per_ip_count() {
        let gate = Gate::new(1, 1, Duration::ZERO);
        let pass = gate.admit(ip(1)).await.unwrap();
        assert_eq!(gate.admit(ip(2)).await.unwrap_err(), Refused::Total);
        assert_eq!(gate.admit(ip(1)).await.unwrap_err(), Refused::PerIp);
        drop(pass);
        let again = gate
            .admit(ip(1))
            .await
            .expect("slot and per-IP count released");
        drop(again);
        let _other = gate.admit(ip(2)).await.expect("slot released");
    }

    #[tokio::test]
    async fn a_refusal_for_the_total_gives_back_the_per_ip_count() {
        let gate = Gate::new(1, 1, Duration::ZERO);
        let pass = gate.admit(ip(1)).await.unwrap();
        assert_eq!(gate.admit(ip(2)).await.unwrap_err(), Refused::Total);
        drop(pass);
        // Address 2 was refused for the total: its per-IP count must not stay taken.
        let _two = gate
            .admit(ip(2))
            .await
            .expect("no per-IP count left behind");
    }

    #[tokio::test]
    async fn a_waiting_connection_gets_the_first_freed_slot() {
        let gate = Arc::new(Gate::new(1, 5, Duration::from_secs(5)));
        let pass = gate.admit(ip(1)).await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit(ip(2)).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(pass);
        let admitted = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("woken by the freed slot")
            .unwrap();
        assert_eq!(admitted, Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_slot_wait_is_bounded() {
        let gate = Gate::new(1, 5, Duration::from_secs(3));
        let _pass = gate.admit(ip(1)).await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(gate.admit(ip(2)).await.unwrap_err(), Refused::Total);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_a_tenth_of_the_slots_plus_one_wait() {
        // 20 slots: at most 20 / 10 + 1 = 3 connections wait; the fourth is refused at once.
        let gate = Arc::new(Gate::new(20, 100, Duration::from_secs(3)));
        assert_eq!(gate.max_waiters(), 3);
        let mut passes = vec![];
        for n in 0..20 {
            passes.push(gate.admit(ip(n)).await.unwrap());
        }
        let mut waiters = vec![];
        for n in 0..3 {
            let gate = gate.clone();
            // A waiter's pass stays held in its task's output until joined.
            waiters.push(tokio::spawn(async move { gate.admit(ip(100 + n)).await }));
        }
        // Let the three reach their wait (time is paused: nothing expires meanwhile).
        while gate.waiters.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        let started = tokio::time::Instant::now();
        assert_eq!(gate.admit(ip(200)).await.unwrap_err(), Refused::Total);
        assert_eq!(started.elapsed(), Duration::ZERO, "the fourth did not wait");
        // Two slots freed: two waiters get them, the third times out.
        passes.truncate(18);
        let mut outcomes = vec![];
        for waiter in waiters {
            outcomes.push(waiter.await.unwrap());
        }
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 2);
        assert_eq!(gate.waiters.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn pressure_below_a_tenth_free_wakes_waiting_sessions() {
        let gate = Arc::new(Gate::new(10, 20, Duration::ZERO));
        let mut passes = vec![];
        for n in 0..9 {
            passes.push(gate.admit(ip(n)).await.unwrap());
        }
        // 1 of 10 free: not under a tenth yet.
        assert!(!gate.under_pressure());
        let session = tokio::spawn({
            let gate = gate.clone();
            async move { gate.pressure_notified().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        passes.push(gate.admit(ip(9)).await.unwrap());
        assert!(gate.under_pressure());
        // The next arrival (refused or not) tells the waiting sessions.
        assert_eq!(gate.admit(ip(10)).await.unwrap_err(), Refused::Total);
        tokio::time::timeout(Duration::from_secs(2), session)
            .await
            .expect("the waiting session was woken")
            .unwrap();
        passes.clear();
        assert!(!gate.under_pressure());
    }
}
