//! Compiles our own protos (proto/*.proto) with protox, so no system protoc is needed for them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/runtime.proto", "proto/kmsv2.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    prost_build::Config::new().bytes(["."]).compile_fds(fds)?;
    Ok(())
}
