//! `relaysim serve restream`: the restream core for real, on tokio sockets —
//! the same code the simulator drives — so OBS or ffmpeg can publish to it
//! and real RTMP ingests (nginx-rtmp, Twitch, YouTube, Kick) receive it.
//!
//! ```text
//! relaysim serve restream --listen 127.0.0.1:1935 --key obs_key \
//!   --dest youtube=rtmp://127.0.0.1:19352/live2/yt_key \
//!   --dest twitch=rtmp://127.0.0.1:19351/app/live_twitch_key \
//!   --twitch-api http://127.0.0.1:8080
//! ```
//!
//! Publish to `rtmp://<listen>/live/<key>` (any app). Each `--dest
//! name=rtmp://host:port/app/key` is one destination; the name `twitch`
//! makes it a Twitch destination, which with `--twitch-api` also fetches a
//! VOD-audio session and restreams to the ingest URL the API returns.
//! Every relay event is printed as it happens, one line each
//! (`<seconds> relay <event>`, the trace's line form).

use clap::{Args, Subcommand};
use relaysim_core::event::{Event, EventSink};
use relaysim_core::restream::relay::relay_handle;
use relaysim_core::restream::rtmp::RtmpUrl;
use relaysim_core::restream::{run_relay, DestinationConfig, Platform, RelayConfig};
use relaysim_core::{Emitter, TokioNet};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `relaysim serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// What to serve.
    #[command(subcommand)]
    pub what: Serve,
}

/// The cores `serve` can run.
#[derive(Subcommand, Debug, Clone)]
pub enum Serve {
    /// The restream relay: RTMP ingest fanned out to RTMP destinations.
    Restream(RestreamArgs),
}

/// Arguments of `relaysim serve restream`.
#[derive(Args, Debug, Clone)]
pub struct RestreamArgs {
    /// Where publishers connect (`host:port`).
    #[arg(long, default_value = "127.0.0.1:1935")]
    pub listen: String,
    /// The stream key publishers must publish with.
    #[arg(long, default_value = "obs_key")]
    pub key: String,
    /// A destination, `name=rtmp://host:port/app/key` (repeatable; the name
    /// `twitch` is a Twitch destination).
    #[arg(long = "dest", required = true)]
    pub dests: Vec<String>,
    /// The Twitch API, `http://host:port`: the Twitch destination then
    /// fetches a VOD-audio session.
    #[arg(long)]
    pub twitch_api: Option<String>,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Switch a known bug back on (its pre-fix path; tests show real
    /// peers what it breaks). Repeatable.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
}

/// A destination from `name=rtmp://host:port/app/key`.
pub fn parse_dest(spec: &str, vod_audio: bool) -> Result<DestinationConfig, String> {
    let (name, url) = spec
        .split_once('=')
        .ok_or_else(|| format!("--dest {spec:?} is not name=rtmp://host:port/app/key"))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "--dest {spec:?}: the name must be letters, digits, '-' or '_'"
        ));
    }
    let u = RtmpUrl::parse(url).map_err(|e| format!("--dest {spec:?}: {e}"))?;
    let base = u.tc_url();
    Ok(match name {
        "twitch" => DestinationConfig::twitch(name, &base, &u.key, vod_audio),
        "youtube" => DestinationConfig::new(name, Platform::YouTube, &base, &u.key),
        "kick" => DestinationConfig::new(name, Platform::Kick, &base, &u.key),
        _ => DestinationConfig::new(name, Platform::Custom, &base, &u.key),
    })
}

/// `http://host:port[/]` → `host:port`.
pub fn parse_http_authority(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--twitch-api {url:?} is not http://host:port"))?;
    let auth = rest.trim_end_matches('/');
    relaysim_core::net::split_host_port(auth).map_err(|e| format!("--twitch-api {url:?}: {e}"))?;
    if auth.contains('/') {
        return Err(format!("--twitch-api {url:?} is not http://host:port"));
    }
    Ok(auth.to_string())
}

/// Prints each event as `<seconds since start> <host> <event>`.
struct PrintSink {
    start: tokio::time::Instant,
}

impl EventSink for PrintSink {
    fn record(&self, host: &'static str, event: Event) {
        let at = self.start.elapsed().as_secs_f64();
        outln!("{at:>9.3}s {host:<14} {event}");
    }
}

/// The relay configuration `args` describe.
pub fn relay_config(args: &RestreamArgs) -> Result<RelayConfig, String> {
    let twitch_api = match &args.twitch_api {
        Some(u) => Some(parse_http_authority(u)?),
        None => None,
    };
    let dests = args
        .dests
        .iter()
        .map(|d| parse_dest(d, twitch_api.is_some()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut names: Vec<&str> = dests.iter().map(|d| d.id.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err("--dest names must be distinct".into());
    }
    relaysim_core::net::split_host_port(&args.listen).map_err(|e| format!("--listen: {e}"))?;
    // Without an API the Twitch destination has no VOD branch, and the
    // address is never dialed.
    let mut cfg = RelayConfig::new(
        &args.key,
        twitch_api.as_deref().unwrap_or("127.0.0.1:9"),
        dests,
    );
    cfg.ingest_listen = args.listen.clone();
    cfg.bugs = super::parse_bugs(&args.bugs)?;
    Ok(cfg)
}

/// Runs `relaysim serve`.
pub fn run(args: &ServeArgs) -> Result<bool, String> {
    let Serve::Restream(a) = &args.what;
    let cfg = relay_config(a)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    rt.block_on(async {
        let sink = Arc::new(PrintSink {
            start: tokio::time::Instant::now(),
        });
        let handle = relay_handle(&cfg, Emitter::new("relay", sink));
        outln!(
            "relaysim serve restream: publish to rtmp://{}/live/{}",
            cfg.ingest_listen,
            cfg.ingest_key
        );
        for d in &cfg.destinations {
            outln!(
                "relaysim serve restream: dest {} ({:?}{}) {}",
                d.id,
                d.platform,
                if d.vod_audio { ", VOD audio" } else { "" },
                d.configured_url()
            );
        }
        let relay = run_relay(TokioNet, cfg.clone(), handle);
        match a.seconds {
            Some(s) => {
                match tokio::time::timeout(Duration::from_secs_f64(s.max(0.0)), relay).await {
                    Ok(Err(e)) => Err(format!("serve restream: {e}")),
                    _ => Ok(true),
                }
            }
            None => relay
                .await
                .map(|()| true)
                .map_err(|e| format!("serve restream: {e}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_and_addresses() {
        let d = parse_dest("twitch=rtmp://127.0.0.1:1/app/live_k", true).unwrap();
        assert_eq!(
            (d.platform, d.vod_audio, d.configured_url().as_str()),
            (Platform::Twitch, true, "rtmp://127.0.0.1:1/app/live_k")
        );
        let d = parse_dest("nginx=rtmp://h:2/a/b/k", true).unwrap();
        assert_eq!(
            (d.platform, d.vod_audio, d.url.as_str()),
            (Platform::Custom, false, "rtmp://h:2/a/b")
        );
        for bad in [
            "youtube",
            "=rtmp://h:1/a/k",
            "y t=rtmp://h:1/a/k",
            "x=rtmp://h/a/k",
        ] {
            assert!(parse_dest(bad, false).is_err(), "{bad}");
        }
        assert_eq!(
            parse_http_authority("http://127.0.0.1:80/").unwrap(),
            "127.0.0.1:80"
        );
        assert!(parse_http_authority("https://h:1").is_err());
        assert!(parse_http_authority("http://h").is_err());
        let args = RestreamArgs {
            listen: "127.0.0.1:0".into(),
            key: "k".into(),
            dests: vec!["a=rtmp://h:1/x/k".into(), "a=rtmp://h:1/y/k".into()],
            twitch_api: None,
            seconds: None,
            bugs: vec![],
        };
        assert!(relay_config(&args).unwrap_err().contains("distinct"));
        let args = RestreamArgs {
            dests: vec!["a=rtmp://h:1/x/k".into()],
            bugs: vec!["nope".into()],
            ..args
        };
        assert!(relay_config(&args).unwrap_err().contains("unknown bug"));
    }
}
