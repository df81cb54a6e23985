//! `cargo bench -p relaysim-scenarios`: the same figures as `relaysim bench`
//! with smaller budgets (no loom step, which `relaysim bench` times).

fn main() {
    let opts = relaysim_scenarios::bench::BenchOptions {
        seeds: 20,
        detect_ranges: 5,
        loom: false,
        ..Default::default()
    };
    if let Err(e) = relaysim_scenarios::bench::run(&opts) {
        eprintln!("bench failed: {e}");
        std::process::exit(2);
    }
}
