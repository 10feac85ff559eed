//! The settings as `truced`'s flags, built from the declarations: one
//! `clap::Arg` per setting (`--` and the key with dashes, reading
//! `TRUCE_` and the key in capitals), in three groups (the store, the
//! checkpoint key, serving) that each command flattens as it needs them.
//! A flag's text goes through the same `parse` as the file's value, when
//! clap reads it, so a bad one is a usage error naming the flag.

use std::{marker::PhantomData, path::PathBuf};

use clap::{
    Arg, ArgAction, ArgMatches, Command,
    builder::{PossibleValuesParser, TypedValueParser, ValueParser},
};

use super::{ConfigError, Group, Kind, Setting, Settings, Value};

/// A group of flags, as a type (for `#[command(flatten)]`).
pub trait FlagGroup: Clone + Default + std::fmt::Debug + Send + Sync + 'static {
    const GROUP: Group;
}

/// The store group's marker.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreGroup;
/// The checkpoint key group's marker.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyGroup;
/// The serving group's marker.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeGroup;

impl FlagGroup for StoreGroup {
    const GROUP: Group = Group::Store;
}
impl FlagGroup for KeyGroup {
    const GROUP: Group = Group::Key;
}
impl FlagGroup for ServeGroup {
    const GROUP: Group = Group::Serve;
}

/// The config file, the data dir and how the store is opened: every
/// command that reads settings takes these.
pub type StoreFlags = Flags<StoreGroup>;
/// The checkpoint signing key: serving, `key show`, `key new`, `backup`.
pub type KeyFlags = Flags<KeyGroup>;
/// What only a serving daemon uses.
pub type ServeFlags = Flags<ServeGroup>;

/// The settings of one group given on a command line (or, at the top
/// level, in the environment), in the order they are applied.
#[derive(Debug, Clone, Default)]
pub struct Flags<G> {
    /// `--config` (the store group only).
    config: Option<PathBuf>,
    given: Vec<(Setting, Value)>,
    group: PhantomData<G>,
}

impl<G: FlagGroup> Flags<G> {
    /// The config file named (`--config`, `TRUCE_CONFIG`).
    pub fn config(&self) -> Option<&PathBuf> {
        self.config.as_ref()
    }

    /// Sets what was given over `settings`.
    pub fn apply(&self, settings: &mut Settings) -> Result<(), ConfigError> {
        for (setting, value) in &self.given {
            setting
                .set(settings, value)
                .map_err(|message| ConfigError::Flag {
                    flag: setting.flag(),
                    message,
                })?;
        }
        Ok(())
    }
}

impl<G: FlagGroup> clap::Args for Flags<G> {
    fn augment_args(cmd: Command) -> Command {
        let mut cmd = cmd.next_help_heading(G::GROUP.heading());
        if G::GROUP == Group::Store {
            cmd = cmd.arg(
                Arg::new("config")
                    .long("config")
                    .env("TRUCE_CONFIG")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("TOML config file (see deploy/truced.example.toml)"),
            );
        }
        cmd.args(
            Setting::ALL
                .iter()
                .filter(|s| s.group() == G::GROUP)
                .map(|s| arg(*s)),
        )
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl<G: FlagGroup> clap::FromArgMatches for Flags<G> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        let wrong = |e: clap::parser::MatchesError| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, e.to_string())
        };
        if G::GROUP == Group::Store
            && let Some(path) = matches.try_get_one::<PathBuf>("config").map_err(wrong)?
        {
            self.config = Some(path.clone());
        }
        for setting in Setting::ALL.iter().filter(|s| s.group() == G::GROUP) {
            let value = if setting.kind() == Kind::Bool {
                // A flag without a value: given, it is true; absent, the
                // file's value stands.
                let set = matches.try_get_one::<bool>(setting.key()).map_err(wrong)?;
                set.copied().unwrap_or(false).then_some(Value::Bool(true))
            } else {
                matches
                    .try_get_one::<Value>(setting.key())
                    .map_err(wrong)?
                    .cloned()
            };
            if let Some(value) = value {
                self.given.push((*setting, value));
            }
        }
        Ok(())
    }
}

/// A setting's flag, reading its environment variable.
pub fn arg(setting: Setting) -> Arg {
    let mut help = capitalised(setting.help());
    let default = setting.get(&Settings::default()).to_text();
    if setting.kind() != Kind::Bool && !default.is_empty() {
        help.push_str(&format!(" [default: {default}]"));
    }
    let arg = Arg::new(setting.key())
        .long(setting.flag())
        .env(setting.env())
        .help(help);
    if setting.kind() == Kind::Bool {
        return arg.action(ArgAction::SetTrue);
    }
    let arg = arg.value_name(setting.value_name());
    if setting.choices().is_empty() {
        arg.value_parser(ValueParser::new(move |text: &str| check(setting, text)))
    } else {
        arg.value_parser(
            PossibleValuesParser::new(setting.choices())
                .try_map(move |text: String| check(setting, &text)),
        )
    }
}

/// A flag's text as a value of its setting, checked as the file's would be.
fn check(setting: Setting, text: &str) -> Result<Value, String> {
    let value = Value::parse(setting.kind(), text)?;
    setting.set(&mut Settings::default(), &value)?;
    Ok(value)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
