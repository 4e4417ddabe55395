//! `preflight check` on the example snapshots: exit codes, the text a person reads,
//! the JSON a pipeline reads, and `--output`.

use preflight_e2e::{
    NOT_READY, READY, assert_snapshot, findings_of, outcome, preflight, repo_root,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The whole text report: the findings, each with its place, its fix and its
/// policy, then the policies that did not run, the summary and the verdict.
/// A change to the built-in pack changes what users see: the snapshot shows it.
#[test]
fn ready_environment_passes_the_gate() {
    let out = preflight(["check", "--env", READY]);
    out.assert_code(0);
    assert_snapshot("check-contoso-ready.txt", &out.stdout);
    assert_eq!(out.stderr, "");
}

#[test]
fn not_ready_environment_fails_the_gate_with_the_cp004_findings() {
    let out = preflight(["check", "--env", NOT_READY]);
    out.assert_code(1);
    assert_snapshot("check-contoso-not-ready.txt", &out.stdout);
    assert!(out.stdout.contains("error[CP004]: "), "{}", out.stdout);
    assert_eq!(out.stderr, "");
}

#[test]
fn fail_on_never_passes_the_gate_but_still_shows_the_findings() {
    let out = preflight(["check", "--env", NOT_READY, "--fail-on", "never"]);
    out.assert_code(0);
    assert!(out.stdout.contains("error[CP004]: "), "{}", out.stdout);
    assert!(
        out.stdout
            .ends_with("gate passed: findings never fail the gate (--fail-on never)\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn fail_on_warning_fails_on_a_warning() {
    // The example policy warns about the not-ready environment's name when only
    // `(Production)` is allowed: below the default threshold, at `--fail-on warning`.
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.json");
    std::fs::write(
        &settings,
        r#"{"example-naming": {"suffixes": ["(Production)"]}}"#,
    )
    .unwrap();
    let check = |fail_on: &str| {
        preflight([
            "check",
            "--env",
            NOT_READY,
            "--no-builtin",
            "--policy",
            preflight_e2e::fixtures::RUST_MINIMAL,
            "--settings",
            settings.to_str().unwrap(),
            "--fail-on",
            fail_on,
        ])
    };
    let out = check("error");
    out.assert_code(0);
    assert!(out.stdout.starts_with("warning[EX001]: "), "{}", out.stdout);
    let out = check("warning");
    out.assert_code(1);
    assert!(
        out.stdout
            .ends_with("gate FAILED: findings at or above `warning`\n"),
        "{}",
        out.stdout
    );
}

fn sha256_of(path: &str) -> String {
    hex::encode(Sha256::digest(
        std::fs::read(repo_root().join(path)).unwrap(),
    ))
}

fn is_hex64(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn json_report_has_the_documented_shape() {
    let out = preflight(["check", "--env", NOT_READY, "--format", "json"]);
    out.assert_code(1);
    assert_eq!(out.stderr, "");
    let report = out.json();
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "tool",
            "startedAt",
            "endedAt",
            "inputs",
            "settings",
            "waivers",
            "policies",
            "findings",
            "summary"
        ]
    );

    assert_eq!(report["tool"]["name"], "preflight");
    assert!(
        report["tool"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );

    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["document"], "environment");
    assert_eq!(inputs[0]["path"], NOT_READY);
    assert_eq!(inputs[0]["sha256"], sha256_of(NOT_READY));

    let policies = report["policies"].as_array().unwrap();
    assert!(!policies.is_empty());
    for policy in policies {
        let name = policy["name"].as_str().unwrap();
        assert!(is_hex64(&policy["sha256"]), "{policy}");
        assert!(policy["version"].is_string(), "{policy}");
        assert!(
            policy["source"].as_str().unwrap().starts_with("builtin:"),
            "{policy}"
        );
        assert!(
            policy["durationMs"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{policy}"
        );
        let fuel = policy["fuelUsed"].as_u64().unwrap();
        match policy["status"].as_str().unwrap() {
            "ok" => assert!(policy["reason"].is_null() && fuel > 0, "{policy}"),
            // Only policies that need a document this check did not give.
            "skipped" => {
                let reason = policy["reason"].as_str().unwrap();
                assert!(reason.starts_with("needs the `"), "{policy}");
                assert_eq!(fuel, 0, "{policy}");
            }
            _ => panic!("a policy failed: {policy}"),
        }
        assert_eq!(
            policy["findings"].as_u64().unwrap() as usize,
            findings_of(&report, name).len(),
            "{policy}"
        );
    }

    // Every finding points at a place that exists in the file it names.
    let document: Value =
        serde_json::from_slice(&std::fs::read(repo_root().join(NOT_READY)).unwrap()).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let cp004: Vec<&Value> = findings.iter().filter(|f| f["ruleId"] == "CP004").collect();
    assert!(!cp004.is_empty(), "no CP004 finding: {report:#}");
    for finding in findings {
        let keys: Vec<&str> = finding
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "ruleId",
                "policy",
                "severity",
                "message",
                "document",
                "file",
                "pointer",
                "remediation"
            ]
        );
        assert_eq!(finding["document"], "environment");
        assert_eq!(finding["file"], NOT_READY);
        let pointer = finding["pointer"].as_str().unwrap();
        assert!(
            document.pointer(pointer).is_some(),
            "{pointer} is not in {NOT_READY}"
        );
        assert!(finding["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    let summary = &report["summary"];
    let count = |severity: &str| {
        findings
            .iter()
            .filter(|f| f["severity"] == severity)
            .count()
    };
    assert_eq!(
        summary["findings"],
        serde_json::json!({"error": count("error"), "warning": count("warning"), "info": count("info")})
    );
    let with = |status: &str| policies.iter().filter(|p| p["status"] == status).count();
    assert_eq!(
        summary["policies"],
        serde_json::json!({"total": policies.len(), "ok": with("ok"), "skipped": with("skipped"), "error": 0})
    );
    assert_eq!(summary["failOn"], "error");
    assert_eq!(summary["gate"], "failed");
    assert_eq!(summary["exitCode"], 1);
    let (status, _) = outcome(&report, "customer-portal-maps");
    assert_eq!(status, "ok");
}

#[test]
fn output_file_gets_the_report_and_stdout_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reports/report.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--format",
        "json",
        "--output",
        file.to_str().unwrap(),
    ]);
    out.assert_code(1);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "");
    let report: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(report["summary"]["gate"], "failed");
    assert!(!findings_of(&report, "customer-portal-maps").is_empty());
    // Nothing else was left beside it (the write goes through a temporary file).
    let left: Vec<_> = std::fs::read_dir(file.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1);
}
