//! Template drift of a Customer portal site: what a new template changes, what the
//! site customised, and where the two collide, record by record and field by field.
//!
//! Reads the `site` (the provisioned site's folder), the `template` (the new
//! template, provisioned in a scratch environment and downloaded) and, optionally,
//! the `base-template` (the template the site was provisioned from). With the base
//! it is a three-way comparison; without it, a two-way one that says so in every
//! finding. The comparison itself is in `diff.rs`, shared with `preflight plan`.

pub mod diff;

use diff::{Change, Kind, Note, Side, Tables, companion_label, diff, table_label};
use preflight_sdk::escape_key;
use preflight_sdk::prelude::*;

const TEMPLATE_CHANGE: Rule = Rule {
    id: "DR001",
    title: "A change of the new template is not applied to the site yet",
    severity: Severity::Warning,
    help: include_str!("../rules/DR001.md"),
    help_url: Some(UPGRADE),
};

const LOCAL: Rule = Rule {
    id: "DR002",
    title: "The site has a local customisation to keep",
    severity: Severity::Info,
    help: include_str!("../rules/DR002.md"),
    help_url: Some(UPGRADE),
};

const CONFLICT: Rule = Rule {
    id: "DR003",
    title: "The site and the new template changed the same thing differently",
    severity: Severity::Error,
    help: include_str!("../rules/DR003.md"),
    help_url: Some(UPGRADE),
};

const ADDED: Rule = Rule {
    id: "DR004",
    title: "The new template has a record the site does not have",
    severity: Severity::Warning,
    help: include_str!("../rules/DR004.md"),
    help_url: Some(UPGRADE),
};

const REMOVED: Rule = Rule {
    id: "DR005",
    title: "The site has a record the new template no longer has",
    severity: Severity::Warning,
    help: include_str!("../rules/DR005.md"),
    help_url: Some(UPGRADE),
};

const DIFFERS: Rule = Rule {
    id: "DR006",
    title: "The site differs from the template (two-way comparison)",
    severity: Severity::Warning,
    help: include_str!("../rules/DR006.md"),
    help_url: Some(UPGRADE),
};

const COMPARABLE: Rule = Rule {
    id: "DR007",
    title: "Site and templates are standard data model downloads",
    severity: Severity::Error,
    help: include_str!("../rules/DR007.md"),
    help_url: Some("https://learn.microsoft.com/power-pages/admin/enhanced-data-model"),
};

const TRUNCATED: Rule = Rule {
    id: "DR008",
    title: "Too many differences to list them all",
    severity: Severity::Warning,
    help: include_str!("../rules/DR008.md"),
    help_url: Some(UPGRADE),
};

const UPGRADE: &str = "https://learn.microsoft.com/power-pages/admin/upgrade-site";

const TWO_WAY_ADDED: &str = " (two-way comparison: without --base-template, preflight cannot tell \
                             a record new in the template from one deleted in the site)";

const TWO_WAY_REMOVED: &str = " (two-way comparison: without --base-template, preflight cannot tell \
                               a record removed from the template from one added in the site)";

const TWO_WAY: &str = " (two-way comparison: without --base-template, preflight cannot tell a \
                       template change from a local customisation)";

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_limit")]
    limit: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            limit: default_limit(),
        }
    }
}

fn default_limit() -> usize {
    500
}

/// The three documents, for pointers and for reading companion texts.
struct Docs<'a> {
    site: &'a Doc<'a>,
    template: &'a Doc<'a>,
    base: Option<&'a Doc<'a>>,
}

/// Longer values are cut in messages (the plan shows them whole).
const SHOWN: usize = 120;

fn cut(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= SHOWN {
        one_line
    } else {
        let cut: String = one_line.chars().take(SHOWN).collect();
        format!("{cut}…")
    }
}

impl Docs<'_> {
    /// A value as a person reads it in a message; `None` for a file too long to quote.
    fn show(&self, side: &Option<Side>, lookup: bool, doc: Option<&Doc<'_>>) -> Option<String> {
        Some(match side {
            None => "nothing".to_owned(),
            Some(Side::Value(serde_json::Value::String(text))) if lookup => {
                match text.split_once(':') {
                    Some((table, key)) => format!("the {} `{}`", table_label(table), cut(key)),
                    None => format!("`{}`", cut(text)),
                }
            }
            Some(Side::Value(serde_json::Value::Array(items))) if lookup => {
                let names: Vec<String> = items
                    .iter()
                    .filter_map(|item| item.as_str())
                    .map(|text| match text.split_once(':') {
                        Some((_, key)) => format!("`{key}`"),
                        None => format!("`{text}`"),
                    })
                    .collect();
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            }
            Some(Side::Value(serde_json::Value::String(text))) => format!("`{}`", cut(text)),
            Some(Side::Value(value)) => format!("`{}`", cut(&value.to_string())),
            Some(Side::File(file)) => {
                let text = doc.and_then(|doc| {
                    doc.at(&format!("/files/{}/text", escape_key(&file.file)))
                        .str()
                })?;
                let text = text.trim();
                if text.contains('\n') || text.chars().count() > SHOWN {
                    return None;
                }
                format!("`{text}`")
            }
        })
    }

    /// Where a change shows: in the site when it has the record, else in the template.
    fn place(
        &self,
        change: &Change,
        site_tables: &Tables,
        template_tables: &Tables,
    ) -> (&Doc<'_>, String) {
        let (doc, tables, index) = match (change.site_index, change.template_index) {
            (Some(index), _) => (self.site, site_tables, index),
            (None, Some(index)) => (self.template, template_tables, index),
            // Every change is on a record of the site or of the template.
            (None, None) => return (self.site, format!("/tables/{}", escape_key(&change.table))),
        };
        let record = format!("/tables/{}/{index}", escape_key(&change.table));
        let Some(field) = &change.field else {
            return (doc, record);
        };
        let present = tables
            .get(&change.table)
            .and_then(|records| records.get(index))
            .is_some_and(|r| {
                if change.companion {
                    r.companions.contains_key(field)
                } else {
                    r.fields.contains_key(field)
                }
            });
        let pointer = match (present, change.companion) {
            (true, true) => format!("{record}/companions/{}", escape_key(field)),
            (true, false) => format!("{record}/fields/{}", escape_key(field)),
            (false, _) => record,
        };
        (doc, pointer)
    }
}

fn what(change: &Change) -> String {
    format!("{} `{}`", table_label(&change.table), change.key)
}

fn column(change: &Change) -> String {
    match (&change.field, change.companion) {
        (Some(field), true) => format!("its {} (`{field}`)", companion_label(field)),
        (Some(field), false) => format!("`{field}`"),
        (None, _) => "the record".to_owned(),
    }
}

fn companion_file(side: &Option<Side>) -> Option<&str> {
    match side {
        Some(Side::File(file)) => Some(file.file.as_str()),
        _ => None,
    }
}

fn finding(
    change: &Change,
    docs: &Docs<'_>,
    site_tables: &Tables,
    template_tables: &Tables,
) -> Finding {
    let what = what(change);
    let col = column(change);
    let site_file = change.site_file.as_deref().unwrap_or("?");
    let template_file = change.template_file.as_deref().unwrap_or("?");
    let site_value = docs.show(&change.site, change.lookup, Some(docs.site));
    let template_value = docs.show(&change.template, change.lookup, Some(docs.template));
    let base_value = docs.show(&change.base, change.lookup, docs.base);
    let suffix = if change.two_way { TWO_WAY } else { "" };
    let field = change.field.as_deref().unwrap_or_default();

    let (rule, message, fix) = match change.kind {
        Kind::TemplateChange => {
            let fix = match (change.companion, &change.template) {
                (true, Some(_)) => match companion_file(&change.site) {
                    Some(file) => format!(
                        "replace the site's `{file}` with the new template's `{}`",
                        companion_file(&change.template).unwrap_or("?")
                    ),
                    None => format!(
                        "add the new template's `{}` beside the site's `{site_file}`",
                        companion_file(&change.template).unwrap_or("?")
                    ),
                },
                (true, None) => format!(
                    "delete the site's `{}`",
                    companion_file(&change.site).unwrap_or("?")
                ),
                (false, Some(_)) => format!(
                    "in `{site_file}`, set `{field}` to {}",
                    template_value
                        .as_deref()
                        .unwrap_or("the new template's value")
                ),
                (false, None) => format!("in `{site_file}`, remove `{field}`"),
            };
            let values = match (&base_value, &template_value) {
                (Some(base), Some(new)) => format!(" from {base} to {new}"),
                _ => String::new(),
            };
            (
                &TEMPLATE_CHANGE,
                format!(
                    "{what}: the new template changed {col}{values}; the site still has the old value"
                ),
                fix,
            )
        }
        Kind::Local => match change.note {
            Some(Note::AddedInSite) => (
                &LOCAL,
                format!("{what} was added in the site (`{site_file}`): a local customisation"),
                "keep it when you apply the new template".to_owned(),
            ),
            Some(Note::RemovedInSite) => (
                &LOCAL,
                format!(
                    "{what} was deleted from the site; the new template still has it, unchanged"
                ),
                format!(
                    "keep it deleted, or re-create it from the new template's `{template_file}`"
                ),
            ),
            _ => (
                &LOCAL,
                match (&base_value, &site_value) {
                    (Some(base), Some(site)) => format!(
                        "{what}: the site changed {col} from {base} to {site}; the new template keeps {base}"
                    ),
                    _ => format!("{what}: the site changed {col}; the new template did not"),
                },
                "keep the site's value when you apply the new template".to_owned(),
            ),
        },
        Kind::Conflict => match change.note {
            Some(Note::RemovedInSiteChangedInTemplate) => (
                &CONFLICT,
                format!("{what} was deleted from the site, but the new template changed it"),
                format!(
                    "decide whether the site needs it: re-create it from the new template's \
                     `{template_file}`, or keep it deleted"
                ),
            ),
            Some(Note::RemovedInTemplateChangedInSite) => (
                &CONFLICT,
                format!("{what} was changed in the site, but the new template no longer has it"),
                format!(
                    "decide whether the site still needs it; if not, delete it (`{site_file}`)"
                ),
            ),
            _ if change.base_index.is_none() => (
                &CONFLICT,
                match (&site_value, &template_value) {
                    (Some(site), Some(new)) => format!(
                        "{what} was added both in the site and in the new template, with {col} {site} \
                         in the site and {new} in the template"
                    ),
                    _ => format!(
                        "{what} was added both in the site and in the new template, with different {col}"
                    ),
                },
                format!("merge by hand in `{site_file}`: keep one record with the value you want"),
            ),
            _ => (
                &CONFLICT,
                match (&site_value, &template_value, &base_value) {
                    (Some(site), Some(new), Some(base)) => format!(
                        "{what}: {col} was changed in the site to {site} and in the new template to {new} \
                         (the base template had {base})"
                    ),
                    _ => format!(
                        "{what}: {col} was changed both in the site and in the new template, differently"
                    ),
                },
                match &change.template {
                    Some(Side::File(file)) => format!(
                        "merge by hand: start from the new template's `{}` and re-apply the site's \
                         change to `{}`",
                        file.file,
                        companion_file(&change.site).unwrap_or(site_file)
                    ),
                    _ => format!(
                        "merge by hand in `{site_file}`: start from the new template's value and \
                         re-apply the site's change"
                    ),
                },
            ),
        },
        Kind::Added => (
            &ADDED,
            format!(
                "{what} is in the new template (`{template_file}`) but not in the site{}",
                if change.two_way { TWO_WAY_ADDED } else { "" }
            ),
            "create it in the site from the new template's file (and its companion files), with \
             its lookups pointing at the site's own records; `preflight plan` lists them"
                .to_owned(),
        ),
        Kind::Removed => (
            &REMOVED,
            format!(
                "{what} is in the site (`{site_file}`) but not in the new template{}",
                if change.two_way { TWO_WAY_REMOVED } else { "" }
            ),
            "delete it from the site unless you still use it".to_owned(),
        ),
        Kind::Differs => (
            &DIFFERS,
            match (&site_value, &template_value) {
                (Some(site), Some(new)) => {
                    format!(
                        "{what}: {col} differs: the site has {site}, the template {new}{suffix}"
                    )
                }
                _ => format!("{what}: {col} differs between the site and the template{suffix}"),
            },
            format!(
                "give --base-template (the template the site was provisioned from) to tell template \
                 changes from local customisations; otherwise compare `{site_file}` with the \
                 template's `{template_file}`"
            ),
        ),
    };
    let (doc, pointer) = docs.place(change, site_tables, template_tables);
    rule.finding(message)
        .in_document(doc, pointer)
        .remediation(fix)
}

/// The `tables` of a document, or why they cannot be compared.
fn tables(doc: &Doc<'_>, findings: &mut Vec<Finding>) -> Result<Option<Tables>, EvaluationError> {
    let model = doc.at("/dataModel").str();
    match model.as_deref() {
        Some("standard") => {}
        Some("enhanced") => {
            findings.push(
                doc.at("/dataModel")
                    .finding(
                        &COMPARABLE,
                        format!(
                            "the {} folder was downloaded with the enhanced data model; the Customer \
                             portal always uses the standard data model, so it cannot be compared",
                            doc.name()
                        ),
                    )
                    .remediation(
                        "download the site again with `pac pages download --modelVersion Standard`",
                    ),
            );
            return Ok(None);
        }
        Some(other) => {
            findings.push(
                doc.at("/dataModel")
                    .finding(
                        &COMPARABLE,
                        format!(
                            "the {} document has the unknown data model `{other}`",
                            doc.name()
                        ),
                    )
                    .remediation("give the folder written by `pac pages download`"),
            );
            return Ok(None);
        }
        None => {
            findings.push(
                doc.root()
                    .finding(
                        &COMPARABLE,
                        format!(
                            "the {} document is not a site folder (it has no `dataModel`)",
                            doc.name()
                        ),
                    )
                    .remediation(format!(
                        "give --{} the folder written by `pac pages download`",
                        doc.name()
                    )),
            );
            return Ok(None);
        }
    }
    match doc.at("/tables").deserialize::<Tables>()? {
        Some(tables) => Ok(Some(tables)),
        None => Err(EvaluationError::Failed(format!(
            "the {} document has no `tables`",
            doc.name()
        ))),
    }
}

struct CustomerPortalDrift;

impl Policy for CustomerPortalDrift {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "customer-portal-drift",
        version: env!("CARGO_PKG_VERSION"),
        description: "Compares the provisioned site with a new Customer portal template (and the \
                      template it was provisioned from): template changes not applied yet, local \
                      customisations to keep, conflicts, records added or removed.",
        rules: &[
            TEMPLATE_CHANGE,
            LOCAL,
            CONFLICT,
            ADDED,
            REMOVED,
            DIFFERS,
            COMPARABLE,
            TRUNCATED,
        ],
        documents: &[
            Need::required("site"),
            Need::required("template"),
            Need::optional("base-template"),
        ],
        settings_schema: Some(include_str!("../settings.schema.json")),
    };

    fn validate_settings(settings: &Settings) -> Result<(), String> {
        if settings.limit == 0 {
            return Err("`limit` must be at least 1".into());
        }
        Ok(())
    }

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let site = input.document("site")?;
        let template = input.document("template")?;
        let base = input.optional("base-template");

        let mut findings = Vec::new();
        let site_tables = tables(site, &mut findings)?;
        let template_tables = tables(template, &mut findings)?;
        let base_tables = match base {
            Some(base) => tables(base, &mut findings)?,
            None => None,
        };
        let (Some(site_tables), Some(template_tables)) = (site_tables, template_tables) else {
            return Ok(findings);
        };
        if base.is_some() && base_tables.is_none() {
            return Ok(findings);
        }

        let changes = diff(&site_tables, &template_tables, base_tables.as_ref());
        let docs = Docs {
            site,
            template,
            base,
        };
        let shown = changes.len().min(settings.limit);
        for change in &changes[..shown] {
            findings.push(finding(change, &docs, &site_tables, &template_tables));
        }
        if changes.len() > shown {
            findings.push(
                site.at("/tables")
                    .finding(
                        &TRUNCATED,
                        format!(
                            "{} more differences are not listed (the first {shown} are, conflicts first)",
                            changes.len() - shown
                        ),
                    )
                    .remediation(
                        "run `preflight plan` with the same folders for the full list, or raise the \
                         `limit` setting",
                    ),
            );
        }
        Ok(findings)
    }
}

preflight_sdk::export_policy!(CustomerPortalDrift);
