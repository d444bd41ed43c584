//! Generated protobuf types (prost + protox, see build.rs and proto/). Kept behind the
//! codec and envelope modules; nothing else should need them.
#![allow(missing_docs, unreachable_pub, clippy::all)]

/// runtime.Unknown, TypeMeta and the ObjectMeta subset.
pub mod runtime {
    include!(concat!(env!("OUT_DIR"), "/atrest.runtime.rs"));
}

/// KMS v2 EncryptedObject.
pub mod kmsv2 {
    include!(concat!(env!("OUT_DIR"), "/atrest.kmsv2.rs"));
}

/// KMS plugin gRPC API v1beta1 (`v1beta1.KeyManagementService`: Version, Decrypt, Encrypt),
/// client and server.
pub mod kms_v1beta1 {
    include!(concat!(env!("OUT_DIR"), "/v1beta1.rs"));
}

/// KMS plugin gRPC API v2 (`v2.KeyManagementService`: Status, Decrypt, Encrypt), client and
/// server.
pub mod kms_v2 {
    include!(concat!(env!("OUT_DIR"), "/v2.rs"));
}
