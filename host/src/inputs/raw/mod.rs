//! Raw platform exports, read as the platform writes them, for `preflight import`:
//! one module per shape, each recognised by its content (never by the file's name).
//!
//! Every reader answers one of three things: the file is not its shape (`Ok(None)`),
//! it is and here is what it says, or it is but a value in it cannot be used (a
//! [`Problem`] that names the place: a JSON pointer or a line). [`RawError`] adds the
//! file; an unknown shape lists the shapes the option accepts.
//!
//! [`snapshot`] assembles the parts into an environment snapshot
//! (`schemas/environment.schema.json`) and merges the overrides.

pub mod admin_environments;
mod csv;
pub mod dataverse_solutions;
pub mod dual_write_csv;
pub mod dual_write_odata;
pub mod pac_solutions;
pub mod snapshot;
pub mod subscribed_skus;

use super::InputError;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The shapes `--solutions` accepts.
pub const SOLUTIONS_SHAPES: &[&str] = &[
    dataverse_solutions::DESCRIPTION,
    pac_solutions::TEXT_DESCRIPTION,
    pac_solutions::JSON_DESCRIPTION,
];

/// The shapes `--maps` accepts.
pub const MAPS_SHAPES: &[&str] = &[dual_write_odata::DESCRIPTION, dual_write_csv::DESCRIPTION];

/// The environments of an `--environments` file.
pub fn read_environments(file: &RawFile) -> Result<Vec<admin_environments::Environment>, RawError> {
    let content = file.content()?;
    if let Content::Json(value) = &content
        && let Some(environments) = admin_environments::read(value)
    {
        return Ok(environments);
    }
    Err(file.unknown(&content, admin_environments::SHAPES))
}

/// The solutions of a `--solutions` file, and the shape it was read as.
pub fn read_solutions(file: &RawFile) -> Result<(Vec<Solution>, &'static str), RawError> {
    let content = file.content()?;
    let found = match &content {
        Content::Json(value) => match dataverse_solutions::read(value) {
            Ok(Some(solutions)) => Ok(Some((solutions, dataverse_solutions::SHAPE))),
            Ok(None) => pac_solutions::read_json(value)
                .map(|found| found.map(|solutions| (solutions, pac_solutions::JSON_SHAPE))),
            Err(problem) => Err(problem),
        },
        Content::Text(text) => pac_solutions::read_text(text)
            .map(|found| found.map(|solutions| (solutions, pac_solutions::TEXT_SHAPE))),
    };
    match found {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(file.unknown(&content, SOLUTIONS_SHAPES)),
        Err(problem) => Err(file.invalid(problem)),
    }
}

/// The SKUs of a `--skus` file, and the tenant they belong to when it says.
pub fn read_skus(file: &RawFile) -> Result<(Vec<subscribed_skus::Sku>, Option<String>), RawError> {
    let content = file.content()?;
    if let Content::Json(value) = &content {
        match subscribed_skus::read(value) {
            Ok(Some(skus)) => return Ok((skus, subscribed_skus::tenant_of(value))),
            Ok(None) => {}
            Err(problem) => return Err(file.invalid(problem)),
        }
    }
    Err(file.unknown(&content, subscribed_skus::SHAPES))
}

/// The dual-write maps of a `--maps` file, and the shape it was read as.
/// `dataverse_url` is the imported environment's organization URL.
pub fn read_maps(
    file: &RawFile,
    dataverse_url: Option<&str>,
) -> Result<(DualWrite, &'static str), RawError> {
    let content = file.content()?;
    let found = match &content {
        Content::Json(value) => dual_write_odata::read(value, dataverse_url)
            .map(|found| found.map(|maps| (maps, dual_write_odata::SHAPE))),
        Content::Text(text) => {
            dual_write_csv::read(text).map(|found| found.map(|maps| (maps, dual_write_csv::SHAPE)))
        }
    };
    match found {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(file.unknown(&content, MAPS_SHAPES)),
        Err(problem) => Err(file.invalid(problem)),
    }
}

/// Why a raw export could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{}", unknown_shape(path, option, found, accepted))]
    UnknownShape {
        path: PathBuf,
        /// The option that named the file, without dashes: `maps`.
        option: &'static str,
        /// What the file holds, in a few words.
        found: String,
        accepted: &'static [&'static str],
    },
    #[error("`{path}` {}: {}", problem.place, problem.message)]
    Invalid { path: PathBuf, problem: Problem },
}

fn unknown_shape(path: &Path, option: &str, found: &str, accepted: &[&str]) -> String {
    let mut text = format!(
        "`{}` is not an export that --{option} reads ({found}); --{option} accepts:",
        path.display()
    );
    for shape in accepted {
        text.push_str("\n  - ");
        text.push_str(shape);
    }
    text
}

/// A value a reader cannot use, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `at `/value/3/Status`` or `line 7`.
    pub place: String,
    pub message: String,
}

impl Problem {
    /// A problem at a JSON pointer.
    pub fn at(pointer: &str, message: impl Into<String>) -> Problem {
        let pointer = if pointer.is_empty() { "/" } else { pointer };
        Problem {
            place: format!("at `{pointer}`"),
            message: message.into(),
        }
    }

    /// A problem on a line of a text file (1-based).
    pub fn line(line: usize, message: impl Into<String>) -> Problem {
        Problem {
            place: format!("line {line}"),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// A raw export as read from a file: its text (decoded) and the sha256 of its bytes.
#[derive(Clone, Debug)]
pub struct RawFile {
    /// The option that named it, without dashes: `solutions`.
    pub option: &'static str,
    pub path: PathBuf,
    pub sha256: String,
    pub text: String,
}

/// What a raw file holds: JSON (it starts with `{` or `[`), or text.
pub enum Content<'t> {
    Json(Value),
    Text(&'t str),
}

impl RawFile {
    /// Reads a file. UTF-8 (with or without a byte order mark) and UTF-16 with a
    /// byte order mark are accepted: Windows PowerShell 5 writes `>` redirections
    /// (`pac solution list > solutions.txt`) as UTF-16.
    pub fn read(option: &'static str, path: &Path) -> Result<RawFile, RawError> {
        let bytes = std::fs::read(path).map_err(|source| InputError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = decode(&bytes).map_err(|message| InputError::Shape {
            path: path.to_owned(),
            message,
        })?;
        Ok(RawFile {
            option,
            path: path.to_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            text,
        })
    }

    /// A file made from text, for tests.
    pub fn from_text(option: &'static str, path: &str, text: &str) -> RawFile {
        RawFile {
            option,
            path: PathBuf::from(path),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            text: text.to_owned(),
        }
    }

    /// JSON when the text starts with `{` or `[` (a syntax error names the line),
    /// otherwise the text.
    pub fn content(&self) -> Result<Content<'_>, RawError> {
        let trimmed = self.text.trim_start();
        if trimmed.starts_with(['{', '[']) {
            serde_json::from_str(&self.text)
                .map(Content::Json)
                .map_err(|err| {
                    RawError::Input(InputError::Syntax {
                        path: self.path.clone(),
                        format: "JSON",
                        line: err.line(),
                        column: err.column(),
                        message: super::strip_position(&err.to_string()),
                    })
                })
        } else {
            Ok(Content::Text(&self.text))
        }
    }

    /// The error for a file that is none of `accepted`.
    pub fn unknown(&self, content: &Content<'_>, accepted: &'static [&'static str]) -> RawError {
        RawError::UnknownShape {
            path: self.path.clone(),
            option: self.option,
            found: match content {
                Content::Json(value) => describe_json(value),
                Content::Text(text) => describe_text(text),
            },
            accepted,
        }
    }

    /// The error for a value of this file that cannot be used.
    pub fn invalid(&self, problem: Problem) -> RawError {
        RawError::Invalid {
            path: self.path.clone(),
            problem,
        }
    }
}

fn decode(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |rest: &[u8], little: bool| -> Result<String, String> {
        if !rest.len().is_multiple_of(2) {
            return Err("not UTF-16 text (an odd number of bytes)".into());
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|pair| {
                if little {
                    u16::from_le_bytes([pair[0], pair[1]])
                } else {
                    u16::from_be_bytes([pair[0], pair[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| "not UTF-16 text".to_owned())
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => std::str::from_utf8(rest)
            .map(str::to_owned)
            .map_err(|err| format!("not UTF-8 text (byte {})", err.valid_up_to() + 3)),
        _ => std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|err| format!("not UTF-8 text (byte {})", err.valid_up_to())),
    }
}

/// What a JSON document is, in a few words, for an unknown-shape error.
pub fn describe_json(value: &Value) -> String {
    match value {
        Value::Object(members) if members.is_empty() => "an empty JSON object".into(),
        Value::Object(members) => {
            let mut names: Vec<String> = members.keys().take(6).map(|k| format!("`{k}`")).collect();
            if members.len() > 6 {
                names.push("...".into());
            }
            let mut text = format!("a JSON object with {}", names.join(", "));
            if let Some(Value::Array(items)) = get_ci(members, "value") {
                text.push_str(&format!(
                    "; `value` holds {}",
                    describe_items(items).trim_start_matches("a JSON array of ")
                ));
            }
            text
        }
        Value::Array(items) => describe_items(items),
        Value::String(_) => "a JSON string".into(),
        Value::Number(_) => "a JSON number".into(),
        Value::Bool(_) => "a JSON boolean".into(),
        Value::Null => "JSON `null`".into(),
    }
}

fn describe_items(items: &[Value]) -> String {
    let kind = |value: &Value| match value {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
    };
    let Some(first) = items.first() else {
        return "an empty JSON array".into();
    };
    let same = items.iter().all(|item| kind(item) == kind(first));
    let plural = if items.len() == 1 { "" } else { "s" };
    match (same, first) {
        (true, Value::Object(members)) => {
            let names: Vec<String> = members.keys().take(4).map(|k| format!("`{k}`")).collect();
            format!(
                "a JSON array of {} object{plural} with {}{}",
                items.len(),
                names.join(", "),
                if members.len() > 4 { ", ..." } else { "" }
            )
        }
        (true, _) => format!("a JSON array of {} {}{plural}", items.len(), kind(first)),
        (false, _) => format!("a JSON array of {} mixed values", items.len()),
    }
}

/// What a text file is, in a few words: its first line that is not blank.
pub fn describe_text(text: &str) -> String {
    match text.lines().map(str::trim).find(|line| !line.is_empty()) {
        None => "an empty file".into(),
        Some(line) => {
            let shown: String = line.chars().take(60).collect();
            let more = if line.chars().count() > 60 { "..." } else { "" };
            format!("text whose first line is `{shown}{more}`")
        }
    }
}

/// A member of an object, its name compared without regard to case: OData services
/// spell the same member `uniquename`, `UniqueName` or `ExternalEnvironmentURL`.
pub fn get_ci<'v>(members: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    members.get(name).or_else(|| {
        members
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// A string member (trimmed, not empty), case-insensitively.
pub fn str_ci<'v>(members: &'v Map<String, Value>, name: &str) -> Option<&'v str> {
    get_ci(members, name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// The array of an OData collection response (`{"value": [...]}`).
pub fn odata_value(value: &Value) -> Option<&Vec<Value>> {
    match value {
        Value::Object(members) => get_ci(members, "value").and_then(Value::as_array),
        _ => None,
    }
}

/// `@odata.context` of an OData response.
pub fn odata_context(value: &Value) -> Option<&str> {
    value.get("@odata.context").and_then(Value::as_str)
}

/// Whether `text` is a version of two to four dot-separated numbers (`1.0.24062.1`),
/// as the snapshot schema's `dottedVersion`.
pub fn is_dotted_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `text` is a GUID (`6f1c2a3e-8d4b-4c61-9a57-0b2e3f4d5c6a`).
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An `https://` URL without its trailing slash (`https://x.crm4.dynamics.com/` ->
/// `https://x.crm4.dynamics.com`), or `None` when it is not an `https://` URL.
pub fn clean_url(text: &str) -> Option<String> {
    let text = text.trim();
    let rest = text
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &text[8..])?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return None;
    }
    Some(format!("https://{}", rest.trim_end_matches('/')))
}

/// The host of an `https://` URL, lowercase, for comparing environments.
pub fn url_host(text: &str) -> Option<String> {
    let clean = clean_url(text)?;
    let rest = &clean["https://".len()..];
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    Some(host.to_ascii_lowercase())
}

/// A dual-write map state as the snapshot schema names it (`Not running`,
/// `Initializing`, `Running`, `Paused`, `Resuming`), from the spellings exports use:
/// any case, with or without spaces (`NotRunning`, `not_running`), and the names some
/// screens give (`Stopped` is `Not running`).
pub fn map_state(text: &str) -> Option<&'static str> {
    let squashed: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Some(match squashed.as_str() {
        "notrunning" | "stopped" | "notstarted" => "Not running",
        "initializing" | "initialising" => "Initializing",
        "running" | "active" | "started" => "Running",
        "paused" => "Paused",
        "resuming" => "Resuming",
        _ => return None,
    })
}

/// The message for a map state that [`map_state`] does not know.
pub fn unknown_state(found: &str) -> String {
    format!(
        "`{found}` is not a dual-write map state: expected one of `Not running` (or \
         `Stopped`), `Initializing`, `Running`, `Paused`, `Resuming`"
    )
}

/// How far a state is from running, to fold two records of one map into the state a
/// person would act on: the one furthest from `Running`.
pub fn state_rank(state: &str) -> u8 {
    match state {
        "Not running" => 4,
        "Paused" => 3,
        "Initializing" => 2,
        "Resuming" => 1,
        _ => 0,
    }
}

/// An installed solution, whichever export it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solution {
    pub unique_name: String,
    pub friendly_name: Option<String>,
    pub version: String,
    pub managed: Option<bool>,
    pub installed_on: Option<String>,
}

impl Solution {
    /// The snapshot's `solutions[]` item.
    pub fn to_json(&self) -> Value {
        let mut item = Map::new();
        item.insert("uniqueName".into(), self.unique_name.clone().into());
        if let Some(name) = &self.friendly_name {
            item.insert("friendlyName".into(), name.clone().into());
        }
        item.insert("version".into(), self.version.clone().into());
        if let Some(managed) = self.managed {
            item.insert("managed".into(), managed.into());
        }
        if let Some(on) = &self.installed_on {
            item.insert("installedOn".into(), on.clone().into());
        }
        Value::Object(item)
    }
}

/// One dual-write table map, whichever export it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DualWriteMap {
    pub name: String,
    pub entity: Option<String>,
    pub table: Option<String>,
    pub state: &'static str,
    pub version: Option<String>,
}

impl DualWriteMap {
    /// `<finance and operations entity> (<Dataverse table>)`, as dual-write names a map.
    pub fn name_of(entity: &str, table: &str) -> String {
        format!("{entity} ({table})")
    }

    /// The snapshot's `dualWrite.maps[]` item.
    pub fn to_json(&self) -> Value {
        let mut item = Map::new();
        item.insert("name".into(), self.name.clone().into());
        if let Some(entity) = &self.entity {
            item.insert("financeAndOperationsEntity".into(), entity.clone().into());
        }
        if let Some(table) = &self.table {
            item.insert("dataverseTable".into(), table.clone().into());
        }
        item.insert("state".into(), self.state.into());
        if let Some(version) = &self.version {
            item.insert("version".into(), version.clone().into());
        }
        Value::Object(item)
    }
}

/// The dual-write part of a snapshot: the maps, and the finance and operations
/// environment they run in when the export says it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DualWrite {
    pub linked_finance_and_operations_url: Option<String>,
    pub maps: Vec<DualWriteMap>,
    /// Records left out because they link another Dataverse environment: its URL and
    /// how many records.
    pub ignored: Vec<(String, usize)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn utf8_with_a_byte_order_mark_and_utf16_are_read() {
        assert_eq!(decode(b"\xEF\xBB\xBFName,Status").unwrap(), "Name,Status");
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Unique Name".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16).unwrap(), "Unique Name");
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("ok".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode(&utf16be).unwrap(), "ok");
        assert_eq!(decode(b"a\xFFb").unwrap_err(), "not UTF-8 text (byte 1)");
    }

    #[test]
    fn shapes_are_described_in_a_few_words() {
        assert_eq!(
            describe_json(&json!([1, 2, 3])),
            "a JSON array of 3 numbers"
        );
        assert_eq!(describe_json(&json!([])), "an empty JSON array");
        assert_eq!(
            describe_json(&json!({"value": [{"a": 1}]})),
            "a JSON object with `value`; `value` holds 1 object with `a`"
        );
        assert_eq!(
            describe_text("\n\n  a,b,c\nd"),
            "text whose first line is `a,b,c`"
        );
        assert_eq!(describe_text("  \n"), "an empty file");
    }

    #[test]
    fn unknown_shape_lists_what_the_option_accepts() {
        let file = RawFile::from_text("maps", "maps.json", "[1, 2]");
        let content = file.content().unwrap();
        let message = file
            .unknown(&content, &["shape one", "shape two"])
            .to_string();
        assert_eq!(
            message,
            "`maps.json` is not an export that --maps reads (a JSON array of 2 numbers); \
             --maps accepts:\n  - shape one\n  - shape two"
        );
    }

    #[test]
    fn bad_json_names_the_file_and_line() {
        let file = RawFile::from_text("skus", "skus.json", "{\n  \"value\": [,]\n}");
        let Err(err) = file.content() else {
            panic!("bad JSON was read")
        };
        let message = err.to_string();
        assert!(
            message.starts_with("`skus.json` is not valid JSON (line 2, column"),
            "{message}"
        );
    }

    #[test]
    fn text_that_does_not_start_like_json_is_text() {
        let file = RawFile::from_text("solutions", "s.txt", "Connected as x\n");
        assert!(matches!(file.content().unwrap(), Content::Text(_)));
    }

    #[test]
    fn members_are_found_whatever_their_case() {
        let value = json!({"UniqueName": "a", "version": " 1.0 "});
        let members = value.as_object().unwrap();
        assert_eq!(str_ci(members, "uniquename"), Some("a"));
        assert_eq!(str_ci(members, "Version"), Some("1.0"));
        assert_eq!(str_ci(members, "missing"), None);
    }

    #[test]
    fn versions_guids_and_urls() {
        assert!(is_dotted_version("1.0.24062.1"));
        assert!(is_dotted_version("9.2"));
        assert!(!is_dotted_version("1"));
        assert!(!is_dotted_version("1.0.0.0.1"));
        assert!(!is_dotted_version("1.x"));
        assert!(is_guid("6f1c2a3e-8d4b-4c61-9a57-0b2e3f4d5c6a"));
        assert!(!is_guid("Default-6f1c2a3e-8d4b-4c61-9a57-0b2e3f4d5c6a"));
        assert_eq!(
            clean_url("https://org.crm4.dynamics.com/").as_deref(),
            Some("https://org.crm4.dynamics.com")
        );
        assert_eq!(clean_url("http://org.crm4.dynamics.com"), None);
        assert_eq!(
            url_host("HTTPS://Org.CRM4.dynamics.com/main.aspx").as_deref(),
            Some("org.crm4.dynamics.com")
        );
    }

    #[test]
    fn map_states_are_read_from_their_spellings() {
        assert_eq!(map_state("Running"), Some("Running"));
        assert_eq!(map_state("NotRunning"), Some("Not running"));
        assert_eq!(map_state("not running"), Some("Not running"));
        assert_eq!(map_state("Stopped"), Some("Not running"));
        assert_eq!(map_state("PAUSED"), Some("Paused"));
        assert_eq!(map_state("Initialising"), Some("Initializing"));
        assert_eq!(map_state("Resuming"), Some("Resuming"));
        assert_eq!(map_state("Broken"), None);
        assert!(state_rank("Not running") > state_rank("Paused"));
        assert!(state_rank("Paused") > state_rank("Running"));
    }
}
