//! Reads that run on the calling thread.
//!
//! sqlx's SQLite driver runs each connection on a thread of its own: every statement is a
//! message to that thread and an answer back, two thread switches. Most IMAP commands are a
//! few small reads (the folder row, the changes since a MODSEQ, a page of the listing), and
//! in the long-session profile those switches cost more than SQLite's work: 27 µs of CPU per
//! small read through the pool against 2 µs on the calling thread (`examples/hop_cost.rs`).
//! So on SQLite the reads built with [`Store::read`] run here, on a connection of
//! [`DirectPool`] (rusqlite, the same SQLite library as sqlx's), synchronously; on
//! PostgreSQL they go through the sqlx pool as before. The SQL is the same text for both
//! (`$n` placeholders, bound by name), and rows come back as [`Row`], read with `get` as an
//! sqlx row is, so one decoding function serves rows of either kind.
//!
//! Invariants: only reads go here (the connections are `query_only`; writes stay with the
//! writer). A read sees what was committed before it started (WAL), as a read through the
//! pool does. A read here holds its thread for its whole run, so it is used only for
//! statements bounded in their work (an index look-up, a folder's rows); long scans stay on
//! the pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Row as _;

use crate::{Error, Result, Store};

/// Connections kept open when idle; more are opened while more threads read at once.
const IDLE_MAX: usize = 16;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// Read connections to one SQLite file.
pub(crate) struct DirectPool {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl DirectPool {
    pub(crate) fn new(path: &Path) -> DirectPool {
        DirectPool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    /// Runs `sql` with `args` and returns every row.
    fn rows(&self, sql: &str, args: &[Arg]) -> Result<Vec<Row>> {
        tracing::trace!(target: "storage::direct", sql, "read");
        let taken = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let conn = match taken {
            Some(conn) => conn,
            None => self.open().map_err(direct_error)?,
        };
        let result = run_direct(&conn, sql, args);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_MAX {
                idle.push(conn);
            }
        }
        Ok(result?.0)
    }
}

pub(crate) fn direct_error(e: rusqlite::Error) -> Error {
    Error::Io(std::io::Error::other(format!("sqlite: {e}")))
}

/// Runs `sql` with `args` on `conn`: the rows it returns and the rows it changed.
pub(crate) fn run_direct(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg],
) -> Result<(Vec<Row>, u64)> {
    run(conn, sql, args).map_err(direct_error)
}

fn run(conn: &rusqlite::Connection, sql: &str, args: &[Arg]) -> rusqlite::Result<(Vec<Row>, u64)> {
    let mut statement = conn.prepare_cached(sql)?;
    // `$n` is a named parameter to SQLite, numbered in order of first appearance: bind by
    // name, so `$2` before `$1` or `$1` twice still gets the n-th argument.
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or("");
        let n: usize = name
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=args.len()).contains(n))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_string()))?;
        statement.raw_bind_parameter(index, &args[n - 1])?;
    }
    let names: Arc<[String]> = statement
        .column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let width = names.len();
    let mut rows = statement.raw_query();
    let mut out = vec![];
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            use rusqlite::types::ValueRef;
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Real(x) => Value::Real(x),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(Row::Direct(DirectRow {
            names: names.clone(),
            values,
        }));
    }
    Ok((out, conn.changes()))
}

/// The same statement for the sqlx pool or an sqlx transaction.
pub(crate) fn sqlx_query(
    sql: String,
    args: Vec<Arg>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for arg in args {
        query = match arg {
            Arg::Null(Kind::Int) => query.bind(None::<i64>),
            Arg::Null(Kind::Real) => query.bind(None::<f64>),
            Arg::Null(Kind::Text) => query.bind(None::<String>),
            Arg::Null(Kind::Blob) => query.bind(None::<Vec<u8>>),
            Arg::Int(n) => query.bind(n),
            Arg::Real(x) => query.bind(x),
            Arg::Text(t) => query.bind(t),
            Arg::Blob(b) => query.bind(b),
        };
    }
    query
}

/// A bound argument. A NULL keeps its type: PostgreSQL is told the type of each parameter,
/// and a NULL text bound as a NULL integer is refused.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Null(_) => ValueRef::Null,
            Arg::Int(n) => ValueRef::Integer(*n),
            Arg::Real(x) => ValueRef::Real(*x),
            Arg::Text(t) => ValueRef::Text(t.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// The type of a NULL argument.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Int,
    Real,
    Text,
    Blob,
}

/// A Rust type bound as an argument, and the type its NULL takes.
pub(crate) trait Typed: Into<Arg> {
    const KIND: Kind;
}

/// `From<type> for Arg` and its [`Typed`] kind, for each `type => Variant(conversion)`.
macro_rules! arguments {
    ($($ty:ty => $variant:ident($kind:ident, $convert:expr)),* $(,)?) => {$(
        impl From<$ty> for Arg {
            fn from(value: $ty) -> Arg {
                Arg::$variant($convert(value))
            }
        }
        impl Typed for $ty {
            const KIND: Kind = Kind::$kind;
        }
    )*};
}

arguments! {
    i64 => Int(Int, |n| n),
    f64 => Real(Real, |x| x),
    String => Text(Text, |t| t),
    &str => Text(Text, str::to_string),
    Vec<u8> => Blob(Blob, |b| b),
}

impl<T: Typed> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Arg {
        v.map_or(Arg::Null(T::KIND), Into::into)
    }
}

/// A value read on the direct path.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

pub(crate) struct DirectRow {
    names: Arc<[String]>,
    values: Vec<Value>,
}

/// A row read through [`Store::read`]: from the pool (PostgreSQL, or a statement given to
/// the pool) or from the direct path.
pub(crate) enum Row {
    Any(sqlx::any::AnyRow),
    Direct(DirectRow),
}

impl From<sqlx::any::AnyRow> for Row {
    fn from(row: sqlx::any::AnyRow) -> Row {
        Row::Any(row)
    }
}

/// A column named or numbered, as sqlx's `get` takes it.
pub(crate) trait ColumnIndex:
    sqlx::ColumnIndex<sqlx::any::AnyRow> + std::fmt::Debug
{
    fn position(&self, names: &[String]) -> Option<usize>;
}

impl ColumnIndex for &str {
    fn position(&self, names: &[String]) -> Option<usize> {
        names.iter().position(|n| n == self)
    }
}

impl ColumnIndex for usize {
    fn position(&self, names: &[String]) -> Option<usize> {
        (*self < names.len()).then_some(*self)
    }
}

/// A Rust type a column decodes to, on both paths. The direct path converts as the sqlx
/// SQLite driver does for these types (integers to `bool`, text or blob to bytes) and fails
/// on NULL unless the type is an `Option`.
pub(crate) trait Column:
    Sized + for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>
{
    fn from_value(value: &Value) -> Option<Self>;
}

impl Column for i64 {
    fn from_value(value: &Value) -> Option<i64> {
        match value {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}
impl Column for i32 {
    fn from_value(value: &Value) -> Option<i32> {
        i64::from_value(value).and_then(|n| i32::try_from(n).ok())
    }
}
impl Column for bool {
    fn from_value(value: &Value) -> Option<bool> {
        i64::from_value(value).map(|n| n != 0)
    }
}
impl Column for f64 {
    fn from_value(value: &Value) -> Option<f64> {
        match value {
            Value::Real(x) => Some(*x),
            Value::Int(n) => Some(*n as f64),
            _ => None,
        }
    }
}
impl Column for String {
    fn from_value(value: &Value) -> Option<String> {
        match value {
            Value::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}
impl Column for Vec<u8> {
    fn from_value(value: &Value) -> Option<Vec<u8>> {
        match value {
            Value::Blob(b) => Some(b.clone()),
            Value::Text(t) => Some(t.as_bytes().to_vec()),
            _ => None,
        }
    }
}
impl<T: Column> Column for Option<T>
where
    Option<T>: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    fn from_value(value: &Value) -> Option<Option<T>> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl Row {
    /// The column's value; panics when it is missing or of another type, as sqlx's `get`.
    pub(crate) fn get<T: Column, I: ColumnIndex>(&self, index: I) -> T {
        match self.try_get(index) {
            Ok(value) => value,
            Err(e) => panic!("{e}"),
        }
    }

    pub(crate) fn try_get<T: Column, I: ColumnIndex>(&self, index: I) -> Result<T> {
        match self {
            Row::Any(row) => Ok(row.try_get(index)?),
            Row::Direct(row) => index
                .position(&row.names)
                .and_then(|i| T::from_value(&row.values[i]))
                .ok_or_else(|| {
                    Error::Io(std::io::Error::other(format!(
                        "column {index:?}: missing or not a {}",
                        std::any::type_name::<T>()
                    )))
                }),
        }
    }
}

/// Reading a column by name or number, from a row of either kind: decoding functions take
/// `&impl ReadRow` and serve rows read through the pool, in a transaction or on the direct
/// path. (`column`, not `get`: sqlx's `Row::get` is in scope beside it in most modules.)
pub(crate) trait ReadRow {
    fn column<T: Column, I: ColumnIndex>(&self, index: I) -> T;
}

impl ReadRow for sqlx::any::AnyRow {
    fn column<T: Column, I: ColumnIndex>(&self, index: I) -> T {
        sqlx::Row::get(self, index)
    }
}

impl ReadRow for Row {
    fn column<T: Column, I: ColumnIndex>(&self, index: I) -> T {
        Row::get(self, index)
    }
}

/// A read being built: [`Store::read`], then `bind` each `$n` in order, then fetch.
pub(crate) struct Read<'a> {
    store: &'a Store,
    sql: String,
    args: Vec<Arg>,
}

impl Store {
    /// A read of `sql`, on the calling thread on SQLite (see the module).
    pub(crate) fn read(&self, sql: impl Into<String>) -> Read<'_> {
        Read {
            store: self,
            sql: sql.into(),
            args: vec![],
        }
    }
}

impl Read<'_> {
    pub(crate) fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    pub(crate) async fn fetch_all(self) -> Result<Vec<Row>> {
        if let Some(direct) = &self.store.direct {
            return direct.rows(&self.sql, &self.args);
        }
        let rows = sqlx_query(self.sql, self.args)
            .fetch_all(&self.store.pool)
            .await?;
        Ok(rows.into_iter().map(Row::Any).collect())
    }

    pub(crate) async fn fetch_optional(self) -> Result<Option<Row>> {
        Ok(self.fetch_all().await?.into_iter().next())
    }

    pub(crate) async fn fetch_one(self) -> Result<Row> {
        first(self.fetch_all().await?)
    }

    /// The first column of every row.
    pub(crate) async fn fetch_column<T: Column>(self) -> Result<Vec<T>> {
        let rows = self.fetch_all().await?;
        rows.iter().map(|row| row.try_get(0usize)).collect()
    }

    /// The first column of the one row.
    pub(crate) async fn fetch_scalar<T: Column>(self) -> Result<T> {
        self.fetch_one().await?.try_get(0usize)
    }

    /// The first column of the first row, if there is one.
    pub(crate) async fn fetch_optional_scalar<T: Column>(self) -> Result<Option<T>> {
        self.fetch_optional()
            .await?
            .map(|row| row.try_get(0usize))
            .transpose()
    }
}

/// The first of `rows`; none is sqlx's `RowNotFound`, as `fetch_one` answers.
pub(crate) fn first(rows: Vec<Row>) -> Result<Row> {
    rows.into_iter()
        .next()
        .ok_or_else(|| Error::from(sqlx::Error::RowNotFound))
}

#[cfg(test)]
mod tests {
    /// Placeholders bound by name: `$2` before `$1` and `$1` twice take their own argument.
    #[tokio::test]
    async fn placeholders_bind_by_number_not_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::sqlite_test_store(&dir).await;
        assert!(store.direct.is_some());
        let row = store
            .read("SELECT $2 || '-' || $1 AS a, $1 + 0 AS b, $3 AS c")
            .bind(7i64)
            .bind("x")
            .bind(None::<i64>)
            .fetch_one()
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>("a"), "x-7");
        assert_eq!(row.get::<i64, _>("b"), 7);
        assert_eq!(row.get::<Option<i64>, _>("c"), None);
        assert!(row.try_get::<i64, _>("c").is_err(), "NULL is not an i64");
        assert!(
            row.try_get::<String, _>("b").is_err(),
            "an integer is not text"
        );
        assert!(row.try_get::<i64, _>("nope").is_err());
        // A statement naming an argument not given is refused, not bound to NULL.
        assert!(store
            .read("SELECT $2")
            .bind(1i64)
            .fetch_all()
            .await
            .is_err());
        // The connection is read-only.
        assert!(store
            .read("INSERT INTO domains (name, naming_rule, created_at) VALUES ('a.vn', 'free', 0)")
            .fetch_all()
            .await
            .is_err());
    }
}
