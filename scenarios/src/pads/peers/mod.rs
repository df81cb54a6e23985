//! The pads family's peers: the simulated outside world of the MoQ source
//! element, on either side of it.
//!
//! | peer | plays | records |
//! |---|---|---|
//! | [`moq_relay`] | a MoQ relay (`moq-relay` host): one broadcast's catalog and per-track frames; catalog and codec-config changes, outages, on the plan's command | `moq.catalog`, `moq.config`, `moq.subscribed`, `moq.refused`, `moq.down`, `moq.up` |
//! | [`downstream`] | what is linked behind the element's pads (in the `gst` host): judges caps-before-buffers, order, nothing after removal | `ds.caps`, `ds.eos`, `ds.flush`, `ds.removed`, `ds.violation` |
//!
//! Peers are the omniscient view of the outside world that checks compare
//! against what the core did. They never link into core.

pub mod downstream;
pub mod moq_relay;
