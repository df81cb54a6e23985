//! The slot server is ordinary async Rust over core's `Net` seam: the same
//! code the simulation runs, on `TokioNet` over loopback.

use futures_util::{SinkExt, StreamExt};
use relaysim_core::net::{Net, TokioNet};
use relaysim_core::BugSet;
use relaysim_example_slots::slots::{self, SlotConfig, SlotEvent, SlotServer, SlotSink};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::codec::{Framed, LinesCodec};

/// Keeps every event, in order.
#[derive(Default)]
struct Collect(Mutex<Vec<String>>);

impl SlotSink for Collect {
    fn record(&self, host: &'static str, event: SlotEvent) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{host} {event}"));
    }
}

type Lines = Framed<tokio::net::TcpStream, LinesCodec>;

async fn ask(lines: &mut Lines, line: &str) -> String {
    lines.send(line).await.expect("send");
    lines.next().await.expect("an answer").expect("a line")
}

#[test]
fn serves_on_tokio_net() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), scenario())
            .await
            .expect("the loopback run took more than 10 s");
    });
}

async fn scenario() {
    // A licence server that says yes to everyone but `mallory`.
    let licence = TokioNet.bind("127.0.0.1:0").await.expect("bind");
    let licence_addr = licence.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = licence.accept().await {
            tokio::spawn(async move {
                let mut lines = Framed::new(stream, LinesCodec::new());
                if let Some(Ok(q)) = lines.next().await {
                    let yes = q != "may mallory";
                    let _ = lines.send(if yes { "yes" } else { "no" }).await;
                }
            });
        }
    });

    let sink = Arc::new(Collect::default());
    let server = SlotServer::new(
        SlotConfig {
            capacity: 1,
            licence: licence_addr.to_string(),
            licence_timeout: Duration::from_secs(5),
            bugs: BugSet::NONE,
        },
        "slots",
        sink.clone(),
    );
    let listener = TokioNet.bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(slots::serve_on(TokioNet, listener, server.clone()));

    let connect = || async {
        Framed::new(
            TokioNet.connect(&addr.to_string()).await.expect("connect"),
            LinesCodec::new(),
        )
    };
    let mut a = connect().await;
    let mut b = connect().await;
    let mut m = connect().await;
    assert_eq!(ask(&mut a, "acquire alice").await, "granted");
    assert_eq!(ask(&mut b, "acquire bob").await, "full");
    assert_eq!(ask(&mut m, "acquire mallory").await, "full");
    assert_eq!(ask(&mut a, "release").await, "released");
    assert_eq!(ask(&mut m, "acquire mallory").await, "denied");
    assert_eq!(ask(&mut b, "acquire bob").await, "granted");
    // Bob hangs up: his slot is freed.
    drop(b);
    for _ in 0..100 {
        if server.held() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.held(), 0);
    let events = sink.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("slots slots.released client=bob")
                && e.contains("why=disconnect")),
        "{events:#?}"
    );
    assert!(events
        .iter()
        .any(|e| e.starts_with("slots slots.denied client=mallory") && e.contains("licence=no")));
}
