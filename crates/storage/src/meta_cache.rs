//! The stored parse of messages, kept in memory once read. A message's parse never changes
//! (the body is immutable; a copy is a new message row), so entries need no invalidation: they
//! only age out. Two generations: lookups promote from the old one; when the young one is full
//! the old one is dropped whole. Memory stays under about `budget` bytes of stored JSON.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::meta::MessageMeta;

pub struct MetaCache {
    inner: Mutex<Generations>,
    /// Bytes of stored JSON one generation may hold.
    generation_budget: usize,
}

#[derive(Default)]
struct Generations {
    young: HashMap<i64, (Arc<MessageMeta>, usize)>,
    young_bytes: usize,
    old: HashMap<i64, (Arc<MessageMeta>, usize)>,
}

impl MetaCache {
    pub fn new(budget: usize) -> MetaCache {
        MetaCache {
            inner: Mutex::new(Generations::default()),
            generation_budget: budget / 2,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, message_id: i64) -> Option<Arc<MessageMeta>> {
        let mut g = self.lock();
        if let Some((meta, _)) = g.young.get(&message_id) {
            return Some(meta.clone());
        }
        let (meta, size) = g.old.remove(&message_id)?;
        drop(g);
        self.insert_sized(message_id, meta.clone(), size);
        Some(meta)
    }

    /// Remembers a parse read from storage; `size` is the length of its stored form.
    pub fn insert_sized(&self, message_id: i64, meta: Arc<MessageMeta>, size: usize) {
        if self.generation_budget == 0 || size > self.generation_budget {
            return;
        }
        let mut g = self.lock();
        if g.young_bytes + size > self.generation_budget {
            let young = std::mem::take(&mut g.young);
            g.old = young;
            g.young_bytes = 0;
        }
        if g.young.insert(message_id, (meta, size)).is_none() {
            g.young_bytes += size;
        }
    }

    /// Entries held (both generations), for tests.
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.young.len() + g.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_recent_entries_within_the_budget() {
        let cache = MetaCache::new(1000);
        let meta = Arc::new(MessageMeta::default());
        for id in 0..10 {
            cache.insert_sized(id, meta.clone(), 100);
        }
        // 500 bytes per generation: the young one holds 5, the old one up to 5 more.
        assert!(cache.len() <= 10);
        assert!(cache.get(9).is_some(), "the newest stays");
        for id in 10..30 {
            cache.insert_sized(id, meta.clone(), 100);
        }
        assert!(cache.get(0).is_none(), "the oldest aged out");
        assert!(cache.len() <= 10);
        // Used entries survive a generation change.
        for id in 30..60 {
            assert!(cache.get(29).is_some());
            cache.insert_sized(id, meta.clone(), 100);
        }
        assert!(cache.get(29).is_some());
        // Too large for a generation: not kept.
        cache.insert_sized(99, meta, 600);
        assert!(cache.get(99).is_none());
    }
}
