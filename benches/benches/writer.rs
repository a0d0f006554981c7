//! Placeholder until the writer benchmarks land.
fn main() {}
