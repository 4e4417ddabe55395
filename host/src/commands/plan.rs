//! `preflight plan`: the changes to apply by hand to bring a provisioned site to a
//! new Customer portal template, conflicts first, grouped by table and page, each
//! with the file to edit and the value to take.
//!
//! The comparison is the drift policy's own (`policies/customer-portal-drift/src/diff.rs`,
//! included below), so every item of the plan is a finding of `customer-portal-drift`
//! and the reverse: the item's `rule` is the finding's rule id.

#[path = "../../../policies/customer-portal-drift/src/diff.rs"]
#[allow(dead_code)]
mod diff;

use super::write_output;
use crate::inputs::site::{STANDARD, read_site};
use crate::inputs::{InputError, load_document};
use anyhow::{Context, Result};
use diff::{Change, Kind, Note, Side, Tables, companion_label, table_label};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "\
Examples:
  preflight plan --site examples/contoso-ready/site --template examples/template-v2 \\
                 --base-template examples/template-v1
  preflight plan --site site/ --template new-template/ --format json --output plan.json

The folders are written by `pac pages download` (standard data model). Without
--base-template the comparison is two-way: it cannot tell a template change from a local
customisation.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The provisioned site: a `pac pages download` folder (or a site document)
    #[arg(long, value_name = "DIR")]
    pub site: PathBuf,

    /// The new template, provisioned in a scratch environment and downloaded
    #[arg(long, value_name = "DIR")]
    pub template: PathBuf,

    /// The template the site was provisioned from (makes the comparison three-way)
    #[arg(long, value_name = "DIR")]
    pub base_template: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,

    /// Write the plan here instead of stdout (atomically)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<u8> {
    let site = Folder::load("site", &args.site)?;
    let template = Folder::load("template", &args.template)?;
    let base = match &args.base_template {
        Some(path) => Some(Folder::load("base-template", path)?),
        None => None,
    };
    let plan = build_plan(&site, &template, base.as_ref());
    let text = match args.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&plan)?;
            text.push('\n');
            text
        }
        Format::Markdown => render_markdown(&plan),
    };
    write_output(args.output.as_deref(), &text)?;
    Ok(0)
}

/// A site or template, read and ready to compare.
pub struct Folder {
    pub path: PathBuf,
    pub sha256: String,
    pub value: Value,
    pub tables: Tables,
}

impl Folder {
    /// Reads a `pac pages download` folder, or a site document (JSON or YAML).
    pub fn load(name: &str, path: &Path) -> Result<Folder> {
        let (path, sha256, value) = if path.is_dir() {
            let site = read_site(path)?;
            site.require_standard()?;
            (site.root, site.sha256, site.value)
        } else {
            let input = load_document(name, path)?;
            let value = (*input.value).clone();
            (input.path, input.sha256, value)
        };
        if value["dataModel"].as_str() != Some(STANDARD) {
            return Err(InputError::Shape {
                path,
                message: format!(
                    "not a standard data model site document (`dataModel` is {}): give --{name} a \
                     folder written by `pac pages download`",
                    value["dataModel"]
                ),
            }
            .into());
        }
        let tables: Tables =
            serde_json::from_value(value["tables"].clone()).with_context(|| {
                format!(
                    "`{}`: the site document's `tables` are not records",
                    path.display()
                )
            })?;
        Ok(Folder {
            path,
            sha256,
            value,
            tables,
        })
    }

    /// The text of a companion file, when it is text.
    fn text(&self, file: &str) -> Option<&str> {
        self.value["files"][file]["text"].as_str()
    }

    /// The GUID of the record `table:key` in this folder.
    fn id_of(&self, target: &str) -> Option<&str> {
        let (table, key) = target.split_once(':')?;
        self.tables
            .get(table)?
            .iter()
            .find(|record| record.key == key)?
            .id
            .as_deref()
    }
}

/// The plan, as `--format json` writes it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub schema_version: u32,
    /// `three-way` (with a base template) or `two-way`.
    pub mode: &'static str,
    pub site: Source,
    pub template: Source,
    pub base_template: Option<Source>,
    pub summary: Summary,
    /// Conflicts first, then changes, additions, removals, differences, customisations.
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Source {
    pub path: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub conflicts: usize,
    pub changes: usize,
    pub additions: usize,
    pub removals: usize,
    pub differences: usize,
    pub customisations: usize,
}

/// One thing to do (or, for `keep`, to leave alone).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// `conflict`, `apply`, `add`, `remove`, `review` (two-way difference) or `keep`.
    pub action: &'static str,
    /// The `customer-portal-drift` rule whose finding this item is.
    pub rule: &'static str,
    pub table: String,
    pub page: Option<String>,
    pub key: String,
    /// The column; absent when the whole record is added or removed.
    pub field: Option<String>,
    /// Whether the column is written to a file of its own (page copy, snippet value...).
    pub companion: bool,
    /// Whether the column is a lookup: its values are `table:key` of the records it names.
    pub lookup: bool,
    /// The file to edit in the site folder (for `add`: the file to create, as named in
    /// the template folder).
    pub file: Option<String>,
    /// The record's file in the template folder.
    pub template_file: Option<String>,
    pub base: Option<Value>,
    pub site: Option<Value>,
    pub template: Option<Value>,
    /// The value to take: for `apply`, the template's value (for a companion, its
    /// file); for `add`, the new record as YAML, its lookups set to the site's GUIDs.
    pub take: Option<Value>,
    /// For a lookup whose value to take is a record of the site: that record's GUID there.
    pub take_site_id: Option<String>,
    /// The text of the template's companion file, for `apply` and `add`.
    pub take_text: Option<String>,
    /// For `add`: the lookups of the new record, and the site's GUIDs for them.
    pub lookups: Vec<Lookup>,
    /// What to do, in a sentence.
    pub todo: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    pub field: String,
    /// `table:key` of the record it names (or several, for a many-to-many column).
    pub target: Value,
    /// The GUIDs of those records in the site; `null` for a record the site does not
    /// have yet (add it first).
    pub site_ids: Vec<Option<String>>,
}

fn side_value(side: &Option<Side>) -> Option<Value> {
    match side {
        None => None,
        Some(Side::Value(value)) => Some(value.clone()),
        Some(Side::File(file)) => Some(json!({ "file": file.file, "sha256": file.sha256 })),
    }
}

fn file_of(side: &Option<Side>) -> Option<&str> {
    match side {
        Some(Side::File(file)) => Some(&file.file),
        _ => None,
    }
}

/// Compares and turns every difference into an item.
pub fn build_plan(site: &Folder, template: &Folder, base: Option<&Folder>) -> Plan {
    let changes = diff::diff(
        &site.tables,
        &template.tables,
        base.map(|base| &base.tables),
    );
    let mut items: Vec<Item> = changes
        .iter()
        .map(|change| item(change, site, template))
        .collect();
    items.sort_by_key(|item| (action_rank(item.action), table_rank(&item.table)));
    let mut summary = Summary::default();
    for item in &items {
        match item.action {
            "conflict" => summary.conflicts += 1,
            "apply" => summary.changes += 1,
            "add" => summary.additions += 1,
            "remove" => summary.removals += 1,
            "review" => summary.differences += 1,
            _ => summary.customisations += 1,
        }
    }
    let source = |folder: &Folder| Source {
        path: folder.path.display().to_string(),
        sha256: folder.sha256.clone(),
    };
    Plan {
        schema_version: 1,
        mode: if base.is_some() {
            "three-way"
        } else {
            "two-way"
        },
        site: source(site),
        template: source(template),
        base_template: base.map(source),
        summary,
        items,
    }
}

/// Files that hold a list of records (a new record is added to them, not created).
fn is_list_file(file: &str) -> bool {
    const LISTS: &[&str] = &[
        "sitesetting.yml",
        "sitemarker.yml",
        "webrole.yml",
        "websiteaccess.yml",
        "websitelanguage.yml",
        "publishingstate.yml",
        "redirect.yml",
    ];
    LISTS.contains(&file) || file.ends_with(".weblink.yml") || file.ends_with("metadata.yml")
}

fn action_rank(action: &str) -> usize {
    ["conflict", "apply", "add", "remove", "review", "keep"]
        .iter()
        .position(|known| *known == action)
        .unwrap_or(usize::MAX)
}

/// Tables in the order records are best created: what others point at first.
const TABLE_ORDER: &[&str] = &[
    "adx_website",
    "adx_portallanguage",
    "adx_websitelanguage",
    "adx_publishingstate",
    "adx_webrole",
    "adx_websiteaccess",
    "adx_sitesetting",
    "adx_webtemplate",
    "adx_pagetemplate",
    "adx_webpage",
    "adx_webfile",
    "adx_contentsnippet",
    "adx_weblinkset",
    "adx_weblink",
    "adx_sitemarker",
    "adx_redirect",
    "adx_entitypermission",
    "adx_entitylist",
    "adx_entityform",
    "adx_entityformmetadata",
    "adx_webform",
    "adx_webformstep",
    "adx_webformmetadata",
];

fn table_rank(table: &str) -> usize {
    TABLE_ORDER
        .iter()
        .position(|known| *known == table)
        .unwrap_or(TABLE_ORDER.len())
}

fn item(change: &Change, site: &Folder, template: &Folder) -> Item {
    let (action, rule) = match change.kind {
        Kind::Conflict => ("conflict", "DR003"),
        Kind::TemplateChange => ("apply", "DR001"),
        Kind::Added => ("add", "DR004"),
        Kind::Removed => ("remove", "DR005"),
        Kind::Differs => ("review", "DR006"),
        Kind::Local => ("keep", "DR002"),
    };
    let site_companion = file_of(&change.site).map(str::to_owned);
    let template_companion = file_of(&change.template);
    let field = change.field.clone();
    let mut item = Item {
        action,
        rule,
        table: change.table.clone(),
        page: change.page.clone(),
        key: change.key.clone(),
        field: field.clone(),
        companion: change.companion,
        lookup: change.lookup,
        file: site_companion.clone().or_else(|| change.site_file.clone()),
        template_file: change.template_file.clone(),
        base: side_value(&change.base),
        site: side_value(&change.site),
        template: side_value(&change.template),
        take: None,
        take_site_id: None,
        take_text: None,
        lookups: Vec::new(),
        todo: String::new(),
    };
    let field_name = field.as_deref().unwrap_or_default();
    item.todo = match change.kind {
        Kind::TemplateChange => {
            item.take = side_value(&change.template);
            item.take_text = template_companion
                .and_then(|file| template.text(file))
                .map(str::to_owned);
            if change.lookup {
                item.take_site_id = change.template.as_ref().and_then(|side| match side {
                    Side::Value(Value::String(target)) => site.id_of(target).map(str::to_owned),
                    _ => None,
                });
            }
            match (change.companion, template_companion, &site_companion) {
                (true, Some(new), Some(old)) => {
                    format!("replace `{old}` with the new template's `{new}`")
                }
                (true, Some(new), None) => format!(
                    "add the new template's `{new}` beside `{}`",
                    change.site_file.as_deref().unwrap_or("?")
                ),
                (true, None, old) => format!("delete `{}`", old.as_deref().unwrap_or("?")),
                (false, _, _) if change.template.is_none() => format!("remove `{field_name}`"),
                (false, _, _) => match (&item.take_site_id, &change.template) {
                    (Some(id), _) => format!("set `{field_name}` to `{id}`"),
                    (None, Some(Side::Value(value))) if !change.lookup => {
                        let text = match value {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        };
                        if text.len() <= 80 && !text.contains('\n') {
                            format!("set `{field_name}` to {}", code(&text))
                        } else {
                            format!("set `{field_name}` to the new template's value")
                        }
                    }
                    _ => format!("set `{field_name}` to the new template's value"),
                },
            }
        }
        Kind::Conflict => match change.note {
            Some(Note::RemovedInSiteChangedInTemplate) => {
                "deleted in the site, changed in the new template: re-create it from the new \
                 template's file, or keep it deleted"
                    .to_owned()
            }
            Some(Note::RemovedInTemplateChangedInSite) => {
                "changed in the site, removed from the new template: keep it or delete it"
                    .to_owned()
            }
            _ => {
                "merge by hand: start from the new template's value and re-apply the site's change"
                    .to_owned()
            }
        },
        Kind::Added => {
            item.file = change.template_file.clone();
            if let Some(index) = change.template_index
                && let Some(record) = template
                    .tables
                    .get(&change.table)
                    .and_then(|records| records.get(index))
            {
                for (column, target) in &record.refs {
                    let targets: Vec<&str> = match target {
                        Value::String(one) => vec![one.as_str()],
                        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    item.lookups.push(Lookup {
                        field: column.clone(),
                        target: target.clone(),
                        site_ids: targets
                            .iter()
                            .map(|t| site.id_of(t).map(str::to_owned))
                            .collect(),
                    });
                }
                item.take = Some(Value::String(record_yaml(record, &change.table, site)));
                let texts: Vec<String> = record
                    .companions
                    .values()
                    .filter_map(|companion| template.text(&companion.file).map(str::to_owned))
                    .collect();
                if texts.len() == 1 {
                    item.take_text = texts.into_iter().next();
                }
            }
            let file = change.template_file.as_deref().unwrap_or("?");
            let how = if item.lookups.is_empty() {
                ""
            } else {
                " (the YAML below has its lookups set to the site's GUIDs)"
            };
            if is_list_file(file) {
                format!("add it to `{file}`{how}")
            } else {
                format!("copy the new template's `{file}` into the site{how}")
            }
        }
        Kind::Removed => "delete it from the site unless you still use it".to_owned(),
        Kind::Differs => {
            "decide which value to keep (give --base-template to know who changed it)".to_owned()
        }
        Kind::Local => match change.note {
            Some(Note::AddedInSite) => "added in the site: keep it".to_owned(),
            Some(Note::RemovedInSite) => "deleted in the site: keep it deleted".to_owned(),
            _ => "changed in the site: keep the site's value".to_owned(),
        },
    };
    item
}

/// A new record as YAML to write in the site folder: the template's columns, with
/// every lookup set to the GUID of the site's own record (when the site has it).
fn record_yaml(record: &diff::Record, table: &str, site: &Folder) -> String {
    let mut out = String::new();
    for (column, value) in &record.fields {
        let (value, comment) = match record.refs.get(column) {
            Some(Value::String(target)) => match site.id_of(target) {
                Some(id) => (
                    Value::String(id.to_owned()),
                    format!("  # {}", describe_target(target)),
                ),
                None => (
                    value.clone(),
                    format!(
                        "  # {}: not in the site yet, use its GUID once added",
                        describe_target(target)
                    ),
                ),
            },
            Some(Value::Array(targets)) => {
                let ids: Vec<Value> = targets
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|target| Value::String(site.id_of(target).unwrap_or(target).to_owned()))
                    .collect();
                let names: Vec<String> = targets
                    .iter()
                    .filter_map(Value::as_str)
                    .map(describe_target)
                    .collect();
                (Value::Array(ids), format!("  # {}", names.join(", ")))
            }
            _ => (value.clone(), String::new()),
        };
        let mut map = serde_json::Map::new();
        map.insert(column.clone(), value);
        let text = serde_yaml_ng::to_string(&Value::Object(map)).unwrap_or_default();
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            out.push_str(first);
            out.push_str(&comment);
            out.push('\n');
        }
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    if let Some(id) = &record.id {
        // Every table of the standard model names its own id column `<table>id`.
        let _ = writeln!(
            out,
            "{table}id: {id}  # the template's GUID: keep it, or use a new one"
        );
    }
    out
}

fn describe_target(target: &str) -> String {
    match target.split_once(':') {
        Some((table, key)) => format!("{} {key}", table_label(table)),
        None => target.to_owned(),
    }
}

// ------------------------------------------------------------------ Markdown

fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// A value as Markdown, on one line.
fn show(value: &Option<Value>, lookup: bool) -> String {
    match value {
        None => "*(not set)*".to_owned(),
        Some(Value::String(text)) if lookup && text.contains(':') => {
            let (table, key) = text.split_once(':').unwrap_or_default();
            format!("{} {}", table_label(table), code(key))
        }
        Some(Value::Array(items)) if lookup => {
            let names: Vec<String> = items
                .iter()
                .map(|item| show(&Some(item.clone()), true))
                .collect();
            names.join(", ")
        }
        Some(Value::String(text)) => code(&text.split_whitespace().collect::<Vec<_>>().join(" ")),
        Some(Value::Object(file)) if file.contains_key("sha256") => format!(
            "{} (sha256 {})",
            code(file["file"].as_str().unwrap_or("?")),
            &file["sha256"].as_str().unwrap_or_default()
                [..12.min(file["sha256"].as_str().unwrap_or_default().len())]
        ),
        Some(other) => code(&other.to_string()),
    }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("{count} {one}")
    } else {
        format!("{count} {many}")
    }
}

/// Renders the plan for a person: a checklist in Markdown.
pub fn render_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Upgrade plan for {}\n", code(&plan.site.path));
    let _ = writeln!(out, "- New template: {}", code(&plan.template.path));
    match &plan.base_template {
        Some(base) => {
            let _ = writeln!(
                out,
                "- Base template (the site was provisioned from it): {}",
                code(&base.path)
            );
            let _ = writeln!(out, "- Comparison: three-way");
        }
        None => {
            let _ = writeln!(
                out,
                "- Comparison: **two-way** (no `--base-template`): a difference may be a template change \
                 or a local customisation"
            );
        }
    }
    let s = &plan.summary;
    let _ = writeln!(
        out,
        "- To do: {}, {}, {}, {}{}; {} kept\n",
        plural(s.conflicts, "conflict", "conflicts"),
        plural(s.changes, "change to apply", "changes to apply"),
        plural(s.additions, "record to add", "records to add"),
        plural(s.removals, "record to remove", "records to remove"),
        if s.differences > 0 {
            format!(
                ", {}",
                plural(
                    s.differences,
                    "difference to review",
                    "differences to review"
                )
            )
        } else {
            String::new()
        },
        plural(
            s.customisations,
            "local customisation",
            "local customisations"
        ),
    );
    if plan.items.is_empty() {
        out.push_str("Nothing to do: the site has every change of the new template.\n");
        return out;
    }

    let sections = [
        ("conflict", "Conflicts to resolve by hand"),
        ("apply", "Template changes to apply"),
        ("add", "Records to add from the new template"),
        ("remove", "Records the new template no longer has"),
        ("review", "Differences to review (two-way)"),
        ("keep", "Local customisations to keep"),
    ];
    let mut number = 0;
    for (action, title) in sections {
        let items: Vec<&Item> = plan
            .items
            .iter()
            .filter(|item| item.action == action)
            .collect();
        if items.is_empty() {
            continue;
        }
        number += 1;
        let _ = writeln!(out, "## {number}. {title}\n");
        let mut table: Option<&str> = None;
        let mut page: Option<&str> = None;
        for item in items {
            if table != Some(item.table.as_str()) {
                table = Some(&item.table);
                page = None;
                let _ = writeln!(
                    out,
                    "### {} (`{}`)\n",
                    capitalise(table_label(&item.table)),
                    item.table
                );
            }
            if item.table == "adx_webpage" && page != item.page.as_deref() {
                page = item.page.as_deref();
                let _ = writeln!(out, "#### Page {}\n", code(page.unwrap_or("?")));
            }
            render_item(&mut out, item);
        }
    }
    out
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + "s",
        None => String::new(),
    }
}

fn render_item(out: &mut String, item: &Item) {
    let checkbox = if item.action == "keep" { "-" } else { "- [ ]" };
    let column = match (&item.field, item.companion) {
        (Some(field), true) => format!(", {} ({})", companion_label(field), code(field)),
        (Some(field), false) => format!(", {}", code(field)),
        (None, _) => String::new(),
    };
    let lookup = item.lookup;
    let _ = writeln!(
        out,
        "{checkbox} {}{column}: {} [{}]",
        code(&item.key),
        item.todo,
        item.rule
    );
    if let Some(file) = &item.file {
        let label = if item.action == "add" {
            "template file"
        } else {
            "file"
        };
        let _ = writeln!(out, "  - {label}: {}", code(file));
    }
    match item.action {
        "conflict" | "review" => {
            if item.base.is_some() || item.action == "conflict" && item.field.is_some() {
                let _ = writeln!(out, "  - base template: {}", show(&item.base, lookup));
            }
            let _ = writeln!(out, "  - site: {}", show(&item.site, lookup));
            let _ = writeln!(out, "  - new template: {}", show(&item.template, lookup));
        }
        "apply" => {
            let _ = writeln!(out, "  - was: {}", show(&item.site, lookup));
            let _ = writeln!(out, "  - take: {}", show(&item.take, lookup));
        }
        "keep" if item.field.is_some() => {
            let _ = writeln!(out, "  - site: {}", show(&item.site, lookup));
            let _ = writeln!(out, "  - new template: {}", show(&item.template, lookup));
        }
        _ => {}
    }
    if item.action == "add"
        && let Some(Value::String(yaml)) = &item.take
    {
        let _ = writeln!(out, "\n  ```yaml");
        for line in yaml.lines() {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "  ```");
    }
    if let Some(text) = &item.take_text
        && matches!(item.action, "apply" | "add")
    {
        let fence = if text.contains("```") { "~~~~" } else { "```" };
        let _ = writeln!(out, "\n  {fence}html");
        for line in text.lines() {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "  {fence}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_code_spans_survive_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }

    #[test]
    fn empty_plan_says_so() {
        let plan = Plan {
            schema_version: 1,
            mode: "two-way",
            site: Source {
                path: "site".into(),
                sha256: String::new(),
            },
            template: Source {
                path: "template".into(),
                sha256: String::new(),
            },
            base_template: None,
            summary: Summary::default(),
            items: Vec::new(),
        };
        assert!(render_markdown(&plan).contains("Nothing to do"));
    }

    #[test]
    fn table_labels_pluralise() {
        assert_eq!(capitalise("site setting"), "Site settings");
    }
}
