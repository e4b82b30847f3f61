//! Session ids: unique in the process, readable in logs (`s67a1f2c0-42`: a protocol prefix,
//! the start time in hex seconds, a counter).

use std::sync::atomic::{AtomicU64, Ordering};

/// A new session id starting with `prefix`, also recorded as the `session` field of the
/// current tracing span (the connection's span: every log line of the session has it).
pub fn session_id(prefix: &str) -> String {
    let id = next_session_id(prefix);
    tracing::Span::current().record("session", id.as_str());
    id
}

fn next_session_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{prefix}{now:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_prefix_and_never_repeat() {
        let a = session_id("s");
        let b = session_id("i");
        assert!(a.starts_with('s') && b.starts_with('i'), "{a} {b}");
        let counter = |id: &str| id.rsplit_once('-').unwrap().1.parse::<u64>().unwrap();
        assert!(counter(&b) > counter(&a));
    }
}
