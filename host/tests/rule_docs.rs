//! `docs/rules/` is generated from what the built-in policies say about themselves
//! (`info`: rules, titles, severities, help, help URLs, settings schemas). This test
//! regenerates it in memory and fails when the files on disk differ; run
//!
//! ```text
//! PREFLIGHT_BLESS=1 cargo test --release -p preflight --test rule_docs
//! ```
//!
//! to rewrite them. It also holds every rule's help to the house headings.

use preflight::builtin::BUILTIN_POLICIES;
use preflight::engine::{Engine, EngineOptions, Policy};
use preflight::model::{PolicySource, RuleInfo};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const BLESS: &str = "PREFLIGHT_BLESS=1 cargo test --release -p preflight --test rule_docs";
const MARKER: &str =
    "<!-- Generated from the built-in policies by host/tests/rule_docs.rs: do not edit.";
const HEADINGS: [&str; 4] = [
    "## What it checks",
    "## Why it matters",
    "## How to fix",
    "## References",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// (crate folder under `policies/`, policy), in the pack's order.
fn builtin_policies() -> Vec<(String, Policy)> {
    let engine = Engine::new(EngineOptions {
        cache_dir: None,
        ..Default::default()
    })
    .expect("starting the engine");
    BUILTIN_POLICIES
        .iter()
        .map(|(file, bytes, sha256)| {
            let policy = engine
                .load(
                    PolicySource::Builtin((*file).to_owned()),
                    bytes,
                    Some(sha256),
                )
                .unwrap_or_else(|err| panic!("the built-in policy `{file}` does not load: {err}"));
            let folder = file
                .trim_end_matches(".wasm")
                .trim_start_matches("policy_")
                .replace('_', "-");
            (folder, policy)
        })
        .collect()
}

fn header(source: &str) -> String {
    format!("{MARKER}\n     Edit {source} instead, then run `{BLESS}`. -->\n")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The settings of a policy, from its settings schema's top-level properties.
fn settings_section(folder: &str, policy: &Policy) -> String {
    let Some(schema) = &policy.info.settings_schema else {
        return String::new();
    };
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return String::new();
    };
    if properties.is_empty() {
        return String::new();
    }
    let name = &policy.info.name;
    let mut out = format!(
        "\n## Settings of `{name}`\n\nGiven in the `--settings` file under `{name}`; the policy's \
         schema is [`policies/{folder}/settings.schema.json`](../../policies/{folder}/settings.schema.json).\n\n\
         | Setting | Default | Description |\n| --- | --- | --- |\n"
    );
    let mut long_defaults = Vec::new();
    for (key, property) in properties {
        let default = match property.get("default") {
            None => "none".to_owned(),
            Some(value) => {
                let text = value.to_string();
                if text.len() <= 60 {
                    format!("`{}`", cell(&text))
                } else {
                    long_defaults.push((key, value));
                    "see below".to_owned()
                }
            }
        };
        let description = property
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        writeln!(out, "| `{key}` | {default} | {} |", cell(description)).unwrap();
    }
    for (key, value) in long_defaults {
        write!(
            out,
            "\nThe default `{key}`:\n\n```json\n{}\n```\n",
            serde_json::to_string_pretty(value).unwrap()
        )
        .unwrap();
    }
    out
}

fn rule_page(folder: &str, policy: &Policy, rule: &RuleInfo) -> String {
    let source = format!("policies/{folder}/rules/{}.md", rule.id);
    let source_shown = if repo_root().join(&source).is_file() {
        format!("[`{source}`](../../{source})")
    } else {
        format!("the help of `{}` in `policies/{folder}`", rule.id)
    };
    let documents: Vec<String> = policy
        .info
        .documents
        .iter()
        .map(|need| {
            if need.optional {
                format!("`{}` (optional)", need.name)
            } else {
                format!("`{}`", need.name)
            }
        })
        .collect();
    let mut page = header(&source);
    write!(
        page,
        "\n# {}: {}\n\n| | |\n| --- | --- |\n| Policy | `{}` |\n| Default severity | {} |\n| Reads | {} |\n",
        rule.id,
        rule.title,
        policy.info.name,
        rule.default_severity,
        documents.join(", ")
    )
    .unwrap();
    if let Some(url) = &rule.help_url {
        writeln!(page, "| Learn more | <{url}> |").unwrap();
    }
    writeln!(page, "| Source | {source_shown} |\n").unwrap();
    page.push_str(rule.help.trim());
    page.push('\n');
    page.push_str(&settings_section(folder, policy));
    page
}

fn index_page(policies: &[(String, Policy)]) -> String {
    let mut page = header("the policies' `rules/<ID>.md` and `src/lib.rs`");
    page.push_str(
        "\n# Rules\n\nEvery rule of the built-in policies (`preflight rules` lists them too). Findings \
         at or above `--fail-on` (default `error`) fail the gate.\n\n\
         | Rule | Title | Default severity | Policy |\n| --- | --- | --- | --- |\n",
    );
    let mut rules: Vec<(&RuleInfo, &Policy)> = policies
        .iter()
        .flat_map(|(_, policy)| policy.info.rules.iter().map(move |rule| (rule, policy)))
        .collect();
    rules.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    for (rule, policy) in rules {
        writeln!(
            page,
            "| [{id}]({id}.md) | {} | {} | `{}` |",
            cell(&rule.title),
            rule.default_severity,
            policy.info.name,
            id = rule.id
        )
        .unwrap();
    }
    page.push_str(
        "\n## Policies\n\n| Policy | Reads | Rules | Description |\n| --- | --- | --- | --- |\n",
    );
    for (_, policy) in policies {
        let documents: Vec<String> = policy
            .info
            .documents
            .iter()
            .map(|need| format!("`{}`", need.name))
            .collect();
        let rules: Vec<&str> = policy
            .info
            .rules
            .iter()
            .map(|rule| rule.id.as_str())
            .collect();
        writeln!(
            page,
            "| `{}` | {} | {} | {} |",
            policy.info.name,
            documents.join(", "),
            rules.join(", "),
            cell(&policy.info.description)
        )
        .unwrap();
    }
    page
}

/// File name -> content of everything `docs/rules/` should hold.
fn generate(policies: &[(String, Policy)]) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for (folder, policy) in policies {
        for rule in &policy.info.rules {
            let previous = files.insert(format!("{}.md", rule.id), rule_page(folder, policy, rule));
            assert!(
                previous.is_none(),
                "two built-in rules have the id `{}`",
                rule.id
            );
        }
    }
    files.insert("README.md".to_owned(), index_page(policies));
    files
}

#[test]
fn rule_docs_are_up_to_date() {
    let policies = builtin_policies();
    let wanted = generate(&policies);
    let dir = repo_root().join("docs").join("rules");
    // Generated files on disk (others, without the marker, are left alone).
    let mut on_disk: BTreeMap<String, String> = BTreeMap::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if let Ok(text) = std::fs::read_to_string(&path)
                && (text.starts_with(MARKER) || wanted.contains_key(&name))
            {
                on_disk.insert(name, text);
            }
        }
    }

    if std::env::var_os("PREFLIGHT_BLESS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &wanted {
            if on_disk.get(name) != Some(text) {
                std::fs::write(dir.join(name), text).unwrap();
            }
        }
        for name in on_disk.keys().filter(|name| !wanted.contains_key(*name)) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        return;
    }

    let mut stale = Vec::new();
    for (name, text) in &wanted {
        match on_disk.get(name) {
            None => stale.push(format!("docs/rules/{name} is missing")),
            Some(current) if current != text => {
                let line = current
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| current.lines().count().min(text.lines().count()))
                    + 1;
                stale.push(format!("docs/rules/{name} differs from line {line}"));
            }
            Some(_) => {}
        }
    }
    for name in on_disk.keys().filter(|name| !wanted.contains_key(*name)) {
        stale.push(format!("docs/rules/{name} is no longer generated"));
    }
    assert!(
        stale.is_empty(),
        "the rule docs are stale:\n  {}\nrun `{BLESS}` to rewrite them",
        stale.join("\n  ")
    );
}

#[test]
fn every_rule_help_has_the_house_headings_and_a_reference() {
    let mut problems = Vec::new();
    for (_, policy) in builtin_policies() {
        for rule in &policy.info.rules {
            let headings: Vec<&str> = rule
                .help
                .lines()
                .filter(|line| line.starts_with("## "))
                .map(str::trim_end)
                .collect();
            if headings != HEADINGS {
                problems.push(format!(
                    "{} ({}): headings {headings:?}, expected {HEADINGS:?}",
                    rule.id, policy.info.name
                ));
            }
            let references = rule.help.split("## References").nth(1).unwrap_or("");
            if !references.contains("](https://") {
                problems.push(format!(
                    "{} ({}): no link under `## References`",
                    rule.id, policy.info.name
                ));
            }
            if rule.help_url.is_none() {
                problems.push(format!("{} ({}): no help URL", rule.id, policy.info.name));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
