//! Site folders written by `pac pages download` (standard data model), read into
//! one normalised JSON `site` document that policies compare record by record.
//!
//! Every record gets a stable key made of what a person recognises (a site setting's
//! name, a web page's URL path, a snippet's name and language...), never the file
//! order and never its GUID: the same template provisioned in two environments has
//! the same keys and different GUIDs. Lookups to other records of the folder are
//! resolved to those keys (`refs`), so two sites compare equal when they point at the
//! same things. The shape is documented in `docs/site.md`.
//!
//! A folder downloaded with the enhanced data model is recognised and read as a
//! document that says so (`"dataModel": "enhanced"`, no tables): the Customer portal
//! always uses the standard data model, and the policies report it.

use super::{Input, InputError, parse};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `dataModel` of a folder written by `pac pages download --modelVersion Standard`.
pub const STANDARD: &str = "standard";
/// `dataModel` of a folder written with the enhanced data model.
pub const ENHANCED: &str = "enhanced";

/// A site folder, read and normalised.
#[derive(Clone, Debug)]
pub struct Site {
    /// The folder that holds `website.yml` (the given folder, or its only subfolder
    /// that holds one: `pac pages download --path X` writes `X/<site-name>/`).
    pub root: PathBuf,
    /// The normalised `site` document.
    pub value: Value,
    /// sha256 over the sorted list of the files read and their own sha256.
    pub sha256: String,
    /// `None` for the standard data model; for the enhanced one, what gave it away.
    pub enhanced: Option<String>,
}

impl Site {
    /// The number of records in all tables.
    pub fn record_count(&self) -> usize {
        self.value["tables"].as_object().map_or(0, |tables| {
            tables
                .values()
                .filter_map(Value::as_array)
                .map(Vec::len)
                .sum()
        })
    }

    /// An error when the folder uses the enhanced data model.
    pub fn require_standard(&self) -> Result<(), InputError> {
        match &self.enhanced {
            None => Ok(()),
            Some(marker) => Err(InputError::Shape {
                path: self.root.clone(),
                message: enhanced_message(marker),
            }),
        }
    }
}

/// Why an enhanced-model folder cannot be used for the Customer portal.
pub fn enhanced_message(marker: &str) -> String {
    format!(
        "this folder was downloaded with the enhanced data model ({marker}); the Customer \
         portal always uses the standard data model: download the site again with \
         `pac pages download --modelVersion Standard`"
    )
}

/// Reads a site folder as the input document `name` (`site`, `template`, `base-template`).
pub fn load_site(name: &str, path: &Path) -> Result<Input, InputError> {
    let site = read_site(path)?;
    Ok(Input {
        name: name.to_owned(),
        path: site.root,
        sha256: site.sha256,
        value: Arc::new(site.value),
    })
}

/// Reads a folder written by `pac pages download`.
pub fn read_site(path: &Path) -> Result<Site, InputError> {
    let root = find_root(path)?;
    if let Some(marker) = enhanced_marker(&root) {
        let value = json!({
            "dataModel": ENHANCED,
            "enhanced": { "marker": marker },
            "website": null,
            "tables": {},
            "files": {},
            "ignored": [],
            "warnings": [enhanced_message(&marker)],
        });
        let sha256 = hex::encode(Sha256::digest(value.to_string().as_bytes()));
        return Ok(Site {
            root,
            value,
            sha256,
            enhanced: Some(marker),
        });
    }
    let mut files = Vec::new();
    walk(&root, &root, &mut files)?;
    files.sort();
    Reader::new(root).read(files)
}

/// The folder holding `website.yml`: the folder itself or its only subfolder with one.
fn find_root(path: &Path) -> Result<PathBuf, InputError> {
    let read_error = |source| InputError::Read {
        path: path.to_owned(),
        source,
    };
    if !path.is_dir() {
        return Err(read_error(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not a folder",
        )));
    }
    if path.join("website.yml").is_file() || enhanced_marker(path).is_some() {
        return Ok(path.to_owned());
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_error)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|dir| {
            dir.is_dir() && (dir.join("website.yml").is_file() || enhanced_marker(dir).is_some())
        })
        .collect();
    candidates.sort();
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(InputError::Shape {
            path: path.to_owned(),
            message: "not a `pac pages download` folder: there is no `website.yml` in it \
                      (give the folder that holds `website.yml`)"
                .into(),
        }),
        many => Err(InputError::Shape {
            path: path.to_owned(),
            message: format!(
                "holds {} downloaded sites ({}): give the folder of one of them",
                many.len(),
                many.iter()
                    .map(|dir| format!(
                        "`{}`",
                        dir.file_name().unwrap_or_default().to_string_lossy()
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// What shows that a folder uses the enhanced data model, if anything does.
fn enhanced_marker(dir: &Path) -> Option<String> {
    if dir
        .file_name()
        .is_some_and(|name| name == ".powerpages-site")
    {
        return Some("the folder is a `.powerpages-site` folder".into());
    }
    if dir.join(".powerpages-site").is_dir() {
        return Some("it has a `.powerpages-site` folder".into());
    }
    if dir.join("powerpages.config.json").is_file() {
        return Some("it has a `powerpages.config.json` file (a code site)".into());
    }
    if !dir.join("sitesetting.yml").is_file()
        && (dir.join("site-settings").is_dir() || dir.join("web-roles").is_dir())
    {
        return Some(
            "it has `site-settings/` or `web-roles/` folders instead of `sitesetting.yml`".into(),
        );
    }
    let website = std::fs::read_to_string(dir.join("website.yml")).ok()?;
    let keys: Vec<&str> = website
        .lines()
        .filter(|line| !line.starts_with([' ', '-', '#']))
        .filter_map(|line| line.split_once(':').map(|(key, _)| key.trim()))
        .collect();
    if keys
        .iter()
        .any(|key| key.starts_with("powerpagesite") || key.starts_with("mspp_"))
    {
        return Some("its `website.yml` describes a `powerpagesite` record".into());
    }
    if !keys.is_empty() && !keys.contains(&"adx_websiteid") && keys.contains(&"id") {
        return Some("its `website.yml` uses short keys (`id`, `name`), not `adx_` columns".into());
    }
    None
}

/// Every file under `dir`, as paths relative to `root` with `/` separators.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), InputError> {
    let entries = std::fs::read_dir(dir).map_err(|source| InputError::Read {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| InputError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type().map_err(|source| InputError::Read {
            path: path.clone(),
            source,
        })?;
        if kind.is_dir() {
            if name == ".portalconfig" || !(name.starts_with('.') || name == "node_modules") {
                walk(root, &path, out)?;
            }
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// Whether a record file holds one record or a list of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    One,
    List,
}

/// How files of one table are named.
#[derive(Clone, Copy, Debug)]
enum Naming {
    /// An exact path from the site's root.
    Path(&'static str),
    /// Any file whose name ends so.
    Suffix(&'static str),
}

/// A table of the standard data model as `pac pages download` writes it.
struct Table {
    /// Dataverse logical name: the key in `tables`.
    name: &'static str,
    /// The column of the record's own GUID.
    id: &'static str,
    naming: Naming,
    shape: Shape,
    /// Columns written to files of their own: (file suffix replacing the record's, column).
    companions: &'static [(&'static str, &'static str)],
}

const WEBPAGE_COMPANIONS: &[(&str, &str)] = &[
    (".webpage.copy.html", "adx_copy"),
    (".webpage.custom_css.css", "adx_customcss"),
    (".webpage.custom_javascript.js", "adx_customjavascript"),
    (".webpage.summary.html", "adx_summary"),
];

/// Every table read, in the order of `tables` in the document.
const TABLES: &[Table] = &[
    Table {
        name: "adx_website",
        id: "adx_websiteid",
        naming: Naming::Path("website.yml"),
        shape: Shape::One,
        companions: &[],
    },
    Table {
        name: "adx_websitelanguage",
        id: "adx_websitelanguageid",
        naming: Naming::Path("websitelanguage.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_portallanguage",
        id: "adx_portallanguageid",
        naming: Naming::Path(".portalconfig/portallanguage.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_publishingstate",
        id: "adx_publishingstateid",
        naming: Naming::Path("publishingstate.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_sitesetting",
        id: "adx_sitesettingid",
        naming: Naming::Path("sitesetting.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_sitemarker",
        id: "adx_sitemarkerid",
        naming: Naming::Path("sitemarker.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_webrole",
        id: "adx_webroleid",
        naming: Naming::Path("webrole.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_websiteaccess",
        id: "adx_websiteaccessid",
        naming: Naming::Path("websiteaccess.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_redirect",
        id: "adx_redirectid",
        naming: Naming::Path("redirect.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_webpage",
        id: "adx_webpageid",
        naming: Naming::Suffix(".webpage.yml"),
        shape: Shape::One,
        companions: WEBPAGE_COMPANIONS,
    },
    Table {
        name: "adx_contentsnippet",
        id: "adx_contentsnippetid",
        naming: Naming::Suffix(".contentsnippet.yml"),
        shape: Shape::One,
        companions: &[(".contentsnippet.value.html", "adx_value")],
    },
    Table {
        name: "adx_webtemplate",
        id: "adx_webtemplateid",
        naming: Naming::Suffix(".webtemplate.yml"),
        shape: Shape::One,
        companions: &[(".webtemplate.source.html", "adx_source")],
    },
    Table {
        name: "adx_pagetemplate",
        id: "adx_pagetemplateid",
        naming: Naming::Suffix(".pagetemplate.yml"),
        shape: Shape::One,
        companions: &[],
    },
    Table {
        name: "adx_weblinkset",
        id: "adx_weblinksetid",
        naming: Naming::Suffix(".weblinkset.yml"),
        shape: Shape::One,
        companions: &[],
    },
    Table {
        name: "adx_weblink",
        id: "adx_weblinkid",
        naming: Naming::Suffix(".weblink.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_entitypermission",
        id: "adx_entitypermissionid",
        naming: Naming::Suffix(".tablepermission.yml"),
        shape: Shape::One,
        companions: &[],
    },
    Table {
        name: "adx_entityform",
        id: "adx_entityformid",
        naming: Naming::Suffix(".basicform.yml"),
        shape: Shape::One,
        companions: &[],
    },
    Table {
        name: "adx_entityformmetadata",
        id: "adx_entityformmetadataid",
        naming: Naming::Suffix(".basicformmetadata.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_webform",
        id: "adx_webformid",
        naming: Naming::Suffix(".advancedform.yml"),
        shape: Shape::One,
        companions: &[],
    },
    Table {
        name: "adx_webformstep",
        id: "adx_webformstepid",
        naming: Naming::Suffix(".advancedformstep.yml"),
        shape: Shape::One,
        companions: &[],
    },
    Table {
        name: "adx_webformmetadata",
        id: "adx_webformmetadataid",
        naming: Naming::Suffix(".advancedformmetadata.yml"),
        shape: Shape::List,
        companions: &[],
    },
    Table {
        name: "adx_entitylist",
        id: "adx_entitylistid",
        naming: Naming::Suffix(".list.yml"),
        shape: Shape::One,
        companions: &[],
    },
    Table {
        name: "adx_webfile",
        id: "adx_webfileid",
        naming: Naming::Suffix(".webfile.yml"),
        shape: Shape::One,
        companions: &[],
    },
];

/// The column of a web file's content (an attachment, written beside its YAML).
const WEBFILE_CONTENT: &str = "content";

/// Columns that say when or by whom, not what: kept in `meta`, never compared.
const META_COLUMNS: &[&str] = &[
    "importsequencenumber",
    "overriddencreatedon",
    "createdon",
    "modifiedon",
    "createdby",
    "modifiedby",
    "ownerid",
    "owningbusinessunit",
    "versionnumber",
    "timezoneruleversionnumber",
    "utcconversiontimezonecode",
];

/// Columns of the website record that each environment sets for itself.
const WEBSITE_META_COLUMNS: &[&str] = &["adx_name", "adx_primarydomainname"];

/// Why a file is not part of the document, when it is left out on purpose.
fn left_out(file: &str) -> Option<&'static str> {
    let name = file.rsplit('/').next().unwrap_or(file);
    if name == "org-url-manifest.yml"
        || (file.starts_with(".portalconfig/") && name.ends_with("manifest.yml"))
    {
        return Some(
            "environment-specific: the records and checksums `pac pages` last synchronised",
        );
    }
    if file == ".portalconfig/websitebinding.yml" {
        return Some("environment-specific: the host names the site is bound to");
    }
    if file.starts_with("deployment-profiles/") {
        return Some(
            "environment-specific: values `pac pages upload --deploymentProfile` substitutes",
        );
    }
    None
}

/// A record as read from its file, before keys and lookups are worked out.
struct Raw {
    table: usize,
    file: String,
    /// Position in a list file.
    position: Option<usize>,
    id: Option<String>,
    fields: Map<String, Value>,
    companions: Vec<(&'static str, String)>,
    /// The language code in the file name (`Footer.en-US.contentsnippet.yml`).
    language_hint: Option<String>,
    /// A localized content page (`content-pages/`), not a root page.
    content_page: bool,
}

impl Raw {
    fn str(&self, column: &str) -> Option<&str> {
        self.fields.get(column).and_then(Value::as_str)
    }

    fn guid(&self, column: &str) -> Option<String> {
        self.str(column)
            .filter(|text| is_guid(text))
            .map(str::to_ascii_lowercase)
    }

    fn table(&self) -> &'static Table {
        &TABLES[self.table]
    }
}

/// A GUID as Dataverse writes them: `8-4-4-4-12` hexadecimal digits.
pub fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A language code such as `en-US` or `fr`.
fn is_language_code(text: &str) -> bool {
    let mut parts = text.split('-');
    let first = parts.next().unwrap_or_default();
    (2..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|part| {
            (2..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn sha256_text(text: &str) -> String {
    if text.contains("\r\n") {
        hex::encode(Sha256::digest(text.replace("\r\n", "\n").as_bytes()))
    } else {
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

/// A companion or web file as it goes into `files`.
struct FileEntry {
    sha256: String,
    size: usize,
    text: Option<String>,
}

struct Reader {
    root: PathBuf,
    raws: Vec<Raw>,
    files: BTreeMap<String, FileEntry>,
    ignored: Vec<Value>,
    warnings: Vec<String>,
    /// (path, sha256 of the bytes) of every file read, for the document's digest.
    digests: Vec<(String, String)>,
}

impl Reader {
    fn new(root: PathBuf) -> Reader {
        Reader {
            root,
            raws: Vec::new(),
            files: BTreeMap::new(),
            ignored: Vec::new(),
            warnings: Vec::new(),
            digests: Vec::new(),
        }
    }

    fn read(mut self, files: Vec<String>) -> Result<Site, InputError> {
        let all: HashSet<&str> = files.iter().map(String::as_str).collect();
        let mut used: HashSet<&str> = HashSet::new();
        let mut jobs = Vec::new();
        for file in &files {
            let Some(table) = table_of(file) else {
                continue;
            };
            used.insert(file);
            let mut companions = Vec::new();
            for (suffix, column) in TABLES[table].companions {
                if let Some(companion) = companion_path(file, TABLES[table].naming, suffix)
                    && let Some(found) = all.get(companion.as_str())
                {
                    used.insert(found);
                    companions.push((*column, found.to_string(), true));
                }
            }
            if TABLES[table].name == "adx_webfile"
                && let Some(found) = all.get(file.trim_end_matches(".webfile.yml"))
            {
                used.insert(found);
                companions.push((WEBFILE_CONTENT, found.to_string(), false));
            }
            jobs.push(Job {
                file: file.clone(),
                table,
                companions,
            });
        }
        for file in &files {
            if !used.contains(file.as_str()) {
                let reason = left_out(file).unwrap_or("not a table preflight reads");
                self.ignored.push(json!({ "file": file, "reason": reason }));
            }
        }

        // Reading and parsing is most of the time: spread it over the cores, then
        // merge in file order so the result does not depend on the threads.
        let root = self.root.clone();
        for parsed in parallel_map(jobs, |job| parse_job(&root, job)) {
            let parsed = parsed?;
            self.digests.extend(parsed.digests);
            for (path, entry) in parsed.files {
                self.files.entry(path).or_insert(entry);
            }
            self.raws.extend(parsed.raws);
        }
        self.build()
    }

    /// Works out keys and lookups, and writes the document.
    fn build(mut self) -> Result<Site, InputError> {
        let languages = self.languages();
        let keys = self.keys(&languages);

        // Every GUID of the folder, to the record it names.
        let mut index: HashMap<&str, String> = HashMap::new();
        for (raw, key) in self.raws.iter().zip(&keys) {
            if let Some(id) = &raw.id {
                index.insert(id.as_str(), format!("{}:{}", raw.table().name, key.key));
            }
        }

        let mut tables: Vec<Vec<(String, Value)>> = TABLES.iter().map(|_| Vec::new()).collect();
        for (raw, key) in self.raws.iter().zip(&keys) {
            let spec = raw.table();
            let mut fields = Map::new();
            let mut refs = Map::new();
            let mut meta = Map::new();
            for (column, value) in &raw.fields {
                let is_meta = column == spec.id
                    || META_COLUMNS.contains(&column.as_str())
                    || (spec.name == "adx_website"
                        && WEBSITE_META_COLUMNS.contains(&column.as_str()));
                if is_meta {
                    if column != spec.id {
                        meta.insert(column.clone(), value.clone());
                    }
                    continue;
                }
                if let Some(target) = resolve(value, &index) {
                    refs.insert(column.clone(), target);
                }
                fields.insert(column.clone(), value.clone());
            }
            let mut companions = Map::new();
            for (column, file) in &raw.companions {
                if let Some(entry) = self.files.get(file) {
                    companions.insert(
                        (*column).to_owned(),
                        json!({ "file": file, "sha256": entry.sha256 }),
                    );
                }
            }
            let mut record = Map::new();
            record.insert("key".into(), Value::String(key.key.clone()));
            record.insert("file".into(), Value::String(raw.file.clone()));
            if let Some(position) = raw.position {
                record.insert("position".into(), json!(position));
            }
            record.insert(
                "id".into(),
                raw.id.clone().map_or(Value::Null, Value::String),
            );
            if let Some(page) = &key.page {
                record.insert("page".into(), Value::String(page.clone()));
            }
            if let Some(language) = &key.language {
                record.insert("language".into(), Value::String(language.clone()));
            }
            record.insert("fields".into(), Value::Object(fields));
            record.insert("refs".into(), Value::Object(refs));
            record.insert("companions".into(), Value::Object(companions));
            if !meta.is_empty() {
                record.insert("meta".into(), Value::Object(meta));
            }
            tables[raw.table].push((key.key.clone(), Value::Object(record)));
        }

        let mut table_map = Map::new();
        for (spec, mut records) in TABLES.iter().zip(tables) {
            records.sort_by(|a, b| a.0.cmp(&b.0));
            table_map.insert(
                spec.name.to_owned(),
                Value::Array(records.into_iter().map(|(_, record)| record).collect()),
            );
        }

        let website = self.website_summary(&languages, &index);
        let files: Map<String, Value> = std::mem::take(&mut self.files)
            .into_iter()
            .map(|(path, entry)| {
                (
                    path,
                    json!({ "sha256": entry.sha256, "size": entry.size, "text": entry.text }),
                )
            })
            .collect();

        self.digests.sort();
        let mut hasher = Sha256::new();
        for (path, digest) in &self.digests {
            hasher.update(path.as_bytes());
            hasher.update([0]);
            hasher.update(digest.as_bytes());
            hasher.update([b'\n']);
        }
        let value = json!({
            "dataModel": STANDARD,
            "website": website,
            "tables": table_map,
            "files": files,
            "ignored": self.ignored,
            "warnings": self.warnings,
        });
        Ok(Site {
            root: self.root,
            value,
            sha256: hex::encode(hasher.finalize()),
            enhanced: None,
        })
    }

    /// The language code of every website language GUID.
    fn languages(&mut self) -> HashMap<String, String> {
        let mut portal: HashMap<String, String> = HashMap::new();
        for raw in self
            .raws
            .iter()
            .filter(|raw| raw.table().name == "adx_portallanguage")
        {
            if let (Some(id), Some(code)) = (&raw.id, raw.str("adx_languagecode")) {
                portal.insert(id.clone(), code.to_owned());
            }
        }
        // Content pages, snippets and link sets name their language in the file name too.
        let mut hints: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
        for raw in &self.raws {
            let Some(hint) = &raw.language_hint else {
                continue;
            };
            for column in [
                "adx_webpagelanguageid",
                "adx_contentsnippetlanguageid",
                "adx_websitelanguageid",
            ] {
                if let Some(id) = raw.guid(column) {
                    *hints
                        .entry(id)
                        .or_default()
                        .entry(hint.clone())
                        .or_default() += 1;
                }
            }
        }
        let mut languages = HashMap::new();
        let mut warnings = Vec::new();
        for raw in self
            .raws
            .iter()
            .filter(|raw| raw.table().name == "adx_websitelanguage")
        {
            let Some(id) = &raw.id else { continue };
            let code = raw
                .guid("adx_portallanguageid")
                .and_then(|portal_id| portal.get(&portal_id).cloned())
                .or_else(|| {
                    hints.get(id).and_then(|counts| {
                        counts
                            .iter()
                            .max_by_key(|(_, count)| **count)
                            .map(|(code, _)| code.clone())
                    })
                })
                .or_else(|| raw.str("adx_name").map(str::to_owned));
            match code {
                Some(code) => {
                    languages.insert(id.clone(), code);
                }
                None => warnings.push(format!(
                    "`{}`: a website language without a portal language or a name",
                    raw.file
                )),
            }
        }
        self.warnings.extend(warnings);
        languages
    }

    /// The stable key of every record (same order as `raws`).
    fn keys(&mut self, languages: &HashMap<String, String>) -> Vec<Key> {
        let language_of = |raw: &Raw, column: &str| -> Option<String> {
            raw.guid(column)
                .and_then(|id| languages.get(&id).cloned())
                .or_else(|| raw.language_hint.clone())
        };

        // Root pages: id -> (partial URL, parent id).
        let mut pages: HashMap<String, (String, Option<String>)> = HashMap::new();
        for raw in &self.raws {
            if raw.table().name == "adx_webpage"
                && !raw.content_page
                && let Some(id) = &raw.id
            {
                let partial = raw.str("adx_partialurl").unwrap_or_default().to_owned();
                pages.insert(id.clone(), (partial, raw.guid("adx_parentpageid")));
            }
        }
        let mut paths: HashMap<String, String> = HashMap::new();
        let path_of = |id: &str, paths: &mut HashMap<String, String>| page_path(id, &pages, paths);

        let mut keys = Vec::with_capacity(self.raws.len());
        for raw in &self.raws {
            let name = raw.str("adx_name").map(str::to_owned);
            let key = match raw.table().name {
                "adx_website" => Key::new("website"),
                "adx_websitelanguage" => Key::new(
                    raw.id
                        .as_ref()
                        .and_then(|id| languages.get(id).cloned())
                        .or(name)
                        .unwrap_or_else(|| "(unnamed)".into()),
                ),
                "adx_portallanguage" => Key::new(
                    raw.str("adx_languagecode")
                        .map(str::to_owned)
                        .or(name)
                        .unwrap_or_else(|| "(unnamed)".into()),
                ),
                // A table permission's name is in `adx_entityname` (`adx_entitylogicalname` is its table).
                "adx_entitypermission" => Key::new(
                    raw.str("adx_entityname")
                        .map(str::to_owned)
                        .or(name)
                        .unwrap_or_else(|| "(unnamed)".into()),
                ),
                "adx_redirect" => Key::new(
                    raw.str("adx_inboundurl")
                        .map(str::to_owned)
                        .or(name)
                        .unwrap_or_else(|| "(unnamed)".into()),
                ),
                "adx_webpage" if !raw.content_page => {
                    let path = match &raw.id {
                        Some(id) => path_of(id, &mut paths),
                        None => own_path(raw, &pages, &mut paths),
                    };
                    Key {
                        key: path.clone(),
                        page: Some(path),
                        language: None,
                    }
                }
                "adx_webpage" => {
                    let path = match raw.guid("adx_rootwebpageid") {
                        Some(root) if pages.contains_key(&root) => path_of(&root, &mut paths),
                        _ => own_path(raw, &pages, &mut paths),
                    };
                    let language = language_of(raw, "adx_webpagelanguageid");
                    Key {
                        key: with_language(&path, language.as_deref()),
                        page: Some(path),
                        language,
                    }
                }
                "adx_contentsnippet" => {
                    let language = language_of(raw, "adx_contentsnippetlanguageid");
                    Key {
                        key: with_language(
                            name.as_deref().unwrap_or("(unnamed)"),
                            language.as_deref(),
                        ),
                        page: None,
                        language,
                    }
                }
                "adx_weblinkset" => {
                    let language = language_of(raw, "adx_websitelanguageid");
                    Key {
                        key: with_language(
                            name.as_deref().unwrap_or("(unnamed)"),
                            language.as_deref(),
                        ),
                        page: None,
                        language,
                    }
                }
                "adx_webfile" => {
                    let parent = raw
                        .guid("adx_parentpageid")
                        .filter(|id| pages.contains_key(id))
                        .map_or_else(|| "/".to_owned(), |id| path_of(&id, &mut paths));
                    let partial = raw
                        .str("adx_partialurl")
                        .map(str::to_owned)
                        .or(name)
                        .unwrap_or_default();
                    Key::new(format!("{parent}{partial}"))
                }
                // Keys that name their parent record are worked out below.
                _ => Key::new(name.unwrap_or_else(|| "(unnamed)".into())),
            };
            keys.push(key);
        }

        // Keys made of a parent's key: link sets before links, forms before steps.
        let key_of_id = |keys: &[Key], table: &str| -> HashMap<String, String> {
            self.raws
                .iter()
                .zip(keys)
                .filter(|(raw, _)| raw.table().name == table)
                .filter_map(|(raw, key)| raw.id.clone().map(|id| (id, key.key.clone())))
                .collect()
        };
        let sets = key_of_id(&keys, "adx_weblinkset");
        let links: HashMap<String, (String, Option<String>)> = self
            .raws
            .iter()
            .filter(|raw| raw.table().name == "adx_weblink")
            .filter_map(|raw| {
                raw.id.clone().map(|id| {
                    (
                        id,
                        (
                            raw.str("adx_name").unwrap_or("(unnamed)").to_owned(),
                            raw.guid("adx_parentweblinkid"),
                        ),
                    )
                })
            })
            .collect();
        let forms = key_of_id(&keys, "adx_entityform");
        let webforms = key_of_id(&keys, "adx_webform");
        for (raw, key) in self.raws.iter().zip(keys.iter_mut()) {
            let parent = |column: &str, parents: &HashMap<String, String>| {
                raw.guid(column)
                    .and_then(|id| parents.get(&id).cloned())
                    .unwrap_or_else(|| "?".into())
            };
            match raw.table().name {
                "adx_weblink" => {
                    let mut names = vec![raw.str("adx_name").unwrap_or("(unnamed)").to_owned()];
                    let mut next = raw.guid("adx_parentweblinkid");
                    while let Some(id) = next {
                        match links.get(&id) {
                            Some((name, parent)) if names.len() < 32 => {
                                names.push(name.clone());
                                next = parent.clone();
                            }
                            _ => break,
                        }
                    }
                    names.reverse();
                    key.key = format!(
                        "{} / {}",
                        parent("adx_weblinksetid", &sets),
                        names.join(" / ")
                    );
                }
                "adx_entityformmetadata" => {
                    key.key = format!(
                        "{} / {}",
                        parent("adx_entityform", &forms),
                        metadata_name(raw)
                    );
                }
                "adx_webformstep" => {
                    key.key = format!(
                        "{} / {}",
                        parent("adx_webform", &webforms),
                        raw.str("adx_name").unwrap_or("(unnamed)")
                    );
                }
                _ => {}
            }
        }
        let steps = key_of_id(&keys, "adx_webformstep");
        for (raw, key) in self.raws.iter().zip(keys.iter_mut()) {
            if raw.table().name == "adx_webformmetadata" {
                let step = raw
                    .guid("adx_webformstep")
                    .and_then(|id| steps.get(&id).cloned())
                    .unwrap_or_else(|| "?".into());
                key.key = format!("{step} / {}", metadata_name(raw));
            }
        }

        self.deduplicate(&mut keys);
        keys
    }

    /// Two records of a table with the same key get `#2`, `#3`... in the order of
    /// their content (never of their files), and a warning.
    fn deduplicate(&mut self, keys: &mut [Key]) {
        let mut groups: HashMap<(usize, &str), Vec<usize>> = HashMap::new();
        for (i, (raw, key)) in self.raws.iter().zip(keys.iter()).enumerate() {
            groups
                .entry((raw.table, key.key.as_str()))
                .or_default()
                .push(i);
        }
        let mut renames: Vec<(usize, String)> = Vec::new();
        let mut duplicates: Vec<(usize, String, usize)> = Vec::new();
        for ((table, key), mut members) in groups {
            if members.len() < 2 {
                continue;
            }
            members.sort_by_cached_key(|&i| {
                let mut fields = self.raws[i].fields.clone();
                fields.remove(TABLES[table].id);
                Value::Object(fields).to_string()
            });
            for (n, &i) in members.iter().enumerate().skip(1) {
                renames.push((i, format!("{key} #{}", n + 1)));
            }
            duplicates.push((table, key.to_owned(), members.len()));
        }
        for (i, key) in renames {
            if let Some(page) = &mut keys[i].page
                && self.raws[i].table().name == "adx_webpage"
                && !self.raws[i].content_page
            {
                *page = key.clone();
            }
            keys[i].key = key;
        }
        duplicates.sort();
        for (table, key, count) in duplicates {
            self.warnings.push(format!(
                "{count} records of `{}` have the key `{key}`: they are told apart as `{key}`, `{key} #2`...",
                TABLES[table].name
            ));
        }
    }

    fn website_summary(
        &self,
        languages: &HashMap<String, String>,
        index: &HashMap<&str, String>,
    ) -> Value {
        let Some(raw) = self
            .raws
            .iter()
            .find(|raw| raw.table().name == "adx_website")
        else {
            return Value::Null;
        };
        let target_key = |column: &str| -> Value {
            raw.guid(column)
                .and_then(|id| index.get(id.as_str()))
                .and_then(|target| {
                    target
                        .split_once(':')
                        .map(|(_, key)| Value::String(key.to_owned()))
                })
                .unwrap_or(Value::Null)
        };
        let mut codes: Vec<&String> = languages.values().collect();
        codes.sort();
        codes.dedup();
        json!({
            "id": raw.id,
            "name": raw.str("adx_name"),
            "lcid": raw.fields.get("adx_website_language").cloned().unwrap_or(Value::Null),
            "defaultLanguage": raw.guid("adx_defaultlanguage").and_then(|id| languages.get(&id).cloned()),
            "languages": codes,
            "headerTemplate": target_key("adx_headerwebtemplateid"),
            "footerTemplate": target_key("adx_footerwebtemplateid"),
        })
    }
}

/// A record file to read, with the companion files found beside it.
struct Job {
    file: String,
    table: usize,
    /// (column, path, read as text).
    companions: Vec<(&'static str, String, bool)>,
}

/// What one job read.
struct Parsed {
    raws: Vec<Raw>,
    files: Vec<(String, FileEntry)>,
    digests: Vec<(String, String)>,
}

fn read_file(
    root: &Path,
    file: &str,
    digests: &mut Vec<(String, String)>,
) -> Result<Vec<u8>, InputError> {
    let path = root.join(file);
    let bytes = std::fs::read(&path).map_err(|source| InputError::Read { path, source })?;
    digests.push((file.to_owned(), hex::encode(Sha256::digest(&bytes))));
    Ok(bytes)
}

/// Reads one record file (one record or a list of them) and its companion files.
fn parse_job(root: &Path, job: Job) -> Result<Parsed, InputError> {
    let spec = &TABLES[job.table];
    let file = job.file.as_str();
    let path = root.join(file);
    let mut digests = Vec::with_capacity(1 + job.companions.len());
    let bytes = read_file(root, file, &mut digests)?;
    let text = String::from_utf8(bytes).map_err(|err| InputError::Shape {
        path: path.clone(),
        message: format!("not UTF-8 text (byte {})", err.utf8_error().valid_up_to()),
    })?;
    let value = parse(&path, &text)?;

    let mut files = Vec::with_capacity(job.companions.len());
    let mut companions = Vec::with_capacity(job.companions.len());
    for (column, companion, text_expected) in job.companions {
        let bytes = read_file(root, &companion, &mut digests)?;
        let size = bytes.len();
        let entry = match String::from_utf8(bytes) {
            Ok(text) => FileEntry {
                sha256: sha256_text(&text),
                size,
                text: text_expected.then_some(text),
            },
            Err(err) => FileEntry {
                sha256: hex::encode(Sha256::digest(err.as_bytes())),
                size,
                text: None,
            },
        };
        files.push((companion.clone(), entry));
        companions.push((column, companion));
    }

    let items: Vec<(Option<usize>, Value)> = match (spec.shape, value) {
        (Shape::One, Value::Object(map)) => vec![(None, Value::Object(map))],
        (Shape::List, Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Some(i), v))
            .collect(),
        (Shape::List, Value::Null) => Vec::new(),
        (Shape::One, _) => {
            return Err(InputError::Shape {
                path,
                message: "expected one record (a mapping of column names to values)".into(),
            });
        }
        (Shape::List, _) => {
            return Err(InputError::Shape {
                path,
                message: "expected a list of records".into(),
            });
        }
    };
    let name = file.rsplit('/').next().unwrap_or(file);
    let language_hint = language_in_name(name);
    let in_content_pages = spec.name == "adx_webpage" && file.contains("content-pages/");
    let mut raws = Vec::with_capacity(items.len());
    for (position, item) in items {
        let Value::Object(fields) = item else {
            return Err(InputError::Shape {
                path,
                message: format!(
                    "item {} of the list is not a record (a mapping of column names to values)",
                    position.map_or(0, |i| i + 1)
                ),
            });
        };
        let id = fields
            .get(spec.id)
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let content_page = in_content_pages
            || (spec.name == "adx_webpage"
                && (fields.contains_key("adx_rootwebpageid")
                    || fields.contains_key("adx_webpagelanguageid")));
        raws.push(Raw {
            table: job.table,
            file: job.file.clone(),
            position,
            id,
            fields,
            companions: companions.clone(),
            language_hint: language_hint.clone(),
            content_page,
        });
    }
    Ok(Parsed {
        raws,
        files,
        digests,
    })
}

/// `f` over `items` on up to one thread per core, results in the order of `items`.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    if threads == 1 || items.len() < 64 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        chunks.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// A record's key, and for web pages and localized records, their page and language.
#[derive(Clone, Debug)]
struct Key {
    key: String,
    page: Option<String>,
    language: Option<String>,
}

impl Key {
    fn new(key: impl Into<String>) -> Key {
        Key {
            key: key.into(),
            page: None,
            language: None,
        }
    }
}

fn with_language(name: &str, language: Option<&str>) -> String {
    match language {
        Some(code) => format!("{name} [{code}]"),
        None => name.to_owned(),
    }
}

/// What a form metadata record is about: its column, section or tab.
fn metadata_name(raw: &Raw) -> String {
    for column in [
        "adx_attributelogicalname",
        "adx_sectionname",
        "adx_tabname",
        "adx_subgrid_name",
        "adx_notes_settings",
    ] {
        if let Some(name) = raw.str(column) {
            return name.to_owned();
        }
    }
    match raw.fields.get("adx_type") {
        Some(kind) => format!("type {kind}"),
        None => "(unnamed)".into(),
    }
}

/// The URL path of a root page: `/` for the home page, `/orders/details/` below it.
fn page_path(
    id: &str,
    pages: &HashMap<String, (String, Option<String>)>,
    paths: &mut HashMap<String, String>,
) -> String {
    if let Some(path) = paths.get(id) {
        return path.clone();
    }
    // Walk up to the top (or a cycle, or a parent outside the folder).
    let mut chain: Vec<&str> = Vec::new();
    let mut current = Some(id);
    let mut prefix = String::from("/");
    while let Some(page) = current {
        if let Some(known) = paths.get(page) {
            prefix = known.clone();
            break;
        }
        if chain.contains(&page) || chain.len() > 64 {
            prefix = "/?/".into();
            break;
        }
        match pages.get(page) {
            Some((_, parent)) => {
                chain.push(page);
                current = parent.as_deref();
                if current.is_some_and(|parent| !pages.contains_key(parent)) {
                    prefix = "/?/".into();
                    break;
                }
            }
            None => {
                prefix = "/?/".into();
                break;
            }
        }
    }
    let mut path = prefix;
    for page in chain.iter().rev() {
        let partial = pages[*page].0.trim_matches('/');
        if !partial.is_empty() {
            path.push_str(partial);
            path.push('/');
        }
        paths.insert((*page).to_owned(), path.clone());
    }
    path
}

/// The path of a page record without a usable root page: its parent's path and its own partial URL.
fn own_path(
    raw: &Raw,
    pages: &HashMap<String, (String, Option<String>)>,
    paths: &mut HashMap<String, String>,
) -> String {
    let parent = raw
        .guid("adx_parentpageid")
        .filter(|id| pages.contains_key(id))
        .map_or_else(|| "/".to_owned(), |id| page_path(&id, pages, paths));
    let partial = raw
        .str("adx_partialurl")
        .unwrap_or_default()
        .trim_matches('/');
    if partial.is_empty() {
        parent
    } else {
        format!("{parent}{partial}/")
    }
}

/// A lookup (a GUID, or a list of them) to records of the folder, as `table:key`.
fn resolve(value: &Value, index: &HashMap<&str, String>) -> Option<Value> {
    match value {
        Value::String(text) if is_guid(text) => index
            .get(text.to_ascii_lowercase().as_str())
            .map(|target| Value::String(target.clone())),
        Value::Array(items)
            if !items.is_empty() && items.iter().all(|item| item.as_str().is_some_and(is_guid)) =>
        {
            let mut targets: Vec<String> = items
                .iter()
                .filter_map(Value::as_str)
                .map(|id| {
                    index
                        .get(id.to_ascii_lowercase().as_str())
                        .cloned()
                        .unwrap_or_else(|| id.to_ascii_lowercase())
                })
                .collect();
            targets.sort();
            Some(Value::Array(
                targets.into_iter().map(Value::String).collect(),
            ))
        }
        _ => None,
    }
}

/// The table a file holds records of, by its name.
fn table_of(file: &str) -> Option<usize> {
    let name = file.rsplit('/').next().unwrap_or(file);
    TABLES.iter().position(|table| match table.naming {
        Naming::Path(path) => file == path,
        Naming::Suffix(suffix) => name.ends_with(suffix) && name.len() > suffix.len(),
    })
}

/// `Home.en-US.webpage.yml` + `.webpage.copy.html` -> `Home.en-US.webpage.copy.html`.
fn companion_path(file: &str, naming: Naming, companion_suffix: &str) -> Option<String> {
    let Naming::Suffix(suffix) = naming else {
        return None;
    };
    file.strip_suffix(suffix)
        .map(|stem| format!("{stem}{companion_suffix}"))
}

/// The language code in a file name such as `Footer.en-US.contentsnippet.yml`.
fn language_in_name(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    // name, code, kind(s)..., yml: the code is the second part when there are at least four.
    if parts.len() >= 4 && is_language_code(parts[1]) {
        return Some(parts[1].to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_language_codes() {
        assert!(is_guid("3d84e25d-08da-ed11-a7c6-000d3a854be1"));
        assert!(!is_guid("3d84e25d-08da-ed11-a7c6-000d3a854be"));
        assert!(!is_guid("Home"));
        assert_eq!(
            language_in_name("Footer.en-US.contentsnippet.yml").as_deref(),
            Some("en-US")
        );
        assert_eq!(
            language_in_name("Home.en-US.webpage.copy.html").as_deref(),
            Some("en-US")
        );
        assert_eq!(
            language_in_name("Chat-Widget-Code.contentsnippet.yml"),
            None
        );
        assert_eq!(language_in_name("Home.webpage.yml"), None);
    }

    #[test]
    fn files_are_told_apart_by_their_names() {
        let table = |file: &str| table_of(file).map(|i| TABLES[i].name);
        assert_eq!(table("website.yml"), Some("adx_website"));
        assert_eq!(
            table("web-pages/home/Home.webpage.yml"),
            Some("adx_webpage")
        );
        assert_eq!(
            table("web-pages/home/content-pages/Home.en-US.webpage.yml"),
            Some("adx_webpage")
        );
        assert_eq!(table("web-pages/home/Home.webpage.copy.html"), None);
        assert_eq!(
            table("weblink-sets/default/Default.en-US.weblinkset.yml"),
            Some("adx_weblinkset")
        );
        assert_eq!(
            table("weblink-sets/default/Default.en-US.weblinkset.weblink.yml"),
            Some("adx_weblink")
        );
        assert_eq!(
            table("basic-forms/a/A.basicform.yml"),
            Some("adx_entityform")
        );
        assert_eq!(
            table("basic-forms/a/A.basicform.basicformmetadata.yml"),
            Some("adx_entityformmetadata")
        );
        assert_eq!(
            table("advanced-forms/a/A.advancedform.yml"),
            Some("adx_webform")
        );
        assert_eq!(
            table("advanced-forms/a/advanced-form-steps/s/S.advancedformstep.yml"),
            Some("adx_webformstep")
        );
        assert_eq!(
            table("table-permissions/Products.tablepermission.yml"),
            Some("adx_entitypermission")
        );
        assert_eq!(table("sub/sitesetting.yml"), None);
        assert_eq!(
            companion_path(
                "web-pages/home/Home.webpage.yml",
                Naming::Suffix(".webpage.yml"),
                ".webpage.copy.html"
            )
            .as_deref(),
            Some("web-pages/home/Home.webpage.copy.html")
        );
    }

    #[test]
    fn page_paths_follow_parents() {
        let mut pages = HashMap::new();
        pages.insert("home".to_owned(), ("/".to_owned(), None));
        pages.insert(
            "orders".to_owned(),
            ("orders".to_owned(), Some("home".to_owned())),
        );
        pages.insert(
            "details".to_owned(),
            ("order-details".to_owned(), Some("orders".to_owned())),
        );
        pages.insert(
            "loop".to_owned(),
            ("loop".to_owned(), Some("loop".to_owned())),
        );
        let mut paths = HashMap::new();
        assert_eq!(
            page_path("details", &pages, &mut paths),
            "/orders/order-details/"
        );
        assert_eq!(page_path("home", &pages, &mut paths), "/");
        assert_eq!(page_path("orders", &pages, &mut paths), "/orders/");
        assert_eq!(page_path("loop", &pages, &mut paths), "/?/loop/");
    }
}
