//! The Twitch API client against hostile services, one test per behaviour,
//! over in-memory pipes on paused time (the service is raw bytes written to
//! a tokio `duplex`; no sockets, no wall clock, every test bounded).
//!
//! - the response body is capped at 64 KiB: an announced `Content-Length`
//!   over it is refused before the body is read, and a chunked body that
//!   never ends is read no further than the cap;
//! - a non-success status is an error without reading the body;
//! - a trickling response (headers or body, one byte every 100 ms forever)
//!   is a timeout at the 12 s total, and its connection is dropped;
//! - the ingest URL is validated: a bad one is a clear error.

use crate::support;

use relaysim_core::restream::twitch::{TwitchApi, TwitchTimeouts, MAX_BODY};
use relaysim_core::restream::FetchResult;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::MemNet;
use tokio::io::{AsyncWriteExt, DuplexStream};
// tokio's clock: paused in these tests.
use tokio::time::{timeout, Instant};

const KEY: &str = "live_key";

/// Bounds every test (paused time).
const BOUND: Duration = Duration::from_secs(60);

/// What the fake service saw.
#[derive(Default)]
struct Seen {
    /// Response bytes the service managed to write.
    written: AtomicU64,
    /// The service's handler returned (the client dropped the connection,
    /// or the handler finished).
    done: AtomicBool,
}

/// A service answering every request with `respond`, recording in `seen`.
fn service<F, Fut>(respond: F) -> (MemNet, Arc<Seen>)
where
    F: Fn(DuplexStream, Arc<Seen>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    let respond = Arc::new(respond);
    let net = MemNet::spawning(16 * 1024, move |mut stream| {
        let (seen, respond) = (s2.clone(), respond.clone());
        async move {
            support::read_request(&mut stream).await;
            respond(stream, seen.clone()).await;
            seen.done.store(true, Ordering::Release);
        }
    });
    (net, seen)
}

/// Writes `bytes`, counting what got through; false once the client is gone.
async fn put(s: &mut DuplexStream, seen: &Seen, bytes: &[u8]) -> bool {
    let ok = s.write_all(bytes).await.is_ok();
    if ok {
        seen.written.fetch_add(bytes.len() as u64, Ordering::AcqRel);
    }
    ok
}

/// 1 ms between the chunks of an endless body: simulated time moves on,
/// so a client that kept reading would meet its own timeout (a failure, not
/// a hang).
async fn pause() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

fn json_ok(template: &str) -> String {
    let body = format!(r#"{{"ingest_endpoints":[{{"url_template":"{template}"}}]}}"#);
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn fetch(net: MemNet) -> (FetchResult, Duration) {
    let api = TwitchApi::new(net, "twitch-api:80", TwitchTimeouts::default());
    let t0 = Instant::now();
    let r = timeout(BOUND, api.fetch_vod_session(KEY, false))
        .await
        .expect("the fetch is bounded by its own timeouts");
    (r, t0.elapsed())
}

/// Waits (paused time) for the service's handler to end: the client dropped
/// the connection.
async fn connection_dropped(seen: &Seen) {
    timeout(Duration::from_secs(5), async {
        while !seen.done.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the client kept the connection open");
}

#[tokio::test(start_paused = true)]
async fn a_good_answer_is_a_session() {
    let (net, _) = service(|mut s, seen| async move {
        put(
            &mut s,
            &seen,
            json_ok("rtmp://twitch-ingest:1935/ivs-7/{stream_key}").as_bytes(),
        )
        .await;
    });
    let (r, _) = fetch(net).await;
    assert_eq!(
        r,
        FetchResult::Session("rtmp://twitch-ingest:1935/ivs-7/live_key".into())
    );
}

#[tokio::test(start_paused = true)]
async fn an_announced_body_over_64_kib_is_refused_unread() {
    let (net, seen) = service(|mut s, seen| async move {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            10 * MAX_BODY
        );
        if !put(&mut s, &seen, head.as_bytes()).await {
            return;
        }
        let chunk = vec![b'x'; 1024];
        while put(&mut s, &seen, &chunk).await {
            pause().await;
        }
    });
    let (r, took) = fetch(net).await;
    assert_eq!(
        r,
        FetchResult::Error("body: larger than 65536 bytes".into())
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    connection_dropped(&seen).await;
    // What the service wrote: the pipe's 16 KiB and hyper's first read.
    let written = seen.written.load(Ordering::Acquire);
    assert!(written < 2 * MAX_BODY as u64, "{written} bytes written");
}

#[tokio::test(start_paused = true)]
async fn a_chunked_body_that_never_ends_is_read_no_further_than_the_cap() {
    let (net, seen) = service(|mut s, seen| async move {
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        if !put(&mut s, &seen, head.as_bytes()).await {
            return;
        }
        let mut chunk = b"400\r\n".to_vec();
        chunk.extend(vec![b'{'; 1024]);
        chunk.extend(b"\r\n");
        while put(&mut s, &seen, &chunk).await {
            pause().await;
        }
    });
    let (r, took) = fetch(net).await;
    assert_eq!(
        r,
        FetchResult::Error("body: larger than 65536 bytes".into())
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    connection_dropped(&seen).await;
    let written = seen.written.load(Ordering::Acquire);
    // The cap, hyper's bounded read buffer and the pipe: no further.
    assert!(written < 3 * MAX_BODY as u64, "{written} bytes written");
}

#[tokio::test(start_paused = true)]
async fn an_error_status_is_an_error_without_reading_the_body() {
    let (net, seen) = service(|mut s, seen| async move {
        let head = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 100000000\r\n\r\n";
        if !put(&mut s, &seen, head.as_bytes()).await {
            return;
        }
        while put(&mut s, &seen, &[b'x'; 1024]).await {
            pause().await;
        }
    });
    let (r, took) = fetch(net).await;
    assert_eq!(r, FetchResult::Error("status 503".into()));
    assert!(took < Duration::from_secs(1), "took {took:?}");
    connection_dropped(&seen).await;
}

/// A service that sends `head` then one byte of `rest` every 100 ms.
fn trickling(head: &'static str, rest: &'static [u8]) -> (MemNet, Arc<Seen>) {
    service(move |mut s, seen| async move {
        if !put(&mut s, &seen, head.as_bytes()).await {
            return;
        }
        for b in rest.iter().cycle() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if !put(&mut s, &seen, &[*b]).await {
                return;
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_trickling_body_is_a_timeout_at_the_total_and_its_connection_dropped() {
    let (net, seen) = trickling("HTTP/1.1 200 OK\r\ncontent-length: 60000\r\n\r\n", b"{");
    let (r, took) = fetch(net).await;
    assert_eq!(r, FetchResult::Timeout);
    let total = TwitchTimeouts::default().total;
    assert!(
        took >= total && took < total + Duration::from_millis(100),
        "took {took:?}"
    );
    // About 120 bytes in 12 s: read, but never the end of the body.
    let written = seen.written.load(Ordering::Acquire);
    assert!((100..200).contains(&written), "{written} bytes written");
    connection_dropped(&seen).await;
}

#[tokio::test(start_paused = true)]
async fn trickling_headers_are_a_timeout_at_the_total() {
    let (net, seen) = trickling("", b"HTTP/1.1 200 OK\r\nx-slow: ");
    let (r, took) = fetch(net).await;
    assert_eq!(r, FetchResult::Timeout);
    let total = TwitchTimeouts::default().total;
    assert!(
        took >= total && took < total + Duration::from_millis(100),
        "took {took:?}"
    );
    connection_dropped(&seen).await;
}

#[tokio::test(start_paused = true)]
async fn a_bad_ingest_url_is_a_clear_error() {
    for (template, why) in [
        (
            "https://twitch-ingest/app/{stream_key}",
            "scheme is not rtmp",
        ),
        (
            "rtmp://twitch-ingest:1935/app/other",
            "path does not name the stream key",
        ),
        ("rtmp://:1935/app/{stream_key}", "no valid host"),
        (
            "rtmp://twitch-ingest:1935/app/{stream_key} x",
            "not printable ASCII",
        ),
    ] {
        let (net, _) = service(move |mut s, seen| async move {
            put(&mut s, &seen, json_ok(template).as_bytes()).await;
        });
        let (r, _) = fetch(net).await;
        assert_eq!(
            r,
            FetchResult::Error(format!("bad ingest url: {why}")),
            "{template}"
        );
    }
}

/// An announced `Content-Length` over the cap is refused on the headers
/// alone: the fetch ends at once, without waiting for a body the service
/// never sends.
#[tokio::test(start_paused = true)]
async fn an_announced_body_over_64_kib_is_refused_before_any_of_it_arrives() {
    let (net, _) = service(|mut s, seen| async move {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        put(&mut s, &seen, head.as_bytes()).await;
        // Holds the connection open and sends nothing more.
        tokio::time::sleep(BOUND).await;
    });
    let (r, took) = fetch(net).await;
    assert_eq!(
        r,
        FetchResult::Error("body: larger than 65536 bytes".into())
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

/// The cap is inclusive: a body of exactly 64 KiB, announced as such, is
/// read and parsed.
#[tokio::test(start_paused = true)]
async fn a_body_of_exactly_64_kib_is_read() {
    let (net, _) = service(|mut s, seen| async move {
        let mut body =
            r#"{"ingest_endpoints":[{"url_template":"rtmp://twitch-ingest:1935/ivs-7/{stream_key}"}]}"#
                .to_string();
        body.push_str(&" ".repeat(MAX_BODY - body.len()));
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        put(&mut s, &seen, answer.as_bytes()).await;
    });
    let (r, _) = fetch(net).await;
    assert_eq!(
        r,
        FetchResult::Session("rtmp://twitch-ingest:1935/ivs-7/live_key".into())
    );
}
