//! Policies that misbehave on purpose (`tests/guests/hostile`). Each one fails on
//! its own, with a reason naming the cause; the check is incomplete (exit 2), and
//! the built-in policy beside it still runs and reports its findings.

use preflight_e2e::{NOT_READY, Output, findings_of, fixtures, outcome, policy, preflight};
use serde_json::Value;

/// `check --format json` of the not-ready example with the guest and `extra` flags.
fn check_with(guest: &str, extra: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "check", "--env", NOT_READY, "--format", "json", "--policy", guest,
    ];
    args.extend_from_slice(extra);
    let out = preflight(args);
    out.assert_code(2);
    let report = out.json();
    assert_eq!(report["summary"]["gate"], "incomplete");
    assert_builtin_still_ran(&report);
    (out, report)
}

/// The built-in policy ran to the end and its findings are in the report.
#[track_caller]
fn assert_builtin_still_ran(report: &Value) {
    let (status, reason) = outcome(report, "customer-portal-maps");
    assert_eq!((status.as_str(), reason.as_str()), ("ok", ""));
    let findings = findings_of(report, "customer-portal-maps");
    assert!(
        findings.iter().any(|finding| finding["ruleId"] == "CP004"),
        "the built-in policy's CP004 findings are missing: {report:#}"
    );
}

/// The guest's status is `error`, and nothing it returned made it into the report.
#[track_caller]
fn error_of(report: &Value, name: &str) -> String {
    let (status, reason) = outcome(report, name);
    assert_eq!(status, "error", "{:#}", policy(report, name));
    assert!(findings_of(report, name).is_empty());
    assert_eq!(policy(report, name)["findings"], 0);
    reason
}

#[test]
fn endless_loop_runs_out_of_fuel() {
    let (_, report) = check_with(fixtures::ENDLESS_LOOP, &["--fuel", "50000000"]);
    assert_eq!(
        error_of(&report, "hostile-endless-loop"),
        "ran out of fuel after 50000000 units (raise it with --fuel)"
    );
    assert_eq!(
        policy(&report, "hostile-endless-loop")["fuelUsed"],
        50_000_000
    );
}

#[test]
fn endless_loop_with_plenty_of_fuel_hits_the_time_limit() {
    let (_, report) = check_with(
        fixtures::ENDLESS_LOOP,
        &["--fuel", "1000000000000000", "--timeout", "0.5"],
    );
    assert_eq!(
        error_of(&report, "hostile-endless-loop"),
        "did not finish within the time limit of 500 ms (raise it with --timeout)"
    );
    let ms = policy(&report, "hostile-endless-loop")["durationMs"]
        .as_f64()
        .unwrap();
    assert!((450.0..10_000.0).contains(&ms), "stopped after {ms} ms");
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (_, report) = check_with(fixtures::MEMORY_BOMB, &["--max-memory", "32"]);
    assert_eq!(
        error_of(&report, "hostile-memory-bomb"),
        "exceeded the memory limit of 32 MiB (raise it with --max-memory)"
    );
}

#[test]
fn panic_is_reported_with_the_panic_message() {
    let (_, report) = check_with(fixtures::PANIC, &[]);
    let reason = error_of(&report, "hostile-panic");
    assert!(
        reason
            .starts_with("trapped: it aborted (wasm `unreachable`); its last message: panicked at"),
        "{reason}"
    );
    // One line, as every reason: where it panicked, then the message.
    assert!(!reason.contains('\n'), "{reason}");
    assert!(reason.contains("src/lib.rs:"), "{reason}");
    assert!(
        reason.ends_with(": the hostile guest gives up on purpose"),
        "{reason}"
    );
    // The message is among the policy's logs too, at level `error`.
    let logs = policy(&report, "hostile-panic")["logs"].as_array().unwrap();
    assert!(
        logs.iter().any(|line| line["level"] == "error"
            && line["message"]
                .as_str()
                .unwrap()
                .contains("the hostile guest gives up on purpose")),
        "{logs:?}"
    );
}

#[test]
fn panic_shows_in_the_text_report_and_the_verdict() {
    let out = preflight(["check", "--env", NOT_READY, "--policy", fixtures::PANIC]);
    out.assert_code(2);
    assert!(
        out.stdout.contains(
            "policy error: `hostile-panic` trapped: it aborted (wasm `unreachable`); its last message: panicked at"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("error[CP004]: "), "{}", out.stdout);
    assert!(
        out.stdout.ends_with(
            "check INCOMPLETE: 1 policy could not run; fix it or remove it, then check again\n"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn finding_flood_is_refused_past_the_cap() {
    let (_, report) = check_with(fixtures::FINDING_FLOOD, &[]);
    assert_eq!(
        error_of(&report, "hostile-finding-flood"),
        "returned 100000 findings, more than the limit of 1000 (raise it with --max-findings)"
    );
    let (_, report) = check_with(fixtures::FINDING_FLOOD, &["--max-findings", "10"]);
    assert_eq!(
        error_of(&report, "hostile-finding-flood"),
        "returned 100000 findings, more than the limit of 10 (raise it with --max-findings)"
    );
}

#[test]
fn finding_of_an_undeclared_rule_is_refused() {
    let (_, report) = check_with(fixtures::UNDECLARED_RULE, &[]);
    assert_eq!(
        error_of(&report, "hostile-undeclared-rule"),
        "returned a finding of the undeclared rule `ZZ999`"
    );
}

#[test]
fn finding_with_an_invalid_json_pointer_is_refused() {
    let (_, report) = check_with(fixtures::BAD_POINTER, &[]);
    assert_eq!(
        error_of(&report, "hostile-bad-pointer"),
        "returned a finding of rule `HX001` with the invalid JSON pointer `dualWrite/maps`"
    );
}

#[test]
fn wasi_guest_cannot_read_host_files_and_its_stdout_is_captured() {
    assert!(
        std::path::Path::new("/etc/passwd").is_file(),
        "this test needs a host file the guest must not see"
    );
    let (out, report) = check_with(fixtures::WASI_ESCAPE, &["--verbose"]);
    let reason = error_of(&report, "hostile-wasi-escape");
    assert!(
        reason.starts_with("failed: cannot read /etc/passwd: "),
        "{reason}"
    );
    // What it printed is kept (bounded) and shown with --verbose, never on stdout.
    let printed = "hostile-wasi-escape: trying to read /etc/passwd";
    assert_eq!(
        policy(&report, "hostile-wasi-escape")["logs"],
        serde_json::json!([{"level": "stdout", "message": printed}])
    );
    assert!(
        out.stderr
            .contains(&format!("[hostile-wasi-escape] stdout: {printed}\n")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("[hostile-wasi-escape] error in "),
        "{}",
        out.stderr
    );
}

#[test]
fn every_hostile_guest_at_once_fails_alone() {
    let guests = [
        fixtures::ENDLESS_LOOP,
        fixtures::MEMORY_BOMB,
        fixtures::PANIC,
        fixtures::FINDING_FLOOD,
        fixtures::UNDECLARED_RULE,
        fixtures::BAD_POINTER,
        fixtures::WASI_ESCAPE,
    ];
    let mut extra = vec!["--max-memory", "32"];
    for guest in &guests[1..] {
        extra.extend(["--policy", guest]);
    }
    let (_, report) = check_with(guests[0], &extra);
    // Only the hostile guests failed.
    assert_eq!(report["summary"]["policies"]["error"], guests.len());
    let reasons: Vec<(&str, String)> = [
        "hostile-endless-loop",
        "hostile-memory-bomb",
        "hostile-panic",
        "hostile-finding-flood",
        "hostile-undeclared-rule",
        "hostile-bad-pointer",
        "hostile-wasi-escape",
    ]
    .into_iter()
    .map(|name| (name, error_of(&report, name)))
    .collect();
    let expected_starts = [
        "ran out of fuel after 2000000000 units",
        "exceeded the memory limit of 32 MiB",
        "trapped: it aborted",
        "returned 100000 findings",
        "returned a finding of the undeclared rule",
        "returned a finding of rule `HX001` with the invalid JSON pointer",
        "failed: cannot read /etc/passwd",
    ];
    for ((name, reason), start) in reasons.iter().zip(expected_starts) {
        assert!(reason.starts_with(start), "{name}: {reason}");
    }
}
