//! Site folders (`pac pages download`), template drift, migration readiness and
//! `preflight plan`, on the examples: `template-v1` (the Customer portal template as
//! provisioned), `template-v2` (a newer one) and `contoso-ready/site` (provisioned
//! from v1 and customised).
//!
//! What the examples hold, and so what the tests expect:
//! - changed only in v2: `Footer/OutputCache/Enabled`, snippets `Home/Title` and
//!   `Footer`, the Orders page copy, the `Header` web template;
//! - changed only in the site: snippet `Site name`, custom CSS on the home page, an
//!   added setting `Contoso/SupportEmail`;
//! - changed on both sides differently: `HTTP/Content-Security-Policy`;
//! - changed on both sides the same way: `Search/Enabled` (no finding);
//! - added in v2: the Invoices page and what goes with it; removed: the Search page.

use preflight::commands::plan::{Folder, Plan, build_plan, render_markdown};
use preflight::engine::{Allocation, Document, Engine, EngineOptions, Policy};
use preflight::inputs::InputError;
use preflight::inputs::site::read_site;
use preflight::model::{Finding, PolicySource, Severity, Status};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, LazyLock};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn v1() -> PathBuf {
    examples().join("template-v1")
}

fn v2() -> PathBuf {
    examples().join("template-v2")
}

fn contoso() -> PathBuf {
    examples().join("contoso-ready/site")
}

fn read(path: &Path) -> Value {
    read_site(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .value
}

fn records<'v>(doc: &'v Value, table: &str) -> &'v Vec<Value> {
    doc["tables"][table]
        .as_array()
        .unwrap_or_else(|| panic!("no table `{table}`"))
}

fn record<'v>(doc: &'v Value, table: &str, key: &str) -> &'v Value {
    records(doc, table)
        .iter()
        .find(|record| record["key"] == key)
        .unwrap_or_else(|| panic!("no `{table}` record `{key}`"))
}

fn keys(doc: &Value, table: &str) -> Vec<String> {
    records(doc, table)
        .iter()
        .map(|record| record["key"].as_str().unwrap().to_owned())
        .collect()
}

/// Copies a folder, for tests that change a file.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn copy_of(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    copy_dir(from, &site);
    (dir, site)
}

// ------------------------------------------------------------------ reader

#[test]
fn reader_reads_every_table_of_the_template() {
    let doc = read(&v1());
    assert_eq!(doc["dataModel"], "standard");
    let counts: Vec<(&str, usize)> = doc["tables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(table, records)| (table.as_str(), records.as_array().unwrap().len()))
        .filter(|(_, count)| *count > 0)
        .collect();
    assert_eq!(
        counts,
        vec![
            ("adx_website", 1),
            ("adx_websitelanguage", 1),
            ("adx_portallanguage", 1),
            ("adx_publishingstate", 2),
            ("adx_sitesetting", 14),
            ("adx_sitemarker", 8),
            ("adx_webrole", 4),
            ("adx_websiteaccess", 1),
            ("adx_webpage", 16),
            ("adx_contentsnippet", 6),
            ("adx_webtemplate", 6),
            ("adx_pagetemplate", 9),
            ("adx_weblinkset", 1),
            ("adx_weblink", 4),
            ("adx_entitypermission", 5),
            ("adx_entityform", 2),
            ("adx_entitylist", 3),
            ("adx_webfile", 1),
        ]
    );
    // Every table is there, even when empty, so policies can rely on the shape.
    assert_eq!(records(&doc, "adx_redirect").len(), 0);
    assert_eq!(records(&doc, "adx_webform").len(), 0);

    let website = &doc["website"];
    assert_eq!(website["lcid"], 1033);
    assert_eq!(website["defaultLanguage"], "en-US");
    assert_eq!(website["headerTemplate"], "Header");
    assert_eq!(website["footerTemplate"], "Footer");
}

#[test]
fn records_have_stable_keys_and_resolved_lookups() {
    let doc = read(&v1());
    assert_eq!(
        keys(&doc, "adx_webpage"),
        [
            "/",
            "/ [en-US]",
            "/access-denied/",
            "/access-denied/ [en-US]",
            "/orders/",
            "/orders/ [en-US]",
            "/orders/order-details/",
            "/orders/order-details/ [en-US]",
            "/page-not-found/",
            "/page-not-found/ [en-US]",
            "/products/",
            "/products/ [en-US]",
            "/profile/",
            "/profile/ [en-US]",
            "/search/",
            "/search/ [en-US]",
        ]
    );
    assert!(keys(&doc, "adx_contentsnippet").contains(&"Footer [en-US]".to_owned()));
    assert_eq!(
        keys(&doc, "adx_webrole"),
        [
            "Administrator",
            "Authorized users",
            "Customer representative",
            "Unauthorized users"
        ]
    );
    assert!(keys(&doc, "adx_weblink").contains(&"Primary Navigation [en-US] / Orders".to_owned()));
    assert!(
        keys(&doc, "adx_entitypermission")
            .contains(&"Customer portal - Sales order lines".to_owned())
    );

    let details = record(&doc, "adx_webpage", "/orders/order-details/ [en-US]");
    assert_eq!(details["page"], "/orders/order-details/");
    assert_eq!(details["language"], "en-US");
    assert_eq!(
        details["file"],
        "web-pages/order-details/content-pages/Order-details.en-US.webpage.yml"
    );
    assert_eq!(details["refs"]["adx_parentpageid"], "adx_webpage:/orders/");
    assert_eq!(
        details["refs"]["adx_rootwebpageid"],
        "adx_webpage:/orders/order-details/"
    );
    assert_eq!(
        details["refs"]["adx_pagetemplateid"],
        "adx_pagetemplate:Order details"
    );
    assert_eq!(
        details["refs"]["adx_webpagelanguageid"],
        "adx_websitelanguage:en-US"
    );
    // The record's own GUID is kept aside, not compared.
    assert!(details["id"].as_str().is_some());
    assert!(details["fields"].get("adx_webpageid").is_none());

    let lines = record(
        &doc,
        "adx_entitypermission",
        "Customer portal - Sales order lines",
    );
    assert_eq!(
        lines["refs"]["adx_entitypermission_webrole"],
        json!([
            "adx_webrole:Authorized users",
            "adx_webrole:Customer representative"
        ])
    );
    assert_eq!(
        lines["refs"]["adx_parententitypermission"],
        "adx_entitypermission:Customer portal - Sales orders of the account"
    );
    // A GUID that names nothing in the folder (a system view) is left as it is.
    let list = record(&doc, "adx_entitylist", "Orders list");
    assert!(list["refs"].get("adx_view").is_none());
    assert_eq!(
        list["refs"]["adx_webpagefordetailsview"],
        "adx_webpage:/orders/order-details/"
    );
}

#[test]
fn the_same_template_in_two_environments_has_the_same_keys_and_other_guids() {
    let template = read(&v1());
    let site = read(&contoso());
    for table in [
        "adx_webpage",
        "adx_contentsnippet",
        "adx_webtemplate",
        "adx_entitypermission",
        "adx_weblink",
    ] {
        assert_eq!(keys(&template, table), keys(&site, table), "{table}");
    }
    let id = |doc: &Value| record(doc, "adx_webpage", "/orders/")["id"].clone();
    assert_ne!(id(&template), id(&site));
    // ... and equal lookups, through the keys.
    assert_eq!(
        record(&template, "adx_webpage", "/orders/")["refs"],
        record(&site, "adx_webpage", "/orders/")["refs"]
    );
}

#[test]
fn keys_and_order_do_not_depend_on_file_order() {
    let (_dir, copy) = copy_of(&v1());
    // Reverse the records of a list file.
    let path = copy.join("sitesetting.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut items: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("- ") || items.is_empty() {
            items.push(String::new());
        }
        let last = items.last_mut().unwrap();
        last.push_str(line);
        last.push('\n');
    }
    items.reverse();
    std::fs::write(&path, items.concat()).unwrap();

    let original = read(&v1());
    let reversed = read(&copy);
    let strip = |doc: &Value| -> Vec<Value> {
        records(doc, "adx_sitesetting")
            .iter()
            .map(|record| json!([record["key"], record["fields"], record["id"]]))
            .collect()
    };
    assert_eq!(strip(&original), strip(&reversed));
    assert_ne!(
        record(&original, "adx_sitesetting", "Search/Enabled")["position"],
        record(&reversed, "adx_sitesetting", "Search/Enabled")["position"]
    );
}

#[test]
fn environment_specific_files_are_left_out() {
    let (_dir, copy) = copy_of(&contoso());
    std::fs::write(copy.join("org-url-manifest.yml"), "adx_sitesetting: []\n").unwrap();
    let doc = read(&copy);
    let ignored: Vec<(&str, &str)> = doc["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["file"].as_str().unwrap(),
                entry["reason"].as_str().unwrap(),
            )
        })
        .collect();
    for file in [
        ".portalconfig/contoso-sales.crm4.dynamics.com-manifest.yml",
        ".portalconfig/manifest.yml",
        ".portalconfig/websitebinding.yml",
        "org-url-manifest.yml",
    ] {
        let (_, reason) = ignored
            .iter()
            .find(|(ignored, _)| *ignored == file)
            .unwrap_or_else(|| panic!("`{file}` is not left out: {ignored:?}"));
        assert!(
            reason.starts_with("environment-specific"),
            "{file}: {reason}"
        );
    }
    // Nothing of them reaches a table, and the site's digest does not depend on them.
    let text = doc["tables"].to_string();
    assert!(!text.contains("manifest.yml"));
    assert_eq!(
        read_site(&copy).unwrap().sha256,
        read_site(&contoso()).unwrap().sha256
    );
}

#[test]
fn companion_files_are_text_with_a_sha256() {
    let doc = read(&contoso());
    let file = "web-pages/home/content-pages/Home.en-US.webpage.custom_css.css";
    let content = std::fs::read_to_string(contoso().join(file)).unwrap();
    let sha256 = hex::encode(Sha256::digest(content.as_bytes()));
    assert_eq!(doc["files"][file]["text"], content.as_str());
    assert_eq!(doc["files"][file]["sha256"], sha256.as_str());
    assert_eq!(doc["files"][file]["size"], content.len());
    let home = record(&doc, "adx_webpage", "/ [en-US]");
    assert_eq!(
        home["companions"]["adx_customcss"],
        json!({ "file": file, "sha256": sha256 })
    );
    assert_eq!(
        home["companions"]["adx_copy"]["file"],
        "web-pages/home/content-pages/Home.en-US.webpage.copy.html"
    );
    let snippet = record(&doc, "adx_contentsnippet", "Site name [en-US]");
    let value = &snippet["companions"]["adx_value"]["file"];
    assert_eq!(
        doc["files"][value.as_str().unwrap()]["text"],
        "Contoso customer portal"
    );
    let template = record(&doc, "adx_webtemplate", "Header");
    assert!(
        template["companions"]["adx_source"]["sha256"]
            .as_str()
            .is_some()
    );
    // A web file's content is hashed, not kept as text.
    let theme = record(&doc, "adx_webfile", "/theme.css");
    assert_eq!(
        theme["companions"]["content"]["file"],
        "web-files/theme.css"
    );
    assert_eq!(doc["files"]["web-files/theme.css"]["text"], Value::Null);
}

#[test]
fn line_endings_do_not_change_a_companion_hash() {
    let (_dir, copy) = copy_of(&v1());
    let file = "web-pages/orders/content-pages/Orders.en-US.webpage.copy.html";
    let text = std::fs::read_to_string(copy.join(file)).unwrap();
    std::fs::write(copy.join(file), text.replace('\n', "\r\n")).unwrap();
    assert_eq!(
        read(&copy)["files"][file]["sha256"],
        read(&v1())["files"][file]["sha256"]
    );
}

#[test]
fn malformed_yaml_names_the_file_and_the_line() {
    let (_dir, copy) = copy_of(&v1());
    let bad = "- adx_name: Search/Enabled\n  adx_value: true\n  adx_description: a: b: c\n";
    std::fs::write(copy.join("sitesetting.yml"), bad).unwrap();
    match read_site(&copy) {
        Err(InputError::Syntax {
            path, format, line, ..
        }) => {
            assert!(path.ends_with("sitesetting.yml"), "{}", path.display());
            assert_eq!(format, "YAML");
            assert_eq!(line, 3);
        }
        other => panic!("expected a YAML error, got {other:?}"),
    }

    // The same through the binary: exit 2, the file and the line on stderr.
    let out = preflight(&["check", "--site", copy.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("sitesetting.yml` is not valid YAML (line 3"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn a_list_where_one_record_is_expected_is_an_error_naming_the_file() {
    let (_dir, copy) = copy_of(&v1());
    let file = copy.join("web-pages/home/Home.webpage.yml");
    std::fs::write(&file, "- adx_name: Home\n").unwrap();
    let err = read_site(&copy).unwrap_err().to_string();
    assert!(
        err.contains("Home.webpage.yml") && err.contains("expected one record"),
        "{err}"
    );
}

#[test]
fn a_folder_holding_one_downloaded_site_is_read() {
    // `pac pages download --path X` writes `X/<site-name>---<site-name>/`.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&v1(), &dir.path().join("customer-portal---customer-portal"));
    let site = read_site(dir.path()).unwrap();
    assert!(site.root.ends_with("customer-portal---customer-portal"));

    let empty = tempfile::tempdir().unwrap();
    let err = read_site(empty.path()).unwrap_err().to_string();
    assert!(err.contains("no `website.yml`"), "{err}");
}

#[test]
fn records_under_other_records_are_keyed_by_their_parents() {
    let (_dir, copy) = copy_of(&v1());
    let write = |file: &str, text: &str| {
        let path = copy.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let form = "11111111-0000-4000-8000-000000000001";
    let step = "11111111-0000-4000-8000-000000000002";
    write(
        "advanced-forms/order-request/Order-request.advancedform.yml",
        &format!("adx_name: Order request\nadx_webformid: {form}\n"),
    );
    write(
        "advanced-forms/order-request/advanced-form-steps/lines/Lines.advancedformstep.yml",
        &format!("adx_name: Lines\nadx_webform: {form}\nadx_webformstepid: {step}\n"),
    );
    let profile = read(&v1());
    let profile_form = record(&profile, "adx_entityform", "Profile form")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    write(
        "basic-forms/profile-form/Profile-form.basicform.basicformmetadata.yml",
        &format!(
            "- adx_attributelogicalname: telephone1\n  adx_entityform: {profile_form}\n  adx_entityformmetadataid: 11111111-0000-4000-8000-000000000003\n  adx_fieldisrequired: true\n\
             - adx_sectionname: contact_details\n  adx_entityform: {profile_form}\n  adx_entityformmetadataid: 11111111-0000-4000-8000-000000000004\n"
        ),
    );
    // A link below another link of the same set.
    let links = copy
        .join("weblink-sets/primary-navigation/Primary-Navigation.en-US.weblinkset.weblink.yml");
    let orders_link = record(
        &profile,
        "adx_weblink",
        "Primary Navigation [en-US] / Orders",
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set = record(&profile, "adx_weblinkset", "Primary Navigation [en-US]")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut text = std::fs::read_to_string(&links).unwrap();
    text.push_str(&format!(
        "- adx_name: Open orders\n  adx_parentweblinkid: {orders_link}\n  adx_weblinkid: 11111111-0000-4000-8000-000000000005\n  adx_weblinksetid: {set}\n"
    ));
    std::fs::write(&links, text).unwrap();

    let doc = read(&copy);
    assert_eq!(keys(&doc, "adx_webform"), ["Order request"]);
    assert_eq!(keys(&doc, "adx_webformstep"), ["Order request / Lines"]);
    assert_eq!(
        record(&doc, "adx_webformstep", "Order request / Lines")["refs"]["adx_webform"],
        "adx_webform:Order request"
    );
    assert_eq!(
        keys(&doc, "adx_entityformmetadata"),
        [
            "Profile form / contact_details",
            "Profile form / telephone1"
        ]
    );
    assert!(
        keys(&doc, "adx_weblink")
            .contains(&"Primary Navigation [en-US] / Orders / Open orders".to_owned())
    );
}

/// A folder as the enhanced data model writes it.
fn enhanced_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join(".powerpages-site");
    std::fs::create_dir_all(site.join("site-settings")).unwrap();
    std::fs::write(
        site.join("website.yml"),
        "id: 6a0f0c2e-0000-4000-8000-000000000004\nname: Site\n",
    )
    .unwrap();
    std::fs::write(
        site.join("site-settings/Search-Enabled.sitesetting.yml"),
        "id: 6a0f0c2e-0000-4000-8000-000000000005\nname: Search/Enabled\nvalue: true\n",
    )
    .unwrap();
    dir
}

#[test]
fn the_enhanced_data_model_is_recognised_and_refused_for_the_plan() {
    let dir = enhanced_site();
    let site = read_site(dir.path()).unwrap();
    assert_eq!(site.value["dataModel"], "enhanced");
    assert!(
        site.enhanced
            .as_deref()
            .unwrap()
            .contains(".powerpages-site")
    );
    assert_eq!(site.value["tables"], json!({}));

    let out = preflight(&[
        "plan",
        "--site",
        dir.path().to_str().unwrap(),
        "--template",
        v2().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("enhanced data model"), "{}", out.stderr);
    assert!(
        out.stderr.contains("--modelVersion Standard"),
        "{}",
        out.stderr
    );
}

// ------------------------------------------------------------------ policies

struct Pack {
    engine: Engine,
    policies: Vec<Policy>,
}

/// The engine and the two policies, compiled once for all the tests of this file.
static PACK: LazyLock<Pack> = LazyLock::new(|| {
    let engine = Engine::new(EngineOptions {
        cache_dir: None,
        allocation: Allocation::OnDemand,
        ..EngineOptions::default()
    })
    .unwrap();
    let policies = preflight::builtin::BUILTIN_POLICIES
        .iter()
        .filter(|(file, _, _)| file.contains("drift") || file.contains("migration"))
        .map(|(file, bytes, sha256)| {
            engine
                .load(
                    PolicySource::Builtin((*file).to_owned()),
                    bytes,
                    Some(sha256),
                )
                .unwrap()
        })
        .collect();
    Pack { engine, policies }
});

fn evaluate(policy: &str, documents: &[(&str, Value)], settings: &str) -> Vec<Finding> {
    let pack = &*PACK;
    let policy = pack
        .policies
        .iter()
        .find(|p| p.info.name == policy)
        .unwrap_or_else(|| panic!("no built-in policy `{policy}`"));
    let documents: Vec<Document> = documents
        .iter()
        .map(|(name, value)| Document::new((*name).to_owned(), Arc::new(value.clone())))
        .collect();
    let run = pack.engine.evaluate(policy, &documents, settings);
    assert_eq!(run.status, Status::Ok, "{:?}", run.reason);
    run.findings
}

/// A finding as (rule, table, key, column), read back through its pointer.
fn place(finding: &Finding, docs: &[(&str, Value)]) -> (String, String, String, Option<String>) {
    let doc = &docs
        .iter()
        .find(|(name, _)| *name == finding.document)
        .unwrap()
        .1;
    let parts: Vec<&str> = finding.pointer.split('/').collect();
    let (table, index) = (parts[2], parts[3].parse::<usize>().unwrap());
    let key = doc["tables"][table][index]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let column = parts
        .get(5)
        .map(|column| column.replace("~1", "/").replace("~0", "~"));
    (finding.rule_id.clone(), table.to_owned(), key, column)
}

fn drift_docs(base: bool) -> Vec<(&'static str, Value)> {
    let mut docs = vec![("site", read(&contoso())), ("template", read(&v2()))];
    if base {
        docs.push(("base-template", read(&v1())));
    }
    docs
}

fn has(
    places: &[(String, String, String, Option<String>)],
    rule: &str,
    table: &str,
    key: &str,
    column: Option<&str>,
) -> bool {
    places
        .iter()
        .any(|(r, t, k, c)| r == rule && t == table && k == key && c.as_deref() == column)
}

#[test]
fn drift_three_way_tells_template_changes_customisations_and_conflicts_apart() {
    let docs = drift_docs(true);
    let findings = evaluate("customer-portal-drift", &docs, "{}");
    let places: Vec<_> = findings.iter().map(|f| place(f, &docs)).collect();

    // Changed only in the new template: a warning with the new value, pointing at the site.
    assert!(has(
        &places,
        "DR001",
        "adx_sitesetting",
        "Footer/OutputCache/Enabled",
        Some("adx_value")
    ));
    let footer = findings
        .iter()
        .find(|f| f.rule_id == "DR001" && f.message.contains("Footer/OutputCache/Enabled"))
        .unwrap();
    assert_eq!(footer.severity, Severity::Warning);
    assert_eq!(footer.document, "site");
    assert!(
        footer.message.contains("from `true` to `false`"),
        "{}",
        footer.message
    );
    assert!(
        footer
            .remediation
            .as_deref()
            .unwrap()
            .contains("set `adx_value` to `false`")
    );
    assert!(
        has(&places, "DR001", "adx_webpage", "/orders/ [en-US]", None)
            || has(
                &places,
                "DR001",
                "adx_webpage",
                "/orders/ [en-US]",
                Some("adx_copy")
            )
    );
    assert!(has(
        &places,
        "DR001",
        "adx_webtemplate",
        "Header",
        Some("adx_source")
    ));
    assert!(has(
        &places,
        "DR001",
        "adx_contentsnippet",
        "Home/Title [en-US]",
        Some("adx_value")
    ));

    // Changed only in the site: information.
    assert!(has(
        &places,
        "DR002",
        "adx_contentsnippet",
        "Site name [en-US]",
        Some("adx_value")
    ));
    assert!(has(
        &places,
        "DR002",
        "adx_webpage",
        "/ [en-US]",
        Some("adx_customcss")
    ));
    assert!(has(
        &places,
        "DR002",
        "adx_sitesetting",
        "Contoso/SupportEmail",
        None
    ));

    // Changed on both sides differently: an error, with the three values.
    let conflicts: Vec<&Finding> = findings.iter().filter(|f| f.rule_id == "DR003").collect();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].severity, Severity::Error);
    assert!(has(
        &places,
        "DR003",
        "adx_sitesetting",
        "HTTP/Content-Security-Policy",
        Some("adx_value")
    ));
    assert!(conflicts[0].message.contains("https://cdn.contoso.com"));
    assert!(
        conflicts[0]
            .message
            .contains("https://content.powerapps.com")
    );

    // Changed the same way on both sides: nothing.
    assert!(
        !findings
            .iter()
            .any(|f| f.message.contains("Search/Enabled"))
    );

    // Added in the template (pointing into the template) and removed from it.
    let invoices = findings
        .iter()
        .find(|f| f.rule_id == "DR004" && f.message.contains("`/invoices/`"))
        .unwrap();
    assert_eq!(invoices.document, "template");
    assert!(has(&places, "DR004", "adx_pagetemplate", "Invoices", None));
    assert!(has(
        &places,
        "DR004",
        "adx_sitesetting",
        "Site/BootstrapV5Enabled",
        None
    ));
    assert!(has(&places, "DR005", "adx_webpage", "/search/", None));
    assert!(has(&places, "DR005", "adx_sitemarker", "Search", None));

    // No lookup or GUID shows up as a difference: the three folders have other GUIDs.
    assert!(
        !places
            .iter()
            .any(|(_, _, _, column)| column.as_deref().is_some_and(|c| c.ends_with("id")))
    );
    assert!(!findings.iter().any(|f| f.rule_id == "DR006"));
    assert_eq!(findings.len(), 21, "{findings:#?}");
}

#[test]
fn drift_without_a_base_template_is_two_way_and_says_so() {
    let docs = drift_docs(false);
    let findings = evaluate("customer-portal-drift", &docs, "{}");
    assert!(!findings.is_empty());
    for finding in &findings {
        assert!(
            ["DR004", "DR005", "DR006"].contains(&finding.rule_id.as_str()),
            "{finding:?}"
        );
        assert!(
            finding.message.contains("two-way comparison"),
            "{}",
            finding.message
        );
        assert_eq!(finding.severity, Severity::Warning);
    }
    let places: Vec<_> = findings.iter().map(|f| place(f, &docs)).collect();
    assert!(has(
        &places,
        "DR006",
        "adx_sitesetting",
        "HTTP/Content-Security-Policy",
        Some("adx_value")
    ));
    assert!(has(
        &places,
        "DR006",
        "adx_contentsnippet",
        "Site name [en-US]",
        Some("adx_value")
    ));
    // A local addition cannot be told from a template removal.
    assert!(has(
        &places,
        "DR005",
        "adx_sitesetting",
        "Contoso/SupportEmail",
        None
    ));
}

#[test]
fn drift_limit_counts_the_rest_in_one_finding() {
    let docs = drift_docs(true);
    let findings = evaluate("customer-portal-drift", &docs, r#"{"limit": 3}"#);
    assert_eq!(findings.len(), 4);
    assert_eq!(findings[0].rule_id, "DR003", "conflicts come first");
    assert_eq!(findings[3].rule_id, "DR008");
    assert!(
        findings[3].message.starts_with("18 more differences"),
        "{}",
        findings[3].message
    );
}

#[test]
fn drift_refuses_an_enhanced_model_folder() {
    let dir = enhanced_site();
    let docs = vec![
        ("site", read_site(dir.path()).unwrap().value),
        ("template", read(&v2())),
    ];
    let findings = evaluate("customer-portal-drift", &docs, "{}");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule_id, "DR007");
    assert_eq!(findings[0].pointer, "/dataModel");
    assert!(findings[0].message.contains("enhanced data model"));
}

fn environment() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(examples().join("contoso-ready/environment.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn migration_passes_for_the_ready_example() {
    let docs = vec![("site", read(&contoso())), ("environment", environment())];
    let findings = evaluate("customer-portal-migration", &docs, "{}");
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn migration_rules_fail_on_a_target_that_cannot_take_the_site() {
    let mut env = environment();
    env["environment"]["baseLanguage"] = json!(1036);
    env["powerPagesSites"] = json!([
        { "id": "0b3f6c1e-1111-4222-8333-944455556666", "name": "Fabrikam customer portal", "template": "Customer Portal", "dataModel": "Standard" },
        { "id": "0b3f6c1e-1111-4222-8333-944455556667", "name": "Partner site", "template": "Partner Portal" },
        { "id": "0b3f6c1e-1111-4222-8333-944455556668", "name": "Old site" }
    ]);
    let docs = vec![("site", read(&contoso())), ("environment", env)];
    let settings = r#"{"templateSolutions": ["DualWriteCore", "msdyn_CustomerPortal"]}"#;
    let findings = evaluate("customer-portal-migration", &docs, settings);
    let rules: Vec<(&str, Severity, &str)> = findings
        .iter()
        .map(|f| (f.rule_id.as_str(), f.severity, f.pointer.as_str()))
        .collect();
    assert_eq!(
        rules,
        vec![
            ("MG002", Severity::Error, "/powerPagesSites/0/template"),
            ("MG002", Severity::Warning, "/powerPagesSites/2"),
            ("MG003", Severity::Error, "/environment/baseLanguage"),
            ("MG004", Severity::Error, "/solutions"),
        ]
    );
    assert!(findings[0].message.contains("`Fabrikam customer portal`"));
    assert!(findings[2].message.contains("1033") && findings[2].message.contains("1036"));
    assert!(findings[3].message.contains("`msdyn_CustomerPortal`"));
}

#[test]
fn migration_warns_when_the_target_already_holds_the_same_site() {
    let site = read(&contoso());
    let mut env = environment();
    env["powerPagesSites"] = json!([{ "id": site["website"]["id"], "name": "Contoso customer portal", "template": "Customer Portal" }]);
    let findings = evaluate(
        "customer-portal-migration",
        &[("site", site), ("environment", env)],
        "{}",
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].rule_id.as_str(), findings[0].severity),
        ("MG002", Severity::Warning)
    );
    assert!(findings[0].message.contains("overwrites"));
}

#[test]
fn migration_refuses_the_enhanced_data_model() {
    let dir = enhanced_site();
    let docs = vec![
        ("site", read_site(dir.path()).unwrap().value),
        ("environment", environment()),
    ];
    let findings = evaluate("customer-portal-migration", &docs, "{}");
    let mg001: Vec<&Finding> = findings.iter().filter(|f| f.rule_id == "MG001").collect();
    assert_eq!(mg001.len(), 1);
    assert_eq!(mg001[0].severity, Severity::Error);
    assert!(mg001[0].message.contains("enhanced data model"));
}

// ------------------------------------------------------------------ plan

fn plan(base: bool) -> Plan {
    let site = Folder::load("site", &contoso()).unwrap();
    let template = Folder::load("template", &v2()).unwrap();
    let base = base.then(|| Folder::load("base-template", &v1()).unwrap());
    build_plan(&site, &template, base.as_ref())
}

#[test]
fn plan_items_are_the_drift_findings() {
    for base in [true, false] {
        let docs = drift_docs(base);
        let findings = evaluate("customer-portal-drift", &docs, "{}");
        let from_policy: BTreeSet<(String, String, String, Option<String>)> =
            findings.iter().map(|f| place(f, &docs)).collect();
        let from_plan: BTreeSet<(String, String, String, Option<String>)> = plan(base)
            .items
            .iter()
            .map(|item| {
                // The policy points at the record when the site lacks the column.
                let column = item.field.clone().filter(|field| {
                    let doc = if item.action == "add" {
                        &docs[1].1
                    } else {
                        &docs[0].1
                    };
                    let record = doc["tables"][&item.table]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|r| r["key"] == item.key.as_str());
                    record.is_some_and(|r| {
                        r["fields"].get(field).is_some() || r["companions"].get(field).is_some()
                    })
                });
                (
                    item.rule.to_owned(),
                    item.table.clone(),
                    item.key.clone(),
                    column,
                )
            })
            .collect();
        assert_eq!(from_policy, from_plan, "base: {base}");
    }
}

#[test]
fn plan_lists_conflicts_first_with_files_and_values() {
    let plan = plan(true);
    assert_eq!(plan.mode, "three-way");
    let summary = serde_json::to_value(&plan.summary).unwrap();
    assert_eq!(
        summary,
        json!({ "conflicts": 1, "changes": 5, "additions": 9, "removals": 3, "differences": 0, "customisations": 3 })
    );
    assert_eq!(plan.items[0].action, "conflict");
    assert_eq!(plan.items[0].key, "HTTP/Content-Security-Policy");
    assert_eq!(plan.items[0].file.as_deref(), Some("sitesetting.yml"));

    let footer = plan
        .items
        .iter()
        .find(|item| item.key == "Footer/OutputCache/Enabled")
        .unwrap();
    assert_eq!(footer.action, "apply");
    assert_eq!(footer.take, Some(json!(false)));
    assert_eq!(footer.todo, "set `adx_value` to `false`");

    let copy = plan
        .items
        .iter()
        .find(|item| item.key == "/orders/ [en-US]")
        .unwrap();
    assert_eq!(
        copy.file.as_deref(),
        Some("web-pages/orders/content-pages/Orders.en-US.webpage.copy.html")
    );
    assert!(
        copy.take_text
            .as_deref()
            .unwrap()
            .contains("Orders from the last")
    );

    // A new page: its YAML with the lookups set to the site's own GUIDs.
    let site = read(&contoso());
    let home_id = record(&site, "adx_webpage", "/")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invoices = plan
        .items
        .iter()
        .find(|item| item.key == "/invoices/")
        .unwrap();
    assert_eq!(invoices.action, "add");
    let yaml = invoices.take.as_ref().unwrap().as_str().unwrap();
    assert!(
        yaml.contains(&format!("adx_parentpageid: {home_id}  # web page /")),
        "{yaml}"
    );
    assert!(yaml.contains("not in the site yet"), "{yaml}");
    // Records to add come in the order to create them: web templates before pages.
    let adds: Vec<&str> = plan
        .items
        .iter()
        .filter(|i| i.action == "add")
        .map(|i| i.table.as_str())
        .collect();
    let position = |table: &str| adds.iter().position(|t| *t == table).unwrap();
    assert!(position("adx_webtemplate") < position("adx_pagetemplate"));
    assert!(position("adx_pagetemplate") < position("adx_webpage"));

    let markdown = render_markdown(&plan);
    let conflicts = markdown.find("## 1. Conflicts to resolve by hand").unwrap();
    let changes = markdown.find("## 2. Template changes to apply").unwrap();
    assert!(conflicts < changes);
    assert!(markdown.contains("#### Page `/orders/`"));
    assert!(markdown.contains(
        "- [ ] `Footer/OutputCache/Enabled`, `adx_value`: set `adx_value` to `false` [DR001]"
    ));
}

#[test]
fn plan_command_writes_markdown_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("plan.json");
    let (site, template, base) = (contoso(), v2(), v1());
    let args = [
        "plan",
        "--site",
        site.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
        "--base-template",
        base.to_str().unwrap(),
    ];
    let out = preflight(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("# Upgrade plan for `"));
    assert!(out.stdout.contains("- To do: 1 conflict, 5 changes to apply, 9 records to add, 3 records to remove; 3 local customisations kept"));

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json", "--output", output.to_str().unwrap()]);
    let out = preflight(&json_args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(plan["schemaVersion"], 1);
    assert_eq!(plan["mode"], "three-way");
    assert_eq!(plan["items"][0]["rule"], "DR003");

    let out = preflight(&[
        "plan",
        "--site",
        contoso().to_str().unwrap(),
        "--template",
        v2().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("**two-way**"));
}

#[test]
fn check_reads_site_folders() {
    let out = preflight(&[
        "check",
        "--site",
        contoso().to_str().unwrap(),
        "--template",
        v2().to_str().unwrap(),
        "--base-template",
        v1().to_str().unwrap(),
        "--env",
        examples()
            .join("contoso-ready/environment.json")
            .to_str()
            .unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["ruleId"] == "DR003"));
    assert!(
        !findings
            .iter()
            .any(|f| f["ruleId"].as_str().unwrap().starts_with("MG"))
    );
    let site_input = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|input| input["document"] == "site")
        .unwrap();
    assert_eq!(
        site_input["sha256"],
        read_site(&contoso()).unwrap().sha256.as_str()
    );
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn preflight(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(args)
        .env("NO_COLOR", "1")
        .env(
            "PREFLIGHT_CACHE_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/site-tests-cache"),
        )
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}
