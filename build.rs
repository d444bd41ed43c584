//! Compiles our own protos (proto/*.proto) with protox, so no system protoc is needed for them:
//! the storage messages with prost-build, the KMS plugin services (client and server) with
//! tonic-prost-build.
//!
//! Also compiles Kubernetes' go-to-protobuf `generated.proto` files (release 1.35) into a
//! FileDescriptorSet, `$OUT_DIR/k8s_descriptors.bin`, which `codec::object` decodes every stored
//! built-in with (prost-reflect). The protos are not copied into this repository: they come from
//! the `k8s-rs-pb` crate (a pinned build-dependency, used only for its `src/v1_35/**` files), found
//! through `cargo metadata`. For vendored or offline builds without that crate in the cargo
//! registry, set `ATREST_K8S_PROTO_DIR` to a directory laid out like the crate's root (it must
//! contain `src/v1_35/`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The k8s-rs-pb version whose file layout this script reads (pinned in Cargo.toml).
const K8S_RS_PB_VERSION: &str = "0.5.0";
/// The Kubernetes release directory inside it; `codec::object::DESCRIPTORS_RELEASE` names it.
const RELEASE_DIR: &str = "v1_35";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages = ["proto/runtime.proto", "proto/kmsv2.proto"];
    let services = ["proto/kms_v1beta1.proto", "proto/kms_v2_service.proto"];
    for f in messages.iter().chain(&services) {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(messages, ["proto"])?;
    prost_build::Config::new().bytes(["."]).compile_fds(fds)?;

    let fds = protox::compile(services, ["proto"])?;
    // The product is only ever a KMS client; the server stubs exist for the test plugin
    // (`tests/harness/kms_plugin.rs`), which builds atrest with the `testkit` feature.
    let server = std::env::var_os("CARGO_FEATURE_TESTKIT").is_some();
    tonic_prost_build::configure().build_client(true).build_server(server).compile_fds(fds)?;

    k8s_descriptors()?;
    Ok(())
}

/// Every `src/v1_35/**/generated.proto` of k8s-rs-pb, compiled with protox into
/// `$OUT_DIR/k8s_descriptors.bin` (imports resolve against `src/v1_35`). Comments
/// (source_code_info) are dropped: nothing reads them, and they are most of the size.
fn k8s_descriptors() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=ATREST_K8S_PROTO_DIR");
    let root = k8s_rs_pb_root()?;
    let release = root.join("src").join(RELEASE_DIR);
    if !release.is_dir() {
        return Err(format!(
            "{} is not a directory: k8s-rs-pb {K8S_RS_PB_VERSION} (or ATREST_K8S_PROTO_DIR) must \
             contain src/{RELEASE_DIR}/",
            release.display()
        )
        .into());
    }
    println!("cargo:rerun-if-changed={}", release.display());
    let mut files = Vec::new();
    collect_generated_protos(&release, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no generated.proto under {}", release.display()).into());
    }
    // protox wants the files named relative to the include directory.
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&release).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;
    let mut fds = protox::compile(&relative, [&release])?;
    for file in &mut fds.file {
        file.source_code_info = None;
    }
    let out = PathBuf::from(env::var("OUT_DIR")?).join("k8s_descriptors.bin");
    std::fs::write(&out, prost::Message::encode_to_vec(&fds))?;
    Ok(())
}

/// Root of the k8s-rs-pb sources: `$ATREST_K8S_PROTO_DIR`, else what `cargo metadata` says, else
/// `$CARGO_HOME/registry/src/*/k8s-rs-pb-<version>`.
fn k8s_rs_pb_root() -> Result<PathBuf, Box<dyn std::error::Error>> {
    if let Some(dir) = env::var_os("ATREST_K8S_PROTO_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let from_metadata = from_cargo_metadata();
    if let Ok(root) = &from_metadata {
        return Ok(root.clone());
    }
    if let Some(root) = from_cargo_home() {
        return Ok(root);
    }
    Err(format!(
        "cannot find the sources of k8s-rs-pb {K8S_RS_PB_VERSION} (the Kubernetes \
         generated.proto files): cargo metadata: {}; not under $CARGO_HOME/registry/src either. \
         Run `cargo fetch`, or set ATREST_K8S_PROTO_DIR to a directory that contains \
         src/{RELEASE_DIR}/",
        from_metadata.err().unwrap_or_default()
    )
    .into())
}

/// `$CARGO metadata --format-version 1 --offline --filter-platform $TARGET`: the manifest
/// directory of k8s-rs-pb. Safe in a
/// build script: metadata reads the lock file and the registry cache, and takes no lock the
/// running build holds.
fn from_cargo_metadata() -> Result<PathBuf, String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let mut cmd = Command::new(cargo);
    cmd.args(["metadata", "--format-version", "1", "--offline"]);
    // Only this target's packages: on a fresh machine the crates of other platforms (Windows,
    // Android) were never downloaded, and an unfiltered offline metadata fails on them.
    if let Some(target) = env::var_os("TARGET") {
        cmd.arg("--filter-platform").arg(target);
    }
    let out =
        cmd.current_dir(manifest_dir).output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("failed: {}", stderr.trim()));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable output: {e}"))?;
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "k8s-rs-pb" && p["version"] == K8S_RS_PB_VERSION)
        .and_then(|p| p["manifest_path"].as_str())
        .and_then(|m| Path::new(m).parent().map(Path::to_path_buf))
        .ok_or_else(|| format!("no package k8s-rs-pb {K8S_RS_PB_VERSION}"))
}

fn from_cargo_home() -> Option<PathBuf> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let wanted = format!("k8s-rs-pb-{K8S_RS_PB_VERSION}");
    let mut registries: Vec<PathBuf> = std::fs::read_dir(home.join("registry").join("src"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join(&wanted)))
        .filter(|p| p.is_dir())
        .collect();
    registries.sort();
    registries.into_iter().next()
}

fn collect_generated_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_generated_protos(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == "generated.proto") {
            out.push(path);
        }
    }
    Ok(())
}
