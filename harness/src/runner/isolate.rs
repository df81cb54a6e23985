//! Process isolation: seeds run in worker processes of the same binary,
//! which a supervisor feeds, watches, kills and replaces.
//!
//! Owns the worker side ([`serve_worker`]: read a seed, run it, write its
//! outcome) and the supervisor side ([`WorkerPool`]: one worker per slot of
//! the batch's pool, a hard per-seed deadline, a dead or stuck worker's
//! seed turned into a `crash` or `timeout` outcome and the worker
//! replaced). It never decides a run: a worker runs exactly what
//! [`super::run_seed`] runs, and only its outcome crosses the pipe.
//!
//! # The model
//!
//! A thread can be asked to stop, not made to: a host that never yields
//! (a busy loop, a blocked OS call) never reaches the step boundary where
//! the cooperative watchdog's flag is read, and a seed that aborts (stack
//! overflow, allocation failure, `abort`) takes its whole process down.
//! So a batch may run its seeds in worker processes instead of threads
//! ([`Isolation::Processes`]):
//!
//! - **Workers.** Each slot of the pool owns one worker, started on demand
//!   from a [`WorkerCommand`] (the same binary, a subcommand that calls
//!   [`serve_worker`] for the scenario and bugs). Workers run in their own
//!   process group, so a terminal's Ctrl-C reaches only the supervisor,
//!   which lets the seeds in flight finish; a worker whose stdin closes
//!   exits.
//! - **Protocol.** One line per message, JSON. The worker says `hello`
//!   (scenario, bugs, version) once; the supervisor writes a seed (`0x2a`,
//!   or `0x2a trace` to also get the trace's text back, with `engine=fast`
//!   to run it on the fast engine); the worker answers
//!   `start` with the seed's plan before it runs, then `done` with the
//!   outcome (failure, `sometimes` hits, trace hash, times, and the trace's
//!   text when the seed failed or the text was asked for).
//! - **Deadlines.** Inside the worker each seed runs under
//!   [`super::run_seed_bounded`]: the cooperative watchdog stops a slow
//!   seed at its budget (a `timeout` with its trace tail), and if the seed
//!   does not reach a step boundary within [`super::HARD_GRACE`] after that,
//!   the worker exits with [`super::HANG_EXIT_CODE`], which the supervisor
//!   reads as a `timeout`. The supervisor's own deadline, a little later,
//!   kills a worker that could not even do that.
//! - **Deaths.** A worker that exits, is killed by a signal, or breaks the
//!   protocol while a seed is in flight gives that seed a `crash` outcome
//!   naming the exit status and the worker's last stderr lines (where a
//!   stack overflow or an allocation failure says so); the slot starts a
//!   new worker for its next seed. A worker that cannot start three times
//!   in a row stops its slot, and the batch reports its unrun seeds.
//!
//! Threads remain the default where they serve: `cargo test` runs, the
//! benches, shrinking and replays (which need the typed trace), and any
//! batch that keeps traces or facts, which stay in the worker.

use super::{run_seed_bounded, RunOptions, SeedOutcome, HANG_EXIT_CODE, HARD_GRACE};
use crate::check::{Facts, Failure, FailureKind};
use crate::engine::EngineKind;
use crate::fault::{FamilyFault, FaultPlan};
use crate::scenario::{ErasedPlan, Scenario};
use crate::seed::Seed;
use crate::trace::Trace;
use relaysim_core::BugSet;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Stderr lines of a worker kept for a crash report.
const STDERR_TAIL: usize = 8;

/// How long a new worker has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(60);

/// The supervisor's deadline past the worker's own hard stop.
const BACKSTOP: Duration = Duration::from_secs(3);

/// Failed starts in a row after which a slot gives up.
const MAX_START_FAILURES: u32 = 3;

/// How a batch runs its seeds.
#[derive(Debug, Clone, Copy, Default)]
pub enum Isolation<'a> {
    /// Worker threads of this process (fast; a seed that never yields
    /// hangs its thread, one that aborts takes the batch down).
    #[default]
    Threads,
    /// Worker processes started from this command, supervised (see the
    /// module doc).
    Processes(&'a WorkerCommand),
}

/// How to start a worker process: a program, its arguments and extra
/// environment. The program must call [`serve_worker`] (through
/// [`crate::AnyScenario::serve_worker`]) for the batch's scenario and bugs
/// on its stdin and stdout.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    /// The executable (usually `std::env::current_exe()`).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
}

/// One line a worker writes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "kebab-case", deny_unknown_fields)]
enum WorkerMsg {
    /// Once, at start.
    Hello {
        scenario: String,
        bugs: String,
        version: String,
    },
    /// A seed is about to run with this plan (`null`: its generator panicked).
    Start {
        seed: String,
        plan: Option<serde_json::Value>,
    },
    /// A seed's outcome.
    Done {
        seed: String,
        failure: Option<WireFailure>,
        hits: Vec<String>,
        trace_hash: String,
        sim_ns: u64,
        wall_ns: u64,
        trace: Option<String>,
    },
}

/// A failure as it crosses the pipe (the plan went with `start`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireFailure {
    kind: FailureKind,
    check: String,
    detail: String,
    at_ns: u64,
    tail: Vec<String>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn send(out: &mut impl Write, msg: &WorkerMsg) -> std::io::Result<()> {
    let line = serde_json::to_string(msg).map_err(std::io::Error::other)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The worker's loop: says hello, then for each seed line of `input` runs
/// the seed under [`run_seed_bounded`] (whose hard stop exits the process
/// with [`HANG_EXIT_CODE`]) and writes `start` and `done`. Returns at the
/// end of `input`; an error is a broken pipe or an unreadable line.
pub fn serve_worker<F: FamilyFault>(
    scn: &Scenario<F>,
    bugs: BugSet,
    limit: Duration,
    input: impl BufRead,
    mut output: impl Write,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("worker pipe: {e}");
    send(
        &mut output,
        &WorkerMsg::Hello {
            scenario: scn.name.to_string(),
            bugs: bugs.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
    )
    .map_err(io)?;
    for line in input.lines() {
        let line = line.map_err(io)?;
        let mut words = line.split_whitespace();
        let Some(seed) = words.next() else { continue };
        let seed = Seed::parse(seed)?;
        let mut want_trace = false;
        let mut opts = RunOptions {
            bugs,
            ..RunOptions::default()
        };
        for word in words {
            match word.split_once('=') {
                None if word == "trace" => want_trace = true,
                Some(("engine", e)) => opts.engine = e.parse()?,
                _ => {
                    return Err(format!(
                        "worker: unknown word {word:?} in seed line {line:?}"
                    ))
                }
            }
        }
        // The plan goes first, so a seed that never comes back can still
        // be reported with it. A generator that panics is reported by the
        // run itself, naming the generator.
        let plan = std::panic::catch_unwind(|| scn.plan_for(seed))
            .ok()
            .and_then(|p| serde_json::to_value(p).ok());
        send(
            &mut output,
            &WorkerMsg::Start {
                seed: seed.to_string(),
                plan,
            },
        )
        .map_err(io)?;
        let o = run_seed_bounded(scn, seed, &opts, limit);
        let failed = o.failure.is_some();
        send(
            &mut output,
            &WorkerMsg::Done {
                seed: seed.to_string(),
                failure: o.failure.map(|f| WireFailure {
                    kind: f.kind,
                    check: f.check,
                    detail: f.detail,
                    at_ns: nanos(f.at),
                    tail: f.tail,
                }),
                hits: o.hits.iter().map(|h| h.to_string()).collect(),
                trace_hash: o.trace_hash,
                sim_ns: nanos(o.sim_time),
                wall_ns: nanos(o.wall),
                trace: (failed || want_trace).then(|| o.trace.text()),
            },
        )
        .map_err(io)?;
    }
    Ok(())
}

/// A running worker process and the threads draining its pipes.
struct Worker {
    child: Child,
    /// `None` once closed (on drop).
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Worker {
    fn start(cmd: &WorkerCommand, scenario: &str, bugs: BugSet) -> Result<Worker, String> {
        let mut c = Command::new(&cmd.program);
        c.args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            // Its own process group: a terminal's Ctrl-C is the
            // supervisor's to handle.
            use std::os::unix::process::CommandExt;
            c.process_group(0);
        }
        let mut child = c
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", cmd.program.display()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the worker's pipes are missing".into());
        };
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let keep = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if is_backtrace(&line) {
                    continue;
                }
                let mut t = keep.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let mut w = Worker {
            child,
            stdin: Some(stdin),
            lines,
            stderr: tail,
        };
        let hello = match w.lines.recv_timeout(HELLO_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let why = match e {
                    RecvTimeoutError::Timeout => "did not say hello in time".to_string(),
                    RecvTimeoutError::Disconnected => w.ended(),
                };
                w.kill();
                return Err(format!("the worker {why}"));
            }
        };
        match serde_json::from_str::<WorkerMsg>(&hello) {
            Ok(WorkerMsg::Hello {
                scenario: s,
                bugs: b,
                ..
            }) if s == scenario && b == bugs.to_string() => Ok(w),
            _ => {
                w.kill();
                Err(format!(
                    "the worker's first line is not a hello for scenario {scenario} with bugs {bugs}: {hello:?}"
                ))
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// How the worker ended (after its stdout closed), with its last
    /// stderr lines.
    fn ended(&mut self) -> String {
        let until = wall_now() + Duration::from_secs(5);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if wall_now() < until => pause(Duration::from_millis(5)),
                _ => {
                    self.kill();
                    break None;
                }
            }
        };
        // Give the stderr thread a moment to read the last lines.
        pause(Duration::from_millis(20));
        let how = match status {
            Some(s) => exit_text(&s),
            None => "closed its output and did not exit (killed)".to_string(),
        };
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let last: Vec<&str> = tail
            .iter()
            .map(String::as_str)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if last.is_empty() {
            how
        } else {
            format!("{how}; its last stderr lines: {}", last.join(" | "))
        }
    }

    fn exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().and_then(|s| s.code())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin ends an idle worker; one that does not go is killed.
        drop(self.stdin.take());
        let until = wall_now() + Duration::from_millis(500);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if wall_now() < until => pause(Duration::from_millis(5)),
                _ => return self.kill(),
            }
        }
    }
}

/// Wall time, for the supervisor's deadlines and reaping only: never
/// inside a run.
fn wall_now() -> Instant {
    #[allow(clippy::disallowed_methods)] // the supervisor's clock, not simulated code
    Instant::now()
}

/// Waits a little (reaping a process), outside every run.
fn pause(d: Duration) {
    #[allow(clippy::disallowed_methods)] // the supervisor's thread, not simulated code
    std::thread::sleep(d);
}

/// A line of a backtrace (frames, their places, the notes around them):
/// kept out of a crash report's stderr lines, which want the message.
fn is_backtrace(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("at ")
        || t == "stack backtrace:"
        || t.starts_with("note: Some details are omitted")
        || t.starts_with("note: run with `RUST_BACKTRACE")
        || t.split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An exit status in words.
fn exit_text(s: &std::process::ExitStatus) -> String {
    if let Some(c) = s.code() {
        return format!("exited with code {c}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            let name = match sig {
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                _ => "",
            };
            return format!("was killed by signal {sig}{name}");
        }
    }
    format!("ended: {s}")
}

/// One slot's worker, started on demand and replaced when it dies.
pub(super) struct Slot<'a> {
    cmd: &'a WorkerCommand,
    worker: Option<Worker>,
    failed_starts: u32,
}

/// What a slot's seed came to.
pub(super) enum Ran {
    /// An outcome (pass, or any failure, `timeout` and `crash` included).
    Outcome(Box<SeedOutcome>),
    /// The slot cannot start workers: it stops, with this reason.
    Broken(String),
}

impl<'a> Slot<'a> {
    pub(super) fn new(cmd: &'a WorkerCommand) -> Self {
        Slot {
            cmd,
            worker: None,
            failed_starts: 0,
        }
    }

    /// Runs `seed` in this slot's worker with a hard deadline of `limit`
    /// plus the worker's own grace and a backstop.
    pub(super) fn run<F: FamilyFault>(
        &mut self,
        scn: &Scenario<F>,
        seed: Seed,
        bugs: BugSet,
        limit: Duration,
        want_trace: bool,
        engine: EngineKind,
    ) -> Ran {
        if self.worker.is_none() {
            match Worker::start(self.cmd, scn.name, bugs) {
                Ok(w) => {
                    self.worker = Some(w);
                    self.failed_starts = 0;
                }
                Err(e) => {
                    self.failed_starts += 1;
                    if self.failed_starts >= MAX_START_FAILURES {
                        return Ran::Broken(format!(
                            "{MAX_START_FAILURES} worker processes in a row could not start: {e}"
                        ));
                    }
                    return Ran::Outcome(Box::new(lost(
                        scn,
                        seed,
                        bugs,
                        None,
                        FailureKind::Crash,
                        format!("its worker process could not start: {e}"),
                    )));
                }
            }
        }
        let Some(w) = self.worker.as_mut() else {
            unreachable!("a worker was just started")
        };
        let mut line = seed.to_string();
        if want_trace {
            line.push_str(" trace");
        }
        if engine != EngineKind::default() {
            line.push_str(&format!(" engine={engine}"));
        }
        line.push('\n');
        // What the worker printed for earlier seeds is not this seed's.
        w.stderr.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let written = match w.stdin.as_mut() {
            Some(pipe) => pipe.write_all(line.as_bytes()).and_then(|()| pipe.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = written {
            let why = format!(
                "its worker process could not be given the seed ({e}): it {}",
                w.ended()
            );
            self.worker = None;
            return Ran::Outcome(Box::new(lost(
                scn,
                seed,
                bugs,
                None,
                FailureKind::Crash,
                why,
            )));
        }
        let deadline = wall_now() + limit + HARD_GRACE + BACKSTOP;
        let mut plan: Option<ErasedPlan> = None;
        loop {
            let left = deadline.saturating_duration_since(wall_now());
            let msg = match w.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    w.kill();
                    self.worker = None;
                    return Ran::Outcome(Box::new(lost(
                        scn,
                        seed,
                        bugs,
                        plan,
                        FailureKind::Timeout,
                        format!(
                            "the seed did not finish within {:.1} s of wall time (its budget {:.1} s, plus grace): a host that never yields or a blocked OS call; its worker process was killed",
                            (limit + HARD_GRACE + BACKSTOP).as_secs_f64(),
                            limit.as_secs_f64()
                        ),
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let how = w.ended();
                    let code = w.exit_code();
                    self.worker = None;
                    let (kind, why) = if code == Some(HANG_EXIT_CODE) {
                        (
                            FailureKind::Timeout,
                            format!(
                                "the seed never reached a step boundary within {:.1} s of its {:.1} s budget (a host that never yields, or a blocked OS call): its worker process stopped itself",
                                HARD_GRACE.as_secs_f64(),
                                limit.as_secs_f64()
                            ),
                        )
                    } else {
                        (
                            FailureKind::Crash,
                            format!("the worker process running this seed {how}"),
                        )
                    };
                    return Ran::Outcome(Box::new(lost(scn, seed, bugs, plan, kind, why)));
                }
            };
            match serde_json::from_str::<WorkerMsg>(&msg) {
                Ok(WorkerMsg::Start { seed: s, plan: p }) if s == seed.to_string() => {
                    plan = p
                        .and_then(|v| serde_json::from_value::<FaultPlan<F>>(v).ok())
                        .map(|p| Arc::new(p) as ErasedPlan);
                }
                Ok(WorkerMsg::Done {
                    seed: s,
                    failure,
                    hits,
                    trace_hash,
                    sim_ns,
                    wall_ns,
                    trace,
                }) if s == seed.to_string() => {
                    let plan: ErasedPlan =
                        plan.unwrap_or_else(|| Arc::new(FaultPlan::<F>::default()));
                    let failure = failure.map(|f| Failure {
                        kind: f.kind,
                        check: f.check,
                        detail: f.detail,
                        scenario: scn.name,
                        seed,
                        bugs,
                        at: Duration::from_nanos(f.at_ns),
                        plan: plan.clone(),
                        tail: f.tail,
                        replay: scn.replay,
                        plan_file: None,
                        engine: Default::default(),
                    });
                    let hits = hits
                        .iter()
                        .filter_map(|h| scn.checks.iter().find(|c| c.name == h).map(|c| c.name))
                        .collect();
                    return Ran::Outcome(Box::new(SeedOutcome {
                        seed,
                        failure,
                        hits,
                        trace_hash,
                        trace: Trace::default(),
                        trace_text: trace,
                        facts: Facts::new(),
                        plan,
                        sim_time: Duration::from_nanos(sim_ns),
                        wall: Duration::from_nanos(wall_ns),
                    }));
                }
                _ => {
                    w.kill();
                    self.worker = None;
                    return Ran::Outcome(Box::new(lost(
                        scn,
                        seed,
                        bugs,
                        plan,
                        FailureKind::Crash,
                        format!("its worker process broke the protocol (killed): {msg:?}"),
                    )));
                }
            }
        }
    }
}

/// The outcome of a seed whose worker gave none: a `crash` or `timeout`
/// with the plan the worker announced, if it did.
pub(super) fn lost<F: FamilyFault>(
    scn: &Scenario<F>,
    seed: Seed,
    bugs: BugSet,
    plan: Option<ErasedPlan>,
    kind: FailureKind,
    detail: String,
) -> SeedOutcome {
    let plan = plan.unwrap_or_else(|| Arc::new(FaultPlan::<F>::default()));
    SeedOutcome {
        seed,
        failure: Some(Failure {
            kind,
            check: match kind {
                FailureKind::Timeout => "watchdog",
                _ => "runner",
            }
            .into(),
            detail,
            scenario: scn.name,
            seed,
            bugs,
            at: Duration::ZERO,
            plan: plan.clone(),
            tail: Vec::new(),
            replay: scn.replay,
            plan_file: None,
            engine: Default::default(),
        }),
        hits: Vec::new(),
        trace_hash: String::new(),
        trace: Trace::default(),
        trace_text: None,
        facts: Facts::new(),
        plan,
        sim_time: Duration::ZERO,
        wall: Duration::ZERO,
    }
}
