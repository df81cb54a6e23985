//! The Twitch API client: asks for a client configuration whose ingest URL
//! names a freshly allocated IVS session.
//!
//! Owns the request shape, the three timeouts (connect 6 s, total 12 s,
//! outer 15 s) and the response parsing. HTTP/1.1 via hyper over the `Net`
//! seam, so the same client talks to the real service on tokio and to the
//! simulated `twitch-api` host under turmoil. Returns a typed result; never
//! touches destination state (the caller completes the fetch).
//!
//! It must never trust the service's answer:
//!
//! - the **total and outer timeouts cover the whole exchange**, body read
//!   included: a response whose bytes trickle in forever ends as
//!   [`FetchResult::Timeout`] after 12 s, and its connection is dropped
//!   (the connection task is aborted however the fetch ends);
//! - the **response is capped**: hyper's read buffer at [`MAX_BODY`], a
//!   `Content-Length` over it refused before a byte of the body is read, and
//!   the body read stops at the first chunk that would take it over
//!   ([`FetchResult::Error`] `body: larger than 65536 bytes`);
//! - a non-success status is an error without reading the body;
//! - the **ingest URL is validated** ([`validate_ingest_url`]) before it is
//!   returned: it must be one the egress pump can dial, since it becomes
//!   the Twitch destination's override and an override the pump cannot
//!   parse would fail every Twitch pump for the rest of the publish
//!   session: scheme `rtmp` (the egress speaks plain RTMP), a host and a
//!   port, a path of an application and the stream key as its last
//!   segment (the egress's `rtmp://host:port/app/key`), printable ASCII
//!   only and at most [`MAX_INGEST_URL`] bytes (it goes into the trace and
//!   into the egress pump). Anything else is a [`FetchResult::Error`]
//!   naming what is wrong, never quoting the URL, and the destination
//!   keeps the ingest it had;
//! - every error text is bounded ([`MAX_ERROR`]).

use crate::event::Emitter;
use crate::net::Net;
use crate::restream::event::FetchResult;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The path of the client-configuration call.
pub const CLIENT_CONFIG_PATH: &str = "/api/v3/GetClientConfiguration";
/// The largest response body read; anything bigger is an error.
pub const MAX_BODY: usize = 64 * 1024;
/// The longest ingest URL accepted.
pub const MAX_INGEST_URL: usize = 2048;
/// The longest error text a fetch returns (it reaches the trace).
pub const MAX_ERROR: usize = 160;

/// The client's timeouts (upstream: 6 s connect, 12 s global, 15 s outer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwitchTimeouts {
    pub connect: Duration,
    pub total: Duration,
    pub outer: Duration,
}

impl Default for TwitchTimeouts {
    fn default() -> Self {
        TwitchTimeouts {
            connect: Duration::from_secs(6),
            total: Duration::from_secs(12),
            outer: Duration::from_secs(15),
        }
    }
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfigRequest {
    pub stream_key: String,
    pub vod_track_audio: bool,
    pub maximum_video_tracks: u32,
}

/// One ingest endpoint of the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestEndpoint {
    /// Contains `{stream_key}`.
    pub url_template: String,
}

/// The response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfigResponse {
    pub ingest_endpoints: Vec<IngestEndpoint>,
}

/// A Twitch API client bound to one address (`host:port`).
#[derive(Debug, Clone)]
pub struct TwitchApi<N: Net> {
    net: N,
    addr: String,
    timeouts: TwitchTimeouts,
    /// Where a timeout that runs out is reported (`deadline.fired`).
    emitter: Emitter,
}

impl<N: Net> TwitchApi<N> {
    pub fn new(net: N, addr: impl Into<String>, timeouts: TwitchTimeouts) -> TwitchApi<N> {
        TwitchApi {
            net,
            addr: addr.into(),
            timeouts,
            emitter: Emitter::tracing_only("relay"),
        }
    }

    /// The same client, reporting its timeouts that run out
    /// (`restream.twitch.{connect,total,outer}`) on `emitter`.
    pub fn with_emitter(mut self, emitter: Emitter) -> TwitchApi<N> {
        self.emitter = emitter;
        self
    }

    /// Fetches a VOD-audio session URL for `stream_key` (`want_eb`: the
    /// Enhanced Broadcasting track count). Any failure is a typed result.
    pub async fn fetch_vod_session(&self, stream_key: &str, want_eb: bool) -> FetchResult {
        match tokio::time::timeout(self.timeouts.outer, self.fetch_total(stream_key, want_eb)).await
        {
            Ok(r) => r,
            Err(_) => {
                self.emitter.deadline_fired("restream.twitch.outer");
                FetchResult::Timeout
            }
        }
    }

    async fn fetch_total(&self, stream_key: &str, want_eb: bool) -> FetchResult {
        match tokio::time::timeout(self.timeouts.total, self.fetch_inner(stream_key, want_eb)).await
        {
            Ok(Ok(url)) => FetchResult::Session(url),
            Ok(Err(e)) => e,
            Err(_) => {
                self.emitter.deadline_fired("restream.twitch.total");
                FetchResult::Timeout
            }
        }
    }

    async fn fetch_inner(&self, stream_key: &str, want_eb: bool) -> Result<String, FetchResult> {
        let err = |what: &str, e: &dyn std::fmt::Display| error(format!("{what}: {e}"));
        let stream =
            match tokio::time::timeout(self.timeouts.connect, self.net.connect(&self.addr)).await {
                Err(_) => {
                    self.emitter.deadline_fired("restream.twitch.connect");
                    return Err(FetchResult::Timeout);
                }
                // The kind only: an OS or simulator message may name addresses,
                // which must never reach the trace.
                Ok(Err(e)) => return Err(FetchResult::Error(format!("connect: {}", e.kind()))),
                Ok(Ok(s)) => s,
            };
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            // Headers and each body chunk read are bounded too.
            .max_buf_size(MAX_BODY)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| err("handshake", &e))?;
        // Aborted however this future ends, timeouts included: a trickling
        // server must not keep a connection task alive.
        let _conn_task = AbortOnDrop(crate::rt::spawn(async move {
            let _ = conn.await;
        }));
        let body = ClientConfigRequest {
            stream_key: stream_key.to_string(),
            vod_track_audio: true,
            maximum_video_tracks: if want_eb { 5 } else { 1 },
        };
        let body = serde_json::to_vec(&body).map_err(|e| err("encode", &e))?;
        let req = hyper::Request::post(CLIENT_CONFIG_PATH)
            .header(hyper::header::HOST, self.addr.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| err("request", &e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| err("send", &e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(error(format!("status {}", status.as_u16())));
        }
        let announced = resp
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_big());
        }
        let bytes = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    too_big()
                } else {
                    err("body", &e)
                }
            })?
            .to_bytes();
        parse_session_url(&bytes, stream_key)
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An error result, its text clipped to [`MAX_ERROR`] bytes.
fn error(text: String) -> FetchResult {
    if text.len() <= MAX_ERROR {
        return FetchResult::Error(text);
    }
    let mut end = MAX_ERROR;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    FetchResult::Error(format!("{}…", &text[..end]))
}

fn too_big() -> FetchResult {
    error(format!("body: larger than {MAX_BODY} bytes"))
}

/// The first endpoint's template with `{stream_key}` filled in, validated
/// ([`validate_ingest_url`]). Never panics; every error is bounded.
pub fn parse_session_url(body: &[u8], stream_key: &str) -> Result<String, FetchResult> {
    let resp: ClientConfigResponse =
        serde_json::from_slice(body).map_err(|e| error(format!("bad body: {e}")))?;
    let first = resp
        .ingest_endpoints
        .first()
        .ok_or_else(|| error("no ingest endpoint".into()))?;
    if first.url_template.len() > MAX_INGEST_URL {
        // Before the fill: a template of many placeholders must not expand.
        return Err(error(format!(
            "bad ingest url: longer than {MAX_INGEST_URL} bytes"
        )));
    }
    let url = first.url_template.replace("{stream_key}", stream_key);
    validate_ingest_url(&url, stream_key).map_err(|why| error(format!("bad ingest url: {why}")))?;
    Ok(url)
}

/// Checks an ingest URL the service returned for `stream_key`: `rtmp://`,
/// a host and a numeric port, a path of an application and then the stream
/// key as its last segment, printable ASCII only, at most
/// [`MAX_INGEST_URL`] bytes. Whatever it accepts, the egress
/// ([`RtmpUrl::parse`](crate::restream::rtmp::RtmpUrl::parse)) can dial.
/// The error says what is wrong without quoting the URL.
pub fn validate_ingest_url(url: &str, stream_key: &str) -> Result<(), &'static str> {
    const _: () = assert!(MAX_INGEST_URL == 2048, "update the message below");
    if url.len() > MAX_INGEST_URL {
        return Err("longer than 2048 bytes");
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("not printable ASCII");
    }
    let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
    if scheme != "rtmp" {
        return Err("scheme is not rtmp");
    }
    let (authority, path) = rest.split_once('/').ok_or("no path")?;
    let (host_ok, port) = match authority.strip_prefix('[') {
        // An IPv6 literal: `[addr]` or `[addr]:port`.
        Some(v6) => {
            let (addr, tail) = v6.split_once(']').ok_or("no valid host")?;
            let port = match tail {
                "" => None,
                t => Some(t.strip_prefix(':').ok_or("bad port")?),
            };
            let ok = !addr.is_empty()
                && addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            (ok, port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            let ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            (ok, port)
        }
    };
    if !host_ok {
        return Err("no valid host");
    }
    let p = port.ok_or("no port")?;
    let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if !digits || !p.parse::<u16>().is_ok_and(|p| p > 0) {
        return Err("bad port");
    }
    // The egress splits the path at its last slash: the application
    // before it (not empty), the key after it (the whole stream key: a key
    // holding a slash cannot be named).
    match path.rsplit_once('/') {
        Some((app, _)) if !app.is_empty() => {}
        _ => return Err("no application before the stream key"),
    }
    if stream_key.is_empty() || path.rsplit('/').next() != Some(stream_key) {
        return Err("path does not name the stream key");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_first_endpoint() {
        let body = br#"{"ingest_endpoints":[{"url_template":"rtmp://t:1935/ivs-3/{stream_key}"},{"url_template":"x"}]}"#;
        assert_eq!(
            parse_session_url(body, "k").unwrap(),
            "rtmp://t:1935/ivs-3/k"
        );
        assert!(parse_session_url(br#"{"ingest_endpoints":[]}"#, "k").is_err());
        assert!(parse_session_url(b"nope", "k").is_err());
    }

    #[test]
    fn ingest_urls_are_validated() {
        let k = "live_key";
        for ok in [
            "rtmp://twitch-ingest:1935/ivs-3/live_key",
            "rtmp://[::1]:1935/app/live_key",
            "rtmp://10.0.0.1:1935/app/live_key",
            "rtmp://host:1935/two/segments/live_key",
        ] {
            assert_eq!(validate_ingest_url(ok, k), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://host:80/app/live_key", "scheme is not rtmp"),
            // What the egress cannot dial: TLS, a scheme it does not
            // match, no port, no application.
            (
                "rtmps://ingest.example.net:443/app/live_key",
                "scheme is not rtmp",
            ),
            ("RTMP://host:1935/app/live_key", "scheme is not rtmp"),
            ("rtmp://host/app/live_key", "no port"),
            ("rtmp://[::1]/app/live_key", "no port"),
            (
                "rtmp://host:1935/live_key",
                "no application before the stream key",
            ),
            (
                "rtmp://host:1935//live_key",
                "no application before the stream key",
            ),
            ("rtmp:/host/app/live_key", "no scheme"),
            ("rtmp://host:1935", "no path"),
            ("rtmp:///app/live_key", "no valid host"),
            ("rtmp://user@host/app/live_key", "no valid host"),
            ("rtmp://[::1/app/live_key", "no valid host"),
            ("rtmp://host:0/app/live_key", "bad port"),
            ("rtmp://host:99999/app/live_key", "bad port"),
            ("rtmp://host:/app/live_key", "bad port"),
            ("rtmp://host:1:2/app/live_key", "bad port"),
            (
                "rtmp://host:1935/app/other_key",
                "path does not name the stream key",
            ),
            (
                "rtmp://host:1935/app/xlive_key",
                "path does not name the stream key",
            ),
            (
                "rtmp://host:1935/app/live_key?x=1",
                "path does not name the stream key",
            ),
            ("rtmp://host:1935/app/live_key\n", "not printable ASCII"),
            ("rtmp://hôst:1935/app/live_key", "not printable ASCII"),
            ("rtmp://host:1935/app /live_key", "not printable ASCII"),
        ] {
            assert_eq!(validate_ingest_url(bad, k), Err(why), "{bad}");
        }
        assert_eq!(
            validate_ingest_url(&format!("rtmp://h/{}/live_key", "a".repeat(2100)), k),
            Err("longer than 2048 bytes")
        );
        assert_eq!(
            validate_ingest_url("rtmp://h:1/app/", ""),
            Err("path does not name the stream key")
        );
        // The egress takes the last segment for the key: a key holding a
        // slash would be published under its tail, so it is refused.
        assert_eq!(
            validate_ingest_url("rtmp://h:1/app/a/b", "a/b"),
            Err("path does not name the stream key")
        );
        assert_eq!(validate_ingest_url("rtmp://h:1/app/a/b", "b"), Ok(()));
    }

    /// An error text over [`MAX_ERROR`] bytes is clipped to at most that
    /// many, on a character boundary, and marked with an ellipsis; one
    /// within the bound is kept whole. (Run on a thread with a bound: the
    /// clip walks back to a boundary, and a walk that never gets there must
    /// fail, not hang.)
    #[test]
    fn an_error_text_is_clipped_on_a_character_boundary_within_the_bound() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // 'é' is two bytes, straddling the bound.
            let straddling = format!("{}é{}", "a".repeat(MAX_ERROR - 1), "b".repeat(50));
            let whole = "c".repeat(MAX_ERROR);
            let _ = tx.send((error(straddling), error(whole.clone()), whole));
        });
        let (clipped, kept, whole) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("clipping an error text did not finish within 10 s");
        assert_eq!(
            clipped,
            FetchResult::Error(format!("{}…", "a".repeat(MAX_ERROR - 1)))
        );
        assert_eq!(kept, FetchResult::Error(whole));
    }

    /// An IPv6 literal host is hex digits, colons and dots (an IPv4-mapped
    /// address), not empty; what follows its bracket is nothing or a port.
    #[test]
    fn an_ipv6_host_is_hex_colons_and_dots() {
        let k = "live_key";
        assert_eq!(
            validate_ingest_url("rtmp://[::ffff:10.0.0.1]:1935/app/live_key", k),
            Ok(())
        );
        assert_eq!(
            validate_ingest_url("rtmp://[fe80::1]:1935/app/live_key", k),
            Ok(())
        );
        for (bad, why) in [
            ("rtmp://[]:1935/app/live_key", "no valid host"),
            ("rtmp://[::g1]:1935/app/live_key", "no valid host"),
            ("rtmp://[::1%eth0]:1935/app/live_key", "no valid host"),
            ("rtmp://[::1]1935/app/live_key", "bad port"),
        ] {
            assert_eq!(validate_ingest_url(bad, k), Err(why), "{bad}");
        }
    }

    /// A port is one to five ASCII digits naming 1..=65535: no sign, no
    /// padding past five digits, even when the number would fit.
    #[test]
    fn a_port_is_one_to_five_digits_naming_a_nonzero_u16() {
        let k = "live_key";
        for ok in ["1", "01935", "65535"] {
            let url = format!("rtmp://host:{ok}/app/live_key");
            assert_eq!(validate_ingest_url(&url, k), Ok(()), "{url}");
        }
        for bad in ["+1935", "001935", "65536", "19 35"] {
            let url = format!("rtmp://host:{bad}/app/live_key");
            let why = if bad.contains(' ') {
                "not printable ASCII"
            } else {
                "bad port"
            };
            assert_eq!(validate_ingest_url(&url, k), Err(why), "{url}");
        }
    }

    /// [`MAX_INGEST_URL`] is inclusive: a URL (or a template) of exactly
    /// 2048 bytes is accepted, one byte more is not.
    #[test]
    fn the_ingest_url_bound_is_inclusive() {
        let k = "live_key";
        let at = |n: usize| format!("rtmp://h:1/{}/{k}", "a".repeat(n - 12 - k.len()));
        assert_eq!(at(MAX_INGEST_URL).len(), MAX_INGEST_URL);
        assert_eq!(validate_ingest_url(&at(MAX_INGEST_URL), k), Ok(()));
        assert_eq!(
            validate_ingest_url(&at(MAX_INGEST_URL + 1), k),
            Err("longer than 2048 bytes")
        );
        // A template as long as the bound, its placeholder as long as the
        // key it becomes.
        let key = "k".repeat("{stream_key}".len());
        let template = format!(
            "rtmp://h:1/{}/{{stream_key}}",
            "a".repeat(MAX_INGEST_URL - 24)
        );
        assert_eq!(template.len(), MAX_INGEST_URL);
        let body = |t: &str| format!(r#"{{"ingest_endpoints":[{{"url_template":"{t}"}}]}}"#);
        assert_eq!(
            parse_session_url(body(&template).as_bytes(), &key),
            Ok(template.replace("{stream_key}", &key))
        );
        let longer = template.replacen("rtmp://h:1/", "rtmp://h:1/a", 1);
        assert_eq!(
            parse_session_url(body(&longer).as_bytes(), &key),
            Err(FetchResult::Error(
                "bad ingest url: longer than 2048 bytes".into()
            ))
        );
    }

    #[test]
    fn a_bad_url_in_the_body_is_a_clear_bounded_error() {
        let body = |t: &str| format!(r#"{{"ingest_endpoints":[{{"url_template":"{t}"}}]}}"#);
        assert_eq!(
            parse_session_url(body("https://t/app/{stream_key}").as_bytes(), "k"),
            Err(FetchResult::Error(
                "bad ingest url: scheme is not rtmp".into()
            ))
        );
        assert_eq!(
            parse_session_url(body("rtmp://t:1935/app/fixed").as_bytes(), "k"),
            Err(FetchResult::Error(
                "bad ingest url: path does not name the stream key".into()
            ))
        );
        // Placeholders cannot blow the URL up past the limit.
        let many = "{stream_key}".repeat(170);
        assert_eq!(
            parse_session_url(
                body(&format!("rtmp://t/{many}")).as_bytes(),
                &"k".repeat(1000)
            ),
            Err(FetchResult::Error(
                "bad ingest url: longer than 2048 bytes".into()
            ))
        );
        // serde quotes what it read: the error is clipped.
        let huge = format!(r#"{{"ingest_endpoints":"{}"}}"#, "x".repeat(10_000));
        match parse_session_url(huge.as_bytes(), "k") {
            Err(FetchResult::Error(e)) => {
                assert!(e.starts_with("bad body: "), "{e}");
                assert!(e.len() <= MAX_ERROR + '…'.len_utf8(), "{} bytes", e.len());
            }
            other => panic!("{other:?}"),
        }
    }
}
