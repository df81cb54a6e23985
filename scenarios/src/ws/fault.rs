//! The ws family's faults: the plugin's workload (uploads, server swaps)
//! and its misbehaviour (orphan headers, a command in a payload slot,
//! missing, late and stray payloads, unknown commands, stalls), all played
//! by the `ws-client` peer on the plan's command.
//!
//! Owns [`Fault`]. Network faults and core fault points are the harness's
//! (`Step::Net`, `Step::Point`); this enum holds only what a ws world hands
//! its plugin, and never anything that is not plain data. Every kind keeps
//! the `ws-` prefix its trace line always had (`fault.ws-upload …`).

use relaysim_core::session::ws::protocol::PayloadKind;
use relaysim_harness::fault::bounds;
use relaysim_harness::fault::{FamilyFault, Scope};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A plugin action: workload, protocol abuse, or a stall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Workload: a header and its `bytes` payload, back to back.
    #[serde(rename = "ws-upload")]
    Upload {
        /// The command (which `*_failed` answers it).
        #[serde(with = "cmd")]
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// Workload: `swap_source` from the server's copy (a push follows).
    #[serde(rename = "ws-swap-server")]
    SwapServer,
    /// A header whose payload never comes; the next `params` lands in its slot.
    #[serde(rename = "ws-orphan-header")]
    OrphanHeader {
        /// The command (which `*_failed` answers it).
        #[serde(with = "cmd")]
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// A header, then at once another header (with its payload) in its slot.
    #[serde(rename = "ws-text-for-binary")]
    TextForBinary {
        /// The command (which `*_failed` answers it).
        #[serde(with = "cmd")]
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// A header, then nothing sent for `quiet_ms` (reads go on).
    #[serde(rename = "ws-missing-payload")]
    MissingPayload {
        /// The command (which `*_failed` answers it).
        #[serde(with = "cmd")]
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
        /// How long nothing is sent, in milliseconds.
        quiet_ms: u64,
    },
    /// A header, nothing sent for `delay_ms`, then its payload.
    #[serde(rename = "ws-late-payload")]
    LatePayload {
        /// The command (which `*_failed` answers it).
        #[serde(with = "cmd")]
        cmd: PayloadKind,
        /// Payload size, in bytes.
        bytes: u64,
        /// How long before the payload follows, in milliseconds.
        delay_ms: u64,
    },
    /// A binary message with no header.
    #[serde(rename = "ws-stray-payload")]
    StrayPayload {
        /// Payload size, in bytes.
        bytes: u64,
    },
    /// A command of a type the server does not know.
    #[serde(rename = "ws-unknown-command")]
    UnknownCommand,
    /// The plugin freezes for `ms`: no reads, no sends (a slow peer).
    #[serde(rename = "ws-stall")]
    Stall {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// The idler (`ws-phases` only) opens a connection, sends a WebSocket
    /// upgrade request or nothing, never reads, and drops it after
    /// `hold_ms`.
    #[serde(rename = "ws-idle")]
    Idle {
        /// It sends an upgrade request (else nothing at all).
        upgrade: bool,
        /// How long it holds the connection, in milliseconds.
        hold_ms: u64,
    },
}

impl FamilyFault for Fault {
    /// Malformed or missing messages and a stalled plugin disturb the
    /// plugin's connection; the idler's its own. Uploads and swaps are the
    /// workload.
    fn scope(&self) -> Option<Scope> {
        use super::world::{CLIENT, IDLER, SERVER};
        match self {
            Fault::Upload { .. } | Fault::SwapServer => None,
            Fault::Idle { .. } => Some(Scope::link(IDLER, SERVER)),
            _ => Some(Scope::link(CLIENT, SERVER)),
        }
    }

    fn validate(&self) -> Result<(), String> {
        /// The largest payload a plan may ask for.
        const MAX_BYTES: u64 = 64 << 20;
        match self {
            Fault::Upload { bytes, .. }
            | Fault::OrphanHeader { bytes, .. }
            | Fault::TextForBinary { bytes, .. }
            | Fault::StrayPayload { bytes } => bounds::at_most("bytes", *bytes, MAX_BYTES),
            Fault::MissingPayload {
                bytes, quiet_ms, ..
            } => {
                bounds::at_most("bytes", *bytes, MAX_BYTES)?;
                bounds::ms("quiet_ms", *quiet_ms)
            }
            Fault::LatePayload {
                bytes, delay_ms, ..
            } => {
                bounds::at_most("bytes", *bytes, MAX_BYTES)?;
                bounds::ms("delay_ms", *delay_ms)
            }
            Fault::Stall { ms } => bounds::ms("ms", *ms),
            Fault::Idle { hold_ms, .. } => bounds::ms("hold_ms", *hold_ms),
            Fault::SwapServer | Fault::UnknownCommand => Ok(()),
        }
    }
}

impl Fault {
    /// The same action with its durations divided by `factor` (sizes kept).
    pub fn scaled(self, factor: u32) -> Fault {
        let k = u64::from(factor.max(1));
        match self {
            Fault::MissingPayload {
                cmd,
                bytes,
                quiet_ms,
            } => Fault::MissingPayload {
                cmd,
                bytes,
                quiet_ms: quiet_ms / k,
            },
            Fault::LatePayload {
                cmd,
                bytes,
                delay_ms,
            } => Fault::LatePayload {
                cmd,
                bytes,
                delay_ms: delay_ms / k,
            },
            Fault::Stall { ms } => Fault::Stall { ms: ms / k },
            other => other,
        }
    }

    /// How long this fault keeps the plugin from sending (and, for a stall,
    /// reading): the window in which its commands may wait.
    pub fn quiet(&self) -> Option<Duration> {
        match self {
            Fault::MissingPayload { quiet_ms, .. } => Some(Duration::from_millis(*quiet_ms)),
            Fault::LatePayload { delay_ms, .. } => Some(Duration::from_millis(*delay_ms)),
            Fault::Stall { ms } => Some(Duration::from_millis(*ms)),
            _ => None,
        }
    }
}

/// A fault's `cmd` by the command it sends (`write_audio`,
/// `set_timbre_source`, `swap_source`): the name its trace line always
/// printed, which for `TimbreSource` is not `PayloadKind`'s serde name.
/// Serialized as a `PayloadKind` unit variant, so the trace line prints the
/// name and the literal names the type.
mod cmd {
    use relaysim_core::session::ws::protocol::PayloadKind;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(k: &PayloadKind, s: S) -> Result<S::Ok, S::Error> {
        let index = PayloadKind::ALL.iter().position(|x| x == k).unwrap_or(0);
        s.serialize_unit_variant("PayloadKind", index as u32, k.command())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PayloadKind, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        PayloadKind::ALL
            .into_iter()
            .find(|k| k.command() == name)
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "unknown cmd {name:?}: one of write_audio, set_timbre_source, swap_source"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaysim_harness::fault::{FaultEvent, FaultPlan};

    #[test]
    fn ws_faults_print_serialize_and_replay() {
        let plan = FaultPlan::new(vec![
            FaultEvent {
                at_ms: 1500,
                fault: Fault::MissingPayload {
                    cmd: PayloadKind::TimbreSource,
                    bytes: 4096,
                    quiet_ms: 10_500,
                }
                .into(),
            },
            FaultEvent {
                at_ms: 2000,
                fault: Fault::SwapServer.into(),
            },
            FaultEvent {
                at_ms: 2500,
                fault: Fault::Upload {
                    cmd: PayloadKind::WriteAudio,
                    bytes: 7,
                }
                .into(),
            },
        ]);
        assert_eq!(FaultPlan::from_json(&plan.to_json()).unwrap(), plan);
        let json = serde_json::to_string(&plan).unwrap();
        assert!(
            json.contains(r#"{"kind":"ws-upload","cmd":"write_audio","bytes":7}"#),
            "{json}"
        );
        assert!(json.contains(r#"{"kind":"ws-swap-server"}"#), "{json}");
        let lit = plan.to_literal();
        assert!(
            lit.contains("{ cmd: PayloadKind::WriteAudio, bytes: 7 }.into()"),
            "{lit}"
        );
        assert_eq!(
            plan.events[0].fault.to_string(),
            "fault.ws-missing-payload cmd=set_timbre_source bytes=4096 quiet_ms=10500"
        );
        assert_eq!(
            plan.events[2].fault.to_string(),
            "fault.ws-upload cmd=write_audio bytes=7"
        );
        assert_eq!(plan.events[1].fault.kind(), "ws-swap-server");
        assert!(!plan.events[1].fault.is_network());
        assert_eq!(
            Fault::Stall { ms: 5 }.quiet(),
            Some(Duration::from_millis(5))
        );
        assert_eq!(Fault::UnknownCommand.quiet(), None);
        let e = FaultPlan::<Fault>::from_json(
            r#"{"events":[{"at_ms":0,"fault":{"kind":"ws-upload","cmd":"timbre","bytes":1}}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("unknown cmd"), "{e}");
    }

    #[test]
    fn scaling_divides_durations_and_keeps_sizes() {
        let late = Fault::LatePayload {
            cmd: PayloadKind::WriteAudio,
            bytes: 4096,
            delay_ms: 3_000,
        };
        assert_eq!(
            late.scaled(20),
            Fault::LatePayload {
                cmd: PayloadKind::WriteAudio,
                bytes: 4096,
                delay_ms: 150,
            }
        );
        assert_eq!(
            Fault::Stall { ms: 8_500 }.scaled(10),
            Fault::Stall { ms: 850 }
        );
        assert_eq!(Fault::SwapServer.scaled(20), Fault::SwapServer);
    }
}
