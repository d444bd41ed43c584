//! Compiles our own protos (proto/*.proto) with protox, so no system protoc is needed for them:
//! the storage messages with prost-build, the KMS plugin services (client and server) with
//! tonic-prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages = ["proto/runtime.proto", "proto/kmsv2.proto"];
    let services = ["proto/kms_v1beta1.proto", "proto/kms_v2_service.proto"];
    for f in messages.iter().chain(&services) {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(messages, ["proto"])?;
    prost_build::Config::new().bytes(["."]).compile_fds(fds)?;

    let fds = protox::compile(services, ["proto"])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
