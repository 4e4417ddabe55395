//! The report as JUnit XML, for CI test dashboards.
//!
//! One `<testsuite>` per policy and one `<testcase>` per rule and input document,
//! passes included so dashboards count them. A test case fails when one of its
//! findings fails the gate (unwaived, at or above `--fail-on`); the other findings
//! are listed in its `<system-out>`. A skipped policy's cases are `<skipped>`; a
//! policy that could not run has `<error>` cases.

use super::{Report, ReportFinding, waivers};
use crate::model::{RuleInfo, Severity, Status};
use std::fmt::Write as _;

struct Case {
    classname: String,
    name: String,
    outcome: Outcome,
    /// Findings that do not fail the gate, for `<system-out>`.
    notes: Vec<String>,
}

enum Outcome {
    Passed,
    Failed {
        message: String,
        severity: Severity,
        text: String,
    },
    Skipped(String),
    Error(String),
}

struct Suite {
    name: String,
    time: f64,
    properties: Vec<(&'static str, String)>,
    cases: Vec<Case>,
}

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> String {
    let mut suites = Vec::new();
    for policy in &report.policies {
        let findings: Vec<&ReportFinding> = report
            .findings
            .iter()
            .filter(|finding| finding.policy == policy.name)
            .collect();
        let inputs: Vec<(&str, &str)> = report
            .inputs
            .iter()
            .filter(|input| {
                policy
                    .documents
                    .iter()
                    .any(|need| need.name == input.document)
            })
            .map(|input| (input.document.as_str(), input.path.as_str()))
            .collect();
        let mut properties = vec![("source", policy.source.clone())];
        if let Some(version) = &policy.version {
            properties.push(("version", version.clone()));
        }
        if let Some(sha256) = &policy.sha256 {
            properties.push(("sha256", sha256.clone()));
        }
        properties.push(("status", format!("{:?}", policy.status).to_lowercase()));
        let reason = policy.reason.clone().unwrap_or_default();
        let cases = if policy.rules.is_empty() {
            // It could not be loaded: its rules are not known.
            vec![Case {
                classname: policy.name.clone(),
                name: policy.name.clone(),
                outcome: Outcome::Error(reason),
                notes: Vec::new(),
            }]
        } else {
            cases(
                report,
                &policy.name,
                &policy.rules,
                &inputs,
                &findings,
                |_| match policy.status {
                    Status::Ok => None,
                    Status::Skipped => Some(Outcome::Skipped(reason.clone())),
                    Status::Error => Some(Outcome::Error(reason.clone())),
                },
            )
        };
        suites.push(Suite {
            name: policy.name.clone(),
            time: policy.duration_ms / 1e3,
            properties,
            cases,
        });
    }
    if let Some(file) = &report.waivers {
        let findings: Vec<&ReportFinding> = report
            .findings
            .iter()
            .filter(|finding| finding.policy == waivers::PREFLIGHT)
            .collect();
        suites.push(Suite {
            name: waivers::PREFLIGHT.to_owned(),
            time: 0.0,
            properties: vec![("sha256", file.sha256.clone())],
            cases: cases(
                report,
                waivers::PREFLIGHT,
                waivers::preflight_rules(),
                &[(waivers::DOCUMENT, file.path.as_str())],
                &findings,
                |_| None,
            ),
        });
    }

    let total = |count: fn(&Suite) -> usize| suites.iter().map(count).sum::<usize>();
    let tests = total(|suite| suite.cases.len());
    let failures = total(|suite| suite.count(|o| matches!(o, Outcome::Failed { .. })));
    let errors = total(|suite| suite.count(|o| matches!(o, Outcome::Error(_))));
    let skipped = total(|suite| suite.count(|o| matches!(o, Outcome::Skipped(_))));
    let time: f64 = suites.iter().map(|suite| suite.time).sum();

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"{skipped}\" time=\"{time:.3}\" timestamp=\"{}\">",
        attr(&format!("{} {}", report.tool.name, report.tool.version)),
        attr(&report.started_at),
    );
    for suite in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" \
             time=\"{:.3}\" timestamp=\"{}\">",
            attr(&suite.name),
            suite.cases.len(),
            suite.count(|o| matches!(o, Outcome::Failed { .. })),
            suite.count(|o| matches!(o, Outcome::Error(_))),
            suite.count(|o| matches!(o, Outcome::Skipped(_))),
            suite.time,
            attr(&report.started_at),
        );
        out.push_str("    <properties>\n");
        for (name, value) in &suite.properties {
            let _ = writeln!(
                out,
                "      <property name=\"{name}\" value=\"{}\"/>",
                attr(value)
            );
        }
        out.push_str("    </properties>\n");
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                attr(&case.classname),
                attr(&case.name)
            );
            let body = match &case.outcome {
                Outcome::Passed => String::new(),
                Outcome::Failed {
                    message,
                    severity,
                    text: details,
                } => format!(
                    "      <failure message=\"{}\" type=\"{severity}\">{}</failure>\n",
                    attr(message),
                    text(details)
                ),
                Outcome::Skipped(reason) => {
                    format!("      <skipped message=\"{}\"/>\n", attr(reason))
                }
                Outcome::Error(reason) => format!(
                    "      <error message=\"{}\" type=\"policy-error\"/>\n",
                    attr(reason)
                ),
            };
            let notes = if case.notes.is_empty() {
                String::new()
            } else {
                format!(
                    "      <system-out>{}</system-out>\n",
                    text(&case.notes.join("\n"))
                )
            };
            if body.is_empty() && notes.is_empty() {
                out.push_str("/>\n");
            } else {
                let _ = write!(out, ">\n{body}{notes}    </testcase>\n");
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

impl Suite {
    fn count(&self, pick: fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|case| pick(&case.outcome)).count()
    }
}

/// One case per rule and input (one per rule when the policy read none of the inputs).
fn cases(
    report: &Report,
    policy: &str,
    rules: &[RuleInfo],
    inputs: &[(&str, &str)],
    findings: &[&ReportFinding],
    not_run: impl Fn(&RuleInfo) -> Option<Outcome>,
) -> Vec<Case> {
    let threshold = report.summary.fail_on.threshold();
    let inputs: Vec<Option<(&str, &str)>> = if inputs.is_empty() {
        vec![None]
    } else {
        inputs.iter().copied().map(Some).collect()
    };
    let mut cases = Vec::new();
    for rule in rules {
        for input in &inputs {
            let name = match input {
                Some((_, path)) => format!("{} {} [{path}]", rule.id, rule.title),
                None => format!("{} {}", rule.id, rule.title),
            };
            let mine: Vec<&ReportFinding> = findings
                .iter()
                .copied()
                .filter(|finding| {
                    finding.rule_id == rule.id
                        && input.is_none_or(|(document, _)| finding.document == document)
                })
                .collect();
            let fails = |finding: &ReportFinding| {
                finding.waiver.is_none() && threshold.is_some_and(|t| finding.severity >= t)
            };
            let failing: Vec<&ReportFinding> = mine
                .iter()
                .copied()
                .filter(|finding| fails(finding))
                .collect();
            let notes: Vec<String> = mine
                .iter()
                .copied()
                .filter(|finding| !fails(finding))
                .map(describe)
                .collect();
            let outcome = if let Some(outcome) = not_run(rule) {
                outcome
            } else if failing.is_empty() {
                Outcome::Passed
            } else {
                let severity = failing
                    .iter()
                    .map(|finding| finding.severity)
                    .max()
                    .unwrap_or(Severity::Error);
                let message = match failing.as_slice() {
                    [one] => one.message.clone(),
                    many => format!("{} findings", many.len()),
                };
                let details: Vec<String> = failing.iter().copied().map(describe).collect();
                Outcome::Failed {
                    message,
                    severity,
                    text: details.join("\n"),
                }
            };
            cases.push(Case {
                classname: policy.to_owned(),
                name,
                outcome,
                notes,
            });
        }
    }
    cases
}

/// A finding in a few lines, as the text output shows it.
fn describe(finding: &ReportFinding) -> String {
    let mut out = format!(
        "{}[{}]: {}\n  --> {}",
        finding.severity,
        finding.rule_id,
        finding.message,
        finding.place()
    );
    if !finding.pointer.is_empty() {
        let _ = write!(out, "#{}", finding.pointer);
    }
    if let Some(fix) = &finding.remediation {
        let _ = write!(out, "\n   = fix: {fix}");
    }
    if let Some(waiver) = &finding.waiver {
        let _ = write!(
            out,
            "\n   = waived until {} by {}: {}",
            waiver.expires, waiver.owner, waiver.reason
        );
    }
    out
}

/// Characters XML 1.0 allows; the others are replaced.
fn allowed(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => c,
        _ => '\u{FFFD}',
    }
}

/// Text content, escaped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().map(allowed) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push(c),
        }
    }
    out
}

/// An attribute value (in double quotes), escaped; line breaks kept as references.
fn attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().map(allowed) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{attr, text};

    #[test]
    fn xml_is_escaped() {
        assert_eq!(
            attr("a \"b\" <c> & 'd'\nnext\u{1}"),
            "a &quot;b&quot; &lt;c&gt; &amp; &apos;d&apos;&#10;next\u{FFFD}"
        );
        assert_eq!(text("<x> & ]]>"), "&lt;x&gt; &amp; ]]&gt;");
    }
}
