//! The slots family's tests, through the harness's public API only.
//!
//! - `scenarios`: `slots-contention` over its 100 default seeds with every
//!   bug off (or the seeds and bug of `RELAYSIM_SEED` / `RELAYSIM_SEEDS` /
//!   `RELAYSIM_BUG`, to replay a failure report);
//! - `detection`: `slots-check-then-await` caught by a declared check, and
//!   its reproduction card (`snapshots/slots-check-then-await.snap`);
//! - `harness_power`: determinism, shrinking, plan-file replay;
//! - `real_net`: the same server on `TokioNet`, over loopback.
//!
//! Every test runs under a wall-clock bound and fails with a message when
//! it exceeds it.

mod detection;
mod harness_power;
mod real_net;
mod scenarios;
mod support;
