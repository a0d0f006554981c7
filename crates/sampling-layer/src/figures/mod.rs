//! What the sampler counts: the ledger figures move into and the
//! snapshots the sampler hands out.

pub(crate) mod ledger;
pub mod stats;
