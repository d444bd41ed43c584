//! One integration binary (ripgrep habit): real etcd, the real binary, the shared golden data.

mod harness;

mod apiserver;
mod architecture;
mod config_strict;
mod custom_resources;
mod deploy;
mod diff;
mod discovery;
mod html;
mod inspect;
mod kms_client;
mod kms_scan;
mod object_golden;

mod reports;
mod rewrite;
mod scan_errors;
mod scan_golden;
mod scan_live;
mod scan_snapshot;
mod snapshot_reader;
mod storage_versions;
mod sweep;
