//! diff tests (in progress).
