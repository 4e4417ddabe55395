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
    /// Pointer queries (`document.get`), the way the built-in policies read.
    Queries,
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
        // The total length of the three fields of every map, so no read is optimised away.
        let total: usize = match settings.mode {
            Mode::None => 0,
            Mode::Queries => env
                .at("/dualWrite/maps")
                .items()
                .flat_map(|map| FIELDS.map(|field| map.get(field).str().map_or(0, |s| s.len())))
                .sum(),
            Mode::Parse => {
                let root: serde_json::Value = env.root().deserialize()?.unwrap_or_default();
                root.pointer("/dualWrite/maps")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|map| {
                        FIELDS.map(|field| {
                            map.get(field).and_then(|v| v.as_str()).map_or(0, str::len)
                        })
                    })
                    .sum()
            }
        };
        std::hint::black_box(total);
        Ok(Vec::new())
    }
}

preflight_sdk::export_policy!(Bench);
