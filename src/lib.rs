//! atrest: audit Kubernetes data at rest in etcd.
//!
//! The pipeline is visible in the module layout:
//! [`source`] (where bytes come from) → [`keyspace`] (etcd key → resource) →
//! [`envelope`] (decrypt with the cluster's [`config`]) → [`codec`] (payload facts) →
//! [`verdict`] (current / stale / unreadable) → [`report`] (table, JSON, YAML).
//! [`scan::Session`] opens all of it the same way for every command and [`scan::run`] drives
//! it; [`check`] answers can-remove questions from a scan. [`rewrite`] repairs stale objects
//! through the API server and verifies them in etcd; [`inspect`] shows every layer of one key.
//! docs/architecture.md says where each concern lives.
#![forbid(unsafe_code)]

pub mod builtin;
pub mod check;
pub mod codec;
pub mod config;
pub mod crd;
pub mod diff;
pub mod discovery;
pub mod envelope;
pub mod history;
pub mod inspect;
pub mod keyspace;
pub mod origin;
pub mod pb;
pub mod policy;
pub mod reader;
pub mod report;
pub mod rewrite;
pub mod scan;
pub mod source;
pub mod storage_versions;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod verdict;
