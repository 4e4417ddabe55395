//! Data-driven cases of the built-in policies, and the example snapshots.
//!
//! Every folder `policies/<crate>/cases/<case>/` is one case of the policy built from
//! `policies/<crate>`: its input documents (`environment.json`, and `site`,
//! `template`, `base-template` files when the policy reads them) and `expected.yaml`:
//!
//! ```yaml
//! # What the case shows, in a line or two.
//! settings:            # optional: the policy's settings
//!   packages: [supply-chain, party]
//! findings:            # exactly the findings the policy reports; `[]` for none
//!   - rule: CP003
//!     severity: error
//!     pointer: /solutions
//!     message: the Customer portal needs it   # optional: a part of the message
//! ```
//!
//! A new case is a new folder, no new code. Run one case (or every case whose path
//! contains some text) with `PREFLIGHT_CASE=<text> cargo test --release -p preflight
//! --test rule_cases`.

use preflight::builtin::BUILTIN_POLICIES;
use preflight::engine::{Document, Engine, EngineOptions, Policy};
use preflight::inputs::load_document;
use preflight::inputs::schema::environment_violations;
use preflight::model::{Finding, PolicySource, Severity, Status};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DOCUMENTS: &[&str] = &["environment", "site", "template", "base-template"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The built-in policies, loaded once for all tests of this file.
struct Pack {
    engine: Engine,
    /// (crate folder under `policies/`, policy)
    policies: Vec<(String, Policy)>,
}

fn pack() -> &'static Pack {
    static PACK: OnceLock<Pack> = OnceLock::new();
    PACK.get_or_init(|| {
        let engine = Engine::new(EngineOptions {
            cache_dir: None,
            ..Default::default()
        })
        .expect("starting the engine");
        let policies = BUILTIN_POLICIES
            .iter()
            .map(|(file, bytes, sha256)| {
                let policy = engine
                    .load(
                        PolicySource::Builtin((*file).to_owned()),
                        bytes,
                        Some(sha256),
                    )
                    .unwrap_or_else(|err| {
                        panic!("the built-in policy `{file}` does not load: {err}")
                    });
                (crate_folder(file), policy)
            })
            .collect();
        Pack { engine, policies }
    })
}

/// `policy_customer_portal_maps.wasm` is built from `policies/customer-portal-maps`.
fn crate_folder(file: &str) -> String {
    file.trim_end_matches(".wasm")
        .trim_start_matches("policy_")
        .replace('_', "-")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    settings: Option<Value>,
    findings: Vec<ExpectedFinding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    rule: String,
    severity: Severity,
    pointer: String,
    /// Defaults to `environment`.
    #[serde(default)]
    document: Option<String>,
    /// A part of the message.
    #[serde(default)]
    message: Option<String>,
}

impl ExpectedFinding {
    fn document(&self) -> &str {
        self.document.as_deref().unwrap_or("environment")
    }

    fn matches(&self, finding: &Finding) -> bool {
        finding.rule_id == self.rule
            && finding.severity == self.severity
            && finding.pointer == self.pointer
            && finding.document == self.document()
            && self
                .message
                .as_ref()
                .is_none_or(|part| finding.message.contains(part.as_str()))
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "{} {} {}#{}",
            self.rule,
            self.severity,
            self.document(),
            self.pointer
        );
        if let Some(part) = &self.message {
            write!(text, " (message containing {part:?})").unwrap();
        }
        text
    }
}

fn describe(finding: &Finding) -> String {
    format!(
        "{} {} {}#{}: {}",
        finding.rule_id, finding.severity, finding.document, finding.pointer, finding.message
    )
}

struct Case {
    /// `customer-portal-solutions/cases/core-missing`, for messages.
    name: String,
    folder: String,
    dir: PathBuf,
}

/// Every case folder, sorted; `PREFLIGHT_CASE` keeps those whose name contains it.
fn cases() -> Vec<Case> {
    let filter = std::env::var("PREFLIGHT_CASE").ok();
    let mut cases = Vec::new();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(repo_root().join("policies"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("cases").is_dir())
        .collect();
    crates.sort();
    for dir in crates {
        let folder = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir.join("cases"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_dir())
            .collect();
        dirs.sort();
        for case in dirs {
            let name = format!(
                "{folder}/cases/{}",
                case.file_name().unwrap().to_str().unwrap()
            );
            if filter
                .as_ref()
                .is_none_or(|filter| name.contains(filter.as_str()))
            {
                cases.push(Case {
                    name,
                    folder: folder.clone(),
                    dir: case,
                });
            }
        }
    }
    cases
}

/// The case's documents: `<name>.json`, `.yaml` or `.yml` for each document name.
fn documents(case: &Case) -> Result<Vec<(Document, PathBuf)>, String> {
    let mut documents = Vec::new();
    for name in DOCUMENTS {
        for ext in ["json", "yaml", "yml"] {
            let path = case.dir.join(format!("{name}.{ext}"));
            if path.is_file() {
                let input = load_document(name, &path).map_err(|err| err.to_string())?;
                documents.push((Document::new((*name).to_owned(), input.value), path));
            }
        }
    }
    if documents.is_empty() {
        return Err("has no input document (environment.json, site.json, ...)".to_owned());
    }
    Ok(documents)
}

fn expected(case: &Case) -> Result<Expected, String> {
    let path = case.dir.join("expected.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read expected.yaml: {err}"))?;
    serde_yaml_ng::from_str(&text).map_err(|err| format!("expected.yaml: {err}"))
}

/// The settings as the host would pass them, checked as `preflight check` checks them.
fn settings(pack: &Pack, policy: &Policy, settings: Option<&Value>) -> Result<String, String> {
    let value = settings.cloned().unwrap_or_else(|| serde_json::json!({}));
    if let Some(schema) = &policy.info.settings_schema {
        let validator = jsonschema::draft202012::new(schema)
            .map_err(|err| format!("settings schema: {err}"))?;
        if let Some(err) = validator.iter_errors(&value).next() {
            return Err(format!("settings at `{}`: {err}", err.instance_path()));
        }
    }
    let text = value.to_string();
    pack.engine
        .validate_settings(policy, &text)
        .map_err(|message| format!("settings refused by the policy: {message}"))?;
    Ok(text)
}

/// Runs one case; `Err` is a readable account of what differs.
fn run_case(pack: &Pack, case: &Case) -> Result<Vec<Finding>, String> {
    let policy = pack
        .policies
        .iter()
        .find(|(folder, _)| *folder == case.folder)
        .map(|(_, policy)| policy)
        .ok_or_else(|| {
            format!(
                "no built-in policy is built from `policies/{}`",
                case.folder
            )
        })?;
    let documents = documents(case)?;
    let expected = expected(case)?;
    let settings = settings(pack, policy, expected.settings.as_ref())?;
    let given: Vec<Document> = documents
        .iter()
        .map(|(document, _)| document.clone())
        .collect();
    let run = pack.engine.evaluate(policy, &given, &settings);
    if run.status != Status::Ok {
        return Err(format!(
            "the policy `{}` did not run to the end ({:?}): {}",
            policy.info.name,
            run.status,
            run.reason.unwrap_or_default()
        ));
    }

    let mut problems = String::new();
    // Every finding points at a place that exists, and says what to do.
    for finding in &run.findings {
        let document = given.iter().find(|doc| doc.name == finding.document);
        if document.is_none_or(|doc| doc.value().pointer(&finding.pointer).is_none()) {
            writeln!(
                problems,
                "  points at a place that does not exist: {}",
                describe(finding)
            )
            .unwrap();
        }
        if finding
            .remediation
            .as_deref()
            .is_none_or(|text| text.trim().is_empty())
        {
            writeln!(problems, "  has no remediation: {}", describe(finding)).unwrap();
        }
    }

    // Match the specific expectations (with a message) first.
    let mut order: Vec<&ExpectedFinding> = expected.findings.iter().collect();
    order.sort_by_key(|finding| finding.message.is_none());
    let mut unmatched: Vec<&Finding> = run.findings.iter().collect();
    let mut missing = Vec::new();
    for want in order {
        match unmatched.iter().position(|finding| want.matches(finding)) {
            Some(index) => {
                unmatched.remove(index);
            }
            None => missing.push(want),
        }
    }
    if !missing.is_empty() || !unmatched.is_empty() {
        writeln!(problems, "  findings differ from expected.yaml:").unwrap();
        for want in &missing {
            writeln!(
                problems,
                "    - expected, not reported: {}",
                want.describe()
            )
            .unwrap();
        }
        for finding in &unmatched {
            writeln!(
                problems,
                "    + reported, not expected: {}",
                describe(finding)
            )
            .unwrap();
        }
        writeln!(problems, "  everything reported:").unwrap();
        for finding in &run.findings {
            writeln!(problems, "      {}", describe(finding)).unwrap();
        }
    }
    if problems.is_empty() {
        Ok(run.findings)
    } else {
        Err(problems)
    }
}

#[test]
fn every_case_reports_exactly_its_expected_findings() {
    let pack = pack();
    let cases = cases();
    assert!(
        !cases.is_empty(),
        "no case folder found (or none matches PREFLIGHT_CASE)"
    );
    let mut failures = String::new();
    for case in &cases {
        if let Err(problems) = run_case(pack, case) {
            writeln!(failures, "case `{}`:\n{}", case.name, problems.trim_end()).unwrap();
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed (policies/<crate>/cases/<case>/expected.yaml):\n\n{failures}",
        failures.matches("case `").count(),
        cases.len()
    );
}

#[test]
fn every_case_environment_matches_the_snapshot_schema() {
    let mut failures = String::new();
    for case in cases() {
        for ext in ["json", "yaml", "yml"] {
            let path = case.dir.join(format!("environment.{ext}"));
            if !path.is_file() {
                continue;
            }
            let input = load_document("environment", &path).unwrap();
            for violation in environment_violations(&input.value) {
                writeln!(
                    failures,
                    "{}: at `{}`: {}",
                    case.name, violation.pointer, violation.message
                )
                .unwrap();
            }
        }
    }
    assert!(
        failures.is_empty(),
        "case documents that do not match the schema:\n{failures}"
    );
}

/// The brief of the pack: each rule has a case where it reports and one where it does not.
#[test]
fn every_rule_of_a_policy_with_cases_has_a_passing_and_a_failing_case() {
    let pack = pack();
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    let mut quiet: BTreeSet<(String, String)> = BTreeSet::new();
    let all = cases();
    for case in &all {
        let Ok(expected) = expected(case) else {
            continue;
        };
        let Some((_, policy)) = pack
            .policies
            .iter()
            .find(|(folder, _)| *folder == case.folder)
        else {
            continue;
        };
        for rule in &policy.info.rules {
            let key = (case.folder.clone(), rule.id.clone());
            if expected
                .findings
                .iter()
                .any(|finding| finding.rule == rule.id)
            {
                reported.insert(key);
            } else {
                quiet.insert(key);
            }
        }
    }
    let mut gaps = Vec::new();
    for (folder, policy) in &pack.policies {
        let has_cases = all.iter().any(|case| &case.folder == folder);
        let in_pack = policy
            .info
            .rules
            .iter()
            .any(|rule| rule.id.starts_with("CP"));
        if !has_cases && !in_pack {
            continue;
        }
        for rule in &policy.info.rules {
            let key = (folder.clone(), rule.id.clone());
            if !reported.contains(&key) {
                gaps.push(format!("{} ({folder}): no case where it reports", rule.id));
            }
            if !quiet.contains(&key) {
                gaps.push(format!(
                    "{} ({folder}): no case where it stays quiet",
                    rule.id
                ));
            }
        }
    }
    if std::env::var_os("PREFLIGHT_CASE").is_none() {
        assert!(
            gaps.is_empty(),
            "rules without cases:\n  {}",
            gaps.join("\n  ")
        );
    }
}

fn example(name: &str) -> Value {
    let path = repo_root()
        .join("examples")
        .join(name)
        .join("environment.json");
    load_document("environment", &path)
        .unwrap()
        .value
        .as_ref()
        .clone()
}

#[test]
fn the_examples_match_the_snapshot_schema() {
    for name in ["contoso-ready", "contoso-not-ready"] {
        assert_eq!(
            environment_violations(&example(name)),
            [],
            "examples/{name}/environment.json"
        );
    }
}

/// Runs every built-in policy on an example with only the environment document.
fn check_example(name: &str) -> Vec<Finding> {
    let pack = pack();
    let documents = [Document::new(
        "environment",
        std::sync::Arc::new(example(name)),
    )];
    let mut findings = Vec::new();
    for (_, policy) in &pack.policies {
        let run = pack.engine.evaluate(policy, &documents, "{}");
        let needs_more = policy
            .info
            .documents
            .iter()
            .any(|need| !need.optional && need.name != "environment");
        match run.status {
            Status::Ok => findings.extend(run.findings),
            Status::Skipped if needs_more => {}
            status => panic!(
                "`{}` on examples/{name}: {status:?}: {}",
                policy.info.name,
                run.reason.unwrap_or_default()
            ),
        }
    }
    findings
}

#[test]
fn contoso_ready_passes_every_policy() {
    let findings = check_example("contoso-ready");
    let listed: Vec<String> = findings.iter().map(describe).collect();
    assert!(
        listed.is_empty(),
        "findings on examples/contoso-ready:\n  {}",
        listed.join("\n  ")
    );
}

#[test]
fn contoso_not_ready_fails_the_customer_portal_pack_as_expected() {
    // A UAT sandbox copied from production, set up halfway: the dual-write link still
    // points at production, pay-as-you-go billing next to capacity packs, an old core,
    // no Human Resources package, Prospect to cash still there, and maps not running.
    let expected: &[(&str, Severity, &str)] = &[
        ("CP001", Severity::Error, "/licensing/powerPages/payAsYouGo"),
        ("CP002", Severity::Warning, "/solutions/0/version"),
        ("CP003", Severity::Error, "/solutions"),
        ("CP004", Severity::Error, "/dualWrite/maps"),
        ("CP004", Severity::Error, "/dualWrite/maps/11/state"),
        ("CP004", Severity::Error, "/dualWrite/maps/9/state"),
        ("CP007", Severity::Error, "/solutions/14"),
        ("CP008", Severity::Error, "/dualWrite/maps/12/state"),
        (
            "CP009",
            Severity::Error,
            "/dualWrite/linkedFinanceAndOperationsUrl",
        ),
    ];
    let mut actual: Vec<(String, Severity, String)> = check_example("contoso-not-ready")
        .into_iter()
        .filter(|finding| finding.rule_id.starts_with("CP"))
        .map(|finding| (finding.rule_id, finding.severity, finding.pointer))
        .collect();
    actual.sort();
    let expected: Vec<(String, Severity, String)> = expected
        .iter()
        .map(|(rule, severity, pointer)| ((*rule).to_owned(), *severity, (*pointer).to_owned()))
        .collect();
    assert_eq!(
        actual, expected,
        "Customer portal findings on examples/contoso-not-ready"
    );
}

#[test]
fn a_snapshot_that_does_not_match_the_schema_is_refused_before_any_policy_runs() {
    let mut env = example("contoso-ready");
    env["dualWrite"]["maps"][3]["state"] = Value::from("Stopped");
    env["licensing"]["powerPages"]["payAsYouGo"] = Value::from("no");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.json");
    std::fs::write(&path, serde_json::to_string_pretty(&env).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["check", "--no-cache", "--env"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "no report when the input is refused"
    );
    assert_eq!(
        stderr,
        format!(
            "error: `{}` does not match the environment snapshot schema in 2 places:\n  \
             - at `/dualWrite/maps/3/state`: \"Stopped\" is not one of \"Not running\", \
             \"Initializing\", \"Running\", \"Paused\", \"Resuming\": did you mean \"Not running\"?\n  \
             - at `/licensing/powerPages/payAsYouGo`: \"no\" is not of type \"boolean\"\n",
            path.display()
        )
    );
}
