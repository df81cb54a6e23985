//! The Twitch API client: asks for a client configuration whose ingest URL
//! names a freshly allocated IVS session.
//!
//! Owns the request shape, the three timeouts (connect 6 s, total 12 s,
//! outer 15 s) and the response parsing. HTTP/1.1 via hyper over the `Net`
//! seam, so the same client talks to the real service on tokio and to the
//! simulated `twitch-api` host under turmoil. Returns a typed result; never
//! touches destination state (the caller completes the fetch).

use crate::net::Net;
use crate::restream::event::FetchResult;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The path of the client-configuration call.
pub const CLIENT_CONFIG_PATH: &str = "/api/v3/GetClientConfiguration";

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
}

impl<N: Net> TwitchApi<N> {
    pub fn new(net: N, addr: impl Into<String>, timeouts: TwitchTimeouts) -> TwitchApi<N> {
        TwitchApi {
            net,
            addr: addr.into(),
            timeouts,
        }
    }

    /// Fetches a VOD-audio session URL for `stream_key` (`want_eb`: the
    /// Enhanced Broadcasting track count). Any failure is a typed result.
    pub async fn fetch_vod_session(&self, stream_key: &str, want_eb: bool) -> FetchResult {
        match tokio::time::timeout(self.timeouts.outer, self.fetch_total(stream_key, want_eb)).await
        {
            Ok(r) => r,
            Err(_) => FetchResult::Timeout,
        }
    }

    async fn fetch_total(&self, stream_key: &str, want_eb: bool) -> FetchResult {
        match tokio::time::timeout(self.timeouts.total, self.fetch_inner(stream_key, want_eb)).await
        {
            Ok(Ok(url)) => FetchResult::Session(url),
            Ok(Err(e)) => e,
            Err(_) => FetchResult::Timeout,
        }
    }

    async fn fetch_inner(&self, stream_key: &str, want_eb: bool) -> Result<String, FetchResult> {
        let err =
            |what: &str, e: &dyn std::fmt::Display| FetchResult::Error(format!("{what}: {e}"));
        let stream =
            match tokio::time::timeout(self.timeouts.connect, self.net.connect(&self.addr)).await {
                Err(_) => return Err(FetchResult::Timeout),
                // The kind only: an OS or simulator message may name addresses,
                // which must never reach the trace.
                Ok(Err(e)) => return Err(FetchResult::Error(format!("connect: {}", e.kind()))),
                Ok(Ok(s)) => s,
            };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| err("handshake", &e))?;
        let conn_task = tokio::spawn(async move {
            let _ = conn.await;
        });
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
        let result = async {
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| err("send", &e))?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| err("body", &e))?
                .to_bytes();
            if !status.is_success() {
                return Err(FetchResult::Error(format!("status {}", status.as_u16())));
            }
            parse_session_url(&bytes, stream_key)
        }
        .await;
        conn_task.abort();
        result
    }
}

/// The first endpoint's template with `{stream_key}` filled in.
pub fn parse_session_url(body: &[u8], stream_key: &str) -> Result<String, FetchResult> {
    let resp: ClientConfigResponse =
        serde_json::from_slice(body).map_err(|e| FetchResult::Error(format!("bad body: {e}")))?;
    let first = resp
        .ingest_endpoints
        .first()
        .ok_or_else(|| FetchResult::Error("no ingest endpoint".into()))?;
    Ok(first.url_template.replace("{stream_key}", stream_key))
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
}
