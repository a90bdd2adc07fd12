//! Generates the Workload API's gRPC server and messages from `proto/workload.proto`.
//!
//! `protox` parses the file in pure Rust (it carries the well-known types such as
//! `google/protobuf/struct.proto`), so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/workload.proto");
    let descriptors = protox::compile(["workload.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_transport(false)
        // Sorted maps: a message encodes to the same bytes every time, so a stream can tell
        // whether anything changed.
        .btree_map(".")
        .compile_fds(descriptors)?;
    Ok(())
}
