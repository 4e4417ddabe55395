//! `preflight audit` over a generated fleet (docs/performance.md): wall time and
//! peak memory of the release binary, and a check that the audit gives the same
//! findings as single `preflight check` runs of the same snapshots.
//!
//! Run: `cargo bench -p preflight --bench audit`
//!
//! Environment: `AUDIT_FLEET` snapshots (10000), `AUDIT_RUNS` timed runs (7),
//! `AUDIT_VERIFY` how many snapshots to compare with `check` (`all`, or a number;
//! 300), `AUDIT_JOBS` threads (default: one per core), `AUDIT_ISOLATE=1` for a fresh
//! instance per evaluation. The fleet is written once to `target/fleet-<N>/` by
//! `preflight::audit::fleet` (seed 42) and reused.

use preflight::audit::fleet;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEED: u64 = 42;
const TARGET: Duration = Duration::from_millis(600);
const MEMORY_TARGET_MIB: f64 = 200.0;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Runs `preflight audit` once: its wall time, exit code and peak resident memory
/// (MiB, from `wait4`, for this process alone).
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped with wait4, which also gives its resource usage"
)]
fn audit(
    binary: &str,
    fleet: &Path,
    cache: &Path,
    out: &Path,
    extra: &[String],
) -> (Duration, i32, f64) {
    let started = Instant::now();
    let child = Command::new(binary)
        .arg("audit")
        .arg(fleet)
        .arg("--quiet")
        .arg("--format")
        .arg(format!("jsonl={}", out.display()))
        .args(extra)
        .env("PREFLIGHT_CACHE_DIR", cache)
        .stdout(Stdio::null())
        .spawn()
        .expect("running preflight audit");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes into the struct we own; the child is ours and not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "waiting for preflight");
    let elapsed = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (elapsed, code, usage.ru_maxrss as f64 / 1024.0)
}

/// Findings as (rule, severity, pointer, message), sorted, per snapshot file.
type Findings = Vec<(String, String, String, String)>;

fn key(finding: &Value) -> (String, String, String, String) {
    let text = |name: &str| finding[name].as_str().unwrap_or_default().to_owned();
    (
        text("ruleId"),
        text("severity"),
        text("pointer"),
        text("message"),
    )
}

fn main() {
    let count: usize = env_or("AUDIT_FLEET", 10_000);
    let runs: usize = env_or("AUDIT_RUNS", 7);
    let verify = std::env::var("AUDIT_VERIFY").unwrap_or_else(|_| "300".into());
    let mut extra: Vec<String> = Vec::new();
    if let Ok(jobs) = std::env::var("AUDIT_JOBS") {
        extra.extend(["--jobs".into(), jobs]);
    }
    if std::env::var("AUDIT_ISOLATE").is_ok_and(|v| v == "1") {
        extra.push("--isolate".into());
    }
    let binary = env!("CARGO_BIN_EXE_preflight");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let fleet_dir = target_dir.join(format!("fleet-{count}"));
    let marker = fleet_dir.join(".complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&fleet_dir);
        let started = Instant::now();
        let fleet = fleet::generate(&fleet_dir, count, SEED).expect("writing the fleet");
        std::fs::write(&marker, b"").expect("writing the marker");
        println!(
            "generated {} snapshots ({:.1} MB, {:.1} KB each) in {:.1} s",
            fleet.files.len(),
            fleet.bytes as f64 / 1e6,
            fleet.bytes as f64 / 1e3 / fleet.files.len() as f64,
            started.elapsed().as_secs_f64()
        );
    }
    let cache = tempfile::tempdir().expect("a cache dir");
    let out_dir = tempfile::tempdir().expect("an output dir");
    let out = out_dir.path().join("audit.jsonl");
    println!("binary: {binary}");
    println!("fleet:  {} ({count} snapshots)", fleet_dir.display());
    println!(
        "cores:  {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Warm the compile cache and the page cache.
    let (first, code, first_peak) = audit(binary, &fleet_dir, cache.path(), &out, &extra);
    println!(
        "first run (compiles the pack): {:.3} s, exit {code}, peak {first_peak:.1} MiB",
        first.as_secs_f64()
    );
    let mut peak: f64 = 0.0;
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let (elapsed, _, rss) = audit(binary, &fleet_dir, cache.path(), &out, &extra);
            peak = peak.max(rss);
            elapsed
        })
        .collect();
    samples.sort();
    let median = samples[samples.len() / 2];
    println!(
        "audit {count} snapshots: n={runs} min {:.3} s  median {:.3} s  max {:.3} s  (target < {:.1} s: {})",
        samples[0].as_secs_f64(),
        median.as_secs_f64(),
        samples[samples.len() - 1].as_secs_f64(),
        TARGET.as_secs_f64(),
        if median < TARGET { "met" } else { "NOT met" }
    );
    println!(
        "peak resident memory (timed runs): {peak:.1} MiB (target < {MEMORY_TARGET_MIB} MiB: {})",
        if peak < MEMORY_TARGET_MIB {
            "met"
        } else {
            "NOT met"
        }
    );

    // The audit's findings, per snapshot file.
    let text = std::fs::read_to_string(&out).expect("the audit output");
    let mut audited: BTreeMap<String, Findings> = BTreeMap::new();
    let mut total = 0;
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).expect("JSON Lines");
        if record["type"] == "target" {
            let mut findings: Findings = record["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .map(key)
                .collect();
            findings.sort();
            total += findings.len();
            audited.insert(record["id"].as_str().unwrap().to_owned(), findings);
        }
    }
    println!("findings: {total} in {} snapshots", audited.len());
    assert_eq!(audited.len(), count, "every snapshot is in the audit");

    let sample: Vec<&String> = match verify.as_str() {
        "all" => audited.keys().collect(),
        n => {
            let n: usize = n.parse().expect("AUDIT_VERIFY: `all` or a number");
            let step = (count / n.max(1)).max(1);
            audited.keys().step_by(step).take(n).collect()
        }
    };
    let started = Instant::now();
    let mut differ = 0;
    for id in &sample {
        let output = Command::new(binary)
            .args(["check", "--format", "json", "--fail-on", "never", "--env"])
            .arg(id)
            .env("PREFLIGHT_CACHE_DIR", cache.path())
            .stderr(Stdio::null())
            .output()
            .expect("running preflight check");
        let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
        let mut findings: Findings = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(key)
            .collect();
        findings.sort();
        if findings != audited[*id] {
            differ += 1;
            eprintln!("DIFFERENT: {id}");
        }
    }
    println!(
        "same findings as `check`: {}/{} snapshots ({:.1} s of single checks)",
        sample.len() - differ,
        sample.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(differ, 0, "the audit and single checks disagree");
}
