//! The folder → account map a write needs, kept in memory, and the bounded map it is made of.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use crate::conn::{stmt, Conn};
use crate::Result;

/// A map shared by sessions, emptied when it reaches `MAX` entries (at worst a look-up or a
/// write done again).
pub(crate) struct BoundedMap<K, V>(Mutex<HashMap<K, V>>);

impl<K, V> Default for BoundedMap<K, V> {
    fn default() -> Self {
        BoundedMap(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq, V: Clone> BoundedMap<K, V> {
    const MAX: usize = 100_000;

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.lock().get(key).cloned()
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let mut map = self.lock();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(key, value);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Which account each folder belongs to, as far as this process has asked. A folder never
/// changes account and its id is never given again (AUTOINCREMENT, BIGSERIAL), so an entry
/// never goes stale; it saves a round trip to the database in each STORE, EXPUNGE, COPY and
/// APPEND.
#[derive(Default)]
pub(crate) struct FolderAccounts(BoundedMap<i64, i64>);

impl FolderAccounts {
    /// The account owning `folder_id`, read inside the write the first time (an unknown
    /// folder is an error, as the query's).
    pub(crate) async fn account_in(&self, conn: &mut Conn<'_>, folder_id: i64) -> Result<i64> {
        if let Some(account) = self.0.get(&folder_id) {
            return Ok(account);
        }
        let account: i64 = stmt("SELECT account_id FROM folders WHERE id = $1")
            .bind(folder_id)
            .fetch_scalar(conn)
            .await?;
        self.0.insert(folder_id, account);
        Ok(account)
    }
}
