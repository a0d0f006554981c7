//! Placeholder until the sampling benchmarks land.
fn main() {}
