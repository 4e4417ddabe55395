//! `--waivers`: accepted findings stay in the report, marked, and do not fail the
//! gate; an expired waiver stops applying and warns (PF001); a waiver that waives
//! nothing is reported (PF002); a waiver without an owner is refused.

use preflight_e2e::{NOT_READY, Output, binary, preflight, repo_root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The not-ready environment's id (`/environment/id`).
const ENV_ID: &str = "0a7d5e21-3c44-4b9e-8f12-6e5d4c3b2a19";

/// Waivers for every error finding of the not-ready example, CP004's expiring on
/// `cp004_expires`; `extra` is appended to the list.
fn waivers_yaml(cp004_expires: &str, extra: &str) -> String {
    format!(
        "# accepted for the UAT cut-over\n\
         waivers:\n\
         \x20 - rule: CP004\n\
         \x20   scope:\n\
         \x20     environment: {ENV_ID}\n\
         \x20     pointer: /dualWrite/maps/**\n\
         \x20   reason: the maps are started by the cut-over runbook\n\
         \x20   owner: alice@contoso.com\n\
         \x20   expires: {cp004_expires}\n\
         \x20 - rule: CP008\n\
         \x20   scope: {{document: environment, pointer: /dualWrite/maps/*/state}}\n\
         \x20   reason: the CDS variant is stopped by the runbook\n\
         \x20   owner: alice@contoso.com\n\
         \x20   expires: 2999-12-31\n\
         \x20 - rule: CP009\n\
         \x20   scope: {{pointer: /dualWrite/linkedFinanceAndOperationsUrl}}\n\
         \x20   reason: relinked after the database copy\n\
         \x20   owner: bob@contoso.com\n\
         \x20   expires: 2999-12-31\n\
         \x20 - rule: CP001\n\
         \x20   scope: {{environment: {ENV_ID}}}\n\
         \x20   reason: billing moves next month\n\
         \x20   owner: bob@contoso.com\n\
         \x20   expires: 2999-12-31\n\
         \x20 - rule: CP003\n\
         \x20   scope: {{document: environment}}\n\
         \x20   reason: no Human Resources data in UAT\n\
         \x20   owner: bob@contoso.com\n\
         \x20   expires: 2999-12-31\n\
         \x20 - rule: CP007\n\
         \x20   scope: {{pointer: /solutions/*}}\n\
         \x20   reason: uninstalled during the cut-over\n\
         \x20   owner: bob@contoso.com\n\
         \x20   expires: 2999-12-31\n\
         {extra}"
    )
}

const UNUSED: &str = "  - rule: CP005\n    scope:\n      document: environment\n    reason: r\n    owner: carol@contoso.com\n    expires: 2999-12-31\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `preflight <args>` like the shared helper, with `PREFLIGHT_TODAY` set.
fn preflight_on(today: &str, args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(args).current_dir(repo_root());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PREFLIGHT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .env("NO_COLOR", "1")
        .env("PREFLIGHT_CACHE_DIR", cache.path())
        .env("PREFLIGHT_TODAY", today)
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn findings<'r>(report: &'r Value, rule: &str) -> Vec<&'r Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["ruleId"] == rule)
        .collect()
}

#[test]
fn waived_findings_stay_in_the_report_and_do_not_fail_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "waivers.yaml", &waivers_yaml("2999-12-31", ""));
    let waivers = file.to_str().unwrap();

    let without = preflight(["check", "--env", NOT_READY, "--format", "json"]);
    without.assert_code(1);
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--waivers",
        waivers,
        "--format",
        "json",
    ]);
    out.assert_code(0);
    assert_eq!(out.stderr, "");
    let report = out.json();
    assert_eq!(report["summary"]["gate"], "passed");
    assert_eq!(report["summary"]["waived"], 8);
    // The same findings as without waivers, the errors marked with their waiver.
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        without.json()["findings"].as_array().unwrap().len()
    );
    let cp004 = findings(&report, "CP004");
    assert_eq!(cp004.len(), 3);
    for finding in cp004 {
        assert_eq!(
            finding["waiver"],
            serde_json::json!({
                "entry": "/waivers/0",
                "reason": "the maps are started by the cut-over runbook",
                "owner": "alice@contoso.com",
                "expires": "2999-12-31",
            })
        );
    }
    assert!(findings(&report, "CP002")[0].get("waiver").is_none());

    // The evidence: the file, its digest, and what each waiver waived.
    let record = &report["waivers"];
    assert_eq!(record["path"], waivers);
    assert_eq!(record["sha256"].as_str().unwrap().len(), 64);
    let entries = record["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert!(entries.iter().all(|entry| entry["status"] == "applied"));
    assert_eq!(entries[0]["waived"].as_array().unwrap().len(), 3);
    assert_eq!(
        entries[1]["waived"],
        serde_json::json!([{
            "ruleId": "CP008",
            "policy": "customer-portal-maps",
            "document": "environment",
            "pointer": "/dualWrite/maps/12/state",
        }])
    );

    // The text marks them too, and counts them.
    let out = preflight(["check", "--env", NOT_READY, "--waivers", waivers]);
    out.assert_code(0);
    assert!(
        out.stdout.contains(
            "error[CP004]: (waived) the Contacts map `CDS Contacts V2 (contacts)` is paused"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "   = waived until 2999-12-31 by alice@contoso.com: the maps are started by the \
             cut-over runbook\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("9 findings: 8 errors, 1 warning, 0 info (8 waived)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .ends_with("gate passed: no finding at or above `error`\n")
    );

    // SARIF: accepted suppressions; GitHub: no annotation for a waived finding.
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--waivers",
        waivers,
        "--format",
        "sarif",
    ]);
    let sarif = out.json();
    let suppressed = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|result| result["suppressions"][0]["status"] == "accepted")
        .count();
    assert_eq!(suppressed, 8);
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--waivers",
        waivers,
        "--format",
        "github",
    ]);
    assert!(out.stdout.starts_with("::warning "), "{}", out.stdout);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
}

#[test]
fn an_expired_waiver_warns_and_no_longer_waives() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "waivers.yaml", &waivers_yaml("2030-06-30", ""));
    let waivers = file.to_str().unwrap();
    let args = [
        "check",
        "--env",
        NOT_READY,
        "--waivers",
        waivers,
        "--format",
        "json",
    ];

    // On its last day it still applies.
    let out = preflight_on("2030-06-30", &args);
    out.assert_code(0);
    assert!(findings(&out.json(), "PF001").is_empty());

    // The day after, CP004 fails the gate again, and PF001 says why.
    let out = preflight_on("2030-07-01", &args);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["summary"]["waived"], 5);
    assert!(
        findings(&report, "CP004")
            .iter()
            .all(|finding| finding.get("waiver").is_none())
    );
    let pf001 = findings(&report, "PF001");
    assert_eq!(pf001.len(), 1);
    assert_eq!(pf001[0]["policy"], "preflight");
    assert_eq!(pf001[0]["severity"], "warning");
    assert_eq!(pf001[0]["document"], "waivers");
    assert_eq!(pf001[0]["file"], waivers);
    assert_eq!(pf001[0]["pointer"], "/waivers/0");
    assert_eq!(
        pf001[0]["message"],
        "the waiver of `CP004` (owner: alice@contoso.com) expired on 2030-06-30: it no longer \
         applies, and the findings it covered count again"
    );
    assert_eq!(report["waivers"]["entries"][0]["status"], "expired");
    assert_eq!(report["waivers"]["today"], "2030-07-01");

    // In the text, at the waiver's line in the waivers file.
    let out = preflight_on("2030-07-01", &args[..5]);
    out.assert_code(1);
    assert!(
        out.stdout.contains(&format!(
            "warning[PF001]: the waiver of `CP004` (owner: alice@contoso.com) expired on \
             2030-06-30: it no longer applies, and the findings it covered count again\n  \
             --> {waivers}:3#/waivers/0\n"
        )),
        "{}",
        out.stdout
    );

    // A date in the override that is not one is refused.
    let out = preflight_on("2030-02-30", &args);
    out.assert_code(2);
    assert_eq!(
        out.stderr,
        "error: PREFLIGHT_TODAY is `2030-02-30`, which is not a date: write it as YYYY-MM-DD\n"
    );
}

#[test]
fn a_waiver_that_waives_nothing_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "waivers.yaml",
        &waivers_yaml("2999-12-31", UNUSED),
    );
    let waivers = file.to_str().unwrap();
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--waivers",
        waivers,
        "--format",
        "json",
    ]);
    // Information only: the gate still passes.
    out.assert_code(0);
    let report = out.json();
    let pf002 = findings(&report, "PF002");
    assert_eq!(pf002.len(), 1, "{report:#}");
    assert_eq!(pf002[0]["severity"], "info");
    assert_eq!(pf002[0]["pointer"], "/waivers/6");
    assert_eq!(
        pf002[0]["message"],
        "the waiver of `CP005` (owner: carol@contoso.com) matches no finding"
    );
    assert_eq!(report["waivers"]["entries"][6]["status"], "unused");

    // SARIF points at the waiver's line in the waivers file.
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--waivers",
        waivers,
        "--format",
        "sarif",
    ]);
    let sarif = out.json();
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|result| result["ruleId"] == "PF002")
        .unwrap()
        .clone();
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["region"]["startLine"], 35);
    assert_eq!(result["level"], "note");
}

#[test]
fn a_waiver_without_an_owner_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let text = waivers_yaml("2999-12-31", "").replace("    owner: bob@contoso.com\n", "");
    // Every `bob` entry lost its owner; the first is the second waiver.
    let file = write(dir.path(), "waivers.yaml", &text);
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--waivers",
        file.to_str().unwrap(),
    ]);
    out.assert_code(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: `{}`: invalid waiver at `/waivers/2/owner`: `owner` is missing: who \
             accepted the finding and answers for it\n",
            file.display()
        )
    );

    let file = write(
        dir.path(),
        "waivers.json",
        r#"{"waivers": [{"rule": "CP004", "scope": {}, "reason": "r", "owner": "o", "expires": "2030-01-01"}]}"#,
    );
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--waivers",
        file.to_str().unwrap(),
    ]);
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("invalid waiver at `/waivers/0/scope`: `scope` is empty"),
        "{}",
        out.stderr
    );
}
