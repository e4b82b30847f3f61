//! How the admin commands print: aligned tables and `key: value` records for people, or JSON
//! with `--json` for scripts.

use serde::Serialize;

pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints rows as a table (or a JSON array).
    pub(crate) fn table<T: Serialize>(
        &self,
        headers: &[&str],
        rows: &[T],
        cells: impl Fn(&T) -> Vec<String>,
    ) {
        crate::ops::print_table(self.json, headers, rows, cells);
    }

    /// Prints one record as `key: value` lines (or a JSON object).
    pub(crate) fn record<T: Serialize>(&self, value: &T) {
        crate::ops::print_record(self.json, value);
    }

    pub(crate) fn done(&self, message: &str) {
        if self.json {
            crate::outln!("{}", serde_json::json!({ "ok": true, "message": message }));
        } else {
            crate::outln!("{message}");
        }
    }
}
