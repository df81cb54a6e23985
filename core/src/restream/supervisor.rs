//! The egress supervisor: the 2 s tick loop.
//!
//! Owns the running pumps (one task per destination) and the VOD fetch
//! tasks it spawns. Each tick it stops removed destinations (cooperative
//! 1.5 s, then abort), runs the VOD branch, and applies [`decide`]'s restart
//! decision per destination. All decisions are in
//! [`crate::restream::decision`]; all shared state is in
//! [`crate::restream::destination`]. It never blocks on a fetch: fetches are
//! spawned and complete into the destination's state.

use crate::event::Emitter;
use crate::net::Net;
use crate::restream::decision::{decide, PumpView, TickInput};
use crate::restream::destination::VodFetchOutcome;
use crate::restream::event::{FetchResult, RestartReason, RestreamEvent};
use crate::restream::pump::run_egress;
use crate::restream::twitch::TwitchApi;
use crate::restream::{Controller, DestinationConfig, Platform};
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct RunningPump {
    url: String,
    handle: JoinHandle<io::Result<()>>,
    cancel: CancellationToken,
}

pub struct Supervisor<N: Net> {
    net: N,
    ctl: Arc<Controller>,
    twitch: TwitchApi<N>,
    settings: watch::Receiver<Vec<DestinationConfig>>,
    tick: Duration,
    shutdown_grace: Duration,
    pumps: BTreeMap<String, RunningPump>,
}

impl<N: Net> Supervisor<N> {
    pub fn new(
        net: N,
        ctl: Arc<Controller>,
        twitch: TwitchApi<N>,
        settings: watch::Receiver<Vec<DestinationConfig>>,
        tick: Duration,
        shutdown_grace: Duration,
    ) -> Supervisor<N> {
        Supervisor {
            net,
            ctl,
            twitch,
            settings,
            tick,
            shutdown_grace,
            pumps: BTreeMap::new(),
        }
    }

    fn emitter(&self) -> &Emitter {
        self.ctl.emitter()
    }

    /// Runs forever (until the settings sender is dropped).
    pub async fn run(mut self) {
        loop {
            let desired = self.settings.borrow_and_update().clone();
            self.tick_once(&desired).await;
            tokio::select! {
                biased;
                changed = self.settings.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(self.tick) => {}
            }
        }
    }

    /// One supervisor pass over the desired destinations.
    pub async fn tick_once(&mut self, desired: &[DestinationConfig]) {
        self.stop_removed(desired).await;
        for dest in desired {
            self.tick_destination(dest);
        }
    }

    async fn stop_removed(&mut self, desired: &[DestinationConfig]) {
        let removed: Vec<String> = self
            .pumps
            .keys()
            .filter(|id| !desired.iter().any(|d| &d.id == *id))
            .cloned()
            .collect();
        for id in removed {
            let Some(pump) = self.pumps.remove(&id) else {
                continue;
            };
            pump.cancel.cancel();
            let abort = pump.handle.abort_handle();
            let forced = tokio::time::timeout(self.shutdown_grace, pump.handle)
                .await
                .is_err();
            if forced {
                self.emitter()
                    .deadline_fired("restream.supervisor.shutdown-grace");
                abort.abort();
            }
            self.ctl.remove_destination(&id);
            self.emitter()
                .emit(RestreamEvent::DestinationRemoved { dest: id, forced });
        }
    }

    fn tick_destination(&mut self, dest: &DestinationConfig) {
        let state = self.ctl.destination_state(&dest.id);
        let override_url = state.override_url();
        let alive = self.ctl.ingest_alive();
        let decision = {
            let pump = self.pumps.get(&dest.id).map(|p| PumpView {
                url: &p.url,
                finished: p.handle.is_finished(),
            });
            decide(TickInput {
                ingest_alive: alive,
                dest,
                override_url: override_url.as_deref(),
                pump,
            })
        };

        if decision.try_vod_fetch && state.try_claim_vod_fetch() {
            let epoch = state.session_epoch();
            let emitter = self.emitter().clone();
            let twitch = self.twitch.clone();
            let key = dest.stream_key.clone();
            let id = dest.id.clone();
            emitter.emit(RestreamEvent::VodFetchStart {
                dest: id.clone(),
                epoch,
            });
            let state = state.clone();
            crate::rt::spawn(async move {
                let mut result = twitch.fetch_vod_session(&key, false).await;
                if emitter.fault_point("restream.twitch.response") {
                    result = FetchResult::Error("response lost".into());
                }
                emitter.emit(RestreamEvent::VodFetchDone {
                    dest: id.clone(),
                    epoch,
                    result: result.clone(),
                });
                let url = match result {
                    FetchResult::Session(url) => Some(url),
                    _ => None,
                };
                let applied_url = url.clone();
                match state.complete_vod_fetch(url, epoch) {
                    VodFetchOutcome::Applied => emitter.emit(RestreamEvent::VodFetchApplied {
                        dest: id,
                        epoch,
                        url: applied_url.unwrap_or_default(),
                    }),
                    VodFetchOutcome::DiscardedStale => {
                        emitter.emit(RestreamEvent::VodFetchDiscardedStale {
                            dest: id,
                            epoch,
                            current: state.session_epoch(),
                        })
                    }
                    VodFetchOutcome::Failed => {
                        emitter.emit(RestreamEvent::VodFetchFailed { dest: id, epoch })
                    }
                }
            });
        }

        if let Some(reason) = decision.restart {
            if let Some(old) = self.pumps.remove(&dest.id) {
                if old.handle.is_finished() {
                    if let Some(Ok(Err(e))) = futures_util::FutureExt::now_or_never(old.handle) {
                        self.emitter().emit(RestreamEvent::EgressDied {
                            dest: dest.id.clone(),
                            error: e.kind().to_string(),
                        });
                    }
                } else {
                    old.cancel.cancel();
                    old.handle.abort();
                }
            }
            self.emitter().emit(RestreamEvent::EgressStart {
                dest: dest.id.clone(),
                url: decision.effective_url.clone(),
                reason,
            });
            let cancel = CancellationToken::new();
            let handle = crate::rt::spawn(run_egress(
                self.net.clone(),
                dest.id.clone(),
                decision.effective_url.clone(),
                reason != RestartReason::Initial,
                self.ctl.subscribe_media(),
                cancel.clone(),
                self.emitter().clone(),
                self.ctl.bugs(),
            ));
            self.pumps.insert(
                dest.id.clone(),
                RunningPump {
                    url: decision.effective_url,
                    handle,
                    cancel,
                },
            );
        }
    }
}

/// Is this destination one the VOD path may ever touch?
pub fn is_vod_destination(dest: &DestinationConfig) -> bool {
    dest.platform == Platform::Twitch && dest.vod_audio
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a Twitch destination carrying the VOD audio track is one the VOD
    /// path may touch (contract S4): not Twitch without it, nor any other
    /// platform with it.
    #[test]
    fn only_a_twitch_destination_with_vod_audio_is_a_vod_destination() {
        let url = "rtmp://ingest:1935/app";
        assert!(is_vod_destination(&DestinationConfig::twitch(
            "twitch", url, "k", true
        )));
        assert!(!is_vod_destination(&DestinationConfig::twitch(
            "twitch", url, "k", false
        )));
        for platform in [Platform::YouTube, Platform::Kick, Platform::Custom] {
            let mut d = DestinationConfig::new("other", platform, url, "k");
            d.vod_audio = true;
            assert!(!is_vod_destination(&d), "{platform:?}");
        }
    }
}
