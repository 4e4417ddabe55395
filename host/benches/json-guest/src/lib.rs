//! The benchmark's policy: reads the dual-write maps of the environment snapshot
//! in the way its settings say, and reports nothing. The same component is used
//! for every mode, so the modes differ only in how the document is read.

use preflight_sdk::prelude::*;

const NOTHING: Rule = Rule {
    id: "BENCH",
    title: "Never reported",
    severity: Severity::Info,
    help: "Used only to measure the cost of reading a document.",
    help_url: None,
};

#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Read nothing: the cost of instantiating and calling the policy.
    #[default]
    None,
    /// Pointer queries (`document.get`), one per field, the way the built-in
    /// policies read.
    Queries,
    /// Only the subtree it needs (`to-json "/dualWrite/maps"`), parsed inside the
    /// sandbox with serde_json.
    Subtree,
    /// The whole document as JSON text (`to-json ""`), parsed inside the sandbox
    /// with serde_json: what every policy would do if it were handed JSON text.
    Parse,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Settings {
    #[serde(default)]
    mode: Mode,
}

const FIELDS: [&str; 3] = ["financeAndOperationsEntity", "dataverseTable", "state"];

/// The total length of the three fields of every map.
fn field_lengths(maps: &[serde_json::Value]) -> usize {
    maps.iter()
        .flat_map(|map| {
            FIELDS.map(|field| map.get(field).and_then(|v| v.as_str()).map_or(0, str::len))
        })
        .sum()
}

struct Bench;

impl Policy for Bench {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "bench-json-guest",
        version: "0.0.0",
        description: "Measures the cost of reading a document (benchmark only).",
        rules: &[NOTHING],
        documents: &[Need::required("environment")],
        settings_schema: None,
    };

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let env = input.document("environment")?;
        // The total length of the fields read, so no read is optimised away.
        let total: usize = match settings.mode {
            Mode::None => 0,
            Mode::Queries => env
                .at("/dualWrite/maps")
                .items()
                .flat_map(|map| FIELDS.map(|field| map.get(field).str().map_or(0, |s| s.len())))
                .sum(),
            Mode::Subtree => {
                let maps: Vec<serde_json::Value> =
                    env.at("/dualWrite/maps").deserialize()?.unwrap_or_default();
                field_lengths(&maps)
            }
            Mode::Parse => {
                let root: serde_json::Value = env.root().deserialize()?.unwrap_or_default();
                match root.pointer("/dualWrite/maps") {
                    Some(serde_json::Value::Array(maps)) => field_lengths(maps),
                    _ => 0,
                }
            }
        };
        std::hint::black_box(total);
        Ok(Vec::new())
    }
}

preflight_sdk::export_policy!(Bench);
