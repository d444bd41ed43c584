//! Node kubelet version (in progress).
