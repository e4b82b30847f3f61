//! Panic bookkeeping: a hook that records each panic's message and location (instead of
//! printing it) so the driver can name a crash by where it happened, including panics a library
//! caught itself (`imap::protocol::parse` turns its own panics into "internal parser error").

use std::sync::Mutex;

static RECORDED: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());

#[derive(Debug, Clone)]
pub struct Recorded {
    /// `file:line:column`.
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.message, self.location)
    }
}

/// Replaces the panic hook with one that records (keeps the first 8 panics until `take`).
pub fn install_recording_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_else(|| "unknown".to_string());
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string());
        let mut message: String = message.chars().take(2000).collect();
        if message.len() == 2000 {
            message.push('…');
        }
        let mut recorded = RECORDED.lock().unwrap_or_else(|e| e.into_inner());
        if recorded.len() < 8 {
            recorded.push(Recorded { location, message });
        }
    }));
}

/// The panics recorded since the last call.
pub fn take() -> Vec<Recorded> {
    std::mem::take(&mut *RECORDED.lock().unwrap_or_else(|e| e.into_inner()))
}
