//! What the subcommands print through: stdout that ends the process
//! quietly when the reader went away (`relaysim replay … | head`), and the
//! progress bar of long runs (hidden under `CI` and with `--json`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `println!` that ends the process quietly when stdout is closed.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if writeln!(out, $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// `print!` with the same behaviour.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if write!(out, $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
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
