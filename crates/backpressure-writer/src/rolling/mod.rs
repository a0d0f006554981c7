//! A rolling file sink for the writer: rotation by size and time at line boundaries,
//! retention, gzip compression off the write path, and reopen for logrotate.
//!
//! (Manual: to be written.)

mod builder;
mod clock;
mod compress;
mod error;
mod housekeeper;
mod io_hook;
mod naming;
mod retention;
mod sink;
mod stats;

pub use builder::{Compression, RollingFileBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::BuildError;
pub use io_hook::{IoHook, NoFaults};
pub use naming::Rotation;
pub use sink::RollingFile;
pub use stats::{RollingHandle, RollingStats};
