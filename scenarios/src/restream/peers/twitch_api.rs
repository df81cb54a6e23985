//! The simulated Twitch API (`twitch-api` host, port 80).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use relaysim_core::entropy::SimRng;
use relaysim_core::net::{Net, NetListener};
use relaysim_core::restream::twitch::{ClientConfigRequest, ClientConfigResponse, IngestEndpoint};
use relaysim_harness::Recorder;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the Twitch API records (`twitch.*`, host `twitch-api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwitchEvent {
    /// It allocated IVS session `ivs-{session}`.
    Alloc {
        /// The session number.
        session: u64,
    },
    /// It answered an error status.
    Error {
        /// The HTTP status.
        status: u16,
    },
    /// It accepted a connection (phase events only, see
    /// [`TwitchApi::record_phases`]).
    Accept {
        /// Accepted while silent: the connection will hang for good.
        silent: bool,
    },
    /// It read a whole request (phase events only).
    Request,
    /// A connection it served ended (phase events only; a hung one never
    /// does).
    Close,
}

impl std::fmt::Display for TwitchEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TwitchEvent::Alloc { session } => write!(f, "twitch.alloc session=ivs-{session}"),
            TwitchEvent::Error { status } => write!(f, "twitch.error status={status}"),
            TwitchEvent::Accept { silent } => write!(f, "twitch.accept silent={silent}"),
            TwitchEvent::Request => f.write_str("twitch.request"),
            TwitchEvent::Close => f.write_str("twitch.close"),
        }
    }
}

/// The port the API listens on.
pub const PORT: u16 = 80;
/// Latency once healed.
pub const HEALTHY_LATENCY_MS: (u64, u64) = (20, 200);

#[derive(Debug)]
struct Inner {
    next_session: u64,
    latency_ms: (u64, u64),
    error_percent: u8,
    rng: SimRng,
    allocated: Vec<u64>,
}

/// Shared state of the API: survives a bounce of its host.
#[derive(Debug)]
pub struct TwitchApi {
    inner: Mutex<Inner>,
    recorder: Arc<Recorder>,
    /// Host of the ingest the allocated URLs point at (`host:port`).
    ingest_authority: String,
    /// Silent: connections accepted and requests read now hang for good.
    silent: AtomicBool,
    /// Record `twitch.accept`/`twitch.request`/`twitch.close` too.
    phases: AtomicBool,
}

impl TwitchApi {
    /// The API for one run; allocated URLs point at `ingest_authority`.
    pub fn new(seed: u64, recorder: Arc<Recorder>, ingest_authority: &str) -> Arc<TwitchApi> {
        Arc::new(TwitchApi {
            inner: Mutex::new(Inner {
                next_session: 1,
                latency_ms: HEALTHY_LATENCY_MS,
                error_percent: 0,
                rng: SimRng::fork(seed, "twitch-api"),
                allocated: Vec::new(),
            }),
            recorder,
            ingest_authority: ingest_authority.to_string(),
            silent: AtomicBool::new(false),
            phases: AtomicBool::new(false),
        })
    }

    /// Also record each connection's accept, request and close (the
    /// `vod-phases` world: its phase spans are read from them). Off in the
    /// other worlds, whose traces stay as they were.
    pub fn record_phases(&self) {
        self.phases.store(true, Ordering::Release);
    }

    fn phase_event(&self, ev: TwitchEvent) {
        if self.phases.load(Ordering::Acquire) {
            self.recorder.peer("twitch-api", ev);
        }
    }

    /// Goes silent (or speaks again): see `Fault::Silent`.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Release);
    }

    fn is_silent(&self) -> bool {
        self.silent.load(Ordering::Acquire)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Per-request latency range from now on.
    pub fn set_latency(&self, min_ms: u64, max_ms: u64) {
        self.inner().latency_ms = (min_ms, max_ms.max(min_ms));
    }

    /// Share of requests answered 503 from now on.
    pub fn set_errors(&self, percent: u8) {
        self.inner().error_percent = percent.min(100);
    }

    /// Back to healthy latency and no errors (the heal).
    pub fn heal(&self) {
        let mut i = self.inner();
        i.latency_ms = HEALTHY_LATENCY_MS;
        i.error_percent = 0;
        self.set_silent(false);
    }

    /// Sessions allocated so far.
    pub fn allocated(&self) -> Vec<u64> {
        self.inner().allocated.clone()
    }

    /// Decides one request: `Ok(session)` or `Err(status)`, and its latency.
    fn decide(&self) -> (Result<u64, u16>, Duration) {
        let mut i = self.inner();
        let (lo, hi) = i.latency_ms;
        let latency = Duration::from_millis(i.rng.range(lo, hi));
        let pct = f64::from(i.error_percent) / 100.0;
        if i.rng.chance(pct) {
            return (Err(503), latency);
        }
        let n = i.next_session;
        i.next_session += 1;
        i.allocated.push(n);
        (Ok(n), latency)
    }

    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        self.phase_event(TwitchEvent::Request);
        if self.is_silent() {
            // A hung worker: the request was read, no answer ever comes.
            std::future::pending::<()>().await;
        }
        let Ok(request) = serde_json::from_slice::<ClientConfigRequest>(&body) else {
            return Ok(response(
                400,
                Bytes::from_static(b"{\"error\":\"bad request\"}"),
            ));
        };
        let (decision, latency) = self.decide();
        match decision {
            Ok(n) => {
                self.recorder
                    .peer("twitch-api", TwitchEvent::Alloc { session: n });
                tokio::time::sleep(latency).await;
                let body = ClientConfigResponse {
                    ingest_endpoints: vec![IngestEndpoint {
                        url_template: format!(
                            "rtmp://{}/ivs-{n}/{{stream_key}}",
                            self.ingest_authority
                        ),
                    }],
                };
                let _ = request.vod_track_audio;
                Ok(response(
                    200,
                    Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
                ))
            }
            Err(status) => {
                tokio::time::sleep(latency).await;
                self.recorder
                    .peer("twitch-api", TwitchEvent::Error { status });
                Ok(response(
                    status,
                    Bytes::from_static(b"{\"error\":\"unavailable\"}"),
                ))
            }
        }
    }
}

fn response(status: u16, body: Bytes) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(body));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

/// The host's software: serve HTTP/1.1 on port 80 forever.
pub async fn serve(api: Arc<TwitchApi>) -> relaysim_harness::HostResult {
    let listener = relaysim_harness::SimNet
        .bind(&format!("0.0.0.0:{PORT}"))
        .await?;
    serve_on(listener, api).await?;
    Ok(())
}

/// Serves HTTP/1.1 on any listener (turmoil in simulation, tokio on
/// loopback for the real-time comparison in `relaysim bench`).
pub async fn serve_on<L: NetListener>(mut listener: L, api: Arc<TwitchApi>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let api = api.clone();
        let silent = api.is_silent();
        api.phase_event(TwitchEvent::Accept { silent });
        relaysim_core::rt::spawn(async move {
            if silent {
                // Accepted, then nothing: never read, never answered, never
                // closed.
                let _hung = stream;
                std::future::pending::<()>().await;
                return;
            }
            let a = api.clone();
            let svc = service_fn(move |req| a.clone().handle(req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
            api.phase_event(TwitchEvent::Close);
        });
    }
}
