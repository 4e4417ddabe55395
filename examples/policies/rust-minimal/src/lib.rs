//! A minimal preflight policy: the environment's display name ends with one of the
//! stage suffixes of the naming convention, e.g. `Contoso Sales (UAT)`.

use preflight_sdk::prelude::*;

const NAMING: Rule = Rule {
    id: "EX001",
    title: "Environment display name follows the naming convention",
    severity: Severity::Warning,
    help: "The environment's display name ends with one of the stage suffixes of the naming \
           convention (by default `(Production)`, `(UAT)`, `(Test)` or `(Dev)`), so that \
           nobody deploys to the wrong environment by mistake. Rename the environment in the \
           Power Platform admin center, or set the `suffixes` your organization uses.",
    help_url: Some("https://learn.microsoft.com/power-platform/admin/edit-properties-environment"),
};

const SETTINGS_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "suffixes": {
      "description": "The display name must end with one of these.",
      "type": "array",
      "items": { "type": "string", "minLength": 1 },
      "minItems": 1
    }
  }
}"#;

#[derive(serde::Deserialize)]
struct Settings {
    #[serde(default = "default_suffixes")]
    suffixes: Vec<String>,
}

fn default_suffixes() -> Vec<String> {
    ["(Production)", "(UAT)", "(Test)", "(Dev)"]
        .map(String::from)
        .to_vec()
}

struct NamingConvention;

impl Policy for NamingConvention {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "example-naming",
        version: env!("CARGO_PKG_VERSION"),
        description: "The environment's display name follows the naming convention.",
        rules: &[NAMING],
        documents: &[Need::required("environment")],
        settings_schema: Some(SETTINGS_SCHEMA),
    };

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let env = input.document("environment")?;
        let node = env.at("/environment/displayName");
        let name = node.str().unwrap_or_default();
        if settings
            .suffixes
            .iter()
            .any(|suffix| name.ends_with(suffix))
        {
            return Ok(Vec::new());
        }
        let expected: Vec<String> = settings.suffixes.iter().map(|s| format!("`{s}`")).collect();
        let message = match name.as_str() {
            "" => "the environment has no display name".to_owned(),
            name => format!(
                "the environment name `{name}` does not end with {}",
                expected.join(" or ")
            ),
        };
        let fix = "rename the environment in the Power Platform admin center, or change `suffixes`";
        Ok(vec![node.finding(&NAMING, message).remediation(fix)])
    }
}

preflight_sdk::export_policy!(NamingConvention);
