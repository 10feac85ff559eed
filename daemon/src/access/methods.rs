//! The one table of who may call which RPC: each `truce.v1.Truce` method
//! with its minimum role and whether the unary request deadline applies.
//! A method that is not listed needs admin (so a new RPC is closed until
//! someone decides otherwise); health and reflection are open to all.

use super::Role;

/// The service the table is about.
pub const SERVICE: &str = "truce.v1.Truce";

/// Services anyone may call without a token: load balancers probe health,
/// and reflection describes only the public schema.
pub const OPEN_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// One RPC's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub name: &'static str,
    pub role: Role,
    /// Whether the unary request deadline applies (false for streams and
    /// for long-running admin calls).
    pub deadline: bool,
}

const fn m(name: &'static str, role: Role, deadline: bool) -> Method {
    Method {
        name,
        role,
        deadline,
    }
}

/// Every method of `truce.v1.Truce` (a test checks the list against the
/// service descriptor), and the admin RPCs being added.
pub const METHODS: &[Method] = &[
    // Writes.
    m("RecordAgreement", Role::Admin, true),
    m("SetStatus", Role::Admin, true),
    m("SubmitReport", Role::Reporter, true),
    m("AddClaim", Role::Reporter, true),
    m("AttachSource", Role::Reporter, true),
    m("CorrectReport", Role::Reporter, true),
    // Many writes: each envelope is checked again against its own
    // method's role (agreements and status changes need admin).
    m("WriteStream", Role::Reporter, false),
    // Reads.
    m("GetAgreement", Role::Reader, true),
    m("GetReport", Role::Reader, true),
    m("GetEntry", Role::Reader, true),
    m("ReadLog", Role::Reader, true),
    m("ListAgreements", Role::Reader, true),
    m("QueryReports", Role::Reader, true),
    m("AssessScope", Role::Reader, true),
    m("FindAgreements", Role::Reader, true),
    m("ListChanges", Role::Reader, true),
    m("GetCheckpoint", Role::Reader, true),
    m("GetInclusionProof", Role::Reader, true),
    m("GetConsistencyProof", Role::Reader, true),
    // Streams.
    m("Subscribe", Role::Reader, false),
    m("GetComplianceReport", Role::Reader, false),
    // Admin: a backup of a large store outlives any request deadline.
    m("Backup", Role::Admin, false),
];

/// What a request path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Health and reflection: no token, no rate limit, no deadline.
    Open,
    Guarded {
        role: Role,
        deadline: bool,
    },
}

/// The rule for a gRPC path `/<package.Service>/<Method>`.
pub fn rule(path: &str) -> Rule {
    let (service, method) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .unwrap_or(("", ""));
    if OPEN_SERVICES.contains(&service) {
        return Rule::Open;
    }
    let listed = (service == SERVICE)
        .then(|| METHODS.iter().find(|m| m.name == method))
        .flatten();
    match listed {
        Some(m) => Rule::Guarded {
            role: m.role,
            deadline: m.deadline,
        },
        None => Rule::Guarded {
            role: Role::Admin,
            deadline: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    /// The methods of `truce.v1.Truce` in the compiled descriptor, with
    /// whether each streams its response.
    fn described() -> Vec<(String, bool)> {
        let set = prost_types::FileDescriptorSet::decode(truce_proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        set.file
            .iter()
            .filter(|f| f.package() == "truce.v1")
            .flat_map(|f| f.service.iter())
            .filter(|s| s.name() == "Truce")
            .flat_map(|s| s.method.iter())
            .map(|m| {
                (
                    m.name().to_owned(),
                    m.server_streaming() || m.client_streaming(),
                )
            })
            .collect()
    }

    #[test]
    fn every_rpc_of_the_service_is_in_the_table() {
        let described = described();
        assert!(described.len() >= 20, "{described:?}");
        for (name, streaming) in described {
            let listed = METHODS.iter().find(|m| m.name == name).unwrap_or_else(|| {
                panic!("truce.v1.Truce/{name} is not in access::methods::METHODS: give it a role")
            });
            if streaming {
                assert!(
                    !listed.deadline,
                    "{name} streams: exempt it from the deadline"
                );
            }
        }
    }

    #[test]
    fn paths_map_to_rules() {
        assert_eq!(rule("/grpc.health.v1.Health/Check"), Rule::Open);
        assert_eq!(
            rule("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Rule::Open
        );
        assert_eq!(
            rule("/truce.v1.Truce/GetReport"),
            Rule::Guarded {
                role: Role::Reader,
                deadline: true
            }
        );
        assert_eq!(
            rule("/truce.v1.Truce/Subscribe"),
            Rule::Guarded {
                role: Role::Reader,
                deadline: false
            }
        );
        assert_eq!(
            rule("/truce.v1.Truce/SubmitReport"),
            Rule::Guarded {
                role: Role::Reporter,
                deadline: true
            }
        );
        // Unknown methods, services and malformed paths: admin only.
        for path in [
            "/truce.v1.Truce/DropEverything",
            "/other.Service/GetReport",
            "/",
            "",
            "/grpc.health.v1.Health",
        ] {
            assert!(
                matches!(
                    rule(path),
                    Rule::Guarded {
                        role: Role::Admin,
                        ..
                    }
                ),
                "{path}"
            );
        }
    }
}
