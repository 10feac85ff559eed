//! Generated types of the Truce protocol (package `truce.v1`): prost
//! messages, the tonic client and server, the proto3 JSON mapping (pbjson)
//! the encoded file descriptor set for gRPC reflection, and the server's
//! codec, which answers undecodable requests INVALID_ARGUMENT.
//!
//! The `.proto` files under `truce/v1/` are the source of truth; this crate
//! adds only what every user of them needs.

#![forbid(unsafe_code)]

/// Package `truce.v1`.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/truce.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/truce.v1.serde.rs"));
    // The server, generated apart with the request codec (build.rs).
    include!(concat!(env!("OUT_DIR"), "/server/truce.v1.rs"));
}

pub mod codec;
pub mod strings;

/// The encoded `FileDescriptorSet` of every Truce proto file, including the
/// well-known types it imports, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/truce_descriptor.bin"));

/// Well-known types (`google.protobuf.*`) as used by the generated code.
pub use pbjson_types as wkt;

/// The gRPC service name, e.g. for health checks.
pub const SERVICE_NAME: &str = "truce.v1.Truce";
