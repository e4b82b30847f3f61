//! Reading the file, applying `--set section.key=value` overrides, and deserialising with the
//! key path of any mistake.

use std::path::Path;

use super::{err, Config, ConfigError, ConfigErrors};

/// Parses a `--set` value: TOML syntax when it parses (numbers, booleans, arrays), else a string.
fn parse_override_value(text: &str) -> toml::Value {
    let wrapped = format!("v = {text}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or(toml::Value::String(text.to_string())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

/// Applies one `section.key=value` override to the raw table.
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (path, value) = assignment
        .split_once('=')
        .ok_or_else(|| err(assignment, "--set needs section.key=value"))?;
    let path = path.trim();
    let parts: Vec<&str> = path.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(err(path, "--set needs section.key=value"));
    }
    let mut current = table;
    for part in &parts[..parts.len() - 1] {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| err(path, format!("{part} is not a section")))?;
    }
    current.insert(
        parts[parts.len() - 1].to_string(),
        parse_override_value(value.trim()),
    );
    Ok(())
}

/// Removes what a deserialisation error points at (the key, or the unknown field it names), so
/// the rest can be checked too. False when nothing could be removed.
fn remove_bad_key(
    table: &mut toml::Table,
    error: &serde_path_to_error::Error<toml::de::Error>,
) -> bool {
    let mut keys: Vec<String> = vec![];
    for segment in error.path().iter() {
        match segment {
            serde_path_to_error::Segment::Map { key } => keys.push(key.clone()),
            _ => break,
        }
    }
    let message = error.inner().message();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // The path usually ends in the unknown field already.
        if let Some((field, _)) = rest.split_once('`') {
            if keys.last().map(String::as_str) != Some(field) {
                keys.push(field.to_string());
            }
        }
    }
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut current = table;
    for key in parents {
        match current.get_mut(key).and_then(toml::Value::as_table_mut) {
            Some(next) => current = next,
            None => return false,
        }
    }
    current.remove(last).is_some()
}

impl Config {
    /// Loads `path` (or the built-in dev defaults), applies overrides, validates. Every mistake
    /// found is in the error, one line each.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigErrors> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("--config", format!("{}: {e}", path.display())))?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    let message = e.message().to_string();
                    let line = e
                        .span()
                        .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                        .unwrap_or(0);
                    err(&format!("{}:{line}", path.display()), message)
                })?
            }
            None => toml::Table::new(),
        };
        let mut problems = vec![];
        for assignment in overrides {
            if let Err(e) = apply_override(&mut table, assignment) {
                problems.push(e);
            }
        }
        // Each bad key is reported and removed, then the rest is read again (bounded by the
        // number of keys), so one run names every mistake.
        let config = loop {
            let deserializer = toml::Value::Table(table.clone());
            match serde_path_to_error::deserialize::<_, Config>(deserializer) {
                Ok(config) => break Some(config),
                Err(e) => {
                    problems.push(err(&e.path().to_string(), e.inner().message()));
                    if !remove_bad_key(&mut table, &e) {
                        break None;
                    }
                }
            }
        };
        if let Some(config) = &config {
            problems.extend(config.validate());
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigErrors(problems)),
        }
    }
}
