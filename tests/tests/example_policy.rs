//! The example policy outside the workspace (`examples/policies/rust-minimal`), as a
//! partner would use their own: loaded with `--policy`, listed by `rules`, settings
//! checked against its schema. And a policy that needs a document it was not given.

use preflight_e2e::{NOT_READY, READY, findings_of, fixtures, outcome, policy, preflight};
use serde_json::json;
use std::path::Path;

/// With only the example loaded, the policy column is as wide as its name.
const EX001_LINE: &str =
    "EX001    warning  example-naming Environment display name follows the naming convention\n";

fn settings(dir: &Path, text: &str) -> String {
    let path = dir.join("settings.json");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn example_policy_loads_and_passes_a_well_named_environment() {
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--format",
        "json",
        "--fail-on",
        "never",
        "--policy",
        fixtures::RUST_MINIMAL,
    ]);
    out.assert_code(0);
    let report = out.json();
    let entry = policy(&report, "example-naming");
    assert_eq!(entry["status"], "ok");
    assert_eq!(entry["version"], "0.1.0");
    assert_eq!(entry["source"], fixtures::RUST_MINIMAL);
    assert_eq!(entry["findings"], 0);
    // `Contoso Sales (UAT)` ends with one of the default suffixes.
    assert!(findings_of(&report, "example-naming").is_empty());
    assert_eq!(outcome(&report, "customer-portal-maps").0, "ok");
}

#[test]
fn example_policy_warns_with_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = settings(
        dir.path(),
        r#"{"example-naming": {"suffixes": ["(Production)"]}}"#,
    );
    let check = |env: &str| {
        preflight([
            "check",
            "--env",
            env,
            "--format",
            "json",
            "--policy",
            fixtures::RUST_MINIMAL,
            "--settings",
            &file,
        ])
    };
    let out = check(NOT_READY);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(
        findings_of(&report, "example-naming"),
        [&json!({
            "ruleId": "EX001",
            "policy": "example-naming",
            "severity": "warning",
            "message": "the environment name `Contoso Sales (UAT)` does not end with `(Production)`",
            "document": "environment",
            "file": NOT_READY,
            "pointer": "/environment/displayName",
            "remediation": "rename the environment in the Power Platform admin center, or change `suffixes`"
        })]
    );
    // The ready environment is named `Contoso Sales (Production)`.
    let out = check(READY);
    out.assert_code(0);
    assert!(findings_of(&out.json(), "example-naming").is_empty());
}

#[test]
fn example_settings_are_checked_against_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let file = settings(dir.path(), r#"{"example-naming": {"suffixes": [""]}}"#);
    let out = preflight([
        "check",
        "--env",
        READY,
        "--policy",
        fixtures::RUST_MINIMAL,
        "--settings",
        &file,
    ]);
    out.assert_code(2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with(&format!(
            "error: `{file}`: invalid settings for `example-naming` at `/example-naming/suffixes/0`: "
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn rules_lists_the_example_rule() {
    let out = preflight(["rules", "--no-builtin", "--policy", fixtures::RUST_MINIMAL]);
    out.assert_code(0);
    assert_eq!(out.stdout, EX001_LINE);

    let out = preflight(["rules", "--policy", fixtures::RUST_MINIMAL]);
    out.assert_code(0);
    assert!(out.stdout.contains("CP004 "), "{}", out.stdout);
    // With the built-in pack, the policy column is as wide as the longest name.
    let last = out.stdout.lines().last().unwrap_or_default();
    let columns: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(
        columns[..3],
        ["EX001", "warning", "example-naming"],
        "{last}"
    );
    assert!(
        last.ends_with(" Environment display name follows the naming convention"),
        "{last}"
    );

    let out = preflight([
        "rules",
        "--format",
        "json",
        "--policy",
        fixtures::RUST_MINIMAL,
    ]);
    out.assert_code(0);
    let json = out.json();
    let example = json["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|policy| policy["name"] == "example-naming")
        .expect("the example is listed");
    // Built for wasm32-unknown-unknown: it imports the policy interfaces, and no WASI.
    let imports: Vec<&str> = example["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|import| import.as_str().unwrap())
        .collect();
    assert!(
        imports.contains(&"preflight:policy/documents@1.0.0"),
        "{imports:?}"
    );
    assert!(
        imports
            .iter()
            .all(|import| import.starts_with("preflight:policy/")),
        "{imports:?}"
    );
    assert_eq!(example["rules"][0]["id"], "EX001");
    assert_eq!(example["rules"][0]["defaultSeverity"], "warning");
    assert_eq!(
        example["settingsSchema"]["properties"]["suffixes"]["type"],
        "array"
    );
    assert_eq!(
        example["documents"],
        json!([{"name": "environment", "optional": false}])
    );
}

#[test]
fn a_policy_without_its_required_document_is_skipped_and_says_why() {
    let out = preflight([
        "check",
        "--env",
        READY,
        "--no-builtin",
        "--policy",
        fixtures::NEEDS_SITE,
    ]);
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "skipped: `fixture-needs-site` needs the `site` document, which was not given (--site)\n\
         \n\
         1 policy: 0 ok, 1 skipped, 0 failed · 0 findings: 0 errors, 0 warnings, 0 info\n\
         gate passed: no finding at or above `error`\n"
    );

    // Given the document, it runs.
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.json");
    std::fs::write(&site, r#"{"website": {"name": "Contoso portal"}}"#).unwrap();
    let out = preflight([
        "check",
        "--env",
        READY,
        "--site",
        site.to_str().unwrap(),
        "--format",
        "json",
        "--no-builtin",
        "--policy",
        fixtures::NEEDS_SITE,
    ]);
    out.assert_code(0);
    let report = out.json();
    assert_eq!(outcome(&report, "fixture-needs-site").0, "ok");
    let findings = findings_of(&report, "fixture-needs-site");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["message"], "ran with the site document");
}
