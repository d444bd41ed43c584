//! html tests (in progress).
