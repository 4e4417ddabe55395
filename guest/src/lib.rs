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

mod arena;
mod tape;

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
        self.document = node.doc.name.to_string();
        self.pointer = node.pointer().to_owned();
        self
    }

    /// Points the finding at a document as a whole, or at a pointer in it.
    pub fn in_document(mut self, doc: &Doc<'_>, pointer: impl Into<String>) -> Finding {
        self.document = doc.name.to_string();
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
    type Settings: DeserializeOwned + 'static;

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

/// One input document. The host parsed it once; the first read brings it into the
/// policy's memory in a compact binary form ([`tape`]), and reads after that are
/// local: no call across the sandbox boundary, no parsing.
pub struct Doc<'a> {
    handle: Document,
    _input: std::marker::PhantomData<&'a ()>,
    /// Borrowed from the policy's declarations when the host passed them all.
    name: std::borrow::Cow<'static, str>,
    tape: std::cell::OnceCell<Option<tape::Tape>>,
}

impl<'a> Doc<'a> {
    /// The document's name (`environment`, `site`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The document's root.
    pub fn root(&self) -> Node<'_> {
        Node {
            doc: self,
            pointer: spelt(String::new()),
            segment: String::new(),
            loc: match self.tape() {
                Some(_) => Loc::At(tape::ROOT),
                None => Loc::Unresolved,
            },
        }
    }

    /// The node at a JSON pointer (it may not exist: see [`Node::exists`]).
    pub fn at(&self, pointer: &str) -> Node<'_> {
        let (loc, pointer) = match self.tape() {
            // Followed once, here; a node that exists spells its pointer out of the
            // tape only if asked (the same canonical text).
            Some(tape) => match tape.resolve(pointer) {
                Some(at) => (Loc::At(at), std::cell::OnceCell::new()),
                None => (Loc::Nowhere, spelt(pointer.to_owned())),
            },
            None => (Loc::Unresolved, spelt(pointer.to_owned())),
        };
        Node {
            doc: self,
            pointer,
            segment: String::new(),
            loc,
        }
    }

    /// The document in the policy's memory; `None` when the host sent no valid tape
    /// (reads then go to the host one by one).
    fn tape(&self) -> Option<&tape::Tape> {
        self.tape
            .get_or_init(|| {
                let tape = tape::Tape::new(self.handle.encoded());
                tape.valid().then_some(tape)
            })
            .as_ref()
    }
}

impl fmt::Debug for Doc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doc").field("name", &self.name).finish()
    }
}

/// Where a node is in its document's tape.
#[derive(Clone, Copy, Debug)]
enum Loc {
    /// Not looked up yet: follow the pointer when read.
    Unresolved,
    At(u32),
    /// Nothing is there: `segment` is missing from the value at this offset.
    Missing(u32),
    /// Nothing is there.
    Nowhere,
}

/// A place in a document, named by a JSON pointer. Cheap to make and to read: a
/// node that exists is an offset into the tape, and its pointer is only spelt out
/// when asked for (for a finding).
#[derive(Clone)]
pub struct Node<'d> {
    doc: &'d Doc<'d>,
    pointer: std::cell::OnceCell<String>,
    loc: Loc,
    /// For a [`Loc::Missing`] node: the member name or index not found in its parent.
    segment: String,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.doc.name, self.pointer())
    }
}

fn spelt(pointer: String) -> std::cell::OnceCell<String> {
    let cell = std::cell::OnceCell::new();
    let _ = cell.set(pointer);
    cell
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn escape_key(key: &str) -> String {
    let mut escaped = String::with_capacity(key.len());
    tape::push_escaped(&mut escaped, key);
    escaped
}

impl<'d> Node<'d> {
    /// The JSON pointer of this node.
    pub fn pointer(&self) -> &str {
        self.pointer
            .get_or_init(|| match (self.loc, self.doc.tape()) {
                (Loc::At(at), Some(tape)) => tape.pointer_of(at),
                (Loc::Missing(parent), Some(tape)) => {
                    let mut pointer = tape.pointer_of(parent);
                    pointer.push('/');
                    tape::push_escaped(&mut pointer, &self.segment);
                    pointer
                }
                // Every other node is made with its pointer spelt out.
                _ => String::new(),
            })
    }

    /// The document this node is in.
    pub fn doc(&self) -> &'d Doc<'d> {
        self.doc
    }

    /// The tape and this node's offset in it; `None` when nothing is here.
    fn located(&self) -> Option<(&'d tape::Tape, u32)> {
        let tape = self.doc.tape()?;
        match self.loc {
            Loc::At(at) => Some((tape, at)),
            Loc::Missing(_) | Loc::Nowhere => None,
            Loc::Unresolved => tape.resolve(self.pointer()).map(|at| (tape, at)),
        }
    }

    /// The child found by `find` in the tape; when there is none (or no tape), a node
    /// with its pointer spelt out from this one's and `segment`.
    fn child(
        &self,
        segment: impl FnOnce() -> String,
        find: impl FnOnce(&tape::Tape, u32) -> Option<u32>,
    ) -> Node<'d> {
        // The common case, kept small: a node in the tape, and a child found or not.
        if let (Loc::At(at), Some(tape)) = (self.loc, self.doc.tape()) {
            let (loc, segment) = match find(tape, at) {
                Some(child) => (Loc::At(child), String::new()),
                // Its pointer is spelt out only if asked for.
                None => (Loc::Missing(at), segment()),
            };
            return Node {
                doc: self.doc,
                pointer: std::cell::OnceCell::new(),
                loc,
                segment,
            };
        }
        self.child_elsewhere(segment, find)
    }

    /// [`Node::child`] of a node that is not in the tape (or of a document without one).
    #[inline(never)]
    fn child_elsewhere(
        &self,
        segment: impl FnOnce() -> String,
        find: impl FnOnce(&tape::Tape, u32) -> Option<u32>,
    ) -> Node<'d> {
        let (loc, pointer, segment) = match self.doc.tape() {
            Some(tape) => match self.located() {
                Some((_, at)) => match find(tape, at) {
                    Some(child) => (Loc::At(child), std::cell::OnceCell::new(), String::new()),
                    // Its pointer is spelt out only if asked for.
                    None => (Loc::Missing(at), std::cell::OnceCell::new(), segment()),
                },
                None => (Loc::Nowhere, spelt(self.spell(&segment())), String::new()),
            },
            None => (
                Loc::Unresolved,
                spelt(self.spell(&segment())),
                String::new(),
            ),
        };
        Node {
            doc: self.doc,
            pointer,
            loc,
            segment,
        }
    }

    /// This node's pointer and one more segment.
    fn spell(&self, segment: &str) -> String {
        let parent = self.pointer();
        let mut pointer = String::with_capacity(parent.len() + 1 + segment.len());
        pointer.push_str(parent);
        pointer.push('/');
        tape::push_escaped(&mut pointer, segment);
        pointer
    }

    /// The member `key` of this object.
    pub fn get(&self, key: &str) -> Node<'d> {
        self.child(|| key.to_owned(), |tape, at| tape.member(at, key))
    }

    /// The element `index` of this array.
    pub fn index(&self, index: usize) -> Node<'d> {
        self.child(|| index.to_string(), |tape, at| tape.element(at, index))
    }

    /// The value here, one level deep; `None` when nothing is there.
    pub fn value(&self) -> Option<Value> {
        match self.doc.tape() {
            Some(_) => self.located().and_then(|(tape, at)| tape.value(at)),
            None => self.doc.handle.get(self.pointer()),
        }
    }

    /// Whether anything (even `null`) is here.
    pub fn exists(&self) -> bool {
        match self.doc.tape() {
            Some(_) => self.located().is_some(),
            None => self.value().is_some(),
        }
    }

    /// The strings of several members of the object here, in one pass over its
    /// members: `None` for a member that is missing or not a string. The same as
    /// `get(key).as_str()` for each key, for less.
    ///
    /// ```ignore
    /// let [name, version] = solution.strs(["uniqueName", "version"]);
    /// ```
    pub fn strs<const N: usize>(&self, keys: [&str; N]) -> [Option<&'d str>; N] {
        let (tape, found) = self.member_offsets(keys);
        found.map(|at| tape?.str(at?))
    }

    /// Where several members of the object here are, in one pass over its members
    /// without reading their values (`None` for one that is missing, or without a
    /// tape).
    pub(crate) fn member_offsets<const N: usize>(
        &self,
        keys: [&str; N],
    ) -> (Option<&'d tape::Tape>, [Option<u32>; N]) {
        let mut found = [None; N];
        let Some((tape, at)) = self.located() else {
            return (self.doc.tape(), found);
        };
        if let Some(entries) = tape.entries(at) {
            for (name, value) in entries {
                let Some(name) = tape.key(name) else { continue };
                // Lengths first: most members are told apart by them.
                if let Some(slot) = keys.iter().position(|key| {
                    key.len() == name.len() && tape::same_bytes(name, key.as_bytes())
                }) {
                    found[slot] = Some(value);
                }
            }
        }
        (Some(tape), found)
    }

    /// The string here, if it is one, borrowed from the document (no copy).
    pub fn as_str(&self) -> Option<&'d str> {
        self.located().and_then(|(tape, at)| tape.str(at))
    }

    /// The string here, if it is one.
    pub fn str(&self) -> Option<String> {
        match self.doc.tape() {
            Some(_) => self.as_str().map(str::to_owned),
            None => match self.value() {
                Some(Value::Text(text)) => Some(text),
                _ => None,
            },
        }
    }

    /// The boolean here, if it is one.
    pub fn bool(&self) -> Option<bool> {
        match self.doc.tape() {
            Some(_) => self.located().and_then(|(tape, at)| tape.bool(at)),
            None => match self.value() {
                Some(Value::Boolean(b)) => Some(b),
                _ => None,
            },
        }
    }

    /// The whole number here, if it is one.
    pub fn i64(&self) -> Option<i64> {
        match self.doc.tape() {
            Some(_) => self.located().and_then(|(tape, at)| tape.i64(at)),
            None => match self.value() {
                Some(Value::Integer(i)) => Some(i),
                _ => None,
            },
        }
    }

    /// The number here, if it is one.
    pub fn f64(&self) -> Option<f64> {
        match self.doc.tape() {
            Some(_) => self.located().and_then(|(tape, at)| tape.f64(at)),
            None => match self.value() {
                Some(Value::Integer(i)) => Some(i as f64),
                Some(Value::Float(f)) => Some(f),
                _ => None,
            },
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
        match self.doc.tape() {
            Some(_) => match self.located() {
                Some((tape, at)) => {
                    let count = tape.count(at, tape::OBJECT).unwrap_or(0) as usize;
                    (0..count)
                        .filter_map(|index| tape.entry(at, index))
                        .map(|(key, _)| key.to_owned())
                        .collect()
                }
                None => Vec::new(),
            },
            None => self.doc.handle.keys(self.pointer()).unwrap_or_default(),
        }
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
        let Some(json) = self.doc.handle.to_json(self.pointer()) else {
            return Ok(None);
        };
        serde_json::from_str(&json).map(Some).map_err(|err| {
            EvaluationError::InvalidDocument(wit::DocumentProblem {
                document: self.doc.name.to_string(),
                pointer: self.pointer().to_owned(),
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
    /// White space as `char::is_whitespace` sees it, for ASCII bytes.
    fn is_space(c: u8) -> bool {
        matches!(c, b' ' | b'\t'..=b'\r')
    }

    fn skip_space(s: &[u8], mut at: usize) -> usize {
        while at < s.len() && is_space(s[at]) {
            at += 1;
        }
        at
    }

    /// Whether two identifiers (solution unique names, say) are the same ignoring
    /// ASCII case, as `str::eq_ignore_ascii_case`, but with equal bytes, the common
    /// case, found a word at a time first: comparing case-folded bytes one by one
    /// cost about fifteen units of fuel per byte.
    pub fn same_ignoring_ascii_case(a: &str, b: &str) -> bool {
        a.len() == b.len()
            && (crate::tape::same_bytes(a.as_bytes(), b.as_bytes()) || a.eq_ignore_ascii_case(b))
    }

    /// Whether two names are the same as people type them: [`normalise`]d, but
    /// compared without allocating (`CDS  Contacts V2` is `cds contacts v2`).
    ///
    /// One pass over ASCII bytes that stops at the first difference; only when it
    /// meets a non-ASCII byte before that does it compare word by word in Unicode.
    pub fn same(a: &str, b: &str) -> bool {
        let (x, y) = (a.as_bytes(), b.as_bytes());
        // Most names are typed as the article spells them: equal bytes, eight at a time.
        if x.len() == y.len() && crate::tape::same_bytes(x, y) {
            return true;
        }
        let (mut i, mut j) = (skip_space(x, 0), skip_space(y, 0));
        loop {
            match (x.get(i), y.get(j)) {
                (None, None) => return true,
                (Some(&p), Some(&q)) => {
                    if !p.is_ascii() || !q.is_ascii() {
                        return same_unicode(a, b);
                    }
                    match (is_space(p), is_space(q)) {
                        // A run of white space on both sides counts as one space.
                        (true, true) => {
                            i = skip_space(x, i);
                            j = skip_space(y, j);
                        }
                        // A word goes on on one side only: the words differ.
                        (true, false) | (false, true) => return false,
                        (false, false) if p.eq_ignore_ascii_case(&q) => {
                            i += 1;
                            j += 1;
                        }
                        (false, false) => return false,
                    }
                }
                // One side has ended: the same if only white space is left.
                (Some(_), None) | (None, Some(_)) => {
                    let rest = if i < x.len() { &x[i..] } else { &y[j..] };
                    return match rest.iter().all(|&c| is_space(c)) {
                        true => true,
                        false if rest.is_ascii() => false,
                        false => same_unicode(a, b),
                    };
                }
            }
        }
    }

    fn same_unicode(a: &str, b: &str) -> bool {
        let mut left = a.split_whitespace();
        let mut right = b.split_whitespace();
        loop {
            match (left.next(), right.next()) {
                (None, None) => return true,
                (Some(x), Some(y)) => {
                    let equal = x
                        .chars()
                        .flat_map(char::to_lowercase)
                        .eq(y.chars().flat_map(char::to_lowercase));
                    if !equal {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }

    /// The first and the last three characters of a name as [`same`] sees it
    /// (white space left out, lowercased), packed in a `u32`, for telling most names
    /// apart in constant time: names that are the [`same`] have the same characters
    /// apart from white space, so their [`ends`] [`ends_agree`]. The last three, not
    /// only the last, because table names share their ends (`msdyn_…s`). A name with
    /// a non-ASCII byte among these agrees with every other.
    pub fn ends(text: &str) -> u32 {
        const ANY: u32 = u32::MAX;
        // Not made by ASCII (whose bytes are below 0x80).
        const EMPTY: u32 = 1 << 31;
        let bytes = text.as_bytes();
        let Some(first) = bytes.iter().position(|&b| !is_space(b)) else {
            return EMPTY;
        };
        if !bytes[first].is_ascii() {
            return ANY;
        }
        let mut packed = u32::from(bytes[first].to_ascii_lowercase()) << 24;
        let mut shift = 0;
        for &byte in bytes[first..].iter().rev() {
            if is_space(byte) {
                continue;
            }
            if !byte.is_ascii() {
                return ANY;
            }
            packed |= u32::from(byte.to_ascii_lowercase()) << shift;
            shift += 8;
            if shift == 24 {
                break;
            }
        }
        packed
    }

    /// Whether two [`ends`] may belong to the [`same`] name.
    pub fn ends_agree(a: u32, b: u32) -> bool {
        a == b || a == u32::MAX || b == u32::MAX
    }

    /// Folds runs of white space to one space and lowercases, for comparing names
    /// as people type them (`CDS  Contacts V2` equals `cds contacts v2`).
    pub fn normalise(text: &str) -> String {
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// Dual-write table maps as a snapshot lists them (`/dualWrite/maps`), each member
/// read at most once.
pub mod dualwrite {
    use crate::Node;
    use crate::tape::Tape;
    use crate::text::{ends, ends_agree, same};

    /// One map of the snapshot. Only its Dataverse table is read up front (that
    /// tells most maps apart); the other members are read when asked for.
    #[derive(Clone, Debug)]
    pub struct Map<'d> {
        pub node: Node<'d>,
        tape: Option<&'d Tape>,
        /// Where the name, the entity and the state are in the tape.
        name: Option<u32>,
        entity: Option<u32>,
        state: Option<u32>,
        table: Option<&'d str>,
        /// [`ends`] of `table`.
        table_ends: u32,
    }

    /// A map a policy looks for: the finance and operations entity and the
    /// Dataverse table, with the [`ends`] of the table worked out once.
    #[derive(Clone, Debug)]
    pub struct Wanted<'a> {
        pub entity: &'a str,
        pub table: &'a str,
        table_ends: u32,
    }

    impl<'a> Wanted<'a> {
        pub fn new(entity: &'a str, table: &'a str) -> Wanted<'a> {
            Wanted {
                entity,
                table,
                table_ends: ends(table),
            }
        }
    }

    impl<'d> Map<'d> {
        fn entity_is_str(&self) -> bool {
            self.tape
                .zip(self.entity)
                .is_some_and(|(tape, at)| tape.is_str(at))
        }

        fn str(&self, at: Option<u32>) -> Option<&'d str> {
            self.tape?.str(at?)
        }

        /// The map's name (`Entity (table)`), if the snapshot gives it as a string.
        pub fn name(&self) -> Option<&'d str> {
            self.str(self.name)
        }

        /// The finance and operations entity, if given as a string.
        pub fn entity(&self) -> Option<&'d str> {
            self.str(self.entity)
        }

        /// The Dataverse table, if given as a string.
        pub fn table(&self) -> Option<&'d str> {
            self.table
        }

        /// The state (`Running`, `Not running`, ...), if given as a string.
        pub fn state(&self) -> Option<&'d str> {
            self.str(self.state)
        }

        /// Whether this is the map of the finance and operations `entity` to the
        /// Dataverse `table`: by both parts when the snapshot gives them, else by its
        /// name `Entity (table)`; names compared as people type them ([`same`]).
        pub fn is(&self, entity: &str, table: &str) -> bool {
            self.is_wanted(&Wanted::new(entity, table))
        }

        /// [`Map::is`] for a map looked for in every snapshot: the [`ends`] of the
        /// tables are compared first, so most maps are told apart in constant time.
        pub fn is_wanted(&self, wanted: &Wanted<'_>) -> bool {
            let by_name = || {
                self.name().is_some_and(|name| {
                    same(name, &format!("{} ({})", wanted.entity, wanted.table))
                })
            };
            match self.table {
                Some(table) if ends_agree(self.table_ends, wanted.table_ends) => {
                    match self.entity() {
                        Some(entity) => same(table, wanted.table) && same(entity, wanted.entity),
                        None => by_name(),
                    }
                }
                // The tables differ: only a map without an entity is found by its name.
                Some(_) => !self.entity_is_str() && by_name(),
                None => by_name(),
            }
        }
    }

    /// The maps of the array at `list` (none when it is not an array).
    pub fn maps<'d>(list: &Node<'d>) -> Vec<Map<'d>> {
        list.items()
            .map(|node| {
                let (tape, [name, entity, table, state]) = node.member_offsets([
                    "name",
                    "financeAndOperationsEntity",
                    "dataverseTable",
                    "state",
                ]);
                let table = tape.zip(table).and_then(|(tape, at)| tape.str(at));
                Map {
                    tape,
                    name,
                    entity,
                    state,
                    table_ends: table.map_or(0, ends),
                    table,
                    node,
                }
            })
            .collect()
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

    /// The settings of the last evaluation, parsed, with their text. Only the text of
    /// the settings decides what is kept: nothing from any input document.
    struct SettingsCache {
        text: String,
        value: std::rc::Rc<dyn std::any::Any>,
    }

    thread_local! {
        static SETTINGS: std::cell::RefCell<Option<SettingsCache>> = const { std::cell::RefCell::new(None) };
    }

    fn cached_settings<P: Policy>(text: &str) -> Result<std::rc::Rc<dyn std::any::Any>, String> {
        SETTINGS.with(|cell| {
            let mut cache = cell.borrow_mut();
            if let Some(hit) = cache
                .as_ref()
                .filter(|cache| cache.text == text && cache.value.is::<P::Settings>())
            {
                return Ok(hit.value.clone());
            }
            let value: std::rc::Rc<dyn std::any::Any> = std::rc::Rc::new(settings::<P>(text)?);
            *cache = Some(SettingsCache {
                text: text.to_owned(),
                value: value.clone(),
            });
            Ok(value)
        })
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
        // The same settings come with every evaluation of an audit: parse them once.
        let settings = cached_settings::<P>(&settings).map_err(EvaluationError::InvalidSettings)?;
        let settings: &P::Settings = settings
            .downcast_ref()
            .expect("the cache holds this policy's settings");
        // What the evaluation allocates comes from the arena (`arena.rs`), until the
        // guard drops, after everything else here.
        struct Evaluation;
        impl Drop for Evaluation {
            fn drop(&mut self) {
                arena::end();
            }
        }
        arena::begin();
        let _evaluation = Evaluation;
        // The host passes the declared documents in the order they are declared, so
        // when all of them came, their names are known without asking for each.
        let declared = P::INFO.documents;
        let all = documents.len() == declared.len();
        let docs = documents
            .into_iter()
            .zip(
                declared
                    .iter()
                    .map(|need| need.name)
                    .chain(std::iter::repeat("")),
            )
            .map(|(handle, declared)| Doc {
                name: if all {
                    std::borrow::Cow::Borrowed(declared)
                } else {
                    std::borrow::Cow::Owned(handle.name())
                },
                handle,
                _input: std::marker::PhantomData,
                tape: std::cell::OnceCell::new(),
            })
            .collect();
        let input = Input { docs };
        let findings = P::evaluate(&input, settings)?;
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

#[cfg(test)]
mod tests {
    use super::text::{ends, ends_agree, normalise, same};

    #[test]
    fn identifiers_are_the_same_ignoring_ascii_case_only() {
        use super::text::same_ignoring_ascii_case as same;
        for (a, b, equal) in [
            ("DualWriteCore", "DualWriteCore", true),
            ("DualWriteCore", "dualwritecore", true),
            (
                "msdyn_Dynamics365SupplyChainExtendedMaps",
                "MSDYN_dynamics365supplychainextendedmaps",
                true,
            ),
            ("", "", true),
            ("DualWriteCore", "DualWriteCorf", false),
            ("DualWriteCore", "DualWriteCore ", false),
            ("Légal", "LÉGAL", false),
            ("Légal", "lÉgal", false),
            ("Légal", "LéGAL", true),
        ] {
            assert_eq!(same(a, b), equal, "{a:?} {b:?}");
            assert_eq!(same(a, b), a.eq_ignore_ascii_case(b), "{a:?} {b:?}");
        }
    }

    #[test]
    fn names_are_the_same_as_people_type_them() {
        for (a, b) in [
            ("CDS  Contacts V2", "cds contacts v2"),
            (" Customers V3 ", "customers\tv3"),
            ("Légal  Entités", "légal entités"),
            ("", "  "),
            ("Contacts\u{b}V2", "contacts v2"),
            ("Contacts V2\u{a0}", "contacts v2"),
            ("ab\u{a0}cd", "AB CD"),
            ("KELVIN", "\u{212a}elvin"),
        ] {
            assert!(same(a, b), "{a:?} {b:?}");
            assert_eq!(normalise(a), normalise(b));
            assert!(ends_agree(ends(a), ends(b)), "{a:?} {b:?}");
        }
        // Names told apart by their ends: the first character or one of the last
        // three (white space left out) differ.
        for (a, b) in [
            ("msdyn_customergroups", "msdyn_paymentterms"),
            ("msdyn_customergroups", "msdyn_vendorgroupz"),
            ("cdm_companies", "Xdm_companies"),
            ("uoms", "uom"),
            ("", "a"),
        ] {
            assert!(!ends_agree(ends(a), ends(b)), "{a:?} {b:?}");
        }
        // Same ends, different names: `same` decides.
        assert!(ends_agree(
            ends("msdyn_customergroups"),
            ends("msdyn_vendorgroups")
        ));
        assert!(ends_agree(ends("Contacts V2"), ends("ContactsV2")));
        for (a, b) in [
            ("CDS Contacts V2", "CDS Contacts V3"),
            ("Contacts", "Contacts V2"),
            ("Contacts V2", "ContactsV2"),
            ("Légal", "legal"),
            ("Contacts V2 ", "Contacts V2 x"),
            ("a b", "ab"),
            ("Légal", "Légal x"),
        ] {
            assert!(!same(a, b), "{a:?} {b:?}");
            assert_ne!(normalise(a), normalise(b));
        }
    }
}
