//! The report as SARIF 2.1.0 (one run), for code scanning and review tools.
//!
//! Every rule of the loaded policies (and preflight's own) is a `reportingDescriptor`,
//! so a tool shows the rule's help next to each result; each input file is an
//! artifact with its sha256; a waived finding is a result with an accepted external
//! suppression; a policy that did not run is a tool execution notification.

use super::{Gate, Report, ReportFinding, waivers};
use crate::model::{RuleInfo, Severity, Status};
use serde_json::{Map, Value, json};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// Renders the report as SARIF (pretty JSON, ending with a newline).
pub fn render(report: &Report) -> String {
    let rules = report.rules();
    let descriptors: Vec<Value> = rules
        .iter()
        .map(|(policy, rule)| descriptor(policy, rule))
        .collect();

    let artifacts: Vec<Value> = report
        .inputs
        .iter()
        .map(|input| {
            json!({
                "location": { "uri": uri(&input.path) },
                "roles": ["analysisTarget"],
                "hashes": { "sha-256": input.sha256 },
                "properties": { "document": input.document },
            })
        })
        .chain(report.waivers.iter().map(|file| {
            json!({
                "location": { "uri": uri(&file.path) },
                "roles": ["attachment"],
                "hashes": { "sha-256": file.sha256 },
                "properties": { "document": waivers::DOCUMENT },
            })
        }))
        .collect();
    let artifact_index = |path: &str| {
        report
            .inputs
            .iter()
            .map(|input| input.path.as_str())
            .chain(report.waivers.iter().map(|file| file.path.as_str()))
            .position(|known| known == path)
    };

    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| result(finding, &rules, &artifact_index))
        .collect();

    let mut notifications = Vec::new();
    for policy in &report.policies {
        let (level, what) = match policy.status {
            Status::Ok => continue,
            Status::Skipped => ("note", "skipped"),
            Status::Error => ("error", "policy error"),
        };
        notifications.push(json!({
            "level": level,
            "message": {
                "text": format!(
                    "{what}: `{}` {}",
                    policy.name,
                    policy.reason.as_deref().unwrap_or("")
                ).trim_end().to_owned(),
            },
            "properties": { "policy": policy.name, "status": policy.status },
        }));
    }
    let mut invocation = json!({
        "executionSuccessful": report.summary.gate != Gate::Incomplete,
        "startTimeUtc": report.started_at,
        "endTimeUtc": report.ended_at,
        "exitCode": report.summary.exit_code,
    });
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }

    let sarif = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": report.tool.name,
                    "version": report.tool.version,
                    "semanticVersion": report.tool.version,
                    "informationUri": report.tool.information_uri,
                    "rules": descriptors,
                }
            },
            "invocations": [invocation],
            "artifacts": artifacts,
            "results": results,
            "columnKind": "unicodeCodePoints",
            "properties": evidence(report),
        }]
    });
    let mut text = serde_json::to_string_pretty(&sarif).expect("SARIF serializes");
    text.push('\n');
    text
}

fn descriptor(policy: &str, rule: &RuleInfo) -> Value {
    let mut descriptor = json!({
        "id": rule.id,
        "name": pascal_case(&rule.title),
        "shortDescription": { "text": rule.title },
        "fullDescription": { "text": plain_text(&first_paragraph(&rule.help)) },
        "help": { "text": plain_text(&rule.help), "markdown": rule.help },
        "defaultConfiguration": { "level": level(rule.default_severity) },
        "properties": { "policy": policy },
    });
    if let Some(url) = &rule.help_url {
        descriptor["helpUri"] = json!(url);
    }
    descriptor
}

fn result(
    finding: &ReportFinding,
    rules: &[(&str, &RuleInfo)],
    artifact_index: &dyn Fn(&str) -> Option<usize>,
) -> Value {
    let mut result = json!({
        "ruleId": finding.rule_id,
        "level": level(finding.severity),
        "message": { "text": finding.message },
    });
    if let Some(index) = rules
        .iter()
        .position(|(policy, rule)| *policy == finding.policy && rule.id == finding.rule_id)
    {
        result["ruleIndex"] = json!(index);
    }
    if let Some(file) = &finding.file {
        let mut artifact = json!({ "uri": uri(file) });
        if let Some(index) = artifact_index(file) {
            artifact["index"] = json!(index);
        }
        let mut physical = json!({ "artifactLocation": artifact });
        if let Some(line) = finding.line {
            physical["region"] = json!({ "startLine": line });
        }
        let mut location = json!({ "physicalLocation": physical });
        if !finding.pointer.is_empty() {
            location["logicalLocations"] = json!([{
                "fullyQualifiedName": format!("{}#{}", finding.document, finding.pointer),
                "kind": "object",
            }]);
        }
        result["locations"] = json!([location]);
    }
    // The same finding at the same place gets the same fingerprint from run to run.
    result["partialFingerprints"] = json!({
        "preflight/v1": format!(
            "{}:{}:{}:{}",
            finding.policy, finding.rule_id, finding.document, finding.pointer
        ),
    });
    let mut properties = Map::new();
    properties.insert("policy".into(), json!(finding.policy));
    properties.insert("document".into(), json!(finding.document));
    properties.insert("pointer".into(), json!(finding.pointer));
    if let Some(remediation) = &finding.remediation {
        properties.insert("remediation".into(), json!(remediation));
    }
    result["properties"] = Value::Object(properties);
    if let Some(waiver) = &finding.waiver {
        result["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": waiver.reason,
            "properties": {
                "owner": waiver.owner,
                "expires": waiver.expires,
                "entry": waiver.entry,
            },
        }]);
    }
    result
}

/// The evidence of the check, as the run's property bag.
fn evidence(report: &Report) -> Value {
    json!({
        "toolVersion": report.tool.version,
        "startedAt": report.started_at,
        "endedAt": report.ended_at,
        "inputs": report.inputs,
        "settings": report.settings,
        "waivers": report.waivers,
        "policies": report.policies.iter().map(|policy| json!({
            "name": policy.name,
            "version": policy.version,
            "source": policy.source,
            "sha256": policy.sha256,
            "status": policy.status,
            "reason": policy.reason,
        })).collect::<Vec<Value>>(),
        "failOn": report.summary.fail_on,
        "gate": report.summary.gate,
        "exitCode": report.summary.exit_code,
    })
}

/// A path as a relative URI reference: `/` separators, reserved bytes escaped.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    let mut out = String::new();
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=@".contains(&byte) {
            out.push(byte as char);
        } else if byte == b':' && !out.contains('/') && out.len() == 1 {
            // A Windows drive letter (`C:`) stays as it is.
            out.push(':');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if path.starts_with('/') {
        format!("file://{out}")
    } else if out.len() >= 2 && out.as_bytes()[1] == b':' {
        format!("file:///{out}")
    } else {
        out
    }
}

/// `Required dual-write table maps are running` -> `RequiredDualWriteTableMapsAreRunning`.
fn pascal_case(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Markdown as plain text: heading marks, code spans, emphasis and link syntax removed.
fn plain_text(markdown: &str) -> String {
    let unheaded: Vec<&str> = markdown
        .split('\n')
        .map(|line| {
            let text = line.trim_start_matches('#');
            if text.len() < line.len() && text.starts_with(' ') {
                text.trim_start()
            } else {
                line
            }
        })
        .collect();
    let markdown = unheaded.join("\n");
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown.as_str();
    while let Some(open) = rest.find('[') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        // `[text](url)` -> `text (url)`
        let link = after.find("](").and_then(|middle| {
            let close = after[middle..].find(')')? + middle;
            Some((middle, close))
        });
        match link {
            Some((middle, close)) if !after[1..middle].contains('[') => {
                out.push_str(&after[1..middle]);
                out.push_str(" (");
                out.push_str(&after[middle + 2..close]);
                out.push(')');
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out.replace("**", "").replace('`', "")
}

/// The first paragraph that is not a heading (`What it checks`, in the rule docs).
fn first_paragraph(markdown: &str) -> String {
    markdown
        .split("\n\n")
        .map(str::trim)
        .find(|paragraph| !paragraph.is_empty() && !paragraph.starts_with('#'))
        .unwrap_or(markdown)
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(
            uri("examples/contoso-not-ready/environment.json"),
            "examples/contoso-not-ready/environment.json"
        );
        assert_eq!(uri("./my env/a#b.yaml"), "my%20env/a%23b.yaml");
        assert_eq!(uri("/tmp/x.json"), "file:///tmp/x.json");
        assert_eq!(
            uri(r"C:\snapshots\env.json"),
            "file:///C:/snapshots/env.json"
        );
    }

    #[test]
    fn markdown_becomes_plain_text() {
        assert_eq!(
            plain_text("Run **every** `map`; see [the docs](https://x.test/a)."),
            "Run every map; see the docs (https://x.test/a)."
        );
        assert_eq!(plain_text("a [b] c"), "a [b] c");
        assert_eq!(
            plain_text("## What it checks\n\n#1 text"),
            "What it checks\n\n#1 text"
        );
        assert_eq!(
            first_paragraph("## What it checks\n\nA **map**\nthat runs.\n\n## Why"),
            "A **map** that runs."
        );
        assert_eq!(
            pascal_case("Required dual-write maps"),
            "RequiredDualWriteMaps"
        );
    }
}
