//! Compiles `truce/v1/*.proto` with protox (pure Rust: no system protoc),
//! then generates the prost messages, the tonic client and server, and the
//! pbjson proto3 JSON mapping from the same descriptor set, which is also
//! written to OUT_DIR for gRPC reflection.
//!
//! The server is generated in a second pass, into `OUT_DIR/server`, with
//! the messages of the first pass as extern types and its own codec
//! (`crate::codec::RequestCodec`): a request that does not decode is the
//! caller's mistake (INVALID_ARGUMENT), while the client keeps tonic's
//! codec, for which a response that does not decode is the server's
//! (INTERNAL).

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "truce/v1/common.proto",
    "truce/v1/records.proto",
    "truce/v1/service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let fds = protox::compile(PROTOS, ["."])?;
    // tonic-prost-build's compile_fds ignores file_descriptor_set_path, so
    // the descriptor set for reflection is written here.
    let descriptor_bytes = fds.encode_to_vec();
    fs::write(out_dir.join("truce_descriptor.bin"), &descriptor_bytes)?;

    // Messages (each with its `prost::Name`, by which the request codec
    // finds its descriptor) and the client.
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .compile_well_known_types(true)
        .build_server(false)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds_with_config(fds.clone(), config)?;

    // The server alone, over the messages above.
    let server_dir = out_dir.join("server");
    fs::create_dir_all(&server_dir)?;
    tonic_prost_build::configure()
        .compile_well_known_types(true)
        .build_client(false)
        // Unimplemented defaults, so stand-in servers in tests need only
        // the calls they exercise.
        .generate_default_stubs(true)
        .codec_path("crate::codec::RequestCodec")
        .extern_path(".google.protobuf", "::pbjson_types")
        .extern_path(".truce.v1", "crate::v1")
        .out_dir(&server_dir)
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .build(&[".truce.v1"])?;
    Ok(())
}
