//! The slots world: `client-a`, `client-b`, `client-c` → `slots` (the real
//! [`crate::slots`] server over `SimNet`) → `licence`.
//!
//! Owns host names, the server's configuration, the bridge from the
//! component's events to the trace (`impl SlotSink for Recorder`), and the
//! mapping from the family's faults to peers (exhaustive: a new fault kind
//! does not compile until it is applied).

use super::fault::Fault;
use super::peers::{self, Client, LicenceServer, LICENCE_PORT};
use crate::slots::{self, SlotConfig, SlotEvent, SlotServer, SlotSink};
use relaysim_harness::check::Facts;
use relaysim_harness::scenario::{World, WorldCtx};
use relaysim_harness::{Recorder, SimNet};
use std::sync::Arc;
use std::time::Duration;

/// The slot server's host.
pub const SLOTS: &str = "slots";
/// The licence server's host.
pub const LICENCE: &str = "licence";
/// The client hosts (each acquires under its host name).
pub const CLIENTS: [&str; 3] = ["client-a", "client-b", "client-c"];
/// Every host of the world (what a plan's network faults may name).
pub const HOSTS: &[&str] = &[SLOTS, LICENCE, "client-a", "client-b", "client-c"];
/// Slots the farm has: fewer than the clients, so they contend.
pub const CAPACITY: usize = 2;
/// How long the server waits for the licence server.
pub const LICENCE_TIMEOUT: Duration = Duration::from_secs(1);

/// The component's events go into the trace as peer entries: core's
/// `Event` is closed to core's components, and `Recorder::peer` takes any
/// printable type.
impl SlotSink for Recorder {
    fn record(&self, host: &'static str, event: SlotEvent) {
        self.peer(host, event);
    }
}

/// The slot server's configuration in every slots world.
pub fn config(bugs: relaysim_core::BugSet) -> SlotConfig {
    SlotConfig {
        capacity: CAPACITY,
        licence: format!("{LICENCE}:{LICENCE_PORT}"),
        licence_timeout: LICENCE_TIMEOUT,
        bugs,
    }
}

/// A running slots world, as the runner drives it.
pub struct SlotsWorld {
    licence: Arc<LicenceServer>,
    server: Arc<SlotServer>,
    clients: Vec<Arc<Client>>,
}

/// Registers every host.
pub fn build(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    let rec = ctx.recorder.clone();
    let licence = LicenceServer::new(LICENCE, ctx.seed.0, rec.clone());
    let l = licence.clone();
    sim.host(LICENCE, move || peers::serve_licence(l.clone()));

    let server = SlotServer::new(config(ctx.bugs), SLOTS, rec.clone());
    let s = server.clone();
    sim.host(SLOTS, move || {
        let s = s.clone();
        async move {
            slots::serve(SimNet, s).await?;
            Ok(())
        }
    });

    let addr = format!("{SLOTS}:{}", slots::PORT);
    let clients: Vec<Arc<Client>> = CLIENTS
        .iter()
        .map(|&host| {
            let client = Client::new(host, &addr, ctx.seed.0, rec.clone());
            let c = client.clone();
            sim.host(host, move || peers::serve_client(c.clone()));
            client
        })
        .collect();

    Box::new(SlotsWorld {
        licence,
        server,
        clients,
    })
}

impl SlotsWorld {
    fn client(&self, host: &str) -> &Client {
        self.clients
            .iter()
            .find(|c| c.host == host)
            .unwrap_or_else(|| panic!("the plan names client {host:?}; the world has {CLIENTS:?}"))
    }
}

impl World<Fault> for SlotsWorld {
    fn apply(&mut self, fault: &Fault) {
        match fault {
            Fault::LicenceLatency { min_ms, max_ms } => self.licence.set_latency(*min_ms, *max_ms),
            Fault::LicenceRefusals { percent } => self.licence.set_refusals(*percent),
            Fault::ClientBurst { client, sessions } => self.client(client).burst(*sessions),
            Fault::ClientCrash { client } => self.client(client).crash(),
        }
    }

    fn heal(&mut self) {
        self.licence.heal();
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::new();
        f.set("slots.capacity", self.server.capacity());
        f.set("slots.held", self.server.held());
        f.set("slots.connections", self.server.connections());
        f.set("licence.answered", self.licence.answered());
        for c in &self.clients {
            f.set(format!("{}.sessions", c.host), c.sessions());
            f.set(format!("{}.granted", c.host), c.granted());
        }
        f
    }
}
