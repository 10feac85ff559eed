//! Compiles `truce/v1/*.proto` with protox (pure Rust: no system protoc),
//! then generates the prost messages, the tonic client and server, and the
//! pbjson proto3 JSON mapping from the same descriptor set, which is also
//! written to OUT_DIR for gRPC reflection.

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

    tonic_prost_build::configure()
        .compile_well_known_types(true)
        // Unimplemented defaults, so stand-in servers in tests need only
        // the calls they exercise.
        .generate_default_stubs(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .build(&[".truce.v1"])?;
    Ok(())
}
