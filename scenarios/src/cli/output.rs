//! What the subcommands print through: stdout whose every write is checked
//! (a closed pipe, a full disk: one line on stderr and exit 3, never a
//! silent exit 0), and the progress bar of long runs (hidden under `CI`
//! and with `--json`). Lines are written whole under stdout's lock, so
//! lines printed from worker threads never interleave.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `println!` that, when stdout cannot be written, says so and exits 3.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($t)*).and_then(|()| out.flush()) {
            $crate::cli::output::output_failed(&e);
        }
    }};
}

/// `print!` with the same behaviour.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = write!(out, $($t)*).and_then(|()| out.flush()) {
            $crate::cli::output::output_failed(&e);
        }
    }};
}

/// Exit code when stdout cannot be written.
pub const OUTPUT_ERROR: i32 = 3;

/// Ends the process after a failed write to stdout: one line on stderr
/// (which may be gone too) and exit [`OUTPUT_ERROR`].
pub fn output_failed(e: &std::io::Error) -> ! {
    eprintln!("relaysim: error: cannot write the output: {e}");
    std::process::exit(OUTPUT_ERROR)
}

/// A progress bar over `len` seeds, on stderr unless `quiet` or `CI` is set.
pub fn progress(len: u64, label: &str, quiet: bool) -> ProgressBar {
    let hidden = quiet || std::env::var_os("CI").is_some();
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if hidden {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} seeds, {msg} {per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    pb
}
