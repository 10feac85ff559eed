//! A setting's value as the sources give it, before it becomes a field of
//! [`Settings`](super::Settings): a string, a whole number or a boolean.
//! Flags and environment variables give text ([`Value::parse`]), the
//! config file TOML values ([`Value::from_toml`]); both end here, so one
//! `parse` per setting serves all of them.

/// The type of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Str => "a string",
            Self::Int => "a whole number",
            Self::Bool => "true or false",
        }
    }
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(u64),
    Bool(bool),
}

impl Value {
    /// A flag's or environment variable's text as a value of `kind`.
    pub fn parse(kind: Kind, text: &str) -> Result<Self, String> {
        match kind {
            Kind::Str => Ok(Self::Str(text.to_owned())),
            Kind::Int => text
                .parse()
                .map(Self::Int)
                .map_err(|_| format!("{text:?} is not {}", kind.name())),
            Kind::Bool => text
                .parse()
                .map(Self::Bool)
                .map_err(|_| format!("{text:?} is not {}", kind.name())),
        }
    }

    /// A config file's value as a value of `kind`.
    pub fn from_toml(kind: Kind, value: &toml::Value) -> Result<Self, String> {
        match (kind, value) {
            (Kind::Str, toml::Value::String(s)) => Ok(Self::Str(s.clone())),
            (Kind::Int, toml::Value::Integer(i)) => u64::try_from(*i)
                .map(Self::Int)
                .map_err(|_| format!("invalid value: integer `{i}`, expected {}", kind.name())),
            (Kind::Bool, toml::Value::Boolean(b)) => Ok(Self::Bool(*b)),
            (kind, other) => Err(format!(
                "invalid type: {} `{other}`, expected {}",
                other.type_str(),
                kind.name()
            )),
        }
    }

    /// As it is written in a config file (`truced config`).
    pub fn to_toml(&self) -> String {
        match self {
            Self::Str(s) => format!("{s:?}"),
            Self::Int(i) => i.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }

    /// As a flag takes it (`--help`'s defaults).
    pub fn to_text(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            other => other.to_toml(),
        }
    }
}

/// A Rust type a value of one kind converts to.
pub trait FromValue: Sized {
    const KIND: Kind;
    fn from_value(value: &Value) -> Result<Self, String>;
}

fn wrong(kind: Kind, value: &Value) -> String {
    format!("{} is not {}", value.to_toml(), kind.name())
}

impl FromValue for String {
    const KIND: Kind = Kind::Str;
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Str(s) => Ok(s.clone()),
            other => Err(wrong(Self::KIND, other)),
        }
    }
}

impl FromValue for u64 {
    const KIND: Kind = Kind::Int;
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int(i) => Ok(*i),
            other => Err(wrong(Self::KIND, other)),
        }
    }
}

impl FromValue for bool {
    const KIND: Kind = Kind::Bool;
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(b) => Ok(*b),
            other => Err(wrong(Self::KIND, other)),
        }
    }
}
