//! Statements inside a write transaction, on either kind of connection.
//!
//! The group-commit writer (`writer`) runs the hot IMAP writes (STORE, EXPUNGE, the \Recent
//! claim, audit events) through [`Conn`]: on SQLite a rusqlite connection on the writer's own
//! thread, so a STORE's five statements are five calls instead of ten thread switches to
//! sqlx's connection thread (see `direct`); on PostgreSQL, and where a caller already holds an
//! sqlx transaction, the sqlx transaction. The SQL is the same text for both (`$n`
//! placeholders bound by name, rows read as [`Row`]).
//!
//! Invariant: a [`Conn::Direct`] is always inside a transaction the writer began (`BEGIN
//! IMMEDIATE`), and the writer holds the sqlx write connection meanwhile, so no other write
//! of this process runs between.

use crate::direct::{run_direct, Arg, Column, Row};
use crate::{Result, Tx};

/// Where a write's statements go.
pub(crate) enum Conn<'c> {
    Sqlx(&'c mut Tx),
    Direct(&'c mut rusqlite::Connection),
}

impl Conn<'_> {
    /// Whether the statements go to PostgreSQL (SQL that differs between the engines).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Conn::Sqlx(tx) if tx.backend_name() == "PostgreSQL")
    }
}

/// A statement being built: [`stmt`], then `bind` each `$n` in order, then run on a [`Conn`].
pub(crate) struct Stmt {
    sql: String,
    args: Vec<Arg>,
}

pub(crate) fn stmt(sql: impl Into<String>) -> Stmt {
    Stmt {
        sql: sql.into(),
        args: vec![],
    }
}

impl Stmt {
    pub(crate) fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Every row the statement returns (`RETURNING` included).
    pub(crate) async fn fetch_all(self, conn: &mut Conn<'_>) -> Result<Vec<Row>> {
        match conn {
            Conn::Direct(c) => Ok(run_direct(c, &self.sql, &self.args)?.0),
            Conn::Sqlx(tx) => {
                let rows = crate::direct::sqlx_query(self.sql, self.args)
                    .fetch_all(&mut ***tx)
                    .await?;
                Ok(rows.into_iter().map(Row::Any).collect())
            }
        }
    }

    /// Runs the statement; the number of rows it changed.
    pub(crate) async fn execute(self, conn: &mut Conn<'_>) -> Result<u64> {
        match conn {
            Conn::Direct(c) => Ok(run_direct(c, &self.sql, &self.args)?.1),
            Conn::Sqlx(tx) => Ok(crate::direct::sqlx_query(self.sql, self.args)
                .execute(&mut ***tx)
                .await?
                .rows_affected()),
        }
    }

    pub(crate) async fn fetch_one(self, conn: &mut Conn<'_>) -> Result<Row> {
        crate::direct::first(self.fetch_all(conn).await?)
    }

    /// The first column of the one row.
    pub(crate) async fn fetch_scalar<T: Column>(self, conn: &mut Conn<'_>) -> Result<T> {
        self.fetch_one(conn).await?.try_get(0usize)
    }
}
