//! restream's lifecycle clauses (S6: a replaced pump never delivers again;
//! R1: the latch and everything a publish session started end with it),
//! judged from outside the relay: by the runtime's own count of live tasks
//! ([`alive_tasks`]), never by the supervisor's bookkeeping or its trace.
//!
//! The relay runs against the scripted peers of `restream_relay`. The
//! tasks alive must not grow when a pump is replaced (a destination
//! dropped its connection, the VOD override moved the Twitch pump to its
//! IVS session, a new publish session replaced every pump); they shrink
//! when a destination is removed, stay put while the ingest is dead (pumps
//! are held, not restarted, then), and come back to the idle relay's once
//! every destination is removed.

use crate::restream_relay::{
    destination, kick, relay, twitch_api, youtube, Answer, Publisher, Script, World, BOUND,
};
use crate::support::{alive_tasks, no_task_left};
use relaysim_core::restream::DestinationConfig;
use relaysim_core::BugSet;
use std::time::Duration;
use tokio::time::{sleep, timeout};

/// Longer than every deadline the relay holds for a publish session (the
/// supervisor's 2 s tick, the Twitch fetch's 12 s, a pump's 5 s stall).
const QUIET: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn replaced_and_removed_pumps_leave_no_task() {
    timeout(BOUND * 5, async {
        let (world, dialer) = World::new();
        // Twitch (VOD path: its pump moves to the IVS session), YouTube
        // (drops its first connection after 130 frames: restarted), Kick
        // (removed from the settings mid-stream).
        let (tw_net, tw) = destination(Script::answer(Answer::Accept));
        let (yt_net, yt) = destination(Script {
            drop_first_after: Some(130),
            ..Script::answer(Answer::Accept)
        });
        let (kick_net, kick_sink) = destination(Script::answer(Answer::Accept));
        world.serve("twitch-ingest:1935", tw_net);
        world.serve("yt:1935", yt_net);
        world.serve("kick:1935", kick_net);
        world.serve("twitch-api:80", twitch_api());
        let twitch =
            DestinationConfig::twitch("twitch", "rtmp://twitch-ingest:1935/app", "tw_key", true);
        let (handle, events) = relay(&world, vec![twitch.clone(), youtube(), kick()], BugSet::NONE);
        sleep(Duration::from_millis(100)).await;
        let idle = alive_tasks();

        let mut publisher = Publisher::connect(&dialer).await;
        // Every pump up, the VOD override applied and the Twitch pump moved.
        publisher.stream(0, 100).await;
        assert_eq!(tw.connections(), 2, "{:#?}", events.lines());
        let streaming = alive_tasks();
        // YouTube drops its first connection at frame 130: restarted.
        publisher.stream(100, 200).await;
        assert_eq!(yt.connections(), 2, "{:#?}", events.lines());
        assert_eq!(
            alive_tasks(),
            streaming,
            "a pump replaced after its destination dropped it: tasks grew; {:#?}",
            events.lines()
        );
        // Kick removed: its pump and nothing else goes.
        handle.settings.send(vec![twitch, youtube()]).unwrap();
        publisher.stream(200, 250).await;
        assert_eq!(kick_sink.connections(), 1);
        let after_removal = alive_tasks();
        assert!(
            after_removal < streaming,
            "the removed destination's tasks are still alive ({after_removal}, {streaming} before); {:#?}",
            events.lines()
        );
        // The publisher leaves. The pumps are kept while the ingest is dead
        // (never restarted then: the upstream's hold); its connection's
        // own tasks end.
        publisher.unpublish().await;
        drop(publisher);
        sleep(QUIET).await;
        let held = alive_tasks();
        assert!(
            held < after_removal,
            "the publisher's connection: its tasks outlived it ({held} alive, {after_removal} while it streamed)"
        );
        // Two more publish sessions: each replaces every pump (S6), so the
        // count comes back to the same levels each time.
        for round in 2..=3u32 {
            let mut next = Publisher::connect(&dialer).await;
            next.stream(0, 100).await;
            assert_eq!(
                alive_tasks(),
                after_removal,
                "publish session {round}, streaming: replaced pumps left tasks; {:#?}",
                events.lines()
            );
            next.unpublish().await;
            drop(next);
            sleep(QUIET).await;
            assert_eq!(
                alive_tasks(),
                held,
                "publish session {round}, over; {:#?}",
                events.lines()
            );
        }
        // Every destination removed: every pump ends, back to the idle relay.
        handle.settings.send(vec![]).unwrap();
        no_task_left("every destination removed", idle, QUIET, &events).await;
    })
    .await
    .expect("bounded");
}
