//! Reading the file, applying `--set section.key=value` overrides, and deserialising with the
//! key path of any mistake.

use std::path::Path;

use super::{err, Config, ConfigError};

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

impl Config {
    /// Loads `path` (or the built-in dev defaults), applies overrides, validates.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigError> {
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
        for assignment in overrides {
            apply_override(&mut table, assignment)?;
        }
        let deserializer = toml::Value::Table(table);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            err(&key, e.inner().message())
        })?;
        config.validate()?;
        Ok(config)
    }
}
