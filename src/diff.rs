//! Diff of two scan reports (in progress).
