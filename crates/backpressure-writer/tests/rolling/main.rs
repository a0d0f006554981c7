//! The rolling file sink (`backpressure_writer::rolling`) through its public API:
//! rotation and naming, faults, housekeeping (retention, compression), a file left torn
//! by a crash, the work per write counted, and its cost.

#[path = "../support/mod.rs"]
mod support;

mod cost;
mod counted;
mod faults;
mod housekeeping;
mod sink;
mod torn;
