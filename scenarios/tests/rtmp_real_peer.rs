//! The restream core against real RTMP peers, over loopback on `TokioNet`:
//! real `ffmpeg` publishes a generated H.264 + AAC test stream to
//! `relaysim serve restream`, which restreams it to **nginx with its RTMP
//! module** standing in for the three platform ingests (Twitch, YouTube,
//! Kick; every publish session recorded to its own FLV file), with the
//! project's Twitch API server (the simulated one, on real HTTP) handing out
//! a VOD-audio session mid-stream.
//!
//! It asserts, with `ffprobe` and `ffmpeg`:
//! - a publish with a wrong stream key is refused (ffmpeg fails, the relay
//!   traces `publish.rejected reason=bad-key`);
//! - every recording decodes without an error, from its first frame (a
//!   keyframe), and has video and audio;
//! - the forced egress restarts happened and their new sessions' files
//!   decode from their first frame too: Twitch's pump restarts when the VOD
//!   override arrives (a new file under `ivs-1`), and YouTube's when the test
//!   kills its connection through nginx-rtmp's control endpoint
//!   (`egress.start dest=youtube reason=pump-died`).
//!
//! The peers come from `scripts/install-rtmp-peers.sh` (apt-get, once; about
//! a minute). Where it cannot install them the test fails with its one line;
//! it is never skipped. Real time, bounded: every child is killed by a
//! deadline (ffmpeg 20 s, the relay 45 s).
#![allow(clippy::disallowed_methods)] // real processes and sockets in real time: the wall clock is the point

use relaysim_core::net::Net;
use relaysim_core::TokioNet;
use relaysim_harness::Recorder;
use relaysim_scenarios::restream::peers::twitch_api;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Kills the child when dropped (a failing assertion never leaks one).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Reaped {
    /// Waits for the child up to `limit`, then kills it. `Some(success)` if
    /// it exited by itself.
    fn wait_within(&mut self, limit: Duration) -> Option<bool> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        None
    }
}

fn install_peers() {
    let out = Command::new("bash")
        .arg(format!("{WORKSPACE}/scripts/install-rtmp-peers.sh"))
        .output()
        .expect("bash runs scripts/install-rtmp-peers.sh");
    if !out.status.success() {
        panic!(
            "the RTMP real-peer test needs ffmpeg, nginx and libnginx-mod-rtmp: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

fn module_path() -> &'static str {
    [
        "/usr/lib/nginx/modules/ngx_rtmp_module.so",
        "/usr/share/nginx/modules/ngx_rtmp_module.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("install-rtmp-peers.sh installed ngx_rtmp_module.so")
}

fn application(name: &str, dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("recording dir");
    format!(
        "    application {name} {{ live on; record all; record_path {}; record_unique on; }}\n",
        dir.display()
    )
}

/// nginx.conf: three RTMP servers (the platforms) and the control endpoint.
fn nginx_conf(dir: &Path, ports: [u16; 3], control: u16) -> String {
    let rec = dir.join("rec");
    let mut twitch = application("app", &rec.join("twitch/app"));
    for n in 1..=4 {
        twitch += &application(&format!("ivs-{n}"), &rec.join(format!("twitch/ivs-{n}")));
    }
    let youtube = application("live2", &rec.join("youtube/live2"));
    let kick = application("app", &rec.join("kick/app"));
    let d = dir.display();
    format!(
        "load_module {module};\n\
         daemon off;\nmaster_process off;\nworker_processes 1;\n\
         error_log {d}/nginx-error.log info;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         rtmp {{\n\
           server {{ listen 127.0.0.1:{p0}; chunk_size 4096;\n{twitch}  }}\n\
           server {{ listen 127.0.0.1:{p1}; chunk_size 4096;\n{youtube}  }}\n\
           server {{ listen 127.0.0.1:{p2}; chunk_size 4096;\n{kick}  }}\n\
         }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {d}/t-body; proxy_temp_path {d}/t-proxy;\n\
           fastcgi_temp_path {d}/t-fcgi; uwsgi_temp_path {d}/t-uwsgi; scgi_temp_path {d}/t-scgi;\n\
           server {{ listen 127.0.0.1:{control}; location /control {{ rtmp_control all; }} }}\n\
         }}\n",
        module = module_path(),
        p0 = ports[0],
        p1 = ports[1],
        p2 = ports[2],
    )
}

fn wait_for_port(port: u16, what: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET path` on loopback; the whole answer.
fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("control endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

fn ffmpeg_publish(url: &str, seconds: u32) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x180:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
        ])
        .args(["-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// What ffprobe and ffmpeg say about one recording.
#[derive(Debug)]
struct Probe {
    video_frames: u64,
    audio_frames: u64,
    first_video: String,
    decode_errors: String,
}

fn probe(file: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_type,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |kind: &str| {
        text.lines()
            .filter_map(|l| l.split_once(','))
            .filter(|(k, _)| *k == kind)
            .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
            .sum()
    };
    let first = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-read_intervals",
            "%+#1",
        ])
        .args([
            "-show_entries",
            "frame=key_frame,pict_type",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe runs");
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    Probe {
        video_frames: count("video"),
        audio_frames: count("audio"),
        // `key_frame,pict_type`; ffprobe appends an empty field for a
        // frame that carries side data (`1,I,`), which says nothing about
        // decodability, so only the two asked-for fields are kept.
        first_video: String::from_utf8_lossy(&first.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .split(',')
            .take(2)
            .collect::<Vec<_>>()
            .join(","),
        decode_errors: String::from_utf8_lossy(&decode.stderr).trim().to_string(),
    }
}

fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(recordings(&p));
        } else if p.extension().is_some_and(|x| x == "flv") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// One whole run, the relay with `bug` switched on (or none); every
/// recording with what ffprobe says of it.
fn interop(bug: Option<&str>) -> Vec<(String, Probe)> {
    install_peers();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "rtmp-real-peer-{}-{}",
        std::process::id(),
        bug.unwrap_or("fixed")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");

    // nginx-rtmp: the three platforms.
    let ports = [free_port(), free_port(), free_port()];
    let control = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&dir, ports, control)).expect("nginx.conf");
    let nginx = Reaped(
        Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("nginx-error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts"),
    );
    for p in ports {
        wait_for_port(p, "nginx-rtmp");
    }

    // The project's Twitch API, on real HTTP; its IVS URLs point at the
    // Twitch nginx server.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let twitch_ingest = format!("127.0.0.1:{}", ports[0]);
    let api = twitch_api::TwitchApi::new(0, Recorder::new(), &twitch_ingest);
    let api_port = rt.block_on(async {
        let l = TokioNet.bind("127.0.0.1:0").await.expect("api listener");
        let port = relaysim_core::net::NetListener::local_addr(&l)
            .expect("addr")
            .port();
        tokio::spawn(twitch_api::serve_on(l, api.clone()));
        port
    });

    // The relay: `relaysim serve restream`, its events on stdout.
    let relay_port = free_port();
    let mut relay = Reaped(
        Command::new(env!("CARGO_BIN_EXE_relaysim"))
            .args([
                "serve",
                "restream",
                "--listen",
                &format!("127.0.0.1:{relay_port}"),
            ])
            .args(["--key", "obs_key", "--seconds", "45"])
            .args(bug.map(|b| ["--bug", b]).into_iter().flatten())
            .args([
                "--dest",
                &format!("twitch=rtmp://127.0.0.1:{}/app/live_twitch_key", ports[0]),
            ])
            .args([
                "--dest",
                &format!("youtube=rtmp://127.0.0.1:{}/live2/yt_key", ports[1]),
            ])
            .args([
                "--dest",
                &format!("kick=rtmp://127.0.0.1:{}/app/kick_key", ports[2]),
            ])
            .args(["--twitch-api", &format!("http://127.0.0.1:{api_port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("relaysim serve starts"),
    );
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stdout = relay.0.stdout.take().expect("stdout");
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("relay| {line}");
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
    wait_for_port(relay_port, "relaysim serve");
    let seen = |pat: &str| {
        lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|l| l.contains(pat))
    };
    let wait_seen = |pat: &str, limit: Duration| {
        let until = Instant::now() + limit;
        while !seen(pat) {
            assert!(Instant::now() < until, "the relay never printed {pat:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // A wrong stream key is refused.
    let mut wrong = Reaped(
        ffmpeg_publish(
            &format!("rtmp://127.0.0.1:{relay_port}/live/not_the_key"),
            3,
        )
        .spawn()
        .expect("ffmpeg starts"),
    );
    let refused = wrong.wait_within(Duration::from_secs(20));
    assert_eq!(refused, Some(false), "ffmpeg with a wrong key must fail");
    wait_seen("publish.rejected reason=bad-key", Duration::from_secs(5));
    assert!(
        !seen("publish.begin"),
        "a wrong key must not begin a publish"
    );

    // The real publish: 16 s of test pattern and tone.
    let mut ffmpeg = Reaped(
        ffmpeg_publish(&format!("rtmp://127.0.0.1:{relay_port}/live/obs_key"), 16)
            .spawn()
            .expect("ffmpeg starts"),
    );
    wait_seen("publish.begin token=1", Duration::from_secs(10));
    wait_seen("egress.connected dest=youtube", Duration::from_secs(10));
    // The VOD override restarts Twitch's pump mid-stream.
    wait_seen(
        "egress.start dest=twitch reason=url-changed",
        Duration::from_secs(10),
    );
    // Kill YouTube's egress connection from nginx's side once it streamed a
    // while; the supervisor restarts the pump.
    std::thread::sleep(Duration::from_secs(3));
    // srv=1: the second rtmp server block (YouTube's); the body is how many
    // publishers were dropped.
    let answer = http_get(
        control,
        "/control/drop/publisher?srv=1&app=live2&name=yt_key",
    );
    let dropped = answer.rsplit("\r\n\r\n").next().unwrap_or("").trim();
    assert!(
        answer.starts_with("HTTP/1.1 200") && dropped == "1",
        "nginx-rtmp's drop answered {answer:?}"
    );
    wait_seen(
        "egress.start dest=youtube reason=pump-died",
        Duration::from_secs(10),
    );
    let published = ffmpeg.wait_within(Duration::from_secs(30));
    assert_eq!(published, Some(true), "ffmpeg's publish must succeed");

    // Stop the relay (its pumps' sessions end, nginx closes the files),
    // then nginx.
    std::thread::sleep(Duration::from_secs(1));
    drop(relay);
    let _ = reader.join();
    std::thread::sleep(Duration::from_millis(500));
    drop(nginx);

    let files = recordings(&dir.join("rec"));
    let under = |p: &str| {
        files
            .iter()
            .filter(|f| f.to_string_lossy().contains(p))
            .count()
    };
    assert!(under("/twitch/app/") >= 1, "{files:?}");
    assert!(
        under("/twitch/ivs-1/") >= 1,
        "the VOD override's session: {files:?}"
    );
    assert!(under("/youtube/") >= 1, "{files:?}");
    assert!(under("/kick/") >= 1, "{files:?}");
    let mut report = Vec::new();
    for f in &files {
        let p = probe(f);
        let name = f
            .strip_prefix(dir.join("rec"))
            .unwrap_or(f)
            .display()
            .to_string();
        println!(
            "recording {name}: {} video frames, {} audio frames, first video frame {:?}",
            p.video_frames, p.audio_frames, p.first_video
        );
        report.push((name, p));
    }
    report
}

#[test]
fn ffmpeg_to_relaysim_to_nginx_rtmp() {
    let report = interop(None);
    for (name, p) in &report {
        assert!(p.video_frames > 0 && p.audio_frames > 0, "{name}: {p:?}");
        assert_eq!(
            p.first_video, "1,I",
            "{name} must decode from its first frame: {p:?}"
        );
        assert!(
            p.decode_errors.is_empty(),
            "{name} decodes with errors: {p:?}"
        );
    }
}

/// The same run with the pre-fix egress path: the restarted pumps (the VOD
/// override's, the dropped YouTube one) resume mid-stream, and real
/// decoders say so. Proves the fixed run's assertions can fail.
#[test]
fn without_the_fix_a_restarted_session_does_not_decode_from_its_first_frame() {
    let report = interop(Some("egress-missing-sequence-headers"));
    let broken: Vec<&String> = report
        .iter()
        .filter(|(_, p)| p.first_video != "1,I" || !p.decode_errors.is_empty())
        .map(|(name, _)| name)
        .collect();
    assert!(
        broken.iter().any(|n| n.contains("ivs-1")),
        "the VOD override's restarted session must be broken without the fix: {report:#?}"
    );
    assert!(
        report
            .iter()
            .any(|(n, p)| n.contains("kick") && p.first_video == "1,I"),
        "a destination's first session is fine either way: {report:#?}"
    );
}
