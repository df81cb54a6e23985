//! The slots scenario's plans, drawn from the seed.
//!
//! Clients run their steady loop on their own; the plan adds what makes
//! requests meet at the server: bursts of simultaneous sessions, a slow
//! licence server (a wider window between check and insert), a held client
//! link whose queued requests arrive together, and crashes, refusals and a
//! partitioned licence server (the give-back paths). Every step is before
//! [`HEAL_AT`]; the runner heals everything there.

use super::fault::Fault;
use super::world::{CLIENTS, LICENCE, SLOTS};
use relaysim_harness::fault::{NetFault, PlanCtx};
use std::time::Duration;

type Ctx = PlanCtx<Fault>;

/// Faults stop here.
pub const HEAL_AT: Duration = Duration::from_secs(10);
/// Runs end here: the liveness phase gives every client time to ask again
/// (a session in progress at the heal ends within 1 + 2 s, the next one
/// starts within 2.5 s) and each request after the heal its answer bound.
pub const DURATION: Duration = Duration::from_secs(18);

/// The last millisecond a step may be planned at.
fn last_ms() -> u64 {
    HEAL_AT.as_millis() as u64 - 1
}

/// The plan of `slots-contention`.
pub fn slots_contention(ctx: &mut Ctx) {
    if let Some(x) = ctx.kind("licence-latency", 0.6) {
        let max = 50 + (x * 900.0) as u64;
        let min = ctx.rng.range(10, max);
        ctx.push(
            Duration::ZERO,
            Fault::LicenceLatency {
                min_ms: min,
                max_ms: max,
            },
        );
    }
    if let Some(x) = ctx.kind("client-burst", 0.7) {
        let bursts = 1 + (x * 3.0) as u64;
        for _ in 0..bursts {
            let at = ctx.rng.range(500, last_ms() - 1_000);
            let client = (*ctx.rng.pick(&CLIENTS)).to_string();
            let sessions = ctx.rng.range(2, 3) as u8;
            ctx.push_ms(at, Fault::ClientBurst { client, sessions });
        }
    }
    if let Some(x) = ctx.kind("hold", 0.3) {
        let client = *ctx.rng.pick(&CLIENTS);
        let at = ctx.rng.range(1_000, last_ms() - 2_000);
        let len = 200 + (x * 1_500.0) as u64;
        let link = |a: &str| (a.to_string(), SLOTS.to_string());
        let (a, b) = link(client);
        ctx.push_ms(at, NetFault::Hold { a, b });
        let (a, b) = link(client);
        ctx.push_ms((at + len).min(last_ms()), NetFault::Release { a, b });
    }
    if let Some(x) = ctx.kind("client-crash", 0.4) {
        let crashes = 1 + (x * 2.0) as u64;
        for _ in 0..crashes {
            let at = ctx.rng.range(1_000, last_ms());
            let client = (*ctx.rng.pick(&CLIENTS)).to_string();
            ctx.push_ms(at, Fault::ClientCrash { client });
        }
    }
    if let Some(x) = ctx.kind("licence-refusals", 0.3) {
        let at = ctx.rng.range(0, last_ms() - 2_000);
        let until = ctx.rng.range(at + 1_000, last_ms());
        let percent = 10 + (x * 50.0) as u8;
        ctx.push_ms(at, Fault::LicenceRefusals { percent });
        ctx.push_ms(until, Fault::LicenceRefusals { percent: 0 });
    }
    if let Some(x) = ctx.kind("partition", 0.25) {
        let at = ctx.rng.range(1_000, last_ms() - 1_000);
        let len = 500 + (x * 2_500.0) as u64;
        ctx.push_ms(
            at,
            NetFault::Partition {
                a: SLOTS.into(),
                b: LICENCE.into(),
            },
        );
        ctx.push_ms(
            (at + len).min(last_ms()),
            NetFault::Repair {
                a: SLOTS.into(),
                b: LICENCE.into(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::Seed;

    #[test]
    fn plans_are_deterministic_and_fault_free_after_heal() {
        let scn = &super::super::SLOTS_CONTENTION;
        for s in 0..200 {
            let a = scn.plan_for(Seed(s));
            assert_eq!(a, scn.plan_for(Seed(s)));
            assert!(a.events.iter().all(|e| e.at() < HEAL_AT), "seed {s}: {a:?}");
            assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        }
    }
}
