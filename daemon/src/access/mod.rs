//! Who may call what. Every RPC passes one tower layer ([`layer`]) before
//! tonic routes it: the layer looks the method's minimum role up in one
//! table ([`methods`]), checks the bearer token against the hashed tokens
//! of the config ([`tokens`]), charges the caller's token bucket
//! ([`rate`]), puts the caller into the request extensions (the service
//! records its name as the entry's submitter) and bounds unary calls by
//! the request deadline. With no tokens configured access is open and
//! every caller is [`ANONYMOUS`]. Also here: the start-up rule that keeps
//! an open, plaintext daemon off non-loopback addresses. The tokens can be
//! replaced while serving (`truced` re-reads them on SIGHUP).

pub mod layer;
pub mod methods;
pub mod rate;
pub mod tokens;

use std::{
    fmt,
    str::FromStr,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use crate::error::Error;

pub use layer::AccessLayer;
pub use tokens::{TokenEntry, Tokens};

/// The submitter of every entry when no tokens are configured.
pub const ANONYMOUS: &str = "anonymous";

/// A token's role. Each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Queries, subscriptions, proofs, compliance reports, the raw log.
    Reader,
    /// A reader who may also submit reports, claims, sources and
    /// corrections.
    Reporter,
    /// Everything, including agreements, status changes and admin RPCs.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reader, Role::Reporter, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Reporter => "reporter",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("{s:?} is not a role (reader, reporter or admin)"))
    }
}

/// Who is calling: put into each request's extensions by the access
/// layer. Its name is the submitter recorded in the entries it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: Arc<str>,
    /// None when access is open (no tokens configured).
    pub role: Option<Role>,
}

impl Caller {
    /// The caller of a request that passed the access layer;
    /// [`ANONYMOUS`] if none is attached (access is open).
    pub fn of<T>(request: &tonic::Request<T>) -> Arc<str> {
        request
            .extensions()
            .get::<Caller>()
            .map_or_else(|| Arc::from(ANONYMOUS), |c| Arc::clone(&c.name))
    }
}

impl Caller {
    /// Whether this caller may do what `method` of `truce.v1.Truce` does
    /// (the table's role; any caller when access is open): a WriteStream
    /// checks each envelope against its unary method.
    pub fn may_call(&self, method: &str) -> Result<(), Error> {
        let Some(have) = self.role else {
            return Ok(());
        };
        let needed = match methods::rule(&format!("/{}/{method}", methods::SERVICE)) {
            methods::Rule::Open => return Ok(()),
            methods::Rule::Guarded { role, .. } => role,
        };
        if have < needed {
            return Err(Error::PermissionDenied(format!(
                "{method} needs the {needed} role; token {:?} has {have}",
                self.name.as_ref()
            )));
        }
        Ok(())
    }
}

/// Charges the caller's rate bucket again for each piece of work inside
/// one call (a WriteStream's envelopes); the access layer puts one into
/// every admitted request's extensions.
#[derive(Debug, Clone)]
pub struct Meter {
    access: Arc<Access>,
    name: Arc<str>,
}

impl Meter {
    /// The meter of a request that passed the access layer (none for a
    /// service called without it, as in unit tests: nothing is charged).
    pub fn of<T>(request: &tonic::Request<T>) -> Option<Meter> {
        request.extensions().get::<Meter>().cloned()
    }

    /// Takes one request from the caller's bucket, or says when to retry.
    pub fn charge(&self) -> Result<(), Error> {
        match &self.access.keys().limiter {
            Some(limiter) => limiter.charge(&self.name),
            None => Ok(()),
        }
    }
}

/// Everything the access layer checks, built from the settings; the
/// tokens (and their rate buckets) can be replaced while serving.
#[derive(Debug)]
pub struct Access {
    /// The tokens and their buckets, swapped whole by a reload: a call
    /// checks against one set, never half of each.
    keys: RwLock<Arc<Keys>>,
    /// Deadline of unary calls (streams are exempt); None: no deadline.
    deadline: Option<Duration>,
}

/// The tokens and the rate buckets of their names.
#[derive(Debug)]
struct Keys {
    /// None: access is open.
    tokens: Option<Tokens>,
    limiter: Option<rate::Limiter>,
}

impl Keys {
    fn new(entries: &[TokenEntry], limiter: Option<rate::Limiter>) -> Self {
        Self {
            tokens: (!entries.is_empty()).then(|| Tokens::new(entries)),
            limiter,
        }
    }
}

fn names(entries: &[TokenEntry]) -> Vec<&str> {
    entries.iter().map(|t| t.name.as_str()).collect()
}

/// What the access layer is configured with (from the daemon's settings;
/// access does not read the settings themselves).
#[derive(Debug, Clone)]
pub struct AccessOptions {
    pub listen: std::net::SocketAddr,
    /// TLS is configured.
    pub tls: bool,
    /// Serving beyond loopback without TLS or tokens was accepted.
    pub insecure: bool,
    pub tokens: Vec<TokenEntry>,
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
    /// The unary deadline (zero: none).
    pub request_timeout: Duration,
}

impl Access {
    pub fn new(settings: &AccessOptions) -> Self {
        let limiter = (settings.rate_limit_per_sec > 0).then(|| {
            rate::Limiter::new(
                settings.rate_limit_per_sec,
                settings.rate_limit_burst,
                &names(&settings.tokens),
            )
        });
        Self {
            keys: RwLock::new(Arc::new(Keys::new(&settings.tokens, limiter))),
            deadline: (!settings.request_timeout.is_zero()).then_some(settings.request_timeout),
        }
    }

    /// The current tokens. A poisoned lock still holds a whole set (it is
    /// only ever replaced, never changed in place).
    fn keys(&self) -> Arc<Keys> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether tokens are required.
    pub fn is_open(&self) -> bool {
        self.keys().tokens.is_none()
    }

    /// Replaces the tokens: calls admitted already go on (an open
    /// subscription keeps streaming), the next calls meet the new set. A
    /// name kept keeps its rate bucket. Returns how many tokens there are.
    pub fn replace_tokens(&self, entries: &[TokenEntry]) -> usize {
        // Built under the write lock: two reloads do not interleave, and
        // the buckets are copied as the last admitted call left them.
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let limiter = keys.limiter.as_ref().map(|l| l.renamed(&names(entries)));
        *keys = Arc::new(Keys::new(entries, limiter));
        entries.len()
    }

    /// Authenticates and authorizes a call of a method that needs `role`,
    /// then charges the caller's bucket. Nothing else has happened yet
    /// when this refuses.
    pub fn admit(
        &self,
        authorization: Option<&http::HeaderValue>,
        method: &str,
        role: Role,
    ) -> Result<Caller, Error> {
        let keys = self.keys();
        let caller = match &keys.tokens {
            None => Caller {
                name: Arc::from(ANONYMOUS),
                role: None,
            },
            Some(tokens) => {
                let token = tokens::bearer(authorization)?;
                let entry = tokens.find(token).ok_or_else(|| {
                    Error::Unauthenticated("the bearer token is not a known token".into())
                })?;
                if entry.role < role {
                    return Err(Error::PermissionDenied(format!(
                        "{method} needs the {role} role; token {:?} has {}",
                        entry.name.as_ref(),
                        entry.role
                    )));
                }
                Caller {
                    name: Arc::clone(&entry.name),
                    role: Some(entry.role),
                }
            }
        };
        if let Some(limiter) = &keys.limiter {
            limiter.charge(&caller.name)?;
        }
        Ok(caller)
    }

    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }
}

/// Why `truced` refuses to start on a non-loopback address, if it does:
/// serving beyond loopback needs TLS and tokens, or `insecure`.
pub fn exposure(settings: &AccessOptions) -> Result<(), Error> {
    let ip = settings.listen.ip();
    if ip.is_loopback() {
        return Ok(());
    }
    let tls = settings.tls;
    let tokens = !settings.tokens.is_empty();
    if tls && tokens {
        return Ok(());
    }
    let missing = match (tls, tokens) {
        (false, false) => "without TLS and without tokens",
        (false, true) => "without TLS (tokens would cross the network in clear)",
        _ => "without tokens (anyone who can connect could write)",
    };
    if settings.insecure {
        tracing::warn!(
            addr = %settings.listen,
            tls,
            tokens,
            "serving beyond loopback {missing} because of --insecure"
        );
        return Ok(());
    }
    Err(Error::FailedPrecondition {
        field: "listen".into(),
        reason: format!(
            "{} is not a loopback address and truced would serve it {missing}; \
             configure tls_cert, tls_key and [[token]] entries, or pass --insecure \
             (setting insecure = true) to accept the risk",
            settings.listen
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(listen: &str, tls: bool, tokens: bool, insecure: bool) -> AccessOptions {
        AccessOptions {
            listen: listen.parse().expect("address"),
            tls,
            tokens: if tokens {
                vec![TokenEntry {
                    name: "t".into(),
                    role: Role::Reader,
                    sha256: [0; 32],
                }]
            } else {
                Vec::new()
            },
            insecure,
            rate_limit_per_sec: 0,
            rate_limit_burst: 1,
            request_timeout: Duration::ZERO,
        }
    }

    #[test]
    fn only_loopback_or_tls_with_tokens_or_insecure_may_serve() {
        // (listen, tls, tokens, insecure) → allowed
        let cases = [
            ("127.0.0.1:0", false, false, false, true),
            ("[::1]:0", false, false, false, true),
            ("0.0.0.0:0", false, false, false, false),
            ("0.0.0.0:0", true, false, false, false),
            ("0.0.0.0:0", false, true, false, false),
            ("0.0.0.0:0", true, true, false, true),
            ("192.0.2.1:50051", false, false, true, true),
            ("[::]:0", true, false, false, false),
        ];
        for (listen, tls, tokens, insecure, allowed) in cases {
            let result = exposure(&settings(listen, tls, tokens, insecure));
            assert_eq!(
                result.is_ok(),
                allowed,
                "{listen} {tls} {tokens} {insecure}"
            );
            if let Err(e) = result {
                assert!(e.to_string().contains("--insecure"), "{e}");
            }
        }
    }

    #[test]
    fn roles_parse_and_order() {
        assert!(Role::Reader < Role::Reporter && Role::Reporter < Role::Admin);
        for r in Role::ALL {
            assert_eq!(r.name().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
