//! Wall time of a whole `preflight check` as a CI job runs it: the release binary,
//! a new process each time, the compile cache warm (docs/performance.md).
//!
//! Run: `cargo bench -p preflight --bench check_wall` (`CHECK_WALL_RUNS` sets N).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET: Duration = Duration::from_millis(30);

fn run(binary: &str, cache: &Path, env: &Path, extra: &[&str]) -> Duration {
    let started = Instant::now();
    let status = Command::new(binary)
        .arg("check")
        .arg("--env")
        .arg(env)
        .args(extra)
        .env("PREFLIGHT_CACHE_DIR", cache)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running preflight");
    let elapsed = started.elapsed();
    assert_eq!(status.code(), Some(0), "the ready example passes the gate");
    elapsed
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// Prints min, median and p95 (nearest rank) of the samples; returns median and p95.
fn summary(label: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let p95 = samples[(samples.len() * 95).div_ceil(100) - 1];
    println!(
        "{label:<28} n={:<3} min {}  median {}  p95 {}",
        samples.len(),
        millis(samples[0]),
        millis(samples[samples.len() / 2]),
        millis(p95)
    );
    (samples[samples.len() / 2], p95)
}

fn main() {
    let runs: usize = std::env::var("CHECK_WALL_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let binary = env!("CARGO_BIN_EXE_preflight");
    let env =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/contoso-ready/environment.json");
    let cache = tempfile::tempdir().expect("a temporary cache dir");

    println!("binary: {binary}");
    println!("input:  examples/contoso-ready/environment.json");
    let cold: Vec<Duration> = (0..runs.min(10))
        .map(|_| run(binary, cache.path(), &env, &["--no-cache"]))
        .collect();
    summary("no cache (--no-cache)", cold);

    run(binary, cache.path(), &env, &[]); // warm-up: fills the compile cache
    let warm: Vec<Duration> = (0..runs)
        .map(|_| run(binary, cache.path(), &env, &[]))
        .collect();
    let (median, p95) = summary("warm cache", warm);
    let verdict = |value: Duration| if value < TARGET { "met" } else { "NOT met" };
    println!(
        "target: under {} with a warm cache -> median {}, p95 {}",
        millis(TARGET),
        verdict(median),
        verdict(p95)
    );
}
