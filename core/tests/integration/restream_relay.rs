//! restream's egress side and the whole relay against scripted in-memory
//! peers, on paused time: RTMP destinations that accept, refuse or report a
//! failure the way real ingests do (rml_rtmp's `_error`, nginx-rtmp's error
//! `onStatus`), that ping and that drop a connection; a publisher; a Twitch
//! API that allocates an IVS session.
//!
//! Each test states a rule of the component's contract
//! (`core/src/restream/mod.rs`) or of a function's doc, judged from what
//! the peers saw (a destination's own record of each session) and from the
//! relay's trace lines.

use crate::support::{mem_listener, read_request, Dialer, Events, MemListener, MemNet};
use bytes::Bytes;
use relaysim_core::net::Net;
use relaysim_core::restream::controller::Controller;
use relaysim_core::restream::media::Media;
use relaysim_core::restream::pump::run_egress;
use relaysim_core::restream::relay::{relay_handle, run_relay, RelayConfig, RelayHandle};
use relaysim_core::restream::rtmp::rml_rtmp::chunk_io::ChunkSerializer;
use relaysim_core::restream::rtmp::rml_rtmp::handshake::{
    Handshake, HandshakeProcessResult, PeerType,
};
use relaysim_core::restream::rtmp::rml_rtmp::messages::RtmpMessage;
use relaysim_core::restream::rtmp::rml_rtmp::rml_amf0::Amf0Value;
use relaysim_core::restream::rtmp::rml_rtmp::sessions::{
    ClientSession, ClientSessionEvent, ClientSessionResult, PublishRequestType, ServerSession,
    ServerSessionEvent, ServerSessionResult, StreamMetadata,
};
use relaysim_core::restream::rtmp::rml_rtmp::time::RtmpTimestamp;
use relaysim_core::restream::rtmp::{
    client_config, connect_publish, guarded, server_config, RtmpUrl, READ_BUF,
};
use relaysim_core::restream::{DestinationConfig, Platform};
use relaysim_core::{BugSet, Emitter};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;

/// Bounds every wait of these tests (paused time: costs nothing).
pub(crate) const BOUND: Duration = Duration::from_secs(60);
/// Bytes each direction of an in-memory connection buffers.
const PIPE: usize = 64 * 1024;

// ---- a scripted RTMP destination -------------------------------------------

/// How a destination answers a publisher.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Answer {
    /// Accepts the connect and the publish.
    Accept,
    /// Refuses the connect (an `_error` to it).
    RefuseConnect,
    /// Refuses the publish (an `_error` naming `NetStream.Publish.BadName`).
    RefusePublish,
    /// Answers the publish with an `onStatus` of this code and nothing else.
    StatusInstead(&'static str),
    /// Sends an `onStatus` of this code, then accepts the publish.
    StatusThenAccept(&'static str),
}

/// A destination's script. After a refusal it keeps the connection open
/// and silent: a publisher that missed the refusal waits, it is not told
/// by a close.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub(crate) answer: Answer,
    /// Pings the publisher once its first message (of any kind) arrived.
    pub(crate) ping: bool,
    /// `onStatus` codes sent once this many frames (media, not headers)
    /// have arrived.
    pub(crate) statuses: Vec<(usize, &'static str)>,
    /// The first connection is dropped once this many frames arrived.
    pub(crate) drop_first_after: Option<usize>,
}

impl Script {
    pub(crate) fn answer(answer: Answer) -> Script {
        Script {
            answer,
            ping: false,
            statuses: Vec::new(),
            drop_first_after: None,
        }
    }
}

/// What one destination saw, one line per step, per connection (from 1):
/// `connect app=…`, `publish key=…`, `metadata`, `<MediaKind> ts=…`,
/// `pong`, `unpublished`, `closed`.
#[derive(Default)]
pub(crate) struct Sink {
    connections: AtomicUsize,
    lines: Mutex<Vec<(usize, String)>>,
}

impl Sink {
    fn push(&self, conn: usize, line: impl Into<String>) {
        self.lines.lock().unwrap().push((conn, line.into()));
    }

    /// What connection `conn` saw.
    fn session(&self, conn: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, l)| l.clone())
            .collect()
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The RTMP handshake as this file's peers run it: rml_rtmp's handshake
/// driven here, not by the relay's own driver (`rtmp::handshake`), so a
/// fault in that driver shows against an independent peer instead of being
/// mirrored by it. Returns the bytes that followed the handshake.
async fn peer_handshake(s: &mut DuplexStream, peer: PeerType) -> io::Result<Vec<u8>> {
    let client = peer == PeerType::Client;
    let mut hs = Handshake::new(peer);
    if client {
        let c0c1 = hs.generate_outbound_p0_and_p1().map_err(invalid)?;
        s.write_all(&c0c1).await?;
    }
    let mut buf = vec![0u8; 4096];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match hs.process_bytes(&buf[..n]).map_err(invalid)? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                s.write_all(&response_bytes).await?
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                s.write_all(&response_bytes).await?;
                return Ok(remaining_bytes);
            }
        }
    }
}

/// An `onStatus` with `code` on message stream 1, as its own chunk (a
/// full header: it needs no state of the session's serializer).
fn on_status(code: &str) -> Vec<u8> {
    // The library's object type is a `HashMap`: built by `collect`, its
    // order reaches only the wire, never what the relay reads.
    let props = [
        ("level", "status"),
        ("code", code),
        ("description", "scripted"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Amf0Value::Utf8String(v.to_string())))
    .collect();
    let message = RtmpMessage::Amf0Command {
        command_name: "onStatus".into(),
        transaction_id: 0.0,
        command_object: Amf0Value::Null,
        additional_arguments: vec![Amf0Value::Object(props)],
    };
    let payload = message
        .into_message_payload(RtmpTimestamp::new(0), 1)
        .unwrap();
    ChunkSerializer::new()
        .serialize(&payload, true, false)
        .unwrap()
        .bytes
}

fn is_header(line: &str) -> bool {
    ["metadata", "AvcHeader", "AacHeader"]
        .iter()
        .any(|h| line.starts_with(h))
}

/// Serves one connection as `script` says, recording in `sink`.
async fn serve_destination(mut s: DuplexStream, script: Script, sink: Arc<Sink>) {
    let conn = sink.connections.fetch_add(1, Ordering::AcqRel) + 1;
    let Ok(rest) = peer_handshake(&mut s, PeerType::Server).await else {
        sink.push(conn, "closed");
        return;
    };
    let (mut session, init) = ServerSession::new(server_config()).unwrap();
    let mut queue: VecDeque<ServerSessionResult> = init.into();
    let mut input = rest;
    let mut buf = vec![0u8; READ_BUF];
    let (mut frames, mut got_message, mut pinged, mut refused) = (0, false, false, false);
    let mut statuses = script.statuses.clone();
    loop {
        if !input.is_empty() && !refused {
            let r = guarded(|| session.handle_input(&input).map_err(invalid));
            match r {
                Ok(r) => queue.extend(r),
                Err(_) => {
                    sink.push(conn, "garbled");
                    return;
                }
            }
        }
        input.clear();
        let mut out = Vec::new();
        while let Some(r) = queue.pop_front() {
            let ev = match r {
                ServerSessionResult::OutboundResponse(p) => {
                    out.extend_from_slice(&p.bytes);
                    continue;
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => continue,
                ServerSessionResult::RaisedEvent(ev) => ev,
            };
            match ev {
                ServerSessionEvent::ConnectionRequested {
                    request_id,
                    app_name,
                } => {
                    sink.push(conn, format!("connect app={app_name}"));
                    let r = if script.answer == Answer::RefuseConnect {
                        refused = true;
                        session.reject_request(
                            request_id,
                            "NetConnection.Connect.Rejected",
                            "no such app",
                        )
                    } else {
                        session.accept_request(request_id)
                    };
                    queue.extend(r.unwrap());
                }
                ServerSessionEvent::PublishStreamRequested {
                    request_id,
                    stream_key,
                    ..
                } => {
                    sink.push(conn, format!("publish key={stream_key}"));
                    match script.answer {
                        Answer::RefusePublish => {
                            refused = true;
                            queue.extend(
                                session
                                    .reject_request(
                                        request_id,
                                        "NetStream.Publish.BadName",
                                        "stream key in use",
                                    )
                                    .unwrap(),
                            );
                        }
                        Answer::StatusInstead(code) => {
                            refused = true;
                            out.extend(on_status(code));
                        }
                        Answer::StatusThenAccept(code) => {
                            out.extend(on_status(code));
                            queue.extend(session.accept_request(request_id).unwrap());
                        }
                        Answer::Accept | Answer::RefuseConnect => {
                            queue.extend(session.accept_request(request_id).unwrap())
                        }
                    }
                }
                ServerSessionEvent::StreamMetadataChanged { .. } => {
                    sink.push(conn, "metadata");
                    got_message = true;
                }
                ServerSessionEvent::VideoDataReceived {
                    data, timestamp, ..
                } => {
                    let kind = Media::Video {
                        ts: timestamp.value,
                        tag: data,
                    }
                    .kind();
                    let line = format!("{kind:?} ts={}", timestamp.value);
                    frames += usize::from(!is_header(&line));
                    sink.push(conn, line);
                    got_message = true;
                }
                ServerSessionEvent::AudioDataReceived {
                    data, timestamp, ..
                } => {
                    let kind = Media::Audio {
                        ts: timestamp.value,
                        tag: data,
                    }
                    .kind();
                    let line = format!("{kind:?} ts={}", timestamp.value);
                    frames += usize::from(!is_header(&line));
                    sink.push(conn, line);
                    got_message = true;
                }
                ServerSessionEvent::PingResponseReceived { .. } => sink.push(conn, "pong"),
                ServerSessionEvent::PublishStreamFinished { .. } => sink.push(conn, "unpublished"),
                _ => {}
            }
        }
        if script.ping && got_message && !pinged {
            pinged = true;
            out.extend_from_slice(&session.send_ping_request().unwrap().0.bytes);
        }
        while statuses.first().is_some_and(|(after, _)| frames >= *after) {
            out.extend(on_status(statuses.remove(0).1));
        }
        if !out.is_empty() && s.write_all(&out).await.is_err() {
            sink.push(conn, "closed");
            return;
        }
        if conn == 1 && script.drop_first_after.is_some_and(|n| frames >= n) {
            sink.push(conn, "dropped");
            return;
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => {
                sink.push(conn, "closed");
                return;
            }
            Ok(n) => input.extend_from_slice(&buf[..n]),
        }
    }
}

/// A network whose every connection reaches one scripted destination.
pub(crate) fn destination(script: Script) -> (MemNet, Arc<Sink>) {
    let sink = Arc::new(Sink::default());
    let s = sink.clone();
    let net = MemNet::spawning(PIPE, move |stream| {
        serve_destination(stream, script.clone(), s.clone())
    });
    (net, sink)
}

// ---- media ------------------------------------------------------------------

const AVC: &[u8] = &[0x17, 0, 0, 0, 0, 1];
const KEY: &[u8] = &[0x17, 1, 0, 0, 0, 5];
const INTER: &[u8] = &[0x27, 1, 0, 0, 0, 1];
const AAC: &[u8] = &[0xaf, 0, 0x13, 0x88];
const AUD: &[u8] = &[0xaf, 1, 0x21];

fn video(ts: u32, tag: &'static [u8]) -> Media {
    Media::Video {
        ts,
        tag: Bytes::from_static(tag),
    }
}

fn audio(ts: u32, tag: &'static [u8]) -> Media {
    Media::Audio {
        ts,
        tag: Bytes::from_static(tag),
    }
}

fn headers() -> [Media; 3] {
    [
        Media::Metadata(Arc::new(StreamMetadata::new())),
        video(0, AVC),
        audio(0, AAC),
    ]
}

/// The `i`th frame of a publisher's stream: video every 40 ms with a
/// keyframe every 25th, each followed by audio.
fn frame(i: u32) -> [Media; 2] {
    let ts = i * 40;
    let tag = if i % 25 == 0 { KEY } else { INTER };
    [video(ts, tag), audio(ts + 1, AUD)]
}

// ---- the egress side: connect_publish ---------------------------------------

const URL: &str = "rtmp://dest:1935/app/dest_key";

/// `connect_publish` against `answer`, bounded.
async fn publish_to(answer: Answer) -> Result<io::Result<()>, tokio::time::error::Elapsed> {
    let (net, _) = destination(Script::answer(answer));
    let url = RtmpUrl::parse(URL).unwrap();
    timeout(BOUND, async {
        let mut stream = net.connect(&url.authority).await?;
        connect_publish(&mut stream, &url).await.map(|_| ())
    })
    .await
}

/// Every refusal a destination can answer with (a refused connect, an
/// `_error` to the publish, an error `onStatus`) ends the publish at once
/// as `PermissionDenied`, naming what the server said.
#[tokio::test(start_paused = true)]
async fn a_refused_publish_is_permission_denied_naming_the_servers_code() {
    for (answer, said) in [
        (
            Answer::RefuseConnect,
            "publish refused: connect: no such app",
        ),
        (
            Answer::RefusePublish,
            "publish refused: NetStream.Publish.BadName",
        ),
        (
            Answer::StatusInstead("NetStream.Publish.Failed"),
            "publish refused: NetStream.Publish.Failed",
        ),
    ] {
        let e = publish_to(answer)
            .await
            .unwrap_or_else(|_| panic!("{answer:?}: the refusal was missed"))
            .expect_err("refused");
        assert_eq!(
            (e.kind(), e.to_string()),
            (io::ErrorKind::PermissionDenied, said.to_string()),
            "{answer:?}"
        );
    }
}

/// Only an error `onStatus` refuses: a status of another kind before the
/// acceptance is passed over, and the publish goes on.
#[tokio::test(start_paused = true)]
async fn a_status_that_is_no_error_does_not_refuse_a_publish() {
    publish_to(Answer::StatusThenAccept("NetStream.Publish.Notify"))
        .await
        .expect("bounded")
        .expect("published");
    publish_to(Answer::Accept)
        .await
        .expect("bounded")
        .expect("published");
}

// ---- the egress side: a pump ------------------------------------------------

/// A controller with a publish session whose headers are cached.
async fn publishing(events: &Arc<Events>) -> (Controller, u64) {
    let ctl = Controller::new("key", BugSet::NONE, Emitter::new("relay", events.clone()));
    let t = ctl.begin_publish("key").await.unwrap();
    for m in headers() {
        ctl.on_media(t, m);
    }
    (ctl, t)
}

/// A pump answers its destination's pings while no media flows (the read
/// half is served on its own, not only between frames), sends the cached
/// headers as soon as it is publishing, and ends on an error `onStatus` —
/// only on an error one — with `ConnectionAborted` naming the code.
#[tokio::test(start_paused = true)]
async fn a_pump_answers_pings_and_ends_on_an_error_status_only() {
    let (net, sink) = destination(Script {
        ping: true,
        statuses: vec![(1, "NetStream.Data.Start"), (3, "NetStream.Publish.Failed")],
        ..Script::answer(Answer::Accept)
    });
    let events = Events::new();
    let (ctl, t) = publishing(&events).await;
    let pump = tokio::spawn(run_egress(
        net,
        "dest".into(),
        URL.into(),
        false,
        ctl.subscribe_media(),
        CancellationToken::new(),
        ctl.emitter().clone(),
        BugSet::NONE,
    ));
    sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sink.session(1),
        [
            "connect app=app",
            "publish key=dest_key",
            "metadata",
            "AvcHeader ts=0",
            "AacHeader ts=0",
            "pong",
        ],
        "headers at once, the ping answered with no media flowing"
    );
    for i in 0..10 {
        ctl.on_media(t, video(1000 + 40 * i, if i == 0 { KEY } else { INTER }));
        sleep(Duration::from_millis(40)).await;
    }
    let e = timeout(BOUND, pump)
        .await
        .expect("the error status ended the pump")
        .unwrap()
        .expect_err("an error status is an error");
    assert_eq!(
        (e.kind(), e.to_string()),
        (
            io::ErrorKind::ConnectionAborted,
            "destination said NetStream.Publish.Failed".to_string()
        )
    );
    let frames: Vec<String> = sink
        .session(1)
        .into_iter()
        .filter(|l| l.starts_with("Keyframe") || l.starts_with("Video"))
        .collect();
    assert_eq!(
        frames[..3],
        ["Keyframe ts=0", "Video ts=40", "Video ts=80"],
        "frames went on after the status that was no error"
    );
}

// ---- the whole relay ----------------------------------------------------------

/// The relay's world: `connect` reaches the peer serving that address
/// (refused when none does); `bind` hands out the ingest listener, once.
#[derive(Clone)]
pub(crate) struct World {
    peers: Arc<Mutex<BTreeMap<String, MemNet>>>,
    listener: Arc<Mutex<Option<MemListener>>>,
    /// The addresses `bind` was asked for.
    bound: Arc<Mutex<Vec<String>>>,
}

impl World {
    /// A world with an ingest listener; publishers dial the returned end.
    pub(crate) fn new() -> (World, Dialer) {
        let (listener, dialer) = mem_listener(PIPE);
        let world = World {
            peers: Arc::default(),
            listener: Arc::new(Mutex::new(Some(listener))),
            bound: Arc::default(),
        };
        (world, dialer)
    }

    /// `addr` is served by `net`'s server.
    pub(crate) fn serve(&self, addr: &str, net: MemNet) {
        self.peers.lock().unwrap().insert(addr.to_string(), net);
    }
}

impl Net for World {
    type Stream = DuplexStream;
    type Listener = MemListener;

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<DuplexStream>> + Send {
        let peer = self.peers.lock().unwrap().get(addr).cloned();
        async move {
            match peer {
                Some(net) => net.connect("").await,
                None => Err(io::Error::from(io::ErrorKind::ConnectionRefused)),
            }
        }
    }

    async fn bind(&self, addr: &str) -> io::Result<MemListener> {
        self.bound.lock().unwrap().push(addr.to_string());
        self.listener
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| io::Error::from(io::ErrorKind::AddrInUse))
    }
}

/// A Twitch API answering every request with an ingest URL on
/// `twitch-ingest:1935` naming IVS session `n` (counting from 1).
pub(crate) fn twitch_api() -> MemNet {
    let sessions = Arc::new(AtomicUsize::new(0));
    MemNet::spawning(PIPE, move |mut s: DuplexStream| {
        let sessions = sessions.clone();
        async move {
            if !read_request(&mut s).await {
                return;
            }
            let n = sessions.fetch_add(1, Ordering::AcqRel) + 1;
            let body = format!(
                r#"{{"ingest_endpoints":[{{"url_template":"rtmp://twitch-ingest:1935/ivs-{n}/{{stream_key}}"}}]}}"#
            );
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(answer.as_bytes()).await;
            // Holds the connection until the client drops it.
            let _ = s.read(&mut [0u8; 1]).await;
        }
    })
}

/// A publisher admitted by the relay's ingest.
pub(crate) struct Publisher {
    stream: DuplexStream,
    session: ClientSession,
}

impl Publisher {
    /// Connects and publishes with key `key` to app `live` (its own
    /// client, not the relay's `connect_publish`).
    pub(crate) async fn connect(dialer: &Dialer) -> Publisher {
        let mut stream = dialer.connect();
        let session = timeout(BOUND, async {
            let mut input = peer_handshake(&mut stream, PeerType::Client).await?;
            let (mut session, init) =
                ClientSession::new(client_config("rtmp://relay:1935/live")).map_err(invalid)?;
            let mut results: VecDeque<ClientSessionResult> = init.into();
            results.push_back(session.request_connection("live".into()).map_err(invalid)?);
            let mut buf = vec![0u8; 4096];
            loop {
                let mut out = Vec::new();
                let mut published = false;
                while let Some(r) = results.pop_front() {
                    match r {
                        ClientSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
                        ClientSessionResult::RaisedEvent(
                            ClientSessionEvent::ConnectionRequestAccepted,
                        ) => results.push_back(
                            session
                                .request_publishing("key".into(), PublishRequestType::Live)
                                .map_err(invalid)?,
                        ),
                        ClientSessionResult::RaisedEvent(
                            ClientSessionEvent::PublishRequestAccepted,
                        ) => published = true,
                        _ => {}
                    }
                }
                stream.write_all(&out).await?;
                if published {
                    return Ok::<_, io::Error>(session);
                }
                if input.is_empty() {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    input.extend_from_slice(&buf[..n]);
                }
                results = session.handle_input(&input).map_err(invalid)?.into();
                input.clear();
            }
        })
        .await
        .expect("bounded")
        .expect("the relay admits the publisher");
        // Off the supervisor's 2 s grid: no frame lands on a tick.
        sleep(Duration::from_millis(10)).await;
        Publisher { stream, session }
    }

    async fn write(&mut self, r: ClientSessionResult) {
        if let ClientSessionResult::OutboundResponse(p) = r {
            self.stream.write_all(&p.bytes).await.unwrap();
        }
    }

    async fn send(&mut self, m: Media) {
        let r = match m {
            Media::Metadata(meta) => self.session.publish_metadata(&meta),
            Media::Video { ts, tag } => {
                self.session
                    .publish_video_data(tag, RtmpTimestamp::new(ts), false)
            }
            Media::Audio { ts, tag } => {
                self.session
                    .publish_audio_data(tag, RtmpTimestamp::new(ts), false)
            }
        };
        self.write(r.unwrap()).await;
    }

    /// Sends its headers, then frames `from..to`, one every 40 ms.
    pub(crate) async fn stream(&mut self, from: u32, to: u32) {
        if from == 0 {
            for m in headers() {
                self.send(m).await;
            }
        }
        for i in from..to {
            for m in frame(i) {
                self.send(m).await;
            }
            sleep(Duration::from_millis(40)).await;
        }
    }

    /// Stops publishing, keeping its connection open.
    pub(crate) async fn unpublish(&mut self) {
        for r in self.session.stop_publishing().unwrap() {
            self.write(r).await;
        }
    }
}

/// A running relay over `world` with `destinations`, tracing into `events`.
pub(crate) fn relay(
    world: &World,
    destinations: Vec<DestinationConfig>,
    bugs: BugSet,
) -> (RelayHandle, Arc<Events>) {
    let events = Events::new();
    let mut cfg = RelayConfig::new("key", "twitch-api:80", destinations);
    cfg.bugs = bugs;
    let handle = relay_handle(&cfg, Emitter::new("relay", events.clone()));
    tokio::spawn(run_relay(world.clone(), cfg, handle.clone()));
    (handle, events)
}

pub(crate) fn youtube() -> DestinationConfig {
    DestinationConfig::new("youtube", Platform::YouTube, "rtmp://yt:1935/app", "yt_key")
}

pub(crate) fn kick() -> DestinationConfig {
    DestinationConfig::new("kick", Platform::Kick, "rtmp://kick:1935/app", "kick_key")
}

/// The media lines of a destination's session `conn`, headers included,
/// in order (`metadata`, `<kind> ts=…`).
fn media_of(sink: &Sink, conn: usize) -> Vec<String> {
    sink.session(conn)
        .into_iter()
        .filter(|l| l == "metadata" || l.contains(" ts="))
        .collect()
}

/// The first media lines of a session that starts decodable: metadata,
/// both headers, then a keyframe at 0.
const DECODABLE: [&str; 4] = [
    "metadata",
    "AvcHeader ts=0",
    "AacHeader ts=0",
    "Keyframe ts=0",
];

/// What a publisher sends reaches every destination through the relay
/// (its metadata, video and audio, each with its timestamp), each egress
/// session decodable from its first frame (S5) and rebased to start at 0;
/// the trace says who was admitted and which pumps started where.
#[tokio::test(start_paused = true)]
async fn a_publishers_media_reaches_every_destination_decodable_from_its_first_frame() {
    timeout(BOUND, async {
        let (world, dialer) = World::new();
        let (yt_net, yt) = destination(Script::answer(Answer::Accept));
        let (kick_net, kick_sink) = destination(Script::answer(Answer::Accept));
        world.serve("yt:1935", yt_net);
        world.serve("kick:1935", kick_net);
        let (handle, events) = relay(&world, vec![youtube(), kick()], BugSet::NONE);
        let mut publisher = Publisher::connect(&dialer).await;
        publisher.stream(0, 150).await;
        assert!(handle.controller.ingest_alive());
        for sink in [&yt, &kick_sink] {
            assert_eq!(sink.connections(), 1, "one egress session each");
            let media = media_of(sink, 1);
            assert_eq!(media[..4], DECODABLE, "{media:?}");
            // The pumps started on the 2 s tick; the publisher's keyframe
            // at 2000 ms opened the gate, and every frame after it went on
            // with its own spacing.
            assert_eq!(
                media[4..8],
                ["Audio ts=1", "Video ts=40", "Audio ts=41", "Video ts=80"],
                "{media:?}"
            );
            assert!(media.len() > 4 + 2 * 50, "{} media lines", media.len());
        }
        assert_eq!(
            events.lines_of(&["publish.", "egress.start"]),
            [
                "publish.begin token=1",
                "egress.start dest=youtube reason=initial url=rtmp://yt:1935/app/yt_key",
                "egress.start dest=kick reason=initial url=rtmp://kick:1935/app/kick_key",
            ]
        );
    })
    .await
    .expect("bounded");
}

/// `listen_ingest` binds the address it is given and serves ingest there:
/// a publisher dialing it is admitted.
#[tokio::test(start_paused = true)]
async fn listen_ingest_serves_ingest_on_the_address_it_binds() {
    use relaysim_core::restream::ingest::listen_ingest;
    timeout(BOUND, async {
        let (world, dialer) = World::new();
        let ctl = Arc::new(Controller::new(
            "key",
            BugSet::NONE,
            Emitter::tracing_only("relay"),
        ));
        let w = world.clone();
        let c = ctl.clone();
        tokio::spawn(async move { listen_ingest(&w, "0.0.0.0:1935", c).await });
        let _publisher = Publisher::connect(&dialer).await;
        assert_eq!(*world.bound.lock().unwrap(), ["0.0.0.0:1935"]);
        assert_eq!((ctl.ingest_alive(), ctl.publisher_token()), (true, 1));
    })
    .await
    .expect("bounded");
}

/// A publisher that unpublishes ends its publish session at once, not when
/// its idle link times out: ingest is dead, and the next publisher is
/// admitted with the next token.
#[tokio::test(start_paused = true)]
async fn an_unpublish_ends_the_publish_session_at_once() {
    timeout(BOUND, async {
        let (world, dialer) = World::new();
        let (handle, events) = relay(&world, vec![], BugSet::NONE);
        let mut first = Publisher::connect(&dialer).await;
        first.stream(0, 5).await;
        first.unpublish().await;
        sleep(Duration::from_millis(500)).await;
        assert!(
            !handle.controller.ingest_alive(),
            "still live 0.5 s after its unpublish"
        );
        let _second = Publisher::connect(&dialer).await;
        assert_eq!(
            events.lines_of(&["publish.", "ingest.dead"]),
            [
                "publish.begin token=1",
                "ingest.dead token=1",
                "publish.begin token=2"
            ]
        );
        drop(first);
    })
    .await
    .expect("bounded");
}

/// The VOD path (S1–S4, L1): a live Twitch destination with the VOD audio
/// track fetches one IVS session, applies it as its override and restarts
/// its pump there (decodable from its first frame); the other destinations
/// are never fetched for nor restarted.
#[tokio::test(start_paused = true)]
async fn a_fetched_vod_session_becomes_the_twitch_override_and_spares_the_others() {
    timeout(BOUND, async {
        let (world, dialer) = World::new();
        let (tw_net, tw) = destination(Script::answer(Answer::Accept));
        let (yt_net, yt) = destination(Script::answer(Answer::Accept));
        world.serve("twitch-ingest:1935", tw_net);
        world.serve("yt:1935", yt_net);
        world.serve("twitch-api:80", twitch_api());
        let twitch =
            DestinationConfig::twitch("twitch", "rtmp://twitch-ingest:1935/app", "tw_key", true);
        let (handle, events) = relay(&world, vec![twitch, youtube()], BugSet::NONE);
        let mut publisher = Publisher::connect(&dialer).await;
        publisher.stream(0, 150).await;
        let ivs = "rtmp://twitch-ingest:1935/ivs-1/tw_key";
        assert_eq!(
            events.lines_of(&["vod.", "egress.start", "egress.died"]),
            [
                "vod.fetch.start dest=twitch epoch=0".to_string(),
                "egress.start dest=twitch reason=initial url=rtmp://twitch-ingest:1935/app/tw_key"
                    .to_string(),
                "egress.start dest=youtube reason=initial url=rtmp://yt:1935/app/yt_key"
                    .to_string(),
                format!("vod.fetch.done dest=twitch epoch=0 result=ok url={ivs}"),
                format!("vod.fetch.applied dest=twitch epoch=0 url={ivs}"),
                format!("egress.start dest=twitch reason=url-changed url={ivs}"),
            ]
        );
        let state = handle.controller.destination_state("twitch");
        assert_eq!(state.override_url().as_deref(), Some(ivs));
        assert!(!state.vod_fetch_pending(), "the latch is released");
        assert_eq!(tw.connections(), 2);
        assert_eq!(
            tw.session(2)[..2],
            ["connect app=ivs-1", "publish key=tw_key"]
        );
        assert_eq!(media_of(&tw, 2)[..4], DECODABLE);
        assert_eq!(yt.connections(), 1, "youtube was never restarted");
    })
    .await
    .expect("bounded");
}

/// A destination removed from the settings has its pump stopped (within
/// the grace: not forced) and its state dropped, traced as `dest.removed`;
/// the destinations kept go on untouched.
#[tokio::test(start_paused = true)]
async fn a_removed_destination_is_stopped_and_the_others_go_on() {
    timeout(BOUND, async {
        let (world, dialer) = World::new();
        let (yt_net, yt) = destination(Script::answer(Answer::Accept));
        let (kick_net, kick_sink) = destination(Script::answer(Answer::Accept));
        world.serve("yt:1935", yt_net);
        world.serve("kick:1935", kick_net);
        let (handle, events) = relay(&world, vec![youtube(), kick()], BugSet::NONE);
        let mut publisher = Publisher::connect(&dialer).await;
        publisher.stream(0, 75).await;
        handle.settings.send(vec![youtube()]).unwrap();
        let kick_frames = media_of(&kick_sink, 1).len();
        let yt_frames = media_of(&yt, 1).len();
        publisher.stream(75, 150).await;
        assert_eq!(
            events.lines_of(&["dest.removed"]),
            ["dest.removed dest=kick forced=false"]
        );
        assert_eq!(
            kick_sink.session(1).last().map(String::as_str),
            Some("closed")
        );
        assert!(
            media_of(&kick_sink, 1).len() <= kick_frames + 2,
            "the removed pump went on streaming"
        );
        assert!(media_of(&yt, 1).len() > yt_frames + 100, "youtube went on");
        assert_eq!((yt.connections(), kick_sink.connections()), (1, 1));
        let ids: Vec<String> = handle
            .controller
            .destination_states()
            .iter()
            .map(|s| s.id().to_string())
            .collect();
        assert_eq!(ids, ["youtube"]);
    })
    .await
    .expect("bounded");
}

/// Streams to one YouTube destination that drops its first connection
/// after 10 frames; returns the destination's record and the trace.
async fn a_dropped_first_session(bugs: BugSet) -> (Arc<Sink>, Arc<Events>) {
    let (world, dialer) = World::new();
    let (yt_net, yt) = destination(Script {
        drop_first_after: Some(10),
        ..Script::answer(Answer::Accept)
    });
    world.serve("yt:1935", yt_net);
    let (_handle, events) = relay(&world, vec![youtube()], bugs);
    let mut publisher = Publisher::connect(&dialer).await;
    publisher.stream(0, 200).await;
    (yt, events)
}

/// A pump whose destination dropped it is restarted on a later tick
/// (`pump-died`, L2), and the new egress session starts decodable again:
/// headers, then a keyframe at 0 (S5).
#[tokio::test(start_paused = true)]
async fn a_dropped_pump_is_restarted_decodable() {
    timeout(BOUND, async {
        let (yt, events) = a_dropped_first_session(BugSet::NONE).await;
        assert_eq!(yt.connections(), 2);
        assert_eq!(
            events.lines_of(&["egress.start"]),
            [
                "egress.start dest=youtube reason=initial url=rtmp://yt:1935/app/yt_key",
                "egress.start dest=youtube reason=pump-died url=rtmp://yt:1935/app/yt_key",
            ]
        );
        assert_eq!(media_of(&yt, 1)[..4], DECODABLE);
        assert_eq!(media_of(&yt, 2)[..4], DECODABLE);
    })
    .await
    .expect("bounded");
}

/// The known bug `egress-missing-sequence-headers` reinstates the pre-fix
/// path for a restarted pump only: a destination's first egress session
/// still starts decodable, the restarted one resumes mid-stream.
#[cfg(feature = "known-bugs")]
#[tokio::test(start_paused = true)]
async fn the_missing_headers_bug_spares_a_destinations_first_session() {
    use relaysim_core::KnownBug;
    timeout(BOUND, async {
        let bugs = BugSet::only(KnownBug::EgressMissingSequenceHeaders);
        let (yt, _) = a_dropped_first_session(bugs).await;
        assert_eq!(yt.connections(), 2);
        assert_eq!(media_of(&yt, 1)[..4], DECODABLE);
        let restarted = media_of(&yt, 2);
        assert!(
            restarted[0] != "metadata" && !restarted[0].ends_with(" ts=0"),
            "the restarted session resumes mid-stream, not rebased: {restarted:?}"
        );
    })
    .await
    .expect("bounded");
}
