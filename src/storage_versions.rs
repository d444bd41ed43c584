//! Expected storage versions of built-in resources (in progress).
