//! Waivers: findings a person accepted, for a reason, under their name, until a
//! date (`docs/waivers.md`). A waived finding stays in the report, marked, and does
//! not fail the gate. A waiver past its date stops applying and says so (`PF001`); a
//! waiver that waives nothing is reported (`PF002`) so stale ones get removed.
//!
//! Dates are compared as `YYYY-MM-DD` strings once checked; today is the system
//! clock's UTC date, or `PREFLIGHT_TODAY` when set (for tests and replays).

use super::ReportFinding;
use super::lines::line_of;
use crate::inputs::InputError;
use crate::model::{Finding, RuleInfo, Severity};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The policy name of preflight's own findings.
pub const PREFLIGHT: &str = "preflight";
/// The document name of findings about the waivers file.
pub const DOCUMENT: &str = "waivers";
/// A waiver past its `expires` date.
pub const EXPIRED: &str = "PF001";
/// A waiver that waived nothing.
pub const UNUSED: &str = "PF002";

/// preflight's own rules, about the waivers file.
pub fn preflight_rules() -> &'static [RuleInfo] {
    static RULES: LazyLock<Vec<RuleInfo>> = LazyLock::new(|| {
        vec![
            RuleInfo {
                id: EXPIRED.to_owned(),
                title: "Waivers are not past their expiry date".to_owned(),
                default_severity: Severity::Warning,
                help: "A waiver accepts a finding until its `expires` date (included). After \
                       that date it no longer applies: the findings it covered count again, \
                       and this warning names the waiver. Fix what it covered, or review it \
                       and set a new `expires` date; remove it when it is no longer needed."
                    .to_owned(),
                help_url: None,
            },
            RuleInfo {
                id: UNUSED.to_owned(),
                title: "Every waiver waives a finding".to_owned(),
                default_severity: Severity::Info,
                help: "A waiver that matches no finding (the finding was fixed, or its \
                       `rule` or `scope` is wrong) is stale: remove it, or correct its \
                       `rule` and `scope`, so the waivers file lists only risks accepted \
                       today."
                    .to_owned(),
                help_url: None,
            },
        ]
    });
    &RULES
}

/// Why the waivers file cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WaiverError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("`{path}`: invalid waiver at `{pointer}`: {message}")]
    Invalid {
        path: PathBuf,
        pointer: String,
        message: String,
    },
    #[error("PREFLIGHT_TODAY is `{0}`, which is not a date: write it as YYYY-MM-DD")]
    Today(String),
}

/// Where a waiver applies. Every key given must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Scope {
    /// The environment's id (`/environment/id` of the environment document).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The site's id or name (`/website/id` or `/website/name` of the site document).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The finding's document: `environment`, `site`, `template`, `base-template`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// A glob over the finding's pointer: `*` within a segment, `**` across segments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

/// One waiver, as read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Waiver {
    /// Its JSON pointer in the file: `/waivers/2`.
    pub entry: String,
    pub rule: String,
    pub scope: Scope,
    pub reason: String,
    pub owner: String,
    /// The last day it applies, `YYYY-MM-DD`.
    pub expires: String,
}

/// What the environment and site of a check are, for the scopes.
#[derive(Clone, Debug, Default)]
pub struct Context {
    environment: Option<String>,
    site: Vec<String>,
}

impl Context {
    /// From the check's documents, by name (`environment`, `site`...).
    pub fn new<'a>(documents: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Context {
        let mut context = Context::default();
        for (name, value) in documents {
            match name {
                "environment" => {
                    context.environment = value
                        .pointer("/environment/id")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
                "site" => {
                    context.site = ["/website/id", "/website/name"]
                        .iter()
                        .filter_map(|pointer| value.pointer(pointer)?.as_str())
                        .map(str::to_owned)
                        .collect();
                }
                _ => {}
            }
        }
        context
    }
}

/// The waiver that accepted a finding, as the report shows it on the finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppliedWaiver {
    /// The waiver's pointer in the waivers file: `/waivers/2`.
    pub entry: String,
    pub reason: String,
    pub owner: String,
    pub expires: String,
}

/// A finding a waiver accepted, as the waiver's entry in the report lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaivedFinding {
    pub rule_id: String,
    pub policy: String,
    pub document: String,
    pub pointer: String,
}

/// What became of a waiver in a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaiverStatus {
    /// It waived at least one finding.
    Applied,
    /// It waived nothing (`PF002`).
    Unused,
    /// It is past its date and no longer applies (`PF001`).
    Expired,
}

/// A waiver and the findings it waived, as the report records it.
#[derive(Clone, Debug, Serialize)]
pub struct WaiverRecord {
    pub entry: String,
    pub rule: String,
    pub scope: Scope,
    pub reason: String,
    pub owner: String,
    pub expires: String,
    pub status: WaiverStatus,
    pub waived: Vec<WaivedFinding>,
}

/// The waivers file of a check: the evidence of what was accepted.
#[derive(Clone, Debug, Serialize)]
pub struct WaiversRecord {
    pub path: String,
    pub sha256: String,
    /// The date the expiry dates were compared with.
    pub today: String,
    pub entries: Vec<WaiverRecord>,
}

/// A waivers file, read and checked.
#[derive(Clone, Debug)]
pub struct Waivers {
    pub path: PathBuf,
    pub sha256: String,
    pub waivers: Vec<Waiver>,
    text: String,
}

const ENTRY_KEYS: [&str; 5] = ["rule", "scope", "reason", "owner", "expires"];
const SCOPE_KEYS: [&str; 4] = ["environment", "site", "document", "pointer"];

impl Waivers {
    /// Reads a waivers file (JSON or YAML): an object with a `waivers` list (or the
    /// list itself). Every problem names the file and the place in it.
    pub fn load(path: &Path) -> Result<Waivers, WaiverError> {
        let bytes = std::fs::read(path).map_err(|source| InputError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes.clone()).map_err(|err| InputError::Shape {
            path: path.to_owned(),
            message: format!("not UTF-8 text (byte {})", err.utf8_error().valid_up_to()),
        })?;
        let value = crate::inputs::parse(path, &text)?;
        let invalid = |pointer: &str, message: String| WaiverError::Invalid {
            path: path.to_owned(),
            pointer: pointer.to_owned(),
            message,
        };
        let (list, base) = match &value {
            Value::Array(list) => (list, ""),
            Value::Object(members) => {
                if let Some(key) = members.keys().find(|key| *key != "waivers") {
                    return Err(invalid(
                        &format!("/{}", escape(key)),
                        format!("unknown key `{key}`: the file holds a `waivers` list"),
                    ));
                }
                match members.get("waivers") {
                    Some(Value::Array(list)) => (list, "/waivers"),
                    Some(_) => {
                        return Err(invalid("/waivers", "`waivers` must be a list".into()));
                    }
                    None => {
                        return Err(invalid("", "the file must hold a `waivers` list".into()));
                    }
                }
            }
            _ => {
                return Err(invalid(
                    "",
                    "the file must be an object with a `waivers` list".into(),
                ));
            }
        };
        let waivers = list
            .iter()
            .enumerate()
            .map(|(index, item)| Waiver::parse(&format!("{base}/{index}"), item))
            .collect::<Result<Vec<Waiver>, (String, String)>>()
            .map_err(|(pointer, message)| invalid(&pointer, message))?;
        Ok(Waivers {
            path: path.to_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            waivers,
            text,
        })
    }

    /// Marks the findings the waivers accept (the first waiver that matches wins),
    /// then adds a `PF001` finding for each expired waiver and a `PF002` finding for
    /// each waiver that waived nothing. Returns the record for the report.
    pub fn apply(
        &self,
        findings: &mut Vec<ReportFinding>,
        context: &Context,
        today: &str,
    ) -> WaiversRecord {
        let expired: Vec<bool> = self
            .waivers
            .iter()
            .map(|waiver| waiver.expires.as_str() < today)
            .collect();
        let mut matched = vec![0usize; self.waivers.len()];
        let mut waived: Vec<Vec<WaivedFinding>> = vec![Vec::new(); self.waivers.len()];
        for finding in findings.iter_mut() {
            if finding.policy == PREFLIGHT {
                continue;
            }
            let mut first = None;
            for (index, waiver) in self.waivers.iter().enumerate() {
                if !expired[index] && waiver.matches(finding, context) {
                    matched[index] += 1;
                    first.get_or_insert(index);
                }
            }
            if let Some(index) = first {
                let waiver = &self.waivers[index];
                finding.waiver = Some(AppliedWaiver {
                    entry: waiver.entry.clone(),
                    reason: waiver.reason.clone(),
                    owner: waiver.owner.clone(),
                    expires: waiver.expires.clone(),
                });
                waived[index].push(WaivedFinding {
                    rule_id: finding.rule_id.clone(),
                    policy: finding.policy.clone(),
                    document: finding.document.clone(),
                    pointer: finding.pointer.clone(),
                });
            }
        }

        let mut entries = Vec::new();
        for ((index, waiver), waived) in self.waivers.iter().enumerate().zip(waived) {
            let status = if expired[index] {
                findings.push(self.finding(
                    waiver,
                    EXPIRED,
                    format!(
                        "the waiver of `{}` (owner: {}) expired on {}: it no longer applies, \
                         and the findings it covered count again",
                        waiver.rule, waiver.owner, waiver.expires
                    ),
                    "fix what it covered, or review it and set a new `expires` date; remove \
                     it when it is no longer needed",
                ));
                WaiverStatus::Expired
            } else if waived.is_empty() {
                let message = if matched[index] > 0 {
                    format!(
                        "the waiver of `{}` (owner: {}) waives nothing: an earlier waiver \
                         already covers every finding it matches",
                        waiver.rule, waiver.owner
                    )
                } else {
                    format!(
                        "the waiver of `{}` (owner: {}) matches no finding",
                        waiver.rule, waiver.owner
                    )
                };
                findings.push(self.finding(
                    waiver,
                    UNUSED,
                    message,
                    "remove it if the finding was fixed, or correct its `rule` and `scope`",
                ));
                WaiverStatus::Unused
            } else {
                WaiverStatus::Applied
            };
            entries.push(WaiverRecord {
                entry: waiver.entry.clone(),
                rule: waiver.rule.clone(),
                scope: waiver.scope.clone(),
                reason: waiver.reason.clone(),
                owner: waiver.owner.clone(),
                expires: waiver.expires.clone(),
                status,
                waived,
            });
        }
        WaiversRecord {
            path: self.path.display().to_string(),
            sha256: self.sha256.clone(),
            today: today.to_owned(),
            entries,
        }
    }

    /// A finding of preflight's own about a waiver.
    fn finding(
        &self,
        waiver: &Waiver,
        rule: &str,
        message: String,
        remediation: &str,
    ) -> ReportFinding {
        let severity = preflight_rules()
            .iter()
            .find(|info| info.id == rule)
            .map_or(Severity::Warning, |info| info.default_severity);
        ReportFinding {
            finding: Finding {
                rule_id: rule.to_owned(),
                policy: PREFLIGHT.to_owned(),
                severity,
                message,
                document: DOCUMENT.to_owned(),
                file: Some(self.path.display().to_string()),
                pointer: waiver.entry.clone(),
                remediation: Some(remediation.to_owned()),
            },
            line: line_of(&self.text, &waiver.entry),
            waiver: None,
        }
    }
}

impl Waiver {
    /// Checks one entry; an error is the pointer of the problem and what is wrong.
    fn parse(entry: &str, item: &Value) -> Result<Waiver, (String, String)> {
        let Value::Object(members) = item else {
            return Err((
                entry.to_owned(),
                "a waiver is an object with `rule`, `scope`, `reason`, `owner` and `expires`"
                    .into(),
            ));
        };
        if let Some(key) = members
            .keys()
            .find(|key| !ENTRY_KEYS.contains(&key.as_str()))
        {
            return Err((
                format!("{entry}/{}", escape(key)),
                format!(
                    "unknown key `{key}` (a waiver has `rule`, `scope`, `reason`, `owner` and \
                     `expires`)"
                ),
            ));
        }
        let text = |key: &str, what: &str| -> Result<String, (String, String)> {
            let pointer = format!("{entry}/{key}");
            match members.get(key) {
                None | Some(Value::Null) => Err((pointer, format!("`{key}` is missing: {what}"))),
                Some(Value::String(value)) if value.trim().is_empty() => {
                    Err((pointer, format!("`{key}` is empty: {what}")))
                }
                Some(Value::String(value)) => Ok(value.trim().to_owned()),
                Some(_) => Err((pointer, format!("`{key}` must be a string: {what}"))),
            }
        };
        let rule = text("rule", "the id of the rule it waives, e.g. `CP004`")?;
        let scope = Scope::parse(&format!("{entry}/scope"), members.get("scope"))?;
        let reason = text("reason", "why the finding is accepted")?;
        let owner = text("owner", "who accepted the finding and answers for it")?;
        let expires = text("expires", "the last day it applies, as YYYY-MM-DD")?;
        if !is_date(&expires) {
            return Err((
                format!("{entry}/expires"),
                format!("`{expires}` is not a date: write it as YYYY-MM-DD"),
            ));
        }
        Ok(Waiver {
            entry: entry.to_owned(),
            rule,
            scope,
            reason,
            owner,
            expires,
        })
    }

    fn matches(&self, finding: &Finding, context: &Context) -> bool {
        let scope = &self.scope;
        finding.rule_id == self.rule
            && scope.environment.as_ref().is_none_or(|id| {
                context
                    .environment
                    .as_ref()
                    .is_some_and(|actual| actual.eq_ignore_ascii_case(id))
            })
            && scope.site.as_ref().is_none_or(|site| {
                context
                    .site
                    .iter()
                    .any(|actual| actual.eq_ignore_ascii_case(site))
            })
            && scope
                .document
                .as_ref()
                .is_none_or(|document| *document == finding.document)
            && scope
                .pointer
                .as_ref()
                .is_none_or(|pattern| pointer_matches(pattern, &finding.pointer))
    }
}

impl Scope {
    fn parse(pointer: &str, value: Option<&Value>) -> Result<Scope, (String, String)> {
        let needs = "a waiver's scope needs at least one of `environment`, `site`, `document` \
                     and `pointer`";
        let members = match value {
            None | Some(Value::Null) => {
                return Err((pointer.to_owned(), format!("`scope` is missing: {needs}")));
            }
            Some(Value::Object(members)) => members,
            Some(_) => {
                return Err((
                    pointer.to_owned(),
                    format!("`scope` must be an object: {needs}"),
                ));
            }
        };
        if members.is_empty() {
            return Err((pointer.to_owned(), format!("`scope` is empty: {needs}")));
        }
        let mut scope = Scope::default();
        for (key, value) in members {
            let at = format!("{pointer}/{}", escape(key));
            let Some(slot) = (match key.as_str() {
                "environment" => Some(&mut scope.environment),
                "site" => Some(&mut scope.site),
                "document" => Some(&mut scope.document),
                "pointer" => Some(&mut scope.pointer),
                _ => None,
            }) else {
                return Err((
                    at,
                    format!(
                        "unknown key `{key}` (a scope has {})",
                        SCOPE_KEYS.map(|k| format!("`{k}`")).join(", ")
                    ),
                ));
            };
            let Value::String(text) = value else {
                return Err((at, format!("`{key}` must be a string")));
            };
            if key != "pointer" && text.trim().is_empty() {
                return Err((at, format!("`{key}` is empty")));
            }
            if key == "pointer" && !(text.is_empty() || text.starts_with('/')) {
                return Err((
                    at,
                    format!(
                        "`{text}` is not a JSON pointer: it starts with `/`, e.g. \
                         `/dualWrite/maps/*/state`"
                    ),
                ));
            }
            *slot = Some(text.trim().to_owned());
        }
        Ok(scope)
    }
}

/// A JSON pointer segment for a key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Whether `pointer` matches the glob `pattern`: segment by segment, `*` any text
/// within a segment, a `**` segment any number of segments (none included).
pub fn pointer_matches(pattern: &str, pointer: &str) -> bool {
    fn split(pointer: &str) -> Vec<&str> {
        match pointer.strip_prefix('/') {
            Some(rest) => rest.split('/').collect(),
            None => Vec::new(),
        }
    }
    fn segments(pattern: &[&str], pointer: &[&str]) -> bool {
        match pattern.split_first() {
            None => pointer.is_empty(),
            Some((&"**", rest)) => (0..=pointer.len()).any(|skip| segments(rest, &pointer[skip..])),
            Some((first, rest)) => pointer
                .split_first()
                .is_some_and(|(head, tail)| segment(first, head) && segments(rest, tail)),
        }
    }
    fn segment(pattern: &str, text: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == text,
            Some((prefix, rest)) => {
                let Some(text) = text.strip_prefix(prefix) else {
                    return false;
                };
                (0..=text.len())
                    .filter(|at| text.is_char_boundary(*at))
                    .any(|at| segment(rest, &text[at..]))
            }
        }
    }
    segments(&split(pattern), &split(pointer))
}

/// Whether `text` is a real date written `YYYY-MM-DD`.
pub fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 10
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
    {
        return false;
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Today's date, `YYYY-MM-DD`: `PREFLIGHT_TODAY` when set, else the system clock (UTC).
pub fn today() -> Result<String, WaiverError> {
    match std::env::var_os("PREFLIGHT_TODAY") {
        Some(value) => {
            let value = value.to_string_lossy().into_owned();
            if is_date(&value) {
                Ok(value)
            } else {
                Err(WaiverError::Today(value))
            }
        }
        None => {
            let (year, month, day) = civil(seconds(SystemTime::now()).div_euclid(86_400));
            Ok(format!("{year:04}-{month:02}-{day:02}"))
        }
    }
}

/// A time as RFC 3339 in UTC, to the millisecond: `2025-03-01T09:30:00.250Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let millis = match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis() as i64,
        Err(before) => -(before.duration().as_millis() as i64),
    };
    let secs = millis.div_euclid(1000);
    let (year, month, day) = civil(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        millis.rem_euclid(1000)
    )
}

fn seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

/// The civil date of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn globs_match_within_and_across_segments() {
        assert!(pointer_matches(
            "/dualWrite/maps/9/state",
            "/dualWrite/maps/9/state"
        ));
        assert!(pointer_matches(
            "/dualWrite/maps/*/state",
            "/dualWrite/maps/12/state"
        ));
        assert!(!pointer_matches(
            "/dualWrite/maps/*",
            "/dualWrite/maps/12/state"
        ));
        assert!(pointer_matches("/dualWrite/**", "/dualWrite/maps/12/state"));
        assert!(pointer_matches("/dualWrite/**", "/dualWrite"));
        assert!(pointer_matches("/**/state", "/dualWrite/maps/1/state"));
        assert!(pointer_matches("/solutions/1*", "/solutions/14"));
        assert!(!pointer_matches("/solutions/1*", "/solutions/4"));
        assert!(pointer_matches("/a/*b*c", "/a/xbyc"));
        assert!(pointer_matches("", ""));
        assert!(!pointer_matches("", "/a"));
        assert!(pointer_matches("/**", ""));
    }

    #[test]
    fn dates_are_checked() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2024-13-01"));
        assert!(!is_date("2024-1-01"));
        assert!(!is_date("2024-01-00"));
        assert!(is_date("2000-12-31"));
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let time = UNIX_EPOCH + Duration::from_millis(1_709_164_800_250 + 3_723_000);
        assert_eq!(rfc3339(time), "2024-02-29T01:02:03.250Z");
        assert_eq!(civil(-1), (1969, 12, 31));
    }

    fn finding(rule: &str, document: &str, pointer: &str) -> ReportFinding {
        ReportFinding {
            finding: Finding {
                rule_id: rule.into(),
                policy: "p".into(),
                severity: Severity::Error,
                message: "m".into(),
                document: document.into(),
                file: None,
                pointer: pointer.into(),
                remediation: None,
            },
            line: None,
            waiver: None,
        }
    }

    #[test]
    fn the_first_matching_waiver_wins_and_the_others_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("waivers.yaml");
        std::fs::write(
            &path,
            "waivers:\n\
             - rule: CP004\n  scope: {environment: ENV-1, pointer: /maps/*/state}\n  reason: r\n  owner: o\n  expires: 2030-01-01\n\
             - rule: CP004\n  scope: {document: environment}\n  reason: r\n  owner: o\n  expires: 2030-01-01\n\
             - rule: CP004\n  scope: {document: environment}\n  reason: r\n  owner: o\n  expires: 2020-01-01\n\
             - rule: CP009\n  scope: {site: portal}\n  reason: r\n  owner: o\n  expires: 2030-01-01\n",
        )
        .unwrap();
        let waivers = Waivers::load(&path).unwrap();
        let env = serde_json::json!({"environment": {"id": "env-1"}});
        let context = Context::new([("environment", &env)]);
        let mut findings = vec![
            finding("CP004", "environment", "/maps/3/state"),
            finding("CP004", "environment", "/maps"),
        ];
        let record = waivers.apply(&mut findings, &context, "2025-06-01");
        assert_eq!(findings[0].waiver.as_ref().unwrap().entry, "/waivers/0");
        assert_eq!(findings[1].waiver.as_ref().unwrap().entry, "/waivers/1");
        let status: Vec<WaiverStatus> = record.entries.iter().map(|e| e.status).collect();
        assert_eq!(
            status,
            [
                WaiverStatus::Applied,
                WaiverStatus::Applied,
                WaiverStatus::Expired,
                WaiverStatus::Unused
            ]
        );
        let own: Vec<(&str, &str, Option<usize>)> = findings[2..]
            .iter()
            .map(|f| (f.rule_id.as_str(), f.pointer.as_str(), f.line))
            .collect();
        assert_eq!(
            own,
            [
                (EXPIRED, "/waivers/2", Some(12)),
                (UNUSED, "/waivers/3", Some(17))
            ]
        );
    }

    #[test]
    fn errors_name_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("waivers.json");
        let check = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Waivers::load(&path).unwrap_err().to_string()
        };
        let ok = r#"{"rule": "CP004", "scope": {"document": "environment"}, "reason": "r", "owner": "o", "expires": "2030-01-01"}"#;
        let err = check(&format!(
            r#"{{"waivers": [{ok}, {{"rule": "CP004", "scope": {{"pointer": "/a"}}, "reason": "r", "expires": "2030-01-01"}}]}}"#
        ));
        assert!(
            err.contains("invalid waiver at `/waivers/1/owner`: `owner` is missing"),
            "{err}"
        );
        let err = check(&format!(
            r#"{{"waivers": [{ok}, {ok}, {}]}}"#,
            ok.replace("2030-01-01", "2030-02-30")
        ));
        assert!(
            err.contains("at `/waivers/2/expires`: `2030-02-30` is not a date"),
            "{err}"
        );
        let err = check(&format!(
            r#"{{"waivers": [{}]}}"#,
            ok.replace(r#"{"document": "environment"}"#, "{}")
        ));
        assert!(
            err.contains("at `/waivers/0/scope`: `scope` is empty"),
            "{err}"
        );
        let err = check(&format!(
            r#"{{"waivers": [{}]}}"#,
            ok.replace("document", "documnet")
        ));
        assert!(
            err.contains("at `/waivers/0/scope/documnet`: unknown key"),
            "{err}"
        );
        let err = check(r#"{"waiver": []}"#);
        assert!(err.contains("at `/waiver`: unknown key `waiver`"), "{err}");
        assert!(err.starts_with(&format!("`{}`", path.display())), "{err}");
    }
}
