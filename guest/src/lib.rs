//! The preflight policy SDK: write a policy as one short Rust file.
//!
//! ```ignore
//! use preflight_sdk::prelude::*;
//!
//! const MAPS_RUNNING: Rule = Rule {
//!     id: "CP004",
//!     title: "Required dual-write maps are running",
//!     severity: Severity::Error,
//!     help: "…",
//!     help_url: None,
//! };
//!
//! struct Maps;
//!
//! impl Policy for Maps {
//!     type Settings = NoSettings;
//!     const INFO: Info = Info {
//!         name: "my-maps",
//!         version: env!("CARGO_PKG_VERSION"),
//!         description: "Checks dual-write maps",
//!         rules: &[MAPS_RUNNING],
//!         documents: &[Need::required("environment")],
//!         settings_schema: None,
//!     };
//!
//!     fn evaluate(input: &Input, _: &NoSettings) -> Result<Vec<Finding>, EvaluationError> {
//!         let env = input.document("environment")?;
//!         let mut findings = Vec::new();
//!         for map in env.at("/dualWrite/maps").items() {
//!             if map.get("state").str().as_deref() != Some("Running") {
//!                 findings.push(MAPS_RUNNING.finding(format!("map is not running")).at(&map));
//!             }
//!         }
//!         Ok(findings)
//!     }
//! }
//!
//! preflight_sdk::export_policy!(Maps);
//! ```
//!
//! Build it with `preflight policy build` (or `cargo build --target wasm32-unknown-unknown`
//! and `wit-component`): the result is a component with no WASI imports.

use serde::de::DeserializeOwned;
use std::fmt;

/// The generated bindings of the `preflight:policy/policy` world.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "preflight:policy/policy",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "preflight_sdk::bindings",
    });
}

use bindings::preflight::policy::documents::Document;
use bindings::preflight::policy::log as host_log;
use bindings::preflight::policy::types as wit;

pub use wit::{EvaluationError, Severity, Value};

/// Everything a policy file usually needs.
pub mod prelude {
    pub use crate::{
        Doc, EvaluationError, Finding, Info, Input, Need, NoSettings, Node, Policy, Rule, Severity,
        Value, log,
    };
}

/// A rule the policy can report. Declare rules as `const`s and list them in [`Info`].
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Stable identifier, e.g. `CP004`.
    pub id: &'static str,
    /// One line.
    pub title: &'static str,
    /// The default severity of its findings.
    pub severity: Severity,
    /// Markdown help: what it checks, why it matters, how to fix, references.
    pub help: &'static str,
    /// Where to read more.
    pub help_url: Option<&'static str>,
}

impl Rule {
    /// Starts a finding of this rule, with the rule's default severity.
    pub fn finding(&self, message: impl Into<String>) -> Finding {
        Finding {
            rule_id: self.id,
            severity: self.severity,
            message: message.into(),
            document: String::new(),
            pointer: String::new(),
            remediation: None,
        }
    }
}

/// A document the policy reads.
#[derive(Clone, Copy, Debug)]
pub struct Need {
    pub name: &'static str,
    pub optional: bool,
}

impl Need {
    /// Without it, the host skips the policy and says why.
    pub const fn required(name: &'static str) -> Need {
        Need {
            name,
            optional: false,
        }
    }

    /// The policy runs without it.
    pub const fn optional(name: &'static str) -> Need {
        Need {
            name,
            optional: true,
        }
    }
}

/// What a policy says about itself.
#[derive(Clone, Copy, Debug)]
pub struct Info {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub rules: &'static [Rule],
    pub documents: &'static [Need],
    /// A JSON Schema (draft 2020-12) for the settings, as JSON text.
    pub settings_schema: Option<&'static str>,
}

/// Settings of a policy that takes none (any JSON object is accepted).
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
pub struct NoSettings {}

/// A finding under construction. Set where it points with [`Finding::at`].
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub rule_id: &'static str,
    pub severity: Severity,
    pub message: String,
    pub document: String,
    pub pointer: String,
    pub remediation: Option<String>,
}

impl Finding {
    /// Points the finding at a place in a document.
    pub fn at(mut self, node: &Node<'_>) -> Finding {
        self.document = node.doc.name.clone();
        self.pointer = node.pointer.clone();
        self
    }

    /// Points the finding at a document as a whole, or at a pointer in it.
    pub fn in_document(mut self, doc: &Doc<'_>, pointer: impl Into<String>) -> Finding {
        self.document = doc.name.clone();
        self.pointer = pointer.into();
        self
    }

    /// Says what to do about it.
    pub fn remediation(mut self, text: impl Into<String>) -> Finding {
        self.remediation = Some(text.into());
        self
    }

    /// Overrides the rule's default severity for this finding.
    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }
}

/// A policy. Implement it on a unit struct and export it with [`export_policy!`].
pub trait Policy {
    /// The settings, deserialized from the JSON the user gave (`{}` when none).
    type Settings: DeserializeOwned;

    /// Name, version, rules, documents, settings schema.
    const INFO: Info;

    /// Checks settings beyond their schema. The default accepts whatever deserializes.
    fn validate_settings(_settings: &Self::Settings) -> Result<(), String> {
        Ok(())
    }

    /// Evaluates the input documents.
    fn evaluate(
        input: &Input<'_>,
        settings: &Self::Settings,
    ) -> Result<Vec<Finding>, EvaluationError>;
}

/// The documents given to one evaluation.
pub struct Input<'a> {
    docs: Vec<Doc<'a>>,
}

impl<'a> Input<'a> {
    /// A required document. Its absence is an error (the host normally skips the
    /// policy before that can happen).
    pub fn document(&self, name: &str) -> Result<&Doc<'a>, EvaluationError> {
        self.optional(name)
            .ok_or_else(|| EvaluationError::Failed(format!("the `{name}` document was not given")))
    }

    /// A document the policy can do without.
    pub fn optional(&self, name: &str) -> Option<&Doc<'a>> {
        self.docs.iter().find(|doc| doc.name == name)
    }
}

/// One input document. Reads go to the host, which parsed the document once.
pub struct Doc<'a> {
    handle: Document,
    _input: std::marker::PhantomData<&'a ()>,
    name: String,
}

impl<'a> Doc<'a> {
    /// The document's name (`environment`, `site`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The document's root.
    pub fn root(&self) -> Node<'_> {
        self.at("")
    }

    /// The node at a JSON pointer (it may not exist: see [`Node::exists`]).
    pub fn at(&self, pointer: &str) -> Node<'_> {
        Node {
            doc: self,
            pointer: pointer.to_owned(),
        }
    }
}

impl fmt::Debug for Doc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doc").field("name", &self.name).finish()
    }
}

/// A place in a document, named by a JSON pointer. Cheap to make; reading it asks the host.
#[derive(Clone)]
pub struct Node<'d> {
    doc: &'d Doc<'d>,
    pointer: String,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.doc.name, self.pointer)
    }
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn escape_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl<'d> Node<'d> {
    /// The JSON pointer of this node.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// The document this node is in.
    pub fn doc(&self) -> &'d Doc<'d> {
        self.doc
    }

    /// The member `key` of this object.
    pub fn get(&self, key: &str) -> Node<'d> {
        Node {
            doc: self.doc,
            pointer: format!("{}/{}", self.pointer, escape_key(key)),
        }
    }

    /// The element `index` of this array.
    pub fn index(&self, index: usize) -> Node<'d> {
        Node {
            doc: self.doc,
            pointer: format!("{}/{index}", self.pointer),
        }
    }

    /// The value here, one level deep; `None` when nothing is there.
    pub fn value(&self) -> Option<Value> {
        self.doc.handle.get(&self.pointer)
    }

    /// Whether anything (even `null`) is here.
    pub fn exists(&self) -> bool {
        self.value().is_some()
    }

    /// The string here, if it is one.
    pub fn str(&self) -> Option<String> {
        match self.value() {
            Some(Value::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// The boolean here, if it is one.
    pub fn bool(&self) -> Option<bool> {
        match self.value() {
            Some(Value::Boolean(b)) => Some(b),
            _ => None,
        }
    }

    /// The whole number here, if it is one.
    pub fn i64(&self) -> Option<i64> {
        match self.value() {
            Some(Value::Integer(i)) => Some(i),
            _ => None,
        }
    }

    /// The number here, if it is one.
    pub fn f64(&self) -> Option<f64> {
        match self.value() {
            Some(Value::Integer(i)) => Some(i as f64),
            Some(Value::Float(f)) => Some(f),
            _ => None,
        }
    }

    /// The elements of the array here; none when it is not an array.
    pub fn items(&self) -> impl Iterator<Item = Node<'d>> + use<'d> {
        let len = match self.value() {
            Some(Value::Array(len)) => len as usize,
            _ => 0,
        };
        let this = self.clone();
        (0..len).map(move |i| this.index(i))
    }

    /// The member names of the object here, in document order.
    pub fn keys(&self) -> Vec<String> {
        self.doc.handle.keys(&self.pointer).unwrap_or_default()
    }

    /// The members of the object here.
    pub fn entries(&self) -> impl Iterator<Item = (String, Node<'d>)> + use<'d> {
        let this = self.clone();
        self.keys().into_iter().map(move |key| {
            let node = this.get(&key);
            (key, node)
        })
    }

    /// Deserializes the subtree here. `Ok(None)` when nothing is here; a subtree of
    /// another shape is an `invalid-document` error pointing here.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<Option<T>, EvaluationError> {
        let Some(json) = self.doc.handle.to_json(&self.pointer) else {
            return Ok(None);
        };
        serde_json::from_str(&json).map(Some).map_err(|err| {
            EvaluationError::InvalidDocument(wit::DocumentProblem {
                document: self.doc.name.clone(),
                pointer: self.pointer.clone(),
                message: err.to_string(),
            })
        })
    }

    /// Starts a finding of `rule` pointing here.
    pub fn finding(&self, rule: &Rule, message: impl Into<String>) -> Finding {
        rule.finding(message).at(self)
    }
}

/// Text helpers shared by policies.
pub mod text {
    /// Folds runs of white space to one space and lowercases, for comparing names
    /// as people type them (`CDS  Contacts V2` equals `cds contacts v2`).
    pub fn normalise(text: &str) -> String {
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// Dotted version numbers (`1.0.16.0`, `10.0.41`), compared part by part as numbers.
pub mod version {
    use std::cmp::Ordering;

    /// The numeric parts; `None` when a part is not a number.
    pub fn parse(text: &str) -> Option<Vec<u64>> {
        text.trim()
            .split('.')
            .map(|part| part.parse().ok())
            .collect()
    }

    /// Compares two parsed versions; missing trailing parts count as zero.
    pub fn compare(a: &[u64], b: &[u64]) -> Ordering {
        let len = a.len().max(b.len());
        (0..len)
            .map(|i| a.get(i).unwrap_or(&0).cmp(b.get(i).unwrap_or(&0)))
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

/// Log levels for [`log`].
pub use host_log::Level;

/// Sends a message to the person running the check (shown with `--verbose`).
pub fn log(level: Level, message: &str) {
    host_log::log(level, message);
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    use bindings::preflight::policy::documents::Document;

    fn install_panic_hook() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                host_log::log(host_log::Level::Error, &info.to_string());
            }));
        });
    }

    pub fn info<P: Policy>() -> wit::PolicyInfo {
        install_panic_hook();
        let info = P::INFO;
        wit::PolicyInfo {
            name: info.name.to_owned(),
            version: info.version.to_owned(),
            description: info.description.to_owned(),
            rules: info
                .rules
                .iter()
                .map(|rule| wit::Rule {
                    id: rule.id.to_owned(),
                    title: rule.title.to_owned(),
                    default_severity: rule.severity,
                    help: rule.help.to_owned(),
                    help_url: rule.help_url.map(str::to_owned),
                })
                .collect(),
            documents: info
                .documents
                .iter()
                .map(|need| wit::DocumentNeed {
                    name: need.name.to_owned(),
                    optional: need.optional,
                })
                .collect(),
            settings_schema: info.settings_schema.map(str::to_owned),
        }
    }

    fn settings<P: Policy>(settings: &str) -> Result<P::Settings, String> {
        let text = if settings.trim().is_empty() {
            "{}"
        } else {
            settings
        };
        serde_json::from_str(text).map_err(|err| err.to_string())
    }

    pub fn validate_settings<P: Policy>(settings: String) -> Result<(), String> {
        install_panic_hook();
        P::validate_settings(&self::settings::<P>(&settings)?)
    }

    pub fn evaluate<P: Policy>(
        documents: Vec<Document>,
        settings: String,
    ) -> Result<Vec<wit::Finding>, EvaluationError> {
        install_panic_hook();
        let settings = self::settings::<P>(&settings).map_err(EvaluationError::InvalidSettings)?;
        let docs = documents
            .into_iter()
            .map(|handle| Doc {
                name: handle.name(),
                handle,
                _input: std::marker::PhantomData,
            })
            .collect();
        let input = Input { docs };
        let findings = P::evaluate(&input, &settings)?;
        Ok(findings
            .into_iter()
            .map(|finding| wit::Finding {
                rule_id: finding.rule_id.to_owned(),
                severity: finding.severity,
                message: finding.message,
                document: finding.document,
                pointer: finding.pointer,
                remediation: finding.remediation,
            })
            .collect())
    }
}

/// Exports a [`Policy`] as the component's implementation of the `policy` world.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[doc(hidden)]
        pub struct __PreflightExport;

        impl $crate::bindings::Guest for __PreflightExport {
            fn info() -> $crate::bindings::preflight::policy::types::PolicyInfo {
                $crate::__private::info::<$policy>()
            }

            fn validate_settings(settings: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                $crate::__private::validate_settings::<$policy>(settings)
            }

            fn evaluate(
                documents: ::std::vec::Vec<$crate::bindings::preflight::policy::documents::Document>,
                settings: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::preflight::policy::types::Finding>,
                $crate::EvaluationError,
            > {
                $crate::__private::evaluate::<$policy>(documents, settings)
            }
        }

        $crate::bindings::__export_policy_world!(__PreflightExport with_types_in $crate::bindings);
    };
}
