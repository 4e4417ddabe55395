//! `preflight policy test`: data-driven cases for one policy.
//!
//! A case is a folder under `<dir>/cases/`: the input documents
//! (`environment.json|yaml|yml`, `site`, `template`, `base-template`: a file, or for
//! the last three a `pac pages download` folder too), optional settings
//! (`settings.yaml|yml|json`, the policy's own settings object), and `expected.yaml`
//! (or `.yml`, `.json`): the findings the policy must report, and no others, or the
//! error it must fail with. A new case is a new folder, no code.
//!
//! Each case runs like `preflight check` would run it: documents parsed and the
//! snapshot checked against its schema, settings checked against the policy's schema
//! and `validate-settings`, a fresh store per evaluation, the same limits.

use super::PolicyArgs;
use crate::engine::{DOCUMENT_NAMES, Document, Engine, Policy};
use crate::inputs::{Input, load_document, parse};
use crate::model::{Finding, PolicySource, Severity, Status};
use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  preflight policy test .                                  # build the crate, run cases/
  preflight policy test . --policy target/my_policy.wasm   # test a component as it is
  preflight policy test . --format junit --output policy-tests.xml

A case folder (cases/<case>/):
  environment.json        input documents: environment, site, template, base-template
  settings.yaml           optional: the policy's settings
  expected.yaml           findings:            # every finding, and no other
                            - rule: MY001
                              severity: warning
                              pointer: /solutions/1
                              message: unmanaged   # optional: part of the message
                          # or `error: <part of the message>` when the policy must fail

Exit codes: 0 every case passed, 1 a case failed, 2 the cases could not be run.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Junit,
}

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The policy's folder: a Rust crate (built first), a JavaScript project
    /// (`npm run build` first, when its sources changed), or any folder with `cases/`
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Test this component instead of building the folder's policy
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the results here instead of stdout (atomically)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<u8> {
    let dir = args.dir.as_path();
    if !dir.is_dir() {
        bail!("the policy folder `{}` does not exist", dir.display());
    }
    let cases_dir = dir.join("cases");
    let cases = case_folders(&cases_dir)?;

    let component = match &args.policy {
        Some(path) => match path.to_str() {
            Some(text) if super::pull::is_url(text) => super::pull::resolve(text)?,
            _ => path.clone(),
        },
        None => build(dir)?,
    };
    let bytes = std::fs::read(&component)
        .with_context(|| format!("cannot read `{}`", component.display()))?;
    let engine = PolicyArgs::defaults().engine()?;
    let policy = engine
        .load(PolicySource::File(component.clone()), &bytes, None)
        .map_err(|err| anyhow!("`{}` {err}", component.display()))?;

    let started = Instant::now();
    let results: Vec<CaseResult> = cases
        .iter()
        .map(|case| {
            let started = Instant::now();
            let (outcome, rules) = run_case(&engine, &policy, case);
            CaseResult {
                name: case
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                outcome,
                rules,
                duration: started.elapsed(),
            }
        })
        .collect();
    let summary = Summary {
        policy: &policy,
        component: &component,
        cases_dir: &cases_dir,
        results: &results,
        untested: untested_rules(&policy, &results),
        duration: started.elapsed(),
    };

    let text = match args.format {
        Format::Text => summary.text(),
        Format::Junit => {
            // The report is for machines; people still get the verdict on stderr.
            eprint!("{}", summary.footer());
            summary.junit()
        }
    };
    super::write_output(args.output.as_deref(), &text)?;
    Ok(if summary.failed() == 0 { 0 } else { 1 })
}

/// The case folders under `cases/`, sorted by name (hidden folders left out).
fn case_folders(cases_dir: &Path) -> Result<Vec<PathBuf>> {
    if !cases_dir.is_dir() {
        bail!(
            "`{}` does not exist: make one folder per case in it, with the input documents \
             and `expected.yaml` (see `preflight policy test --help`)",
            cases_dir.display()
        );
    }
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir)
        .with_context(|| format!("cannot read `{}`", cases_dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'))
        })
        .collect();
    cases.sort();
    if cases.is_empty() {
        bail!(
            "`{}` has no case folders: make one per case, with the input documents and \
             `expected.yaml`",
            cases_dir.display()
        );
    }
    Ok(cases)
}

/// Builds the folder's policy: a Rust crate with `preflight policy build`, a
/// JavaScript project with `npm run build`.
fn build(dir: &Path) -> Result<PathBuf> {
    if dir.join("Cargo.toml").is_file() {
        return super::policy::build_crate(dir, None);
    }
    if dir.join("package.json").is_file() {
        return build_js(dir);
    }
    bail!(
        "`{}` is neither a Rust crate (Cargo.toml) nor a JavaScript project (package.json): \
         give the component to test with --policy",
        dir.display()
    )
}

/// Where a JavaScript project's build writes its component: `preflight.component`
/// in `package.json`.
fn js_component(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("package.json");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read `{}`", manifest.display()))?;
    let package: Value = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not valid JSON", manifest.display()))?;
    let component = package
        .pointer("/preflight/component")
        .and_then(Value::as_str)
        .with_context(|| {
            format!(
                "`{}` does not say where its build writes the component: add \
                 `\"preflight\": {{\"component\": \"dist/<name>.wasm\"}}`, or give --policy",
                manifest.display()
            )
        })?;
    Ok(dir.join(component))
}

/// Runs `npm run build` unless the component is newer than every source file.
fn build_js(dir: &Path) -> Result<PathBuf> {
    let component = js_component(dir)?;
    let built_at = std::fs::metadata(&component)
        .and_then(|meta| meta.modified())
        .ok();
    if let Some(built_at) = built_at
        && newest_source(dir).is_some_and(|newest| newest <= built_at)
    {
        eprintln!(
            "`{}` is newer than its sources: not building it again",
            component.display()
        );
        return Ok(component);
    }
    if !dir.join("node_modules").is_dir() {
        // `npm install`, not `npm ci`: it installs the versions package-lock.json pins,
        // and tolerates what `npm ci` refuses with componentize-js 0.23, an optional
        // platform package whose version was never published.
        npm(dir, &["install", "--no-audit", "--no-fund"])?;
    }
    npm(dir, &["run", "build"])?;
    if !component.is_file() {
        bail!(
            "`npm run build` did not write `{}`, where package.json's `preflight.component` \
             says the component is",
            component.display()
        );
    }
    Ok(component)
}

/// Runs npm in `dir`; its output goes to stderr, so that stdout holds only results.
fn npm(dir: &Path, args: &[&str]) -> Result<()> {
    let program = if cfg!(windows) { "npm.cmd" } else { "npm" };
    eprintln!("running `npm {}` in `{}`", args.join(" "), dir.display());
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .map_err(|err| {
            anyhow!(
                "cannot run npm ({err}): install Node.js with npm to build a JavaScript \
                 policy, or give the built component with --policy"
            )
        })?;
    if !status.success() {
        bail!(
            "`npm {}` failed in `{}` ({status})",
            args.join(" "),
            dir.display()
        );
    }
    Ok(())
}

/// The newest modification time of the project's own files (not its dependencies,
/// build output or cases).
fn newest_source(dir: &Path) -> Option<std::time::SystemTime> {
    const SKIP: &[&str] = &["node_modules", "dist", "target", "cases", ".git"];
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).ok()?.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            if SKIP.iter().any(|skip| name == *skip) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(modified) = entry.metadata().and_then(|meta| meta.modified()) {
                newest = newest.max(Some(modified));
            }
        }
    }
    newest
}

/// What a case expects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// Every finding the policy must report; no other may be reported.
    findings: Option<Vec<ExpectedFinding>>,
    /// A part of the error the policy must fail with (or reject its settings with).
    error: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    rule: String,
    severity: Severity,
    pointer: String,
    /// A part of the message.
    message: Option<String>,
    /// The document's name; any when not given.
    document: Option<String>,
}

impl ExpectedFinding {
    fn matches(&self, finding: &Finding) -> bool {
        self.rule == finding.rule_id
            && self.severity == finding.severity
            && self.pointer == finding.pointer
            && self
                .document
                .as_ref()
                .is_none_or(|document| *document == finding.document)
            && self
                .message
                .as_ref()
                .is_none_or(|part| finding.message.contains(part.as_str()))
    }

    fn describe(&self, show_document: bool) -> String {
        let place = match (&self.document, show_document) {
            (Some(document), _) => format!("{document}#{}", self.pointer),
            (None, true) => format!("(any document)#{}", self.pointer),
            (None, false) => self.pointer.clone(),
        };
        let mut text = format!("{:<8} {:<8} {place}", self.rule, self.severity.as_str());
        if let Some(message) = &self.message {
            write!(text, "  message containing {message:?}").expect("writing to a String");
        }
        text
    }
}

/// A finding on one line. The document is named when the case has several.
fn describe_finding(finding: &Finding, show_document: bool) -> String {
    let place = if show_document {
        format!("{}#{}", finding.document, finding.pointer)
    } else {
        finding.pointer.clone()
    };
    format!(
        "{:<8} {:<8} {place}  {:?}",
        finding.rule_id,
        finding.severity.as_str(),
        finding.message
    )
}

/// How one case ended.
enum Outcome {
    /// The policy did what the case expects; the number of findings it reported.
    Passed(usize),
    /// It did not: each line says how (missing, unexpected, wrong error...).
    Failed(Vec<String>),
    /// The case itself could not be read or run.
    Broken(String),
}

struct CaseResult {
    name: String,
    outcome: Outcome,
    /// The rules the case expects findings of.
    rules: Vec<String>,
    duration: Duration,
}

/// What a case folder holds, read and checked.
struct Case {
    inputs: Vec<Input>,
    settings: Value,
    expected: Expected,
}

const SETTINGS_FILES: &[&str] = &["settings.yaml", "settings.yml", "settings.json"];
const EXPECTED_FILES: &[&str] = &["expected.yaml", "expected.yml", "expected.json"];
const DOCUMENT_EXTENSIONS: &[&str] = &["json", "yaml", "yml"];

fn read_case(dir: &Path) -> Result<Case> {
    let mut inputs = Vec::new();
    let mut settings = None;
    let mut expected = None;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    entries.sort();
    for path in entries {
        let file = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file.starts_with('.') || file.ends_with(".md") {
            continue;
        }
        let (stem, extension) = match file.rsplit_once('.') {
            Some((stem, extension)) if path.is_file() => (stem, Some(extension)),
            _ => (file.as_str(), None),
        };
        if SETTINGS_FILES.contains(&file.as_str()) {
            if settings.is_some() {
                bail!("`{}` has more than one settings file", dir.display());
            }
            settings = Some(read_settings(&path)?);
        } else if EXPECTED_FILES.contains(&file.as_str()) {
            if expected.is_some() {
                bail!("`{}` has more than one expected file", dir.display());
            }
            expected = Some(read_expected(&path)?);
        } else if let Some(name) = DOCUMENT_NAMES.iter().find(|name| **name == stem) {
            if inputs.iter().any(|input: &Input| input.name == *name) {
                bail!("`{}` has the `{name}` document twice", dir.display());
            }
            let input = match extension {
                Some(extension) if DOCUMENT_EXTENSIONS.contains(&extension) => {
                    let input = load_document(name, &path)?;
                    if *name == "environment" {
                        crate::inputs::schema::check_environment(&input)?;
                    }
                    input
                }
                None if *name != "environment" && path.is_dir() => {
                    crate::inputs::site::load_site(name, &path)?
                }
                _ => bail!(
                    "`{}`: a document is a `.json`, `.yaml` or `.yml` file{}",
                    path.display(),
                    if *name == "environment" {
                        ""
                    } else {
                        " or a `pac pages download` folder"
                    }
                ),
            };
            inputs.push(input);
        } else {
            let documents: Vec<String> = DOCUMENT_NAMES
                .iter()
                .map(|name| format!("`{name}.json`"))
                .collect();
            bail!(
                "`{}` is not part of a case: a case folder holds input documents ({}, or \
                 `.yaml`), `settings.yaml` and `expected.yaml`",
                path.display(),
                documents.join(", ")
            );
        }
    }
    let expected = expected.with_context(|| {
        format!(
            "`{}` has no `expected.yaml`: list the findings the policy must report \
             (`findings: []` for none)",
            dir.display()
        )
    })?;
    if inputs.is_empty() {
        bail!(
            "`{}` has no input documents (`environment.json`, `site.json`, ...)",
            dir.display()
        );
    }
    Ok(Case {
        inputs,
        settings: settings.unwrap_or_else(|| serde_json::json!({})),
        expected,
    })
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

fn read_settings(path: &Path) -> Result<Value> {
    let value = parse(path, &read_text(path)?)?;
    if !value.is_object() {
        bail!(
            "`{}`: the settings must be an object (the policy's own settings, not keyed by \
             its name)",
            path.display()
        );
    }
    Ok(value)
}

fn read_expected(path: &Path) -> Result<Expected> {
    let value = parse(path, &read_text(path)?)?;
    let expected: Expected =
        serde_json::from_value(value).map_err(|err| anyhow!("`{}`: {err}", path.display()))?;
    match (&expected.findings, &expected.error) {
        (None, None) => bail!(
            "`{}` says nothing: give `findings:` (a list, `[]` for none) or `error:`",
            path.display()
        ),
        (Some(findings), Some(_)) if !findings.is_empty() => bail!(
            "`{}` expects both findings and an error; a policy that fails reports no findings",
            path.display()
        ),
        _ => Ok(expected),
    }
}

/// Runs one case: how it ended, and the rules it expects findings of.
fn run_case(engine: &Engine, policy: &Policy, dir: &Path) -> (Outcome, Vec<String>) {
    let case = match read_case(dir) {
        Ok(case) => case,
        Err(err) => return (Outcome::Broken(format!("{err:#}")), Vec::new()),
    };
    let rules = case
        .expected
        .findings
        .iter()
        .flatten()
        .map(|want| want.rule.clone())
        .collect();
    let result = match check_settings(engine, policy, &case.settings) {
        Err(message) => Err(message),
        Ok(()) => {
            let documents: Vec<Document> = case
                .inputs
                .iter()
                .map(|input| Document::new(input.name.clone(), input.value.clone()))
                .collect();
            let run = engine.evaluate(policy, &documents, &case.settings.to_string());
            match run.status {
                Status::Ok => Ok(run.findings),
                Status::Skipped | Status::Error => Err(format!(
                    "{} {}",
                    if run.status == Status::Skipped {
                        "skipped:"
                    } else {
                        "the policy"
                    },
                    run.reason.unwrap_or_default()
                )),
            }
        }
    };
    (
        compare(&case.expected, result, case.inputs.len() > 1),
        rules,
    )
}

/// Settings checks as `check` makes them: the policy's schema, then `validate-settings`.
fn check_settings(engine: &Engine, policy: &Policy, settings: &Value) -> Result<(), String> {
    if let Some(schema) = &policy.info.settings_schema {
        let validator = jsonschema::draft202012::new(schema)
            .map_err(|err| format!("the policy publishes an invalid settings schema: {err}"))?;
        if let Some(err) = validator.iter_errors(settings).next() {
            return Err(format!(
                "invalid settings at `{}`: {err}",
                err.instance_path()
            ));
        }
    }
    engine
        .validate_settings(policy, &settings.to_string())
        .map_err(|message| format!("invalid settings: {message}"))
}

/// Compares what the policy did with what the case expects. `show_documents`: name
/// the document of each finding in the diff (the case has several).
fn compare(
    expected: &Expected,
    result: Result<Vec<Finding>, String>,
    show_documents: bool,
) -> Outcome {
    match (result, &expected.error) {
        (Err(error), Some(part)) if error.contains(part.as_str()) => Outcome::Passed(0),
        (Err(error), Some(part)) => Outcome::Failed(vec![format!(
            "the error does not contain {part:?}: {error}"
        )]),
        (Err(error), None) => Outcome::Failed(vec![format!("unexpected error: {error}")]),
        (Ok(findings), Some(part)) => {
            let mut lines = vec![format!(
                "expected an error containing {part:?}, but the policy ran: {} finding{}",
                findings.len(),
                if findings.len() == 1 { "" } else { "s" }
            )];
            lines.extend(findings.iter().map(|finding| {
                format!("unexpected  {}", describe_finding(finding, show_documents))
            }));
            Outcome::Failed(lines)
        }
        (Ok(findings), None) => {
            let wanted = expected.findings.as_deref().unwrap_or_default();
            // The most specific expectations (with a message) pick their finding first.
            let mut order: Vec<&ExpectedFinding> = wanted.iter().collect();
            order.sort_by_key(|want| want.message.is_none() as u8 + want.document.is_none() as u8);
            let mut left: Vec<&Finding> = findings.iter().collect();
            let mut missing = Vec::new();
            for want in order {
                match left.iter().position(|finding| want.matches(finding)) {
                    Some(at) => {
                        left.remove(at);
                    }
                    None => missing.push(want),
                }
            }
            if missing.is_empty() && left.is_empty() {
                return Outcome::Passed(findings.len());
            }
            let mut lines: Vec<String> = missing
                .iter()
                .map(|want| format!("missing     {}", want.describe(show_documents)))
                .collect();
            lines.extend(left.iter().map(|finding| {
                format!("unexpected  {}", describe_finding(finding, show_documents))
            }));
            Outcome::Failed(lines)
        }
    }
}

/// The policy's rules that no case expects a finding of.
fn untested_rules(policy: &Policy, results: &[CaseResult]) -> Vec<String> {
    policy
        .info
        .rules
        .iter()
        .filter(|rule| !results.iter().any(|result| result.rules.contains(&rule.id)))
        .map(|rule| rule.id.clone())
        .collect()
}

struct Summary<'a> {
    policy: &'a Policy,
    component: &'a Path,
    cases_dir: &'a Path,
    results: &'a [CaseResult],
    untested: Vec<String>,
    duration: Duration,
}

impl Summary<'_> {
    fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|result| !matches!(result.outcome, Outcome::Passed(_)))
            .count()
    }

    /// The untested rules and the verdict, shared by both formats.
    fn footer(&self) -> String {
        let mut out = String::new();
        if !self.untested.is_empty() {
            let rules: Vec<String> = self.untested.iter().map(|id| format!("`{id}`")).collect();
            writeln!(
                out,
                "rules no case exercises: {} (add a case whose expected.yaml lists a finding of {})",
                rules.join(", "),
                if rules.len() == 1 { "it" } else { "each" }
            )
            .expect("writing to a String");
        }
        let total = self.results.len();
        let failed = self.failed();
        writeln!(
            out,
            "{total} case{}: {} passed, {failed} failed",
            if total == 1 { "" } else { "s" },
            total - failed
        )
        .expect("writing to a String");
        out
    }

    fn text(&self) -> String {
        let info = &self.policy.info;
        let mut out = format!(
            "testing `{}` {} (`{}`) with the cases in `{}`\n\n",
            info.name,
            info.version,
            self.component.display(),
            self.cases_dir.display()
        );
        for result in self.results {
            match &result.outcome {
                Outcome::Passed(0) => writeln!(out, "ok      {}", result.name),
                Outcome::Passed(n) => writeln!(
                    out,
                    "ok      {} ({n} finding{})",
                    result.name,
                    if *n == 1 { "" } else { "s" }
                ),
                Outcome::Failed(lines) => {
                    writeln!(out, "FAILED  {}", result.name).expect("writing to a String");
                    for line in lines {
                        writeln!(out, "        {line}").expect("writing to a String");
                    }
                    Ok(())
                }
                Outcome::Broken(reason) => {
                    writeln!(out, "BROKEN  {}", result.name).expect("writing to a String");
                    for line in reason.lines() {
                        writeln!(out, "        {line}").expect("writing to a String");
                    }
                    Ok(())
                }
            }
            .expect("writing to a String");
        }
        out.push('\n');
        out.push_str(&self.footer());
        out
    }

    fn junit(&self) -> String {
        let info = &self.policy.info;
        let total = self.results.len();
        let failures = self
            .results
            .iter()
            .filter(|result| matches!(result.outcome, Outcome::Failed(_)))
            .count();
        let errors = self
            .results
            .iter()
            .filter(|result| matches!(result.outcome, Outcome::Broken(_)))
            .count();
        let seconds = |duration: Duration| format!("{:.3}", duration.as_secs_f64());
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let time = seconds(self.duration);
        writeln!(
            out,
            "<testsuites name=\"preflight policy test\" tests=\"{total}\" failures=\"{failures}\" \
             errors=\"{errors}\" time=\"{time}\">"
        )
        .expect("writing to a String");
        writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{total}\" failures=\"{failures}\" errors=\"{errors}\" \
             skipped=\"0\" time=\"{time}\">",
            xml(&info.name)
        )
        .expect("writing to a String");
        out.push_str("    <properties>\n");
        let untested = self.untested.join(" ");
        let mut properties = vec![
            ("version", info.version.as_str()),
            ("sha256", self.policy.sha256.as_str()),
        ];
        let component = self.component.display().to_string();
        properties.push(("component", &component));
        if !untested.is_empty() {
            properties.push(("untested-rules", &untested));
        }
        for (name, value) in properties {
            writeln!(
                out,
                "      <property name=\"{name}\" value=\"{}\"/>",
                xml(value)
            )
            .expect("writing to a String");
        }
        out.push_str("    </properties>\n");
        for result in self.results {
            let head = format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
                xml(&info.name),
                xml(&result.name),
                seconds(result.duration)
            );
            match &result.outcome {
                Outcome::Passed(_) => writeln!(out, "{head}/>"),
                Outcome::Failed(lines) => writeln!(
                    out,
                    "{head}>\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>",
                    xml(&lines[0]),
                    xml(&lines.join("\n"))
                ),
                Outcome::Broken(reason) => writeln!(
                    out,
                    "{head}>\n      <error message=\"{}\" type=\"case\">{}</error>\n    </testcase>",
                    xml(reason.lines().next().unwrap_or_default()),
                    xml(reason)
                ),
            }
            .expect("writing to a String");
        }
        if !self.untested.is_empty() {
            writeln!(
                out,
                "    <system-out>rules no case exercises: {}</system-out>",
                xml(&self.untested.join(", "))
            )
            .expect("writing to a String");
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// Escapes text for an XML attribute or element.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push('\n'),
            // XML 1.0 has no way to write other control characters.
            c if c.is_control() && c != '\t' && c != '\r' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, severity: Severity, pointer: &str, message: &str) -> Finding {
        Finding {
            rule_id: rule.into(),
            policy: "p".into(),
            severity,
            message: message.into(),
            document: "environment".into(),
            file: None,
            pointer: pointer.into(),
            remediation: None,
        }
    }

    fn expect(yaml: &str) -> Expected {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn findings_match_as_a_multiset_with_message_parts() {
        let expected = expect(
            "findings:\n\
             - {rule: A1, severity: warning, pointer: /x}\n\
             - {rule: A1, severity: warning, pointer: /x, message: second}\n",
        );
        let actual = vec![
            finding("A1", Severity::Warning, "/x", "the second one"),
            finding("A1", Severity::Warning, "/x", "the first one"),
        ];
        assert!(matches!(
            compare(&expected, Ok(actual), false),
            Outcome::Passed(2)
        ));
    }

    #[test]
    fn a_mismatch_lists_missing_and_unexpected_findings() {
        let expected = expect("findings:\n- {rule: A1, severity: error, pointer: /x}\n");
        let actual = vec![finding("A1", Severity::Warning, "/x", "oops")];
        let Outcome::Failed(lines) = compare(&expected, Ok(actual.clone()), false) else {
            panic!("the case must fail");
        };
        assert_eq!(
            lines,
            [
                "missing     A1       error    /x",
                "unexpected  A1       warning  /x  \"oops\"",
            ]
        );
        let Outcome::Failed(lines) = compare(&expected, Ok(actual), true) else {
            panic!("the case must fail");
        };
        assert_eq!(
            lines,
            [
                "missing     A1       error    (any document)#/x",
                "unexpected  A1       warning  environment#/x  \"oops\"",
            ]
        );
    }

    #[test]
    fn an_expected_error_must_happen_and_say_the_words() {
        let expected = expect("error: rejected");
        assert!(matches!(
            compare(
                &expected,
                Err("invalid settings: rejected it".into()),
                false
            ),
            Outcome::Passed(0)
        ));
        assert!(matches!(
            compare(&expected, Err("trapped".into()), false),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            compare(&expected, Ok(Vec::new()), false),
            Outcome::Failed(_)
        ));
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(
            xml("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
    }
}
