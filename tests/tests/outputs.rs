//! The outputs other tools read: SARIF (checked against the official schema), JUnit
//! XML, GitHub Actions annotations and Markdown; several of them at once, each to
//! its own file; the evidence in the JSON report and `verify-report`.

use preflight_e2e::{NOT_READY, assert_snapshot, fixtures, preflight, repo_root};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The 1-based line of the first line of `file` (from the repository root) that
/// contains `needle` after the line containing `after`.
fn line_of(file: &str, after: &str, needle: &str) -> u64 {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
    let start = text.lines().position(|line| line.contains(after)).unwrap();
    let offset = text
        .lines()
        .skip(start)
        .position(|line| line.contains(needle))
        .unwrap();
    (start + offset + 1) as u64
}

/// Every (policy, rule id) of the built-in pack, as `preflight rules` lists them.
fn builtin_rules() -> Vec<(String, String)> {
    let out = preflight(["rules", "--format", "json"]);
    out.assert_code(0);
    let mut rules = Vec::new();
    for policy in out.json()["policies"].as_array().unwrap() {
        for rule in policy["rules"].as_array().unwrap() {
            rules.push((
                policy["name"].as_str().unwrap().to_owned(),
                rule["id"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(rules.len() > 10, "{rules:?}");
    rules
}

/// Asserts that `sarif` is valid SARIF 2.1.0: the OASIS schema (draft-04, as it
/// declares) and, for its `uri-reference` and `date-time` formats, draft-07 rules.
#[track_caller]
fn assert_valid_sarif(sarif: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sarif-schema-2.1.0.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for validator in [
        jsonschema::draft4::new(&schema).unwrap(),
        jsonschema::draft7::new(&schema).unwrap(),
    ] {
        let errors: Vec<String> = validator
            .iter_errors(sarif)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect();
        assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n"));
    }
}

#[test]
fn sarif_is_valid_and_has_every_rule_and_the_lines() {
    let out = preflight(["check", "--env", NOT_READY, "--format", "sarif"]);
    out.assert_code(1);
    assert_eq!(out.stderr, "");
    let sarif = out.json();
    assert_valid_sarif(&sarif);
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "preflight");
    assert!(driver["version"].is_string() && driver["informationUri"].is_string());

    // Every rule of every loaded policy, then preflight's own.
    let rules = driver["rules"].as_array().unwrap();
    let listed: Vec<(String, String)> = rules
        .iter()
        .map(|rule| {
            (
                rule["properties"]["policy"].as_str().unwrap().to_owned(),
                rule["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = builtin_rules();
    expected.push(("preflight".into(), "PF001".into()));
    expected.push(("preflight".into(), "PF002".into()));
    assert_eq!(listed, expected);
    let cp004 = rules.iter().find(|rule| rule["id"] == "CP004").unwrap();
    assert_eq!(cp004["defaultConfiguration"]["level"], "error");
    assert!(cp004["shortDescription"]["text"].as_str().unwrap().len() > 10);
    let markdown = cp004["help"]["markdown"].as_str().unwrap();
    assert!(markdown.contains("## What it checks"), "{markdown}");
    assert!(!cp004["help"]["text"].as_str().unwrap().contains("## "));
    assert!(cp004["helpUri"].as_str().unwrap().starts_with("https://"));

    // One result per finding of the JSON report, in the same order.
    let report = preflight(["check", "--env", NOT_READY, "--format", "json"]).json();
    let findings = report["findings"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    for (result, finding) in results.iter().zip(findings) {
        assert_eq!(result["ruleId"], finding["ruleId"]);
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], finding["ruleId"]);
        assert_eq!(rules[index]["properties"]["policy"], finding["policy"]);
        let level = match finding["severity"].as_str().unwrap() {
            "info" => "note",
            other => other,
        };
        assert_eq!(result["level"], level);
        assert_eq!(result["message"]["text"], finding["message"]);
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], NOT_READY);
        assert!(
            location["region"]["startLine"].as_u64().unwrap() > 1,
            "{result}"
        );
        assert_eq!(result["properties"]["policy"], finding["policy"]);
        assert_eq!(result["properties"]["pointer"], finding["pointer"]);
    }
    let paused = results
        .iter()
        .find(|result| result["properties"]["pointer"] == "/dualWrite/maps/9/state")
        .unwrap();
    assert_eq!(
        paused["locations"][0]["physicalLocation"]["region"]["startLine"],
        line_of(NOT_READY, "CDS Contacts V2", "\"state\"")
    );

    // The input is an artifact with its digest; the run completed.
    assert_eq!(run["artifacts"][0]["location"]["uri"], NOT_READY);
    assert_eq!(
        run["artifacts"][0]["hashes"]["sha-256"],
        report["inputs"][0]["sha256"]
    );
    let invocation = &run["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], true);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .all(|note| note["level"] == "note" && note["properties"]["status"] == "skipped"),
        "{notes:?}"
    );
    assert_eq!(run["properties"]["gate"], "failed");
}

#[test]
fn sarif_reports_a_policy_error_as_an_unsuccessful_execution() {
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--policy",
        fixtures::PANIC,
        "--format",
        "sarif",
    ]);
    out.assert_code(2);
    let sarif = out.json();
    assert_valid_sarif(&sarif);
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    assert_eq!(invocation["exitCode"], 2);
    let errors: Vec<&Value> = invocation["toolExecutionNotifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|note| note["level"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{invocation}");
    let text = errors[0]["message"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("policy error: `hostile-panic` trapped: "),
        "{text}"
    );
}

#[test]
fn junit_has_a_test_case_per_rule_and_input() {
    let out = preflight(["check", "--env", NOT_READY, "--format", "junit"]);
    out.assert_code(1);
    assert_eq!(out.stderr, "");
    let xml = roxmltree::Document::parse(&out.stdout).unwrap();
    let root = xml.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<roxmltree::Node> = root
        .descendants()
        .filter(|node| node.has_tag_name("testcase"))
        .collect();
    let with = |tag: &str| {
        cases
            .iter()
            .filter(|case| case.children().any(|child| child.has_tag_name(tag)))
            .count()
    };
    let number = |name: &str| root.attribute(name).unwrap().parse::<usize>().unwrap();

    // The example reads one document: one case per rule of the built-in pack.
    let rules = builtin_rules();
    assert_eq!(cases.len(), rules.len());
    assert_eq!(number("tests"), cases.len());
    assert_eq!(number("failures"), with("failure"));
    assert_eq!(number("skipped"), with("skipped"));
    assert_eq!(number("errors"), 0);

    // Failures: the error rules with findings (CP009, CP001, CP004, CP008, CP003,
    // CP007); the CP002 warning does not fail the gate, so its case passes.
    assert_eq!(with("failure"), 6);
    // Skipped: every rule of the two policies that need a site.
    let site_rules = rules
        .iter()
        .filter(|(policy, _)| {
            policy == "customer-portal-drift" || policy == "customer-portal-migration"
        })
        .count();
    assert_eq!(with("skipped"), site_rules);
    // Passes are test cases too, so dashboards count them.
    let passed = cases
        .iter()
        .filter(|case| {
            !case.children().any(|child| {
                child.has_tag_name("failure")
                    || child.has_tag_name("skipped")
                    || child.has_tag_name("error")
            })
        })
        .count();
    assert_eq!(passed, rules.len() - 6 - site_rules);
    assert!(passed > 0);

    let cp004 = cases
        .iter()
        .find(|case| {
            case.attribute("name")
                .is_some_and(|name| name.starts_with("CP004 "))
        })
        .unwrap();
    assert_eq!(cp004.attribute("classname"), Some("customer-portal-maps"));
    assert!(
        cp004
            .attribute("name")
            .unwrap()
            .ends_with(&format!(" [{NOT_READY}]"))
    );
    let failure = cp004
        .children()
        .find(|child| child.has_tag_name("failure"))
        .unwrap();
    assert_eq!(failure.attribute("type"), Some("error"));
    assert_eq!(failure.attribute("message"), Some("3 findings"));
    let text = failure.text().unwrap();
    assert!(
        text.contains(&format!(
            "--> {NOT_READY}:{}#/dualWrite/maps/9/state",
            line_of(NOT_READY, "CDS Contacts V2", "\"state\"")
        )),
        "{text}"
    );
    let cp002 = cases
        .iter()
        .find(|case| {
            case.attribute("name")
                .is_some_and(|name| name.starts_with("CP002 "))
        })
        .unwrap();
    assert!(!cp002.children().any(|child| child.has_tag_name("failure")));
    let notes = cp002
        .children()
        .find(|child| child.has_tag_name("system-out"))
        .unwrap();
    assert!(notes.text().unwrap().starts_with("warning[CP002]: "));
}

#[test]
fn junit_reports_a_policy_error_as_an_error() {
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--policy",
        fixtures::PANIC,
        "--format",
        "junit",
    ]);
    out.assert_code(2);
    let xml = roxmltree::Document::parse(&out.stdout).unwrap();
    let suite = xml
        .descendants()
        .find(|node| {
            node.has_tag_name("testsuite") && node.attribute("name") == Some("hostile-panic")
        })
        .unwrap();
    assert_ne!(suite.attribute("errors"), Some("0"));
    assert_eq!(suite.attribute("errors"), suite.attribute("tests"));
    assert_eq!(
        xml.root_element().attribute("errors"),
        suite.attribute("errors")
    );
}

/// The annotations of the not-ready example, line for line: each finding on its
/// file and line, the title its rule, `%`, `:` and `,` escaped where GitHub wants.
#[test]
fn github_annotations_for_the_not_ready_example() {
    let out = preflight(["check", "--env", NOT_READY, "--format", "github"]);
    out.assert_code(1);
    assert_eq!(out.stderr, "");
    assert_snapshot("check-contoso-not-ready.github.txt", &out.stdout);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 9);
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("::error ")).count(),
        8
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("::warning ")).count(),
        1
    );
    let paused = format!(
        "::error file={NOT_READY},line={},title=CP004::the Contacts map `CDS Contacts V2 \
         (contacts)` is paused: ",
        line_of(NOT_READY, "CDS Contacts V2", "\"state\"")
    );
    assert!(
        lines.iter().any(|line| line.starts_with(&paused)),
        "{}",
        out.stdout
    );
}

#[test]
fn markdown_summary_has_the_verdict_and_the_findings() {
    let out = preflight(["check", "--env", NOT_READY, "--format", "markdown"]);
    out.assert_code(1);
    assert_eq!(out.stderr, "");
    let md = &out.stdout;
    assert!(md.starts_with("## preflight: gate FAILED\n\n"), "{md}");
    assert!(
        md.contains("❌ **gate FAILED**: findings at or above `error`"),
        "{md}"
    );
    assert!(
        md.contains("| Severity | Rule | Message | Location |"),
        "{md}"
    );
    let rows = md
        .lines()
        .filter(|line| line.starts_with("| error |"))
        .count();
    assert_eq!(rows, 8, "{md}");
    assert!(md.contains("### Policies that did not run"), "{md}");
    assert!(
        md.contains("- skipped: `customer-portal-drift` needs the `site` document"),
        "{md}"
    );

    let ready = preflight([
        "check",
        "--env",
        preflight_e2e::READY,
        "--format",
        "markdown",
    ]);
    ready.assert_code(0);
    assert!(
        ready
            .stdout
            .contains("✅ **gate passed**: no finding at or above `error`"),
        "{}",
        ready.stdout
    );
    assert!(!ready.stdout.contains("| Severity |"));
}

#[test]
fn several_formats_at_once_each_to_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join("out").join(name);
    let spec = |format: &str, name: &str| format!("{format}={}", path(name).display());
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--format",
        &spec("sarif", "preflight.sarif"),
        "--format",
        &spec("junit", "junit.xml"),
        "--format",
        &spec("json", "report.json"),
        "--format",
        &spec("markdown", "summary.md"),
        "--format",
        &spec("github", "annotations.txt"),
    ]);
    out.assert_code(1);
    assert_eq!(out.stdout, "", "nothing goes to stdout");
    assert_eq!(out.stderr, "");
    let mut written: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "annotations.txt",
            "junit.xml",
            "preflight.sarif",
            "report.json",
            "summary.md"
        ]
    );
    let read = |name: &str| std::fs::read_to_string(path(name)).unwrap();
    assert_valid_sarif(&serde_json::from_str(&read("preflight.sarif")).unwrap());
    roxmltree::Document::parse(&read("junit.xml")).unwrap();
    let report: Value = serde_json::from_str(&read("report.json")).unwrap();
    assert_eq!(report["summary"]["gate"], "failed");
    assert!(read("summary.md").starts_with("## preflight: gate FAILED"));
    assert!(read("annotations.txt").starts_with("::error file="));

    // One format may still go to stdout, beside the files.
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--format",
        "text",
        "--format",
        &spec("sarif", "again.sarif"),
    ]);
    out.assert_code(1);
    assert!(out.stdout.starts_with("error[CP009]: "), "{}", out.stdout);
    assert!(path("again.sarif").is_file());
}

#[test]
fn only_one_format_goes_to_stdout() {
    let out = preflight([
        "check", "--env", NOT_READY, "--format", "json", "--format", "sarif",
    ]);
    out.assert_code(2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with(
            "error: --format json, sarif all go to stdout: only one format can; give the \
             others a file, e.g. `--format sarif=report.sarif`"
        ),
        "{}",
        out.stderr
    );

    let out = preflight(["check", "--env", NOT_READY, "--format", "xml"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains(
            "unknown format `xml`: expected one of text, json, sarif, junit, github, markdown"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn an_output_that_cannot_be_written_stops_the_check_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("preflight.sarif");
    let blocked = dir.path().join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--format",
        &format!("sarif={}", sarif.display()),
        "--format",
        &format!("json={}", blocked.display()),
    ]);
    out.assert_code(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot write `{}`: it is a folder\n",
            blocked.display()
        )
    );
    // Nothing was written, not even the SARIF file that could have been.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["blocked"]);

    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--format",
        &format!("sarif={}", sarif.display()),
        "--format",
        &format!("junit={}", sarif.display()),
    ]);
    out.assert_code(2);
    assert!(out.stderr.contains("two outputs go to `"), "{}", out.stderr);
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn is_rfc3339_utc(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    let bytes = text.as_bytes();
    text.len() == 24
        && text.ends_with('Z')
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[19] == b'.'
}

#[test]
fn json_report_records_the_evidence_and_verify_report_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("environment.json");
    std::fs::copy(repo_root().join(NOT_READY), &env).unwrap();
    let settings = dir.path().join("settings.json");
    std::fs::write(
        &settings,
        r#"{"example-naming": {"suffixes": ["(Production)"]}}"#,
    )
    .unwrap();
    let report_path = dir.path().join("report.json");
    let out = preflight([
        "check",
        "--env",
        env.to_str().unwrap(),
        "--policy",
        fixtures::RUST_MINIMAL,
        "--settings",
        settings.to_str().unwrap(),
        "--format",
        &format!("json={}", report_path.display()),
    ]);
    out.assert_code(1);
    assert_eq!(out.stdout, "");
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();

    // The evidence: tool, times, inputs, settings (file and effective values), policies.
    assert!(report["tool"]["version"].is_string());
    assert!(
        is_rfc3339_utc(&report["startedAt"]),
        "{}",
        report["startedAt"]
    );
    assert!(is_rfc3339_utc(&report["endedAt"]), "{}", report["endedAt"]);
    assert!(report["startedAt"].as_str() <= report["endedAt"].as_str());
    assert_eq!(report["inputs"][0]["sha256"], sha256_of(&env));
    assert_eq!(report["settings"]["path"], settings.to_str().unwrap());
    assert_eq!(report["settings"]["sha256"], sha256_of(&settings));
    assert_eq!(
        report["settings"]["policies"]["example-naming"],
        serde_json::json!({"suffixes": ["(Production)"]})
    );
    assert_eq!(
        report["settings"]["policies"]["customer-portal-maps"],
        serde_json::json!({})
    );
    assert_eq!(report["waivers"], Value::Null);
    let example = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|policy| policy["name"] == "example-naming")
        .unwrap();
    assert_eq!(
        example["sha256"],
        sha256_of(&repo_root().join(fixtures::RUST_MINIMAL))
    );

    // Every file unchanged.
    let report_arg = report_path.to_str().unwrap();
    let out = preflight(["verify-report", report_arg]);
    out.assert_code(0);
    assert_eq!(out.stderr, "");
    let policies = report["policies"].as_array().unwrap().len();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2 + policies + 1, "{}", out.stdout);
    assert_eq!(
        lines[0],
        format!("{} (environment): unchanged", env.display())
    );
    assert_eq!(
        lines[1],
        format!("{} (settings): unchanged", settings.display())
    );
    assert!(
        lines.contains(
            &format!(
                "{} (policy example-naming): unchanged",
                fixtures::RUST_MINIMAL
            )
            .as_str()
        ),
        "{}",
        out.stdout
    );
    assert!(
        lines.contains(
            &"builtin:policy_customer_portal_maps.wasm (policy customer-portal-maps): unchanged"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(
        lines.last().unwrap(),
        &format!("all {} files unchanged", 2 + policies)
    );

    // The input edited: CHANGED, with both digests.
    let was = sha256_of(&env);
    let mut text = std::fs::read_to_string(&env).unwrap();
    text.push('\n');
    std::fs::write(&env, text).unwrap();
    let out = preflight(["verify-report", report_arg]);
    out.assert_code(1);
    assert_eq!(
        out.stdout.lines().next().unwrap(),
        format!(
            "{} (environment): CHANGED (was {was}, now {})",
            env.display(),
            sha256_of(&env)
        )
    );
    assert!(
        out.stdout
            .contains(&format!("{} (settings): unchanged", settings.display()))
    );
    assert!(
        out.stdout
            .ends_with(&format!("1 of {} files changed or missing\n", 2 + policies)),
        "{}",
        out.stdout
    );

    // The input deleted: MISSING.
    std::fs::remove_file(&env).unwrap();
    let out = preflight(["verify-report", report_arg]);
    out.assert_code(1);
    assert_eq!(
        out.stdout.lines().next().unwrap(),
        format!("{} (environment): MISSING", env.display())
    );
}

#[test]
fn verify_report_needs_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = preflight(["verify-report", "examples/nowhere/report.json"]);
    out.assert_code(2);
    assert!(
        out.stderr
            .starts_with("error: cannot read the report `examples/nowhere/report.json`: "),
        "{}",
        out.stderr
    );
    let bad = dir.path().join("report.json");
    std::fs::write(&bad, "{\"findings\": []}").unwrap();
    let out = preflight(["verify-report", bad.to_str().unwrap()]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("is not a preflight JSON report"),
        "{}",
        out.stderr
    );
    // A report of inputs given relative to the repository, verified from there.
    let report = dir.path().join("ready.json");
    preflight([
        "check",
        "--env",
        preflight_e2e::READY,
        "--format",
        &format!("json={}", report.display()),
    ])
    .assert_code(0);
    let out = preflight(["verify-report", report.to_str().unwrap()]);
    out.assert_code(0);
    assert!(
        out.stdout.starts_with(&format!(
            "{} (environment): unchanged\n",
            preflight_e2e::READY
        )),
        "{}",
        out.stdout
    );
}
