//! Hostile policies for the end-to-end tests. Exactly one Cargo feature picks the
//! variant; each has its own policy name, so several can be loaded at once.

use preflight_sdk::prelude::*;

/// The one rule every variant declares.
const RULE: Rule = Rule {
    id: "HX001",
    title: "Hostile guest finding",
    severity: Severity::Warning,
    help: "A test fixture: it misbehaves on purpose.",
    help_url: None,
};

struct Hostile;

impl Policy for Hostile {
    type Settings = NoSettings;

    const INFO: Info = Info {
        name: variant::NAME,
        version: "0.0.0",
        description: "A test fixture that misbehaves on purpose.",
        rules: &[RULE],
        documents: variant::DOCUMENTS,
        settings_schema: None,
    };

    fn evaluate(input: &Input<'_>, _: &NoSettings) -> Result<Vec<Finding>, EvaluationError> {
        variant::evaluate(input.document("environment")?)
    }
}

preflight_sdk::export_policy!(Hostile);

#[cfg(feature = "endless-loop")]
mod variant {
    use super::*;
    pub const NAME: &str = "hostile-endless-loop";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment")];

    pub fn evaluate(_: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        let mut spins = 0u64;
        loop {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
}

#[cfg(feature = "memory-bomb")]
mod variant {
    use super::*;
    pub const NAME: &str = "hostile-memory-bomb";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment")];

    pub fn evaluate(_: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
    }
}

#[cfg(feature = "panic")]
mod variant {
    use super::*;
    pub const NAME: &str = "hostile-panic";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment")];

    pub fn evaluate(_: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        panic!("the hostile guest gives up on purpose");
    }
}

#[cfg(feature = "finding-flood")]
mod variant {
    use super::*;
    pub const NAME: &str = "hostile-finding-flood";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment")];

    pub fn evaluate(env: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        Ok((0..100_000)
            .map(|i| env.root().finding(&RULE, format!("finding number {i}")))
            .collect())
    }
}

#[cfg(feature = "undeclared-rule")]
mod variant {
    use super::*;
    pub const NAME: &str = "hostile-undeclared-rule";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment")];

    /// Not listed in `INFO.rules`.
    const UNDECLARED: Rule = Rule {
        id: "ZZ999",
        ..RULE
    };

    pub fn evaluate(env: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        Ok(vec![
            env.root().finding(&UNDECLARED, "a rule nobody declared"),
        ])
    }
}

#[cfg(feature = "bad-pointer")]
mod variant {
    use super::*;
    pub const NAME: &str = "hostile-bad-pointer";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment")];

    pub fn evaluate(env: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        Ok(vec![
            RULE.finding("points nowhere valid")
                .in_document(env, "dualWrite/maps"),
        ])
    }
}

#[cfg(feature = "wasi-escape")]
mod variant {
    use super::*;
    pub const NAME: &str = "hostile-wasi-escape";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment")];

    pub fn evaluate(env: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        println!("hostile-wasi-escape: trying to read /etc/passwd");
        match std::fs::read_to_string("/etc/passwd") {
            Ok(text) => Ok(vec![env.root().finding(
                &RULE,
                format!("read /etc/passwd ({} bytes): the sandbox leaks", text.len()),
            )]),
            Err(err) => Err(EvaluationError::Failed(format!(
                "cannot read /etc/passwd: {err}"
            ))),
        }
    }
}

#[cfg(feature = "needs-site")]
mod variant {
    use super::*;
    pub const NAME: &str = "fixture-needs-site";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment"), Need::required("site")];

    pub fn evaluate(env: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        Ok(vec![
            env.root().finding(&RULE, "ran with the site document"),
        ])
    }
}

#[cfg(feature = "remembers")]
mod variant {
    use super::*;
    use std::cell::RefCell;
    pub const NAME: &str = "hostile-remembers";
    pub const DOCUMENTS: &[Need] = &[Need::required("environment")];

    thread_local! {
        static PREVIOUS: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// Reports the display name of the environment it saw in its previous call: state
    /// carried from one evaluation to the next, which `audit --isolate` rules out.
    pub fn evaluate(env: &Doc<'_>) -> Result<Vec<Finding>, EvaluationError> {
        let name = env.at("/environment/displayName").str().unwrap_or_default();
        let previous = PREVIOUS.with(|cell| cell.borrow_mut().replace(name));
        Ok(previous
            .map(|previous| vec![env.root().finding(&RULE, format!("remembers `{previous}`"))])
            .unwrap_or_default())
    }
}
