//! Hostile bytes into the RTMP receive paths the relay runs: the handshake
//! (both roles) and the server and client sessions after it, behind
//! `rtmp::guarded` as the ingest and the pumps call them. A peer may send
//! anything; the relay gets events or an error, never an unwinding task.
//! (rml_rtmp 0.8.0 itself panics on some inputs: these tests found it.)

use proptest::prelude::*;
use relaysim_core::restream::rtmp::rml_rtmp::handshake::{Handshake, PeerType};
use relaysim_core::restream::rtmp::rml_rtmp::sessions::{ClientSession, ServerSession};
use relaysim_core::restream::rtmp::{client_config, guarded, server_config};

fn chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..8)
}

/// Plausible chunk headers (basic header fmt 0..3, small csids, message
/// types of the protocol) followed by junk, so the deserializer goes deep.
fn chunky() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        (
            0u8..4,
            2u8..10,
            prop::collection::vec(any::<u8>(), 0..40),
            1u8..23,
        )
            .prop_map(|(fmt, csid, junk, kind)| {
                let mut b = vec![
                    (fmt << 6) | csid,
                    0,
                    0,
                    0,
                    0,
                    0,
                    junk.len() as u8,
                    kind,
                    1,
                    0,
                    0,
                    0,
                ];
                b.extend(junk);
                b
            }),
        1..12,
    )
}

thread_local! {
    /// Set while this thread runs a guarded call whose panic is expected.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` through the relay's guard with this thread's panic output
/// silenced (rml_rtmp's panics are the point here; any other test's panic
/// still prints).
fn quietly<T>(f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                prev(info)
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let r = guarded(f);
    QUIET.with(|q| q.set(false));
    r
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What the ingest does with a publisher's bytes.
    #[test]
    fn the_server_session_behind_the_guard_survives_anything(input in prop_oneof![chunks(), chunky()]) {
        let (mut s, _) = ServerSession::new(server_config()).unwrap();
        let total: usize = input.iter().map(Vec::len).sum();
        for c in &input {
            match quietly(|| s.handle_input(c).map_err(invalid)) {
                Ok(r) => prop_assert!(r.len() <= total + 8),
                Err(_) => break,
            }
        }
    }

    /// What a pump does with a destination's bytes.
    #[test]
    fn the_client_session_behind_the_guard_survives_anything(input in prop_oneof![chunks(), chunky()]) {
        let (mut s, _) = ClientSession::new(client_config("rtmp://h:1/a")).unwrap();
        for c in &input {
            if quietly(|| s.handle_input(c).map_err(invalid)).is_err() {
                break;
            }
        }
    }

    /// The handshake (both roles) never panics at all.
    #[test]
    fn the_handshake_survives_anything(input in chunks(), server in any::<bool>()) {
        let mut h = Handshake::new(if server { PeerType::Server } else { PeerType::Client });
        if !server {
            h.generate_outbound_p0_and_p1().unwrap();
        }
        for c in &input {
            if h.process_bytes(c).is_err() {
                break;
            }
        }
    }
}

/// rml_rtmp 0.8.0 itself panics on these 12 bytes after the handshake (an
/// empty AMF3 command message); the guard turns it into an error.
#[test]
fn the_guard_catches_the_known_panic() {
    let (mut s, _) = ServerSession::new(server_config()).unwrap();
    let e = quietly(|| {
        s.handle_input(&[2, 0, 0, 0, 0, 0, 0, 17, 1, 0, 0, 0])
            .map_err(invalid)
    })
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("panicked"), "{e}");
}

/// The 12 bytes that made rml_rtmp 0.8.0's server session panic (an empty
/// AMF3 command message, found by `the_server_session_survives_anything`),
/// sent by an admitted publisher to the real ingest on loopback: the ingest
/// must end that publisher (ingest dead) and admit the next one. Before
/// `rtmp::guarded`, the connection's task unwound without marking ingest
/// dead, and every later publisher was refused as a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_crashes_the_session_frees_the_ingest() {
    use relaysim_core::net::{Net, TokioNet};
    use relaysim_core::restream::ingest::serve_ingest;
    use relaysim_core::restream::rtmp::{connect_publish, RtmpUrl};
    use relaysim_core::restream::Controller;
    use relaysim_core::{BugSet, Emitter};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    let ctl = Arc::new(Controller::new(
        "key",
        BugSet::NONE,
        Emitter::tracing_only("relay"),
    ));
    let listener = TokioNet.bind("127.0.0.1:0").await.unwrap();
    let addr = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(serve_ingest(listener, ctl.clone()));
    let url = RtmpUrl {
        authority: addr.clone(),
        app: "live".into(),
        key: "key".into(),
    };
    let mut first = TokioNet.connect(&addr).await.unwrap();
    connect_publish(&mut first, &url).await.unwrap();
    assert!(ctl.ingest_alive());
    first
        .write_all(&[2, 0, 0, 0, 0, 0, 0, 17, 1, 0, 0, 0])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(3), async {
        while ctl.ingest_alive() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the crashed publisher is marked dead");
    let mut second = TokioNet.connect(&addr).await.unwrap();
    connect_publish(&mut second, &url)
        .await
        .expect("the next publisher is admitted");
    assert_eq!(ctl.publisher_token(), 2);
}

/// A failed `accept()` (EMFILE, a reset before the accept) never stops the
/// ingest listener: each is traced with its pause, the pauses double, and
/// the next publisher is still admitted.
#[tokio::test(start_paused = true)]
async fn accept_errors_never_stop_the_ingest() {
    use crate::support::{mem_listener, Events};
    use relaysim_core::restream::ingest::serve_ingest;
    use relaysim_core::restream::rtmp::{connect_publish, RtmpUrl};
    use relaysim_core::restream::Controller;
    use relaysim_core::{BugSet, Emitter};
    use std::sync::Arc;
    use std::time::Duration;

    tokio::time::timeout(Duration::from_secs(30), async {
        let events = Events::new();
        let ctl = Arc::new(Controller::new(
            "key",
            BugSet::NONE,
            Emitter::new("relay", events.clone()),
        ));
        let (listener, dialer) = mem_listener(64 * 1024);
        let t0 = tokio::time::Instant::now();
        let server = tokio::spawn(serve_ingest(listener, ctl.clone()));
        dialer.fail(std::io::Error::from_raw_os_error(24));
        dialer.fail(std::io::Error::from_raw_os_error(24));
        dialer.fail(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let mut publisher = dialer.connect();
        let url = RtmpUrl {
            authority: "relay:1935".into(),
            app: "live".into(),
            key: "key".into(),
        };
        connect_publish(&mut publisher, &url)
            .await
            .expect("admitted after the failed accepts");
        assert!(ctl.ingest_alive());
        assert!(!server.is_finished(), "the accept loop gave up");
        assert!(
            t0.elapsed() >= Duration::from_millis(70),
            "the pauses were not waited"
        );
        let emfile = format!("io-{:?}", std::io::Error::from_raw_os_error(24).kind());
        let errors: Vec<String> = events
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("ingest.accept.error"))
            .collect();
        assert_eq!(
            errors,
            [
                format!("ingest.accept.error kind={emfile} backoff_ms=10"),
                format!("ingest.accept.error kind={emfile} backoff_ms=20"),
                "ingest.accept.error kind=io-ConnectionReset backoff_ms=40".to_string(),
            ]
        );
    })
    .await
    .expect("bounded");
}
