//! Graceful shutdown: a small value passed down to listeners and sessions, not a global.
//!
//! [`Shutdown`] is the trigger side (cloneable: the server keeps one, whoever stops it holds
//! another); [`ShutdownSignal`] is what an accept loop or a session races its next input
//! against.

use tokio::sync::watch;

/// Stops every listener and session that holds one of its signals.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
}

/// The receiving side of a [`Shutdown`]: await it in a `select!` next to the session's read.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            sender: watch::channel(false).0,
        }
    }

    /// Starts the shutdown; further calls change nothing.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// A new signal for a listener or a session.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            receiver: self.sender.subscribe(),
        }
    }
}

impl Default for Shutdown {
    fn default() -> Shutdown {
        Shutdown::new()
    }
}

impl ShutdownSignal {
    /// Completes once the shutdown is triggered: at once when it already was, and also when
    /// every [`Shutdown`] is gone (nothing could stop the session any more). Cancel safe, for
    /// `select!`. Named like `watch::Receiver::changed`, which the sessions awaited before: the
    /// only change a shutdown has is from running to stopping.
    pub async fn changed(&mut self) {
        let _ = self.receiver.wait_for(|&triggered| triggered).await;
    }

    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }
}

/// A signal from a plain watch channel (`true` means stop), for code that owns one already.
impl From<watch::Receiver<bool>> for ShutdownSignal {
    fn from(receiver: watch::Receiver<bool>) -> ShutdownSignal {
        ShutdownSignal { receiver }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SOON: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn signal_waits_until_triggered() {
        let shutdown = Shutdown::new();
        let mut signal = shutdown.signal();
        assert!(!signal.is_triggered());
        assert!(
            tokio::time::timeout(SOON, signal.changed()).await.is_err(),
            "a signal completed before the trigger"
        );
        let handle = shutdown.clone();
        tokio::spawn(async move { handle.trigger() });
        tokio::time::timeout(SOON, signal.changed())
            .await
            .expect("the trigger reaches the signal");
        assert!(signal.is_triggered());
        assert!(shutdown.is_triggered());
    }

    #[tokio::test]
    async fn signals_taken_or_cloned_after_the_trigger_complete_at_once() {
        let shutdown = Shutdown::new();
        let early = shutdown.signal();
        shutdown.trigger();
        shutdown.trigger();
        let mut late = shutdown.signal();
        let mut cloned = early.clone();
        let mut early = early;
        for signal in [&mut late, &mut cloned, &mut early] {
            tokio::time::timeout(SOON, signal.changed())
                .await
                .expect("already triggered");
            // Awaiting again completes again: a session may look twice (STARTTLS re-runs it).
            tokio::time::timeout(SOON, signal.changed())
                .await
                .expect("still triggered");
        }
    }

    #[tokio::test]
    async fn every_trigger_side_gone_ends_the_wait() {
        let shutdown = Shutdown::new();
        let mut signal = shutdown.signal();
        drop(shutdown);
        tokio::time::timeout(SOON, signal.changed())
            .await
            .expect("nothing can trigger it any more");
        assert!(!signal.is_triggered());
    }

    #[tokio::test]
    async fn a_watch_receiver_is_a_signal() {
        let (sender, receiver) = watch::channel(false);
        let mut signal = ShutdownSignal::from(receiver);
        sender.send_replace(true);
        tokio::time::timeout(SOON, signal.changed())
            .await
            .expect("the watch value reaches the signal");
    }
}
