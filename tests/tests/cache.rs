//! The compile cache changes how fast a check starts, never what it finds: a second
//! run from the cache, a run from a damaged cache and a run without the cache all
//! report what the first run did.

use preflight_e2e::{NOT_READY, Output, Preflight, findings_of, fixtures};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Settings that make the example policy report a warning.
fn settings() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"{"example-naming": {"suffixes": ["(Production)"]}}"#;
    std::fs::write(dir.path().join("settings.json"), text).unwrap();
    dir
}

/// A check whose report has findings of two policies, a policy error, and fuel.
fn check(preflight: &Preflight, settings: &Path, extra: &[&str]) -> Output {
    let settings = settings.join("settings.json");
    let mut args = vec![
        "check",
        "--env",
        NOT_READY,
        "--format",
        "json",
        "--verbose",
        "--settings",
        settings.to_str().unwrap(),
        "--policy",
        fixtures::RUST_MINIMAL,
        "--policy",
        fixtures::UNDECLARED_RULE,
    ];
    args.extend_from_slice(extra);
    let out = preflight.run(args);
    out.assert_code(2);
    out
}

/// The report without what may differ between runs (timings).
fn stable(out: &Output) -> Value {
    let mut report = out.json();
    // When the check ran varies between runs too.
    for key in ["startedAt", "endedAt"] {
        report.as_object_mut().unwrap().remove(key);
    }
    for policy in report["policies"].as_array_mut().unwrap() {
        policy.as_object_mut().unwrap().remove("durationMs");
    }
    report
}

fn cached_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

const FROM_CACHE: &str = "(compiled code from cache)";

#[test]
fn second_run_with_the_same_cache_reports_the_same_results() {
    let preflight = Preflight::new();
    let settings = settings();
    let first = check(&preflight, settings.path(), &[]);
    assert!(!first.stderr.contains(FROM_CACHE), "{}", first.stderr);
    let policies = first.json()["policies"].as_array().unwrap().len();
    let cached = cached_files(preflight.cache_dir());
    assert_eq!(
        cached.len(),
        policies,
        "one compiled file per policy: {cached:?}"
    );

    let second = check(&preflight, settings.path(), &[]);
    // Every policy came from the cache (the verbose line of each says so).
    let lines: Vec<&str> = second
        .stderr
        .lines()
        .filter(|l| l.contains(" in "))
        .collect();
    assert_eq!(lines.len(), policies, "{}", second.stderr);
    assert!(
        lines.iter().all(|line| line.ends_with(FROM_CACHE)),
        "{}",
        second.stderr
    );
    assert_eq!(stable(&second), stable(&first));
    assert_eq!(cached_files(preflight.cache_dir()), cached);

    let report = stable(&first);
    assert_eq!(findings_of(&report, "example-naming").len(), 1);
    assert!(!findings_of(&report, "customer-portal-maps").is_empty());
    assert_eq!(report["summary"]["policies"]["error"], 1);
}

#[test]
fn damaged_cache_entries_are_not_trusted() {
    let preflight = Preflight::new();
    let settings = settings();
    let first = check(&preflight, settings.path(), &[]);
    let cached = cached_files(preflight.cache_dir());
    assert!(!cached.is_empty());
    for file in &cached {
        let mut bytes = std::fs::read(file).unwrap();
        bytes.truncate(bytes.len() / 2);
        bytes.extend_from_slice(b"not compiled code");
        std::fs::write(file, bytes).unwrap();
    }
    let second = check(&preflight, settings.path(), &[]);
    assert!(!second.stderr.contains(FROM_CACHE), "{}", second.stderr);
    assert_eq!(stable(&second), stable(&first));
    // The damaged files were replaced by good ones.
    let third = check(&preflight, settings.path(), &[]);
    assert_eq!(stable(&third), stable(&first));
    assert!(third.stderr.contains(FROM_CACHE), "{}", third.stderr);
}

#[test]
fn no_cache_compiles_everything_and_writes_nothing() {
    let preflight = Preflight::new();
    let settings = settings();
    let out = check(&preflight, settings.path(), &["--no-cache"]);
    assert!(cached_files(preflight.cache_dir()).is_empty());
    assert!(!out.stderr.contains(FROM_CACHE), "{}", out.stderr);
    let cached = check(&Preflight::new(), settings.path(), &[]);
    assert_eq!(stable(&out), stable(&cached));
}
