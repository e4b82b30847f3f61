//! The folder → account map a write needs, kept in memory.

use crate::conn::{stmt, Conn};
use crate::Result;

/// Which account each folder belongs to, as far as this process has asked. A folder never
/// changes account and its id is never given again (AUTOINCREMENT, BIGSERIAL), so an entry
/// never goes stale; it saves a round trip to the database in each STORE, EXPUNGE, COPY and
/// APPEND. Bounded: emptied when it reaches `FolderAccounts::MAX`.
#[derive(Default)]
pub(crate) struct FolderAccounts(std::sync::Mutex<std::collections::HashMap<i64, i64>>);

impl FolderAccounts {
    const MAX: usize = 100_000;

    /// The account owning `folder_id`, read inside the write the first time (an unknown
    /// folder is an error, as the query's).
    pub(crate) async fn account_in(&self, conn: &mut Conn<'_>, folder_id: i64) -> Result<i64> {
        if let Some(&account) = self.lock().get(&folder_id) {
            return Ok(account);
        }
        let account: i64 = stmt("SELECT account_id FROM folders WHERE id = $1")
            .bind(folder_id)
            .fetch_scalar(conn)
            .await?;
        let mut map = self.lock();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(folder_id, account);
        Ok(account)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
