//! `rml_rtmp` reads the wall clock (session creation, then `elapsed()` for
//! the timestamps of the control messages it writes itself) and an OS RNG
//! (the handshake's random block). This proves neither reaches what the
//! relay reads from a session: two publish exchanges whose handshake bytes
//! differ and whose clocks differ by 40 ms raise the same server events,
//! field for field — publish request, stream key, metadata, every media
//! message with its caller-set timestamp and bytes. The wire bytes differ;
//! nothing the relay traces, decides on or hashes does.
//!
//! `core/src/restream/rtmp.rs` documents the exception next to the
//! `clippy.toml` bans.
#![allow(clippy::disallowed_methods)] // the wall clock is what this test moves on purpose

use bytes::Bytes;
use relaysim_core::restream::rtmp::rml_rtmp::handshake::{
    Handshake, HandshakeProcessResult, PeerType,
};
use relaysim_core::restream::rtmp::rml_rtmp::sessions::{
    ClientSession, ClientSessionEvent, ClientSessionResult, PublishRequestType, ServerSession,
    ServerSessionEvent, ServerSessionResult, StreamMetadata,
};
use relaysim_core::restream::rtmp::rml_rtmp::time::RtmpTimestamp;
use relaysim_core::restream::rtmp::{client_config, server_config};
use std::time::Duration;

/// Runs the handshake both ways; returns every byte each side sent.
fn handshake() -> Vec<u8> {
    let mut wire = Vec::new();
    let mut c = Handshake::new(PeerType::Client);
    let mut s = Handshake::new(PeerType::Server);
    let mut to_server = c.generate_outbound_p0_and_p1().unwrap();
    let (mut c_done, mut s_done) = (false, false);
    for _ in 0..8 {
        wire.extend_from_slice(&to_server);
        let to_client = if s_done || to_server.is_empty() {
            Vec::new()
        } else {
            match s.process_bytes(&to_server).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => response_bytes,
                HandshakeProcessResult::Completed { response_bytes, .. } => {
                    s_done = true;
                    response_bytes
                }
            }
        };
        wire.extend_from_slice(&to_client);
        to_server = if c_done || to_client.is_empty() {
            Vec::new()
        } else {
            match c.process_bytes(&to_client).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => response_bytes,
                HandshakeProcessResult::Completed { response_bytes, .. } => {
                    c_done = true;
                    response_bytes
                }
            }
        };
        if c_done && s_done && to_server.is_empty() {
            break;
        }
    }
    assert!(c_done && s_done, "the handshake completes");
    wire
}

/// One publish exchange; `pause` sleeps between the sessions' creation and
/// every step (moving the library's clock). Returns the server's events
/// (as the relay reads them) and every byte on the wire.
fn exchange(pause: Duration) -> (Vec<String>, Vec<u8>) {
    let mut wire = handshake();
    let (mut server, init) = ServerSession::new(server_config()).unwrap();
    let (mut client, cinit) = ClientSession::new(client_config("rtmp://relay:1935/live")).unwrap();
    std::thread::sleep(pause);
    let mut to_server: Vec<u8> = Vec::new();
    let mut to_client: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut client_events = Vec::new();
    for r in init {
        if let ServerSessionResult::OutboundResponse(p) = r {
            to_client.extend_from_slice(&p.bytes);
        }
    }
    for r in cinit {
        if let ClientSessionResult::OutboundResponse(p) = r {
            to_server.extend_from_slice(&p.bytes);
        }
    }
    let out = |r: ClientSessionResult, buf: &mut Vec<u8>| {
        if let ClientSessionResult::OutboundResponse(p) = r {
            buf.extend_from_slice(&p.bytes);
        }
    };
    out(
        client.request_connection("live".into()).unwrap(),
        &mut to_server,
    );
    let mut published = false;
    let mut step = 0;
    while step < 40 {
        step += 1;
        std::thread::sleep(pause / 4);
        wire.extend_from_slice(&to_server);
        let input = std::mem::take(&mut to_server);
        let mut queue: std::collections::VecDeque<ServerSessionResult> =
            server.handle_input(&input).unwrap().into();
        while let Some(r) = queue.pop_front() {
            match r {
                ServerSessionResult::OutboundResponse(p) => to_client.extend_from_slice(&p.bytes),
                ServerSessionResult::RaisedEvent(e) => {
                    match &e {
                        ServerSessionEvent::ConnectionRequested { request_id, .. }
                        | ServerSessionEvent::PublishStreamRequested { request_id, .. } => {
                            queue.extend(server.accept_request(*request_id).unwrap());
                        }
                        _ => {}
                    }
                    events.push(format!("{e:?}"));
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        wire.extend_from_slice(&to_client);
        let input = std::mem::take(&mut to_client);
        for r in client.handle_input(&input).unwrap() {
            match r {
                ClientSessionResult::RaisedEvent(ClientSessionEvent::ConnectionRequestAccepted) => {
                    client_events.push("connected");
                    out(
                        client
                            .request_publishing("obs_key".into(), PublishRequestType::Live)
                            .unwrap(),
                        &mut to_server,
                    );
                }
                ClientSessionResult::RaisedEvent(ClientSessionEvent::PublishRequestAccepted) => {
                    client_events.push("publishing");
                    published = true;
                    let mut meta = StreamMetadata::new();
                    meta.video_width = Some(160);
                    meta.video_height = Some(90);
                    meta.audio_sample_rate = Some(22050);
                    meta.encoder = Some("test".into());
                    out(client.publish_metadata(&meta).unwrap(), &mut to_server);
                    for i in 0..30u32 {
                        let mut body = vec![i as u8; 600];
                        body[..5].copy_from_slice(&[0x17, 1, 0, 0, 0]);
                        let tag = Bytes::from(body);
                        let ts = RtmpTimestamp::new(i * 100);
                        out(
                            client.publish_video_data(tag, ts, false).unwrap(),
                            &mut to_server,
                        );
                        let aac = Bytes::from(vec![0xaf, 1, i as u8]);
                        out(
                            client
                                .publish_audio_data(aac, RtmpTimestamp::new(i * 100 + 7), false)
                                .unwrap(),
                            &mut to_server,
                        );
                    }
                }
                ClientSessionResult::RaisedEvent(e) => client_events.push(match e {
                    ClientSessionEvent::AcknowledgementReceived { .. } => "ack",
                    _ => "other",
                }),
                ClientSessionResult::OutboundResponse(p) => to_server.extend_from_slice(&p.bytes),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        if published && to_server.is_empty() && to_client.is_empty() {
            break;
        }
    }
    assert!(published, "the publish was accepted: {client_events:?}");
    assert!(
        client_events.contains(&"ack"),
        "the 16 KiB window makes the server acknowledge: {client_events:?}"
    );
    events.extend(client_events.iter().map(|e| e.to_string()));
    (events, wire)
}

#[test]
fn the_library_clock_and_rng_never_reach_what_the_relay_reads() {
    let (a_events, a_wire) = exchange(Duration::ZERO);
    let (b_events, b_wire) = exchange(Duration::from_millis(40));
    assert_ne!(
        a_wire, b_wire,
        "the wire differs (handshake random block, control-message timestamps)"
    );
    assert!(a_events.len() > 60, "{a_events:#?}");
    assert!(a_events
        .iter()
        .any(|e| e.contains("PublishStreamRequested")));
    assert!(a_events.iter().any(|e| e.contains("StreamMetadataChanged")));
    assert_eq!(a_events, b_events, "what the relay reads is the same");
}

/// Both ends announce a 16 KiB acknowledgement window
/// (`rtmp::ACK_WINDOW`), so a receiver acknowledges once per 16 KiB it
/// reads: a publisher whose ~40 KiB of video arrive one message at a time
/// is acknowledged twice, each time for at least 16 KiB — not once per
/// kilobyte, and not never.
#[test]
fn a_receiver_acknowledges_once_per_16_kib_window() {
    let (mut server, init) = ServerSession::new(server_config()).unwrap();
    let (mut client, cinit) = ClientSession::new(client_config("rtmp://relay:1935/live")).unwrap();
    let bytes_of = |rs: Vec<ServerSessionResult>| -> Vec<u8> {
        rs.into_iter()
            .filter_map(|r| match r {
                ServerSessionResult::OutboundResponse(p) => Some(p.bytes),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let mut to_client = bytes_of(init);
    let mut to_server: Vec<u8> = Vec::new();
    for r in cinit {
        if let ClientSessionResult::OutboundResponse(p) = r {
            to_server.extend_from_slice(&p.bytes);
        }
    }
    if let ClientSessionResult::OutboundResponse(p) =
        client.request_connection("live".into()).unwrap()
    {
        to_server.extend_from_slice(&p.bytes);
    }
    // Connect and publish, the server accepting every request.
    let mut acks = Vec::new();
    let mut published = false;
    for _ in 0..10 {
        let mut queue: std::collections::VecDeque<ServerSessionResult> = server
            .handle_input(&std::mem::take(&mut to_server))
            .unwrap()
            .into();
        while let Some(r) = queue.pop_front() {
            match r {
                ServerSessionResult::OutboundResponse(p) => to_client.extend_from_slice(&p.bytes),
                ServerSessionResult::RaisedEvent(
                    ServerSessionEvent::ConnectionRequested { request_id, .. }
                    | ServerSessionEvent::PublishStreamRequested { request_id, .. },
                ) => queue.extend(server.accept_request(request_id).unwrap()),
                _ => {}
            }
        }
        for r in client
            .handle_input(&std::mem::take(&mut to_client))
            .unwrap()
        {
            match r {
                ClientSessionResult::OutboundResponse(p) => to_server.extend_from_slice(&p.bytes),
                ClientSessionResult::RaisedEvent(ClientSessionEvent::ConnectionRequestAccepted) => {
                    if let ClientSessionResult::OutboundResponse(p) = client
                        .request_publishing("obs_key".into(), PublishRequestType::Live)
                        .unwrap()
                    {
                        to_server.extend_from_slice(&p.bytes);
                    }
                }
                ClientSessionResult::RaisedEvent(ClientSessionEvent::PublishRequestAccepted) => {
                    published = true
                }
                _ => {}
            }
        }
    }
    assert!(published, "the publish was accepted");
    // 40 video messages of 1000 bytes, each its own read on the server.
    let mut sent = 0;
    for i in 0..40u32 {
        let mut body = vec![i as u8; 1000];
        body[..5].copy_from_slice(&[0x27, 1, 0, 0, 0]);
        let ClientSessionResult::OutboundResponse(p) = client
            .publish_video_data(Bytes::from(body), RtmpTimestamp::new(i * 40), false)
            .unwrap()
        else {
            panic!("a video message is bytes to send");
        };
        sent += p.bytes.len();
        let back = bytes_of(server.handle_input(&p.bytes).unwrap());
        for r in client.handle_input(&back).unwrap() {
            if let ClientSessionResult::RaisedEvent(ClientSessionEvent::AcknowledgementReceived {
                bytes_received,
            }) = r
            {
                acks.push(bytes_received);
            }
        }
    }
    assert!((40_000..48_000).contains(&sent), "{sent} bytes of video");
    assert_eq!(acks.len(), 2, "acknowledgements: {acks:?}");
    assert!(acks.iter().all(|&n| n >= 16 * 1024), "{acks:?}");
}
