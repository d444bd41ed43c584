//! Test harness: a real throwaway etcd, a way to run the atrest binary, TLS material.
pub mod apiserver;
pub mod cli;
pub mod etcd;
pub mod golden;
pub mod kms_plugin;
pub mod process;
pub mod tls;
