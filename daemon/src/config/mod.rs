//! The daemon's settings: each declared once (`table.rs`), and from that
//! declaration its flag and environment variable (`flags.rs`), its key in
//! the TOML config file (`file.rs`), its default, its help and its line
//! in `truced config` ([`to_toml`]). Precedence: flags > `TRUCE_*`
//! environment variables > the config file (`--config`) > defaults.
//! `deploy/truced.example.toml` must list the same settings with their
//! defaults, which a test checks. Each component takes its own options
//! from [`Settings`] (`store_options`, `access_options`), so none of them
//! imports this module.

mod file;
mod flags;
mod table;
mod value;

use std::{path::PathBuf, time::Duration};

pub use file::{FileConfig, FileToken};
pub use flags::{
    FlagGroup, Flags, KeyFlags, KeyGroup, ServeFlags, ServeGroup, StoreFlags, StoreGroup,
};
pub use table::{DEFAULT_HTTP_LISTEN, HttpListen, Setting, Settings};
pub use value::{Kind, Value};

/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./truce-data";
/// Default sled page cache.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// The largest request message accepted (tonic answers OUT_OF_RANGE past
/// it). Entries are capped at 64 KiB, so this leaves room for framing and
/// for reads' small requests.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Requests per second per token (and for all anonymous callers together).
pub const DEFAULT_RATE_LIMIT_PER_SEC: u32 = 20_000;
/// Requests a caller may make at once before the rate applies.
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 40_000;
/// Concurrent HTTP/2 streams (calls) per connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Deadline of a unary call.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes buffered toward clients, all streams together.
pub const DEFAULT_STREAM_BUFFER_BYTES: usize = 64 * 1024 * 1024;
/// How long a stream may wait for its client to read.
pub const DEFAULT_STREAM_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Envelopes a WriteStream may have in flight.
pub const DEFAULT_STREAM_WRITE_WINDOW: usize = 1024;
/// Bytes of envelopes in flight, all WriteStreams together.
pub const DEFAULT_STREAM_WRITE_BUFFER_BYTES: usize = 64 * 1024 * 1024;
/// How long a new connection has to answer the server's opening.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may send nothing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Between HTTP/2 keepalive pings on a quiet connection.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a keepalive ping may go unanswered.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The groups of flags: each subcommand takes those it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The data dir and how the store is opened (and `--config`).
    Store,
    /// The checkpoint signing key.
    Key,
    /// What only a serving daemon uses.
    Serve,
}

impl Group {
    /// The heading its flags are listed under in `--help`.
    pub const fn heading(self) -> &'static str {
        match self {
            Self::Store => "Store",
            Self::Key => "Checkpoint key",
            Self::Serve => "Serving",
        }
    }
}

impl Setting {
    /// Its flag without the dashes: the key with `-` for `_`.
    pub fn flag(self) -> String {
        self.key().replace('_', "-")
    }

    /// Its environment variable: `TRUCE_` and the key in capitals.
    pub fn env(self) -> String {
        format!("TRUCE_{}", self.key().to_ascii_uppercase())
    }

    /// Its default, as a value.
    pub fn default_value(self) -> Value {
        self.get(&Settings::default())
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
    }

    /// `pretty` or `json`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err(format!("{text:?} is not pretty or json")),
        }
    }
}

impl Settings {
    /// How the store is opened.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            cache_bytes: self.cache_bytes,
            segment_bytes: self.segment_bytes,
        }
    }

    /// What the access layer takes from the settings.
    pub fn access_options(&self) -> crate::access::AccessOptions {
        crate::access::AccessOptions {
            listen: self.listen,
            tls: self.tls_cert.is_some(),
            insecure: self.insecure,
            tokens: self.tokens.clone(),
            rate_limit_per_sec: self.rate_limit_per_sec,
            rate_limit_burst: self.rate_limit_burst,
            request_timeout: self.request_timeout,
        }
    }

    /// The origin line of checkpoints: the setting; else, in cluster mode,
    /// the cluster's (`truce-cluster/` and the prefix: every replica signs
    /// under one origin, so their signatures can share a note); else none
    /// (the key's default name).
    pub fn checkpoint_origin(&self) -> Option<String> {
        self.log_origin.clone().or_else(|| {
            (!self.cluster_etcd.is_empty())
                .then(|| format!("truce-cluster/{}", self.cluster_prefix.trim_matches('/')))
        })
    }

    /// The checkpoint signing key's file: the setting, else in the data dir.
    pub fn signing_key_path(&self) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::checkpoint::KEY_FILE))
    }
}

/// A bad config file or value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {key}: {message}")]
    Value {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    #[error("--{flag}: {message}")]
    Flag { flag: String, message: String },
}

/// The effective settings as TOML, in [`Setting::ALL`] order, then the
/// tokens.
pub fn to_toml(s: &Settings) -> String {
    let settings: String = Setting::ALL
        .iter()
        .map(|st| format!("{} = {}\n", st.key(), st.get(s).to_toml()))
        .collect();
    // Tokens last: a TOML table ends the top-level keys.
    let tokens: String = s
        .tokens
        .iter()
        .map(|t| {
            format!(
                "\n[[token]]\nname = {:?}\nrole = {:?}\nsha256 = {:?}\n",
                t.name,
                t.role.name(),
                hex::encode(t.sha256)
            )
        })
        .collect();
    settings + &tokens
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::access::Role;

    const EXAMPLE: &str = include_str!("../../../deploy/truced.example.toml");

    fn parse(text: &str) -> FileConfig {
        FileConfig::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_example_config_lists_every_setting_with_its_default() {
        let table: toml::Table = toml::from_str(EXAMPLE).expect("the example parses");
        let keys: Vec<&str> = table.keys().map(String::as_str).collect();
        let settings: Vec<&str> = Setting::ALL.iter().map(|s| s.key()).collect();
        let mut a = keys.clone();
        let mut b = settings.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "the example and the declarations list the same keys");
        // Every key is known to the file format.
        let mut settings = Settings::default();
        parse(EXAMPLE)
            .apply(Path::new("example"), &mut settings)
            .expect("valid values");
        // And each value is the default.
        assert_eq!(to_toml(&settings), to_toml(&Settings::default()));
        for s in Setting::ALL {
            let v = Value::from_toml(s.kind(), &table[s.key()]).expect("its kind");
            assert_eq!(v, s.default_value(), "{}", s.key());
            // Its comment names the flag and the environment variable.
            assert!(EXAMPLE.contains(&format!("--{}", s.flag())), "{}", s.key());
            assert!(EXAMPLE.contains(&s.env()), "{}", s.key());
        }
    }

    #[test]
    fn the_web_views_default_address_stays_the_default_when_given() {
        let mut settings = Settings::default();
        let given = parse("http_listen = \"127.0.0.1:8080\"\n");
        given.apply(Path::new("t"), &mut settings).expect("valid");
        assert_eq!(settings.http_listen, HttpListen::Default);
        let other = parse("http_listen = \"127.0.0.1:8081\"\n");
        other.apply(Path::new("t"), &mut settings).expect("valid");
        assert_eq!(
            settings.http_listen,
            HttpListen::At(([127, 0, 0, 1], 8081).into())
        );
        parse("http_listen = \"\"\n")
            .apply(Path::new("t"), &mut settings)
            .expect("valid");
        assert_eq!(settings.http_listen, HttpListen::Off);
        assert_eq!(settings.http_listen.addr(), None);
    }

    #[test]
    fn every_setting_has_a_key_flag_env_help_and_a_default_that_parses() {
        let mut keys = std::collections::HashSet::new();
        for s in Setting::ALL {
            assert!(keys.insert(s.key()), "{} declared twice", s.key());
            assert!(s.key().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert_eq!(s.flag(), s.key().replace('_', "-"));
            assert_eq!(s.env(), format!("TRUCE_{}", s.key().to_uppercase()));
            assert!(!s.help().is_empty() && !s.value_name().is_empty());
            // The default is a value of the setting's kind that its own
            // parse takes back unchanged, as text (a flag) and as TOML.
            let default = s.default_value();
            assert_eq!(
                Value::parse(s.kind(), &default.to_text()),
                Ok(default.clone())
            );
            let mut settings = Settings::default();
            s.set(&mut settings, &default).expect("the default parses");
            assert_eq!(s.get(&settings), default, "{}", s.key());
            assert_eq!(to_toml(&settings), to_toml(&Settings::default()));
            for choice in s.choices() {
                s.set(&mut settings, &Value::Str((*choice).to_owned()))
                    .expect("a choice parses");
            }
            // The clap argument reads the flag and the variable.
            let arg = flags::arg(*s);
            assert_eq!(arg.get_long(), Some(s.flag().as_str()));
            assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new(&s.env())));
            assert!(arg.get_help().is_some());
        }
    }

    #[test]
    fn each_group_gives_its_flags_and_parses_them_as_the_file_does() {
        use clap::{Args, FromArgMatches};
        let cmd = StoreFlags::augment_args(clap::Command::new("t"));
        let m = cmd
            .try_get_matches_from(["t", "--cache-mb", "3", "--log-format", "json"])
            .expect("flags parse");
        let flags = StoreFlags::from_arg_matches(&m).expect("matches");
        let mut settings = Settings::default();
        flags.apply(&mut settings).expect("valid");
        assert_eq!(settings.cache_bytes, 3 << 20);
        assert_eq!(settings.log_format, LogFormat::Json);
        // The other groups' flags are not there.
        let cmd = StoreFlags::augment_args(clap::Command::new("t"));
        assert!(cmd.try_get_matches_from(["t", "--listen", "1"]).is_err());
        // A bad value is refused by the flag with the file's message.
        let cmd = ServeFlags::augment_args(clap::Command::new("t"));
        let err = cmd
            .try_get_matches_from(["t", "--max-message-bytes", "10"])
            .expect_err("too small")
            .to_string();
        assert!(
            err.contains("--max-message-bytes") && err.contains("66560"),
            "{err}"
        );
        let cmd = ServeFlags::augment_args(clap::Command::new("t"));
        let m = cmd
            .try_get_matches_from(["t", "--insecure", "--metrics-listen", ""])
            .expect("flags parse");
        let mut settings = Settings {
            metrics_listen: Some(([127, 0, 0, 1], 1).into()),
            ..Settings::default()
        };
        ServeFlags::from_arg_matches(&m)
            .expect("matches")
            .apply(&mut settings)
            .expect("valid");
        assert!(settings.insecure);
        assert_eq!(settings.metrics_listen, None);
    }

    #[test]
    fn truced_config_output_reads_back_as_the_same_settings() {
        let text = "listen = \"0.0.0.0:1\"\nmetrics_listen = \"127.0.0.1:2\"\n\
                    tls_cert = \"c.pem\"\ninsecure = true\ncache_mb = 1\n\
                    log_format = \"json\"\nrequest_timeout_ms = 7\nlog_origin = \"o\"\n";
        let mut settings = Settings::default();
        parse(text)
            .apply(Path::new("t"), &mut settings)
            .expect("valid");
        let printed = to_toml(&settings);
        let mut back = Settings::default();
        parse(&printed)
            .apply(Path::new("p"), &mut back)
            .expect("valid");
        assert_eq!(to_toml(&back), printed);
        for line in text.lines() {
            assert!(printed.lines().any(|l| l == line), "{line}: {printed}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_setting() {
        let err = FileConfig::parse("listne = \"x\"").unwrap_err();
        assert!(err.contains("listne"), "{err}");
        assert!(
            err.contains("unknown field") && err.contains("`listen`"),
            "{err}"
        );
        let err = FileConfig::parse("\ncache_mb = \"lots\"").unwrap_err();
        assert!(err.starts_with("line 2: cache_mb: invalid type"), "{err}");
        let err = FileConfig::parse("insecure = 1").unwrap_err();
        assert!(err.contains("insecure"), "{err}");
        let err = parse("listen = \"nowhere\"")
            .apply(Path::new("/etc/truce.toml"), &mut Settings::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/etc/truce.toml") && err.contains("listen"),
            "{err}"
        );
    }

    #[test]
    fn token_tables_are_checked_and_printed_back() {
        let hash = "ab".repeat(32);
        let text = format!(
            "rate_limit_per_sec = 5\n[[token]]\nname = \"m-1\"\nrole = \"reporter\"\nsha256 = \"{hash}\"\n"
        );
        let file = parse(&text);
        let mut settings = Settings::default();
        file.apply(Path::new("t.toml"), &mut settings).unwrap();
        assert_eq!(settings.tokens.len(), 1);
        assert_eq!(settings.tokens[0].role, Role::Reporter);
        assert_eq!(settings.rate_limit_per_sec, 5);
        // `truced config` output is itself a valid config with the same tokens.
        let printed = to_toml(&settings);
        let again = parse(&printed);
        let mut back = Settings::default();
        again.apply(Path::new("p.toml"), &mut back).unwrap();
        assert_eq!(back.tokens, settings.tokens);

        let bad = |extra: &str, key: &str| {
            let text = format!(
                "[[token]]\nname = \"m-1\"\nrole = \"reporter\"\nsha256 = \"{hash}\"\n{extra}"
            );
            let err = match FileConfig::parse(&text) {
                Err(e) => e,
                Ok(f) => f
                    .apply(Path::new("t.toml"), &mut Settings::default())
                    .unwrap_err()
                    .to_string(),
            };
            assert!(err.contains(key), "{extra}: {err}");
        };
        bad(
            &format!(
                "[[token]]\nname = \"m-1\"\nrole = \"reader\"\nsha256 = \"{}\"",
                "cd".repeat(32)
            ),
            "token.name",
        );
        bad(
            &format!("[[token]]\nname = \"m-2\"\nrole = \"reader\"\nsha256 = \"{hash}\""),
            "token.sha256",
        );
        bad(
            &format!(
                "[[token]]\nname = \"m-2\"\nrole = \"root\"\nsha256 = \"{}\"",
                "cd".repeat(32)
            ),
            "token.role",
        );
        bad(
            &format!(
                "[[token]]\nname = \"anonymous\"\nrole = \"reader\"\nsha256 = \"{}\"",
                "cd".repeat(32)
            ),
            "token.name",
        );
        bad(
            "[[token]]\nname = \"m-2\"\nrole = \"reader\"\nsha256 = \"xyz\"",
            "token.sha256",
        );
        bad(
            "[[token]]\nname = \"m-2\"\nrole = \"reader\"\nsha256 = \"\"\ntoken = \"secret\"",
            "token",
        );
    }
}
