//! The comparison of a site with a template, record by record and field by field.
//!
//! Pure Rust on `serde_json` values, with no access to the host: the drift policy
//! runs it in its sandbox, and `preflight plan` includes this very file
//! (`#[path]`) so the plan and the policy's findings always agree.
//!
//! Records are matched by their stable `key` (see `docs/site.md`). A field's value is
//! its lookup target (`refs`) when it has one, else its value; a companion file is
//! compared by its sha256. A missing field and `null` are the same.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A record of a `site` document (only what the comparison reads).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Record {
    pub key: String,
    pub file: String,
    pub id: Option<String>,
    pub page: Option<String>,
    pub language: Option<String>,
    pub fields: Map<String, Value>,
    pub refs: Map<String, Value>,
    pub companions: BTreeMap<String, Companion>,
}

/// A column written to a file of its own.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Companion {
    pub file: String,
    pub sha256: String,
}

/// `tables` of a `site` document.
pub type Tables = BTreeMap<String, Vec<Record>>;

/// What kind of difference, in the order a plan lists them (conflicts first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Changed differently on both sides (three-way only).
    Conflict,
    /// Changed in the new template only: apply it to the site.
    TemplateChange,
    /// A record of the new template that the site does not have.
    Added,
    /// A record the site has and the new template does not.
    Removed,
    /// A field that differs, when there is no base template to tell who changed it.
    Differs,
    /// Changed in the site only: a local customisation to keep.
    Local,
}

/// A value on one side: a column's value (or lookup target), or a companion file.
#[derive(Clone, Debug, PartialEq)]
pub enum Side {
    Value(Value),
    File(Companion),
}

/// One difference.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub kind: Kind,
    pub table: String,
    pub key: String,
    /// The web page a record belongs to (`adx_webpage` only).
    pub page: Option<String>,
    /// The column; `None` when the record as a whole was added or removed.
    pub field: Option<String>,
    /// Whether `field` is a column written to a file of its own.
    pub companion: bool,
    /// Whether `field` is a lookup: its values are `table:key` of the records it names.
    pub lookup: bool,
    pub base: Option<Side>,
    pub site: Option<Side>,
    pub template: Option<Side>,
    /// Where the record is in the `tables/<table>` arrays of each document.
    pub site_index: Option<usize>,
    pub template_index: Option<usize>,
    pub base_index: Option<usize>,
    /// The record's file in each folder.
    pub site_file: Option<String>,
    pub template_file: Option<String>,
    /// For a record-level change: the side that changed the record while the other
    /// added or removed it (a conflict), or `None`.
    pub note: Option<Note>,
    /// No base template: who changed what is unknown.
    pub two_way: bool,
}

/// Why a record-level change is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// The site deleted a record the template still has (and did not change).
    RemovedInSite,
    /// The site added a record that neither template has.
    AddedInSite,
    /// The site deleted a record that the new template changed.
    RemovedInSiteChangedInTemplate,
    /// The template removed a record that the site changed.
    RemovedInTemplateChangedInSite,
}

/// What people call the records of a table.
pub fn table_label(table: &str) -> &str {
    match table {
        "adx_website" => "website",
        "adx_websitelanguage" => "website language",
        "adx_portallanguage" => "portal language",
        "adx_publishingstate" => "publishing state",
        "adx_sitesetting" => "site setting",
        "adx_sitemarker" => "site marker",
        "adx_webrole" => "web role",
        "adx_websiteaccess" => "website access permission",
        "adx_redirect" => "redirect",
        "adx_webpage" => "web page",
        "adx_contentsnippet" => "content snippet",
        "adx_webtemplate" => "web template",
        "adx_pagetemplate" => "page template",
        "adx_weblinkset" => "web link set",
        "adx_weblink" => "web link",
        "adx_entitypermission" => "table permission",
        "adx_entityform" => "basic form",
        "adx_entityformmetadata" => "basic form metadata",
        "adx_webform" => "advanced form",
        "adx_webformstep" => "advanced form step",
        "adx_webformmetadata" => "advanced form metadata",
        "adx_entitylist" => "list",
        "adx_webfile" => "web file",
        other => other,
    }
}

/// What people call a column written to a file of its own.
pub fn companion_label(column: &str) -> &str {
    match column {
        "adx_copy" => "page copy",
        "adx_customcss" => "custom CSS",
        "adx_customjavascript" => "custom JavaScript",
        "adx_summary" => "summary",
        "adx_value" => "value",
        "adx_source" => "source",
        "content" => "content",
        other => other,
    }
}

/// The comparable value of a column: its lookup target when it has one.
fn field_value(record: &Record, field: &str) -> Option<Value> {
    if let Some(target) = record.refs.get(field) {
        return Some(target.clone());
    }
    match record.fields.get(field) {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.clone()),
    }
}

fn companion_value(record: &Record, column: &str) -> Option<Companion> {
    record.companions.get(column).cloned()
}

/// A column of a record: a field, or a companion file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Column {
    Field(String),
    File(String),
}

fn columns<'a>(records: impl Iterator<Item = &'a Record>) -> BTreeSet<Column> {
    let mut columns = BTreeSet::new();
    for record in records {
        columns.extend(record.fields.keys().map(|name| Column::Field(name.clone())));
        columns.extend(record.refs.keys().map(|name| Column::Field(name.clone())));
        columns.extend(
            record
                .companions
                .keys()
                .map(|name| Column::File(name.clone())),
        );
    }
    columns
}

fn side(record: Option<&Record>, column: &Column) -> Option<Side> {
    let record = record?;
    match column {
        Column::Field(name) => field_value(record, name).map(Side::Value),
        Column::File(name) => companion_value(record, name).map(Side::File),
    }
}

/// Two sides are the same: the same value, or the same file content.
fn same(a: &Option<Side>, b: &Option<Side>) -> bool {
    match (a, b) {
        (Some(Side::File(a)), Some(Side::File(b))) => a.sha256 == b.sha256,
        _ => a == b,
    }
}

/// Whether two records have the same content (every column the same).
fn same_record(a: &Record, b: &Record) -> bool {
    columns([a, b].into_iter())
        .iter()
        .all(|column| same(&side(Some(a), column), &side(Some(b), column)))
}

struct Indexed<'t> {
    records: &'t [Record],
    by_key: HashMap<&'t str, usize>,
}

impl<'t> Indexed<'t> {
    fn new(records: &'t [Record]) -> Indexed<'t> {
        let mut by_key = HashMap::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            by_key.entry(record.key.as_str()).or_insert(i);
        }
        Indexed { records, by_key }
    }

    fn get(&self, key: &str) -> Option<(usize, &'t Record)> {
        self.by_key.get(key).map(|&i| (i, &self.records[i]))
    }
}

/// Compares a site with a new template, three-way when the base template (the one
/// the site was provisioned from) is given, else two-way. Sorted by kind (conflicts
/// first), table, page, key and column.
pub fn diff(site: &Tables, template: &Tables, base: Option<&Tables>) -> Vec<Change> {
    let empty: Vec<Record> = Vec::new();
    let mut tables: BTreeSet<&str> = site.keys().map(String::as_str).collect();
    tables.extend(template.keys().map(String::as_str));
    if let Some(base) = base {
        tables.extend(base.keys().map(String::as_str));
    }
    let mut changes = Vec::new();
    for table in tables {
        let s = Indexed::new(site.get(table).unwrap_or(&empty));
        let t = Indexed::new(template.get(table).unwrap_or(&empty));
        let b = base.map(|base| Indexed::new(base.get(table).unwrap_or(&empty)));
        let mut keys: BTreeSet<&str> = s.by_key.keys().copied().collect();
        keys.extend(t.by_key.keys().copied());
        if let Some(b) = &b {
            keys.extend(b.by_key.keys().copied());
        }
        for key in keys {
            let site_record = s.get(key);
            let template_record = t.get(key);
            let base_record = b.as_ref().and_then(|b| b.get(key));
            compare_record(
                &mut changes,
                table,
                key,
                site_record,
                template_record,
                base_record,
                b.is_some(),
            );
        }
    }
    changes.sort_by(|a, b| {
        (a.kind, &a.table, &a.page, &a.key, &a.field)
            .cmp(&(b.kind, &b.table, &b.page, &b.key, &b.field))
    });
    changes
}

#[allow(clippy::too_many_arguments)]
fn record_change(
    kind: Kind,
    table: &str,
    key: &str,
    site: Option<(usize, &Record)>,
    template: Option<(usize, &Record)>,
    base: Option<(usize, &Record)>,
    note: Option<Note>,
    two_way: bool,
) -> Change {
    let page = site
        .or(template)
        .or(base)
        .and_then(|(_, record)| record.page.clone());
    Change {
        kind,
        table: table.to_owned(),
        key: key.to_owned(),
        page,
        field: None,
        companion: false,
        lookup: false,
        base: None,
        site: None,
        template: None,
        site_index: site.map(|(i, _)| i),
        template_index: template.map(|(i, _)| i),
        base_index: base.map(|(i, _)| i),
        site_file: site.map(|(_, record)| record.file.clone()),
        template_file: template.map(|(_, record)| record.file.clone()),
        note,
        two_way,
    }
}

fn compare_record(
    changes: &mut Vec<Change>,
    table: &str,
    key: &str,
    site: Option<(usize, &Record)>,
    template: Option<(usize, &Record)>,
    base: Option<(usize, &Record)>,
    three_way: bool,
) {
    let two_way = !three_way;
    let whole = |kind, note| record_change(kind, table, key, site, template, base, note, two_way);
    match (site, template, base) {
        (None, None, _) => {}
        // New in the template (or, two-way, possibly deleted in the site).
        (None, Some(_), None) => changes.push(whole(Kind::Added, None)),
        // Two-way: only in the site, who knows why.
        (Some(_), None, None) if two_way => changes.push(whole(Kind::Removed, None)),
        // Three-way: added in the site.
        (Some(_), None, None) => changes.push(whole(Kind::Local, Some(Note::AddedInSite))),
        // Deleted in the site.
        (None, Some((_, t)), Some((_, b))) => {
            if same_record(t, b) {
                changes.push(whole(Kind::Local, Some(Note::RemovedInSite)));
            } else {
                changes.push(whole(
                    Kind::Conflict,
                    Some(Note::RemovedInSiteChangedInTemplate),
                ));
            }
        }
        // Removed from the new template.
        (Some((_, s)), None, Some((_, b))) => {
            if same_record(s, b) {
                changes.push(whole(Kind::Removed, None));
            } else {
                changes.push(whole(
                    Kind::Conflict,
                    Some(Note::RemovedInTemplateChangedInSite),
                ));
            }
        }
        // On both sides: field by field.
        (Some(s), Some(t), base) => {
            let mut records = vec![s.1, t.1];
            if let Some((_, b)) = base {
                records.push(b);
            }
            for column in columns(records.into_iter()) {
                let site_value = side(Some(s.1), &column);
                let template_value = side(Some(t.1), &column);
                if same(&site_value, &template_value) {
                    continue;
                }
                let base_value = base.and_then(|(_, b)| side(Some(b), &column));
                let kind = if two_way {
                    Kind::Differs
                } else if same(&site_value, &base_value) {
                    Kind::TemplateChange
                } else if same(&template_value, &base_value) {
                    Kind::Local
                } else {
                    // Both changed, differently; or both added the record differently.
                    Kind::Conflict
                };
                let mut change =
                    record_change(kind, table, key, Some(s), Some(t), base, None, two_way);
                let (Column::Field(name) | Column::File(name)) = &column;
                change.field = Some(name.clone());
                change.companion = matches!(column, Column::File(_));
                change.lookup = [Some(s), Some(t), base]
                    .into_iter()
                    .flatten()
                    .any(|(_, record)| record.refs.contains_key(name));
                change.base = base_value;
                change.site = site_value;
                change.template = template_value;
                changes.push(change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tables(value: Value) -> Tables {
        serde_json::from_value(value).unwrap()
    }

    fn setting(key: &str, value: &str) -> Value {
        json!({ "key": key, "file": "sitesetting.yml", "fields": { "adx_name": key, "adx_value": value } })
    }

    #[test]
    fn three_way_cases() {
        let base = tables(json!({ "adx_sitesetting": [
            setting("a", "1"), setting("b", "1"), setting("c", "1"), setting("d", "1"), setting("gone", "1")
        ]}));
        let site = tables(json!({ "adx_sitesetting": [
            setting("a", "1"), setting("b", "2"), setting("c", "2"), setting("d", "2"), setting("gone", "1"), setting("mine", "1")
        ]}));
        let template = tables(json!({ "adx_sitesetting": [
            setting("a", "3"), setting("b", "1"), setting("c", "3"), setting("d", "2"), setting("new", "1")
        ]}));
        let changes = diff(&site, &template, Some(&base));
        let summary: Vec<(Kind, &str, Option<&str>)> = changes
            .iter()
            .map(|c| (c.kind, c.key.as_str(), c.field.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Kind::Conflict, "c", Some("adx_value")),
                (Kind::TemplateChange, "a", Some("adx_value")),
                (Kind::Added, "new", None),
                (Kind::Removed, "gone", None),
                (Kind::Local, "b", Some("adx_value")),
                (Kind::Local, "mine", None),
            ]
        );
    }

    #[test]
    fn two_way_says_so() {
        let site =
            tables(json!({ "adx_sitesetting": [setting("a", "1"), setting("only-site", "1")] }));
        let template = tables(
            json!({ "adx_sitesetting": [setting("a", "2"), setting("only-template", "1")] }),
        );
        let changes = diff(&site, &template, None);
        assert!(changes.iter().all(|c| c.two_way));
        let kinds: Vec<Kind> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, vec![Kind::Added, Kind::Removed, Kind::Differs]);
    }

    #[test]
    fn lookups_compare_by_target_and_files_by_hash() {
        let record = |guid: &str, sha: &str, file: &str| {
            json!({ "key": "/ [en-US]", "file": file,
                "fields": { "adx_pagetemplateid": guid },
                "refs": { "adx_pagetemplateid": "adx_pagetemplate:Home" },
                "companions": { "adx_copy": { "file": file, "sha256": sha } } })
        };
        let site = tables(json!({ "adx_webpage": [record("1", "x", "a.html")] }));
        let template = tables(json!({ "adx_webpage": [record("2", "x", "b.html")] }));
        assert!(diff(&site, &template, None).is_empty());
        let template = tables(json!({ "adx_webpage": [record("2", "y", "b.html")] }));
        let changes = diff(&site, &template, None);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].companion);
    }
}
