//! `govmail directory import|export`: the electronic directory as CSV (RFC 4180).
//!
//! An import is planned first — every row checked, every address chosen with the numbering
//! the real run uses (names repeated in the file get 2, 3, ... as they would one by one) —
//! and every problem is reported with its line and column before anything is written. The
//! real run then hashes the initial passwords on every core and adds all people, with their
//! `user.hire` events, in one transaction: all rows or none.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde::Serialize;
use storage::{BulkHire, NewPerson, Store};

use crate::config::Config;
use crate::output::Output;
use crate::text::csv_field;

#[derive(Subcommand, Debug)]
pub enum DirectoryCmd {
    /// Bulk hire from CSV with the columns name,unit,position,phone (a header line is allowed):
    /// all rows or none; problems name their line and column.
    Import {
        file: std::path::PathBuf,
        /// Check every row and print what the import would do, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Decision number recorded for every hire.
        #[arg(long = "ref", default_value = "import")]
        doc_ref: String,
    },
    /// Every person as CSV: address,name,unit,position,phone,status (`--json`: a JSON array).
    Export,
}

/// The CSV columns of an import, in order.
const COLUMNS: [&str; 4] = ["name", "unit", "position", "phone"];

/// One CSV record: its first line, and each field with the line and column (1-based
/// character) where it starts.
#[derive(Debug, PartialEq)]
struct Record {
    line: usize,
    fields: Vec<Field>,
}

#[derive(Debug, PartialEq)]
struct Field {
    text: String,
    line: usize,
    column: usize,
}

/// One problem of the file: where, and what.
#[derive(Debug, PartialEq)]
struct Problem {
    line: usize,
    column: usize,
    message: String,
}

/// Splits CSV text into records (RFC 4180: quoted fields may hold commas, doubled quotes and
/// line breaks; CRLF or LF line ends; blank lines skipped). An unterminated quote is a
/// problem at the quote.
fn parse_csv(text: &str) -> Result<Vec<Record>, Problem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = vec![];
    let mut fields: Vec<Field> = vec![];
    let mut field = String::new();
    let (mut line, mut column) = (1usize, 1usize);
    let mut start = (1usize, 1usize);
    let mut record_line = 1usize;
    let mut quoted: Option<(usize, usize)> = None;
    let mut chars = text.chars().peekable();
    let end_field = |fields: &mut Vec<Field>, field: &mut String, start: (usize, usize)| {
        fields.push(Field {
            text: std::mem::take(field).trim().to_string(),
            line: start.0,
            column: start.1,
        });
    };
    while let Some(c) = chars.next() {
        let here = (line, column);
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
        match (c, quoted) {
            ('"', Some(_)) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
                column += 1;
            }
            ('"', Some(_)) => quoted = None,
            ('"', None) => quoted = Some(here),
            (',', None) => {
                end_field(&mut fields, &mut field, start);
                start = (line, column);
            }
            ('\r', None) if chars.peek() == Some(&'\n') => {}
            ('\n', None) => {
                end_field(&mut fields, &mut field, start);
                let blank = fields.len() == 1 && fields[0].text.is_empty();
                if !blank {
                    records.push(Record {
                        line: record_line,
                        fields: std::mem::take(&mut fields),
                    });
                }
                fields.clear();
                start = (line, column);
                record_line = line;
            }
            (c, _) => field.push(c),
        }
    }
    if let Some((line, column)) = quoted {
        return Err(Problem {
            line,
            column,
            message: "this quote is never closed".into(),
        });
    }
    end_field(&mut fields, &mut field, start);
    if !(fields.len() == 1 && fields[0].text.is_empty()) {
        records.push(Record {
            line: record_line,
            fields,
        });
    }
    Ok(records)
}

/// One row as it will be hired.
#[derive(Debug, Clone, Serialize)]
struct Planned {
    line: usize,
    name: String,
    unit: String,
    position: String,
    phone: String,
    address: String,
}

/// Checks every row and chooses every address (the domain's rule, skipping addresses taken
/// in the database and by earlier rows of the file). Err: every problem found.
async fn plan(
    store: &Store,
    records: &[Record],
) -> anyhow::Result<Result<Vec<Planned>, Vec<Problem>>> {
    let mut problems = vec![];
    let mut planned = vec![];
    let mut units: HashMap<String, Option<(storage::Unit, policy::naming::NamingRule)>> =
        HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for (i, record) in records.iter().enumerate() {
        let get = |n: usize| record.fields.get(n).map(|f| f.text.as_str()).unwrap_or("");
        // A header line is allowed as the first record.
        if i == 0 && get(0).eq_ignore_ascii_case("name") && get(1).eq_ignore_ascii_case("unit") {
            continue;
        }
        let problem = |n: usize, message: String| {
            let (line, column) = record
                .fields
                .get(n)
                .map(|f| (f.line, f.column))
                .unwrap_or((record.line, 1));
            Problem {
                line,
                column,
                message: format!(
                    "{} ({}): {message}",
                    COLUMNS.get(n).unwrap_or(&"extra"),
                    n + 1
                ),
            }
        };
        if record.fields.len() > COLUMNS.len() {
            problems.push(problem(
                COLUMNS.len(),
                format!(
                    "{} fields, the columns are {}",
                    record.fields.len(),
                    COLUMNS.join(",")
                ),
            ));
            continue;
        }
        let (name, unit_abbrev) = (get(0), get(1));
        if name.is_empty() {
            problems.push(problem(0, "the name is empty".into()));
        }
        if unit_abbrev.is_empty() {
            problems.push(problem(1, "the unit is empty".into()));
            continue;
        }
        let key = unit_abbrev.to_uppercase();
        if !units.contains_key(&key) {
            let found = match store.unit(unit_abbrev).await {
                Ok(unit) => {
                    let domain = store.domain(&unit.domain).await?;
                    let rule = policy::naming::NamingRule::parse(&domain.naming_rule)
                        .map_err(anyhow::Error::msg)?;
                    Some((unit, rule))
                }
                Err(storage::Error::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            units.insert(key.clone(), found);
        }
        let Some((unit, rule)) = &units[&key] else {
            problems.push(problem(
                1,
                format!("no unit {unit_abbrev:?} (govmail unit list)"),
            ));
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let Some(stem) = rule.person_local(name, &unit.abbrev) else {
            problems.push(problem(
                1,
                format!(
                    "domain {} uses free naming (BD-5): add this person with `govmail user add --address`",
                    unit.domain
                ),
            ));
            continue;
        };
        let mut address = None;
        for local in policy::naming::candidates(&stem).take(1000) {
            let candidate = format!("{local}@{}", unit.domain);
            if taken.contains(&candidate) {
                continue;
            }
            if matches!(store.resolve(&candidate).await?, storage::Resolved::Unknown) {
                address = Some(candidate);
                break;
            }
        }
        let Some(address) = address else {
            problems.push(problem(0, format!("no free address for {name:?}")));
            continue;
        };
        taken.insert(address.clone());
        planned.push(Planned {
            line: record.line,
            name: name.to_string(),
            unit: unit.abbrev.clone(),
            position: get(2).to_string(),
            phone: get(3).to_string(),
            address,
        });
    }
    Ok(if problems.is_empty() {
        Ok(planned)
    } else {
        Err(problems)
    })
}

/// Argon2id hashes of the initial passwords ([`policy::password::hash_initial`]), on every
/// core.
async fn hash_all(passwords: Vec<String>) -> anyhow::Result<Vec<String>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let total = passwords.len();
    let chunk = total.div_ceil(workers).max(1);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = vec![];
    for part in passwords.chunks(chunk) {
        let part = part.to_vec();
        let done = done.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            part.iter()
                .map(|p| {
                    let phc = policy::password::hash_initial(p);
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    phc
                })
                .collect::<Result<Vec<_>, _>>()
        }));
    }
    let mut bar = crate::ops::ProgressBar::new();
    let mut hashes = Vec::with_capacity(total);
    for task in tasks {
        while !task.is_finished() {
            bar.update(
                "hashing",
                done.load(std::sync::atomic::Ordering::Relaxed) as u64,
                total as u64,
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        hashes.extend(task.await.context("hashing passwords")??);
    }
    bar.update("hashing", total as u64, total as u64);
    bar.finish();
    Ok(hashes)
}

#[derive(Serialize)]
struct Row<'a> {
    line: usize,
    name: &'a str,
    unit: &'a str,
    address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_password: Option<&'a str>,
    action: &'a str,
}

async fn import(
    store: &Store,
    config: &Config,
    out: &Output,
    file: &Path,
    dry_run: bool,
    doc_ref: &str,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            bail!(
                "{}:{line}: not UTF-8 text (save the sheet as \"CSV UTF-8\")",
                file.display()
            );
        }
    };
    let records = parse_csv(&text).map_err(|p| {
        anyhow::anyhow!("{}:{}:{}: {}", file.display(), p.line, p.column, p.message)
    })?;
    let planned = match plan(store, &records).await? {
        Ok(planned) => planned,
        Err(problems) => {
            for p in &problems {
                eprintln!("{}:{}:{}: {}", file.display(), p.line, p.column, p.message);
            }
            bail!(
                "{} problem(s) in {}: nothing was imported",
                problems.len(),
                file.display()
            );
        }
    };
    let headers = [
        "LINE",
        "NAME",
        "UNIT",
        "ADDRESS",
        "INITIAL PASSWORD / ACTION",
    ];
    let cells = |r: &Row| {
        vec![
            r.line.to_string(),
            r.name.to_string(),
            r.unit.to_string(),
            r.address.to_string(),
            r.initial_password.unwrap_or(r.action).to_string(),
        ]
    };
    if dry_run {
        let rows: Vec<Row> = planned
            .iter()
            .map(|p| Row {
                line: p.line,
                name: &p.name,
                unit: &p.unit,
                address: &p.address,
                initial_password: None,
                action: "would hire",
            })
            .collect();
        out.table(&headers, &rows, cells);
        return Ok(());
    }
    let passwords: Vec<String> = planned
        .iter()
        .map(|_| policy::password::generate())
        .collect();
    let hashes = hash_all(passwords.clone()).await?;
    let hires: Vec<BulkHire> = planned
        .iter()
        .zip(hashes)
        .map(|(p, phc)| BulkHire {
            person: NewPerson {
                full_name: p.name.clone(),
                address: p.address.clone(),
                unit_abbrev: Some(p.unit.clone()),
                position: p.position.clone(),
                phone: p.phone.clone(),
                password_phc: phc,
                must_change_password: true,
                quota_bytes: config.accounts.default_quota_mb * 1024 * 1024,
            },
            detail: serde_json::json!({"name": p.name, "unit": p.unit, "line": p.line}),
        })
        .collect();
    if let Err(e) = store.hire_all(&hires, "cli", doc_ref).await {
        match e.index {
            Some(i) => bail!(
                "{}:{}: {}: nothing was imported",
                file.display(),
                planned[i].line,
                e.error
            ),
            None => bail!("{}: {}: nothing was imported", file.display(), e.error),
        }
    }
    let rows: Vec<Row> = planned
        .iter()
        .zip(&passwords)
        .map(|(p, password)| Row {
            line: p.line,
            name: &p.name,
            unit: &p.unit,
            address: &p.address,
            initial_password: Some(password),
            action: "hired",
        })
        .collect();
    out.table(&headers, &rows, cells);
    Ok(())
}

pub async fn directory(
    store: &Store,
    config: &Config,
    out: &Output,
    cmd: DirectoryCmd,
) -> anyhow::Result<()> {
    match cmd {
        DirectoryCmd::Import {
            file,
            dry_run,
            doc_ref,
        } => import(store, config, out, &file, dry_run, &doc_ref).await,
        DirectoryCmd::Export => {
            let people = store.list_persons(None).await?;
            if out.json {
                out.table(&[], &people, |_| vec![]);
                return Ok(());
            }
            crate::outln!("address,name,unit,position,phone,status");
            for p in people {
                crate::outln!(
                    "{},{},{},{},{},{}",
                    csv_field(&p.address),
                    csv_field(&p.full_name),
                    csv_field(p.unit.as_deref().unwrap_or("")),
                    csv_field(&p.position),
                    csv_field(&p.phone),
                    p.status.as_str()
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<(String, usize, usize)>> {
        parse_csv(text)
            .unwrap()
            .into_iter()
            .map(|r| {
                r.fields
                    .into_iter()
                    .map(|f| (f.text, f.line, f.column))
                    .collect()
            })
            .collect()
    }

    /// RFC 4180 2: quoted fields hold commas, doubled quotes and line breaks; each field
    /// keeps the line and column where it starts.
    #[test]
    fn csv_fields_with_positions() {
        assert_eq!(
            fields("\"Nguyễn Văn An\",STTTT,\"Chuyên viên, phòng A\",\r\n\r\nB,\"x\"\"y\"\n"),
            vec![
                vec![
                    ("Nguyễn Văn An".into(), 1, 1),
                    ("STTTT".into(), 1, 17),
                    ("Chuyên viên, phòng A".into(), 1, 23),
                    ("".into(), 1, 46),
                ],
                vec![("B".into(), 3, 1), ("x\"y".into(), 3, 3)],
            ]
        );
        assert_eq!(
            fields("\u{feff}a,\"two\nlines\",c\nd"),
            vec![
                vec![
                    ("a".into(), 1, 1),
                    ("two\nlines".into(), 1, 3),
                    ("c".into(), 2, 8)
                ],
                vec![("d".into(), 3, 1)],
            ]
        );
        assert_eq!(
            parse_csv("a,b\nc,\"open\n").unwrap_err(),
            Problem {
                line: 2,
                column: 3,
                message: "this quote is never closed".into()
            }
        );
    }
}
