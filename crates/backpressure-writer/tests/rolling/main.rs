//! The rolling file sink (`backpressure_writer::rolling`) through its public API:
//! rotation and naming, faults, housekeeping (retention, compression), and its cost.

#[path = "../support/mod.rs"]
mod support;

mod cost;
mod faults;
mod housekeeping;
mod sink;
