//! The environment snapshot schema (`schemas/environment.schema.json`): an `--env`
//! document is checked against it once, before any policy runs, so a misspelt member
//! or an unknown map state is a usage error naming the file and the JSON pointer, not
//! a finding that quietly goes missing.

use super::Input;
use crate::engine::tape;
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The schema text, as published in `schemas/`.
pub const ENVIRONMENT_SCHEMA: &str = include_str!("../../../schemas/environment.schema.json");

/// The snapshot schema version this host reads (`schemaVersion`).
pub const ENVIRONMENT_SCHEMA_VERSION: &str = "1.0";

/// How many violations an error lists; the rest are counted.
const MAX_LISTED: usize = 10;

/// One place where a document does not match its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the document (`""` is the whole document).
    pub pointer: String,
    /// What is wrong there and what was expected.
    pub message: String,
}

/// An environment snapshot that does not match the schema. Names the file and every
/// place (up to [`MAX_LISTED`], then a count).
#[derive(Debug)]
pub struct SchemaError {
    pub path: PathBuf,
    pub violations: Vec<Violation>,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.path.display();
        match self.violations.as_slice() {
            [] => write!(f, "`{file}` does not match the environment snapshot schema"),
            [only] => write!(
                f,
                "`{file}` does not match the environment snapshot schema at `{}`: {}",
                only.pointer, only.message
            ),
            all => {
                write!(
                    f,
                    "`{file}` does not match the environment snapshot schema in {} places:",
                    all.len()
                )?;
                for violation in all.iter().take(MAX_LISTED) {
                    write!(f, "\n  - at `{}`: {}", violation.pointer, violation.message)?;
                }
                if all.len() > MAX_LISTED {
                    write!(f, "\n  - and {} more", all.len() - MAX_LISTED)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SchemaError {}

struct Compiled {
    schema: Value,
    validator: jsonschema::Validator,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let schema: Value = serde_json::from_str(ENVIRONMENT_SCHEMA)
            .expect("schemas/environment.schema.json is JSON");
        let validator = jsonschema::draft202012::new(&schema)
            .expect("schemas/environment.schema.json is a valid draft 2020-12 schema");
        Compiled { schema, validator }
    })
}

/// The schema as a JSON value.
pub fn environment_schema() -> &'static Value {
    &compiled().schema
}

/// Every place where `value` does not match the environment snapshot schema, in
/// document order; empty when it matches.
pub fn environment_violations(value: &Value) -> Vec<Violation> {
    let compiled = compiled();
    let mut violations: Vec<Violation> = Vec::new();
    for error in compiled.validator.iter_errors(value) {
        for violation in describe(&compiled.schema, &error) {
            if !violations.contains(&violation) {
                violations.push(violation);
            }
        }
    }
    // Stable, readable order: by place in the document (array indexes numerically).
    violations.sort_by_key(|violation| pointer_key(&violation.pointer));
    violations
}

/// Whether `value` matches the environment snapshot schema: the fast path, with no
/// error collected (an audit of thousands of snapshots asks this first).
pub fn is_valid_environment(value: &Value) -> bool {
    compiled().validator.is_valid(value)
}

/// [`is_valid_environment`] for a document held as a tape (an audit parses JSON
/// snapshots straight into one): the same validator over another representation.
///
/// Each thread compiles its own, once: the regex engine keeps a scratch cache per
/// pattern that only its first thread reaches without a lock, so a validator shared
/// by an audit's workers made every other thread take one for each of the ≈ 70
/// patterned strings of a snapshot.
pub fn is_valid_environment_tape(bytes: &[u8]) -> bool {
    thread_local! {
        static TAPE: jsonschema::Validator<tape::TapeJson> =
            jsonschema::options_for::<tape::TapeJson>()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(environment_schema())
                .expect("schemas/environment.schema.json is a valid draft 2020-12 schema");
    }
    TAPE.with(|validator| validator.is_valid(tape::TapeNode::root(tape::Reader::new(bytes))))
}

/// Checks an `--env` document. The error lists every violation (up to ten).
pub fn check_environment(input: &Input) -> Result<(), SchemaError> {
    let violations = environment_violations(&input.value);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(SchemaError {
            path: input.path.clone(),
            violations,
        })
    }
}

/// Sort key of a JSON pointer: its segments, numbers compared as numbers.
fn pointer_key(pointer: &str) -> Vec<(u8, u64, String)> {
    pointer
        .split('/')
        .skip(1)
        .map(|segment| match segment.parse::<u64>() {
            Ok(index) => (0, index, String::new()),
            Err(_) => (1, 0, segment.to_owned()),
        })
        .collect()
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A JSON value for a message, shortened when long.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let short: String = text.chars().take(57).collect();
        format!("{short}...")
    } else {
        text
    }
}

/// The schema object that holds the failing keyword (`schema_path` without its last
/// segment), to read its `properties`, `enum` and `description`.
fn keyword_parent<'s>(
    schema: &'s Value,
    error: &jsonschema::ValidationError<'_>,
) -> Option<&'s Value> {
    let path = error.schema_path().as_str();
    let parent = &path[..path.rfind('/')?];
    schema.pointer(parent)
}

/// Turns one validation error into one or more violations with plain messages.
fn describe(schema: &Value, error: &jsonschema::ValidationError<'_>) -> Vec<Violation> {
    use jsonschema::error::ValidationErrorKind as Kind;
    let pointer = error.instance_path().as_str().to_owned();
    let instance = error.instance();
    let one = |message: String| {
        vec![Violation {
            pointer: pointer.clone(),
            message,
        }]
    };
    match error.kind() {
        Kind::AdditionalProperties { unexpected } => {
            let known: Vec<&str> = keyword_parent(schema, error)
                .and_then(|parent| parent.get("properties"))
                .and_then(Value::as_object)
                .map(|properties| properties.keys().map(String::as_str).collect())
                .unwrap_or_default();
            unexpected
                .iter()
                .map(|key| {
                    let mut message = format!("`{key}` is not a member the schema knows here");
                    match closest(key, &known) {
                        Some(candidate) => {
                            message.push_str(&format!(": did you mean `{candidate}`?"))
                        }
                        None if !known.is_empty() => message.push_str(&format!(
                            " (known: {})",
                            known
                                .iter()
                                .map(|name| format!("`{name}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                        None => {}
                    }
                    Violation {
                        pointer: format!("{pointer}/{}", escape(key)),
                        message,
                    }
                })
                .collect()
        }
        Kind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            one(format!("the required member `{name}` is missing"))
        }
        Kind::Enum { options } => {
            let options: Vec<&Value> = options
                .as_array()
                .map(|o| o.iter().collect())
                .unwrap_or_default();
            let listed: Vec<String> = options.iter().map(|option| option.to_string()).collect();
            let mut message = format!("{} is not one of {}", shown(instance), listed.join(", "));
            if let Some(suggestion) = instance
                .as_str()
                .and_then(|text| suggest_enum(text, &options))
            {
                message.push_str(&format!(": did you mean \"{suggestion}\"?"));
            }
            one(message)
        }
        Kind::Constant { expected_value } => one(format!(
            "expected {expected_value}, found {}",
            shown(instance)
        )),
        Kind::Pattern { .. } => {
            let expected = keyword_parent(schema, error)
                .and_then(|parent| parent.get("description"))
                .and_then(Value::as_str)
                .map(|description| lower_first(description.trim_end_matches('.')));
            match expected {
                Some(expected) => one(format!("{} is not {expected}", shown(instance))),
                None => one(format!(
                    "{} does not have the expected form",
                    shown(instance)
                )),
            }
        }
        _ => one(lower_first(&error.to_string())),
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An enum option that differs from `text` only in case, spaces or punctuation, or
/// the name dual-write gives a state in some screens (`Stopped` is `Not running`).
fn suggest_enum(text: &str, options: &[&Value]) -> Option<String> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let strings: Vec<&str> = options
        .iter()
        .filter_map(|option| option.as_str())
        .collect();
    if let Some(found) = strings.iter().find(|option| squash(option) == squash(text)) {
        return Some((*found).to_owned());
    }
    let alias = match squash(text).as_str() {
        "stopped" | "notstarted" => "Not running",
        "active" | "started" => "Running",
        _ => return None,
    };
    strings.contains(&alias).then(|| alias.to_owned())
}

/// The known name closest to `key` when it is plausibly a typo of it.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = key.to_lowercase();
    known
        .iter()
        .map(|candidate| (levenshtein(&lower, &candidate.to_lowercase()), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 4).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ready() -> Value {
        let text = include_str!("../../../examples/contoso-ready/environment.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_schema_is_versioned_and_documents_every_member() {
        let schema = environment_schema();
        assert_eq!(
            schema["properties"]["schemaVersion"]["const"],
            ENVIRONMENT_SCHEMA_VERSION
        );
        // Every property of every object has a description (directly or on its `$ref`).
        fn walk(node: &Value, at: &str, schema: &Value, missing: &mut Vec<String>) {
            if let Some(properties) = node.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    let described = property.get("description").is_some()
                        || property
                            .get("$ref")
                            .and_then(Value::as_str)
                            .and_then(|target| schema.pointer(target.trim_start_matches('#')))
                            .is_some_and(|target| target.get("description").is_some());
                    if !described {
                        missing.push(format!("{at}/properties/{name}"));
                    }
                    walk(
                        property,
                        &format!("{at}/properties/{name}"),
                        schema,
                        missing,
                    );
                }
            }
            if let Some(defs) = node.get("$defs").and_then(Value::as_object) {
                for (name, def) in defs {
                    walk(def, &format!("{at}/$defs/{name}"), schema, missing);
                }
            }
            if let Some(items) = node.get("items") {
                walk(items, &format!("{at}/items"), schema, missing);
            }
        }
        let mut missing = Vec::new();
        walk(schema, "", schema, &mut missing);
        assert!(
            missing.is_empty(),
            "members without a description: {missing:?}"
        );
    }

    #[test]
    fn the_ready_example_matches() {
        assert_eq!(environment_violations(&ready()), []);
    }

    #[test]
    fn an_unknown_map_state_names_the_pointer_and_the_states() {
        let mut env = ready();
        env["dualWrite"]["maps"][3]["state"] = json!("Stopped");
        let violations = environment_violations(&env);
        assert_eq!(
            violations,
            [Violation {
                pointer: "/dualWrite/maps/3/state".into(),
                message:
                    "\"Stopped\" is not one of \"Not running\", \"Initializing\", \"Running\", \
                          \"Paused\", \"Resuming\": did you mean \"Not running\"?"
                        .into(),
            }]
        );
        let error = SchemaError {
            path: "env.json".into(),
            violations,
        };
        assert_eq!(
            error.to_string(),
            "`env.json` does not match the environment snapshot schema at `/dualWrite/maps/3/state`: \
             \"Stopped\" is not one of \"Not running\", \"Initializing\", \"Running\", \"Paused\", \
             \"Resuming\": did you mean \"Not running\"?"
        );
    }

    #[test]
    fn every_violation_is_reported_in_document_order() {
        let mut env = ready();
        env["solutions"][12]["version"] = json!("latest");
        env["environment"]["type"] = json!("production");
        env["environment"]
            .as_object_mut()
            .unwrap()
            .remove("tenantId");
        let apps = env["environment"]
            .as_object_mut()
            .unwrap()
            .remove("dynamics365AppsEnabled");
        env["environment"]["dynamics365AppEnabled"] = apps.unwrap();
        env["licensing"]["powerPages"]["authenticatedUsersPerMonth"] = json!(-5);
        env["schemaVersion"] = json!("2.0");
        let violations = environment_violations(&env);
        let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/environment",
                "/environment",
                "/environment/dynamics365AppEnabled",
                "/environment/type",
                "/licensing/powerPages/authenticatedUsersPerMonth",
                "/schemaVersion",
                "/solutions/12/version",
            ],
            "{violations:#?}"
        );
        let messages: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
        assert!(
            messages.contains(&"the required member `tenantId` is missing"),
            "{messages:?}"
        );
        assert!(
            messages.contains(
                &"`dynamics365AppEnabled` is not a member the schema knows here: did you mean \
                  `dynamics365AppsEnabled`?"
            ),
            "{messages:?}"
        );
        assert!(
            messages.contains(&"expected \"1.0\", found \"2.0\""),
            "{messages:?}"
        );
        assert!(
            messages.contains(
                &"\"latest\" is not a version of two to four dot-separated numbers, e.g. `1.0.24062.1`"
            ),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("\"production\" is not one of")
                    && m.ends_with("did you mean \"Production\"?")),
            "{messages:?}"
        );
    }

    #[test]
    fn a_long_list_is_cut_after_ten() {
        let mut env = ready();
        for map in env["dualWrite"]["maps"].as_array_mut().unwrap() {
            map["state"] = json!("Stopped");
        }
        let error = SchemaError {
            path: "env.json".into(),
            violations: environment_violations(&env),
        };
        let text = error.to_string();
        assert!(
            text.starts_with("`env.json` does not match the environment snapshot schema in 13 places:\n  - at `/dualWrite/maps/0/state`: "),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1 + 10 + 1, "{text}");
        assert!(text.ends_with("\n  - and 3 more"), "{text}");
    }
}
