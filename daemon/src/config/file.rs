//! The TOML config file: every key one of the declared settings (an
//! unknown key is refused, naming it and the keys there are), each value
//! of its setting's kind, and `[[token]]` tables.

use std::path::Path;

use serde::Deserialize;

use super::{ConfigError, Setting, Settings, Value};
use crate::access::{Role, TokenEntry, tokens};

/// A config file as written: some of the settings, and the tokens.
#[derive(Debug, Default)]
pub struct FileConfig {
    values: Vec<(Setting, Value)>,
    /// `[[token]]` tables, when the file has any.
    tokens: Option<Vec<FileToken>>,
}

/// One `[[token]]` table: a name, a role and the token's SHA-256 (hex);
/// `truced token new` prints them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileToken {
    pub name: String,
    pub role: String,
    pub sha256: String,
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses a config file's text: its syntax, its keys and the kinds of
    /// their values (the values themselves are checked by [`Self::apply`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| describe(text, &e))?;
        let mut file = Self::default();
        for (key, value) in table {
            if key == "token" {
                let tokens = value
                    .try_into::<Vec<FileToken>>()
                    .map_err(|e| located(text, &key, e.message()))?;
                file.tokens = Some(tokens);
                continue;
            }
            let Some(setting) = Setting::ALL.iter().find(|s| s.key() == key) else {
                return Err(located(text, &key, &unknown(&key)));
            };
            let value =
                Value::from_toml(setting.kind(), &value).map_err(|m| located(text, &key, &m))?;
            file.values.push((*setting, value));
        }
        Ok(file)
    }

    /// Applies the file's values over `settings`.
    pub fn apply(&self, path: &Path, settings: &mut Settings) -> Result<(), ConfigError> {
        let bad = |key: &'static str, message: String| ConfigError::Value {
            path: path.to_owned(),
            key,
            message,
        };
        for (setting, value) in &self.values {
            setting
                .set(settings, value)
                .map_err(|m| bad(setting.key(), m))?;
        }
        if let Some(list) = &self.tokens {
            settings.tokens = token_entries(list, &bad)?;
        }
        Ok(())
    }
}

/// The `[[token]]` tables checked: known roles, hashes, valid names, no
/// name or hash twice.
fn token_entries(
    list: &[FileToken],
    bad: &dyn Fn(&'static str, String) -> ConfigError,
) -> Result<Vec<TokenEntry>, ConfigError> {
    let mut entries: Vec<TokenEntry> = Vec::with_capacity(list.len());
    for t in list {
        let entry = TokenEntry {
            name: t.name.clone(),
            role: t.role.parse::<Role>().map_err(|m| bad("token.role", m))?,
            sha256: tokens::parse_hash(&t.sha256).map_err(|m| bad("token.sha256", m))?,
        };
        tokens::check_name(&entry.name).map_err(|m| bad("token.name", m))?;
        if entries.iter().any(|o| o.name == entry.name) {
            return Err(bad(
                "token.name",
                format!("{:?} is listed twice", entry.name),
            ));
        }
        if entries.iter().any(|o| o.sha256 == entry.sha256) {
            return Err(bad(
                "token.sha256",
                format!("token {:?} has the hash of another token", entry.name),
            ));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// An unknown key's message, with the keys there are.
fn unknown(key: &str) -> String {
    let known: Vec<String> = Setting::ALL
        .iter()
        .map(|s| format!("`{}`", s.key()))
        .chain(["`token`".to_owned()])
        .collect();
    format!(
        "unknown field `{key}`, expected one of {}",
        known.join(", ")
    )
}

/// A message about a top-level key, with the line it is on.
fn located(text: &str, key: &str, message: &str) -> String {
    let line = text.lines().position(|l| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    });
    match line {
        Some(i) => format!("line {}: {key}: {message}", i + 1),
        None => format!("{key}: {message}"),
    }
}

/// A parse error with its line and, where there is one, the key.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => {
            format!("line {line_no}: {}: {}", key.trim(), e.message())
        }
        _ => format!("line {line_no}: {}", e.message()),
    }
}
