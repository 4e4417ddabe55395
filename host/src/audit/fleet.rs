//! A generated fleet of environment snapshots, for the audit benchmark and tests:
//! `preflight audit` over thousands of realistic, varied snapshots of about 10 KB.
//!
//! Each snapshot starts from one of the two hand-checked examples and is varied
//! deterministically from a seed: its own ids, names and URLs; extra solutions and
//! maps (what a real environment carries besides the Customer portal's needs), and,
//! for some, the mistakes the rules exist to catch (a missing solution, a map not
//! running, a trial finance and operations environment, a Developer environment, no
//! Power Pages capacity, a Customer portal site already there). The same seed gives
//! the same files, byte for byte.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const READY: &str = include_str!("../../../examples/contoso-ready/environment.json");
const NOT_READY: &str = include_str!("../../../examples/contoso-not-ready/environment.json");

/// What [`generate`] wrote.
#[derive(Debug)]
pub struct Fleet {
    pub files: Vec<PathBuf>,
    pub bytes: u64,
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn guid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

const REGIONS: &[(&str, &str, &str)] = &[
    ("Europe", "westeurope", "crm4"),
    ("Europe", "northeurope", "crm4"),
    ("United States", "eastus", "crm"),
    ("United States", "westus2", "crm"),
    ("United Kingdom", "uksouth", "crm11"),
    ("Australia", "australiaeast", "crm6"),
    ("Canada", "canadacentral", "crm3"),
    ("Japan", "japaneast", "crm7"),
];

const EXTRA_MAPS: &[(&str, &str)] = &[
    ("Vendors V2", "msdyn_vendors"),
    ("Vendor groups", "msdyn_vendorgroups"),
    ("Sales tax groups", "msdyn_taxgroups"),
    ("Sales quotation headers", "quotes"),
    ("Sales quotation lines", "quotedetails"),
    ("Sales invoice headers V2", "invoices"),
    ("Sales invoice lines V2", "invoicedetails"),
    ("Released distinct products", "msdyn_sharedproductdetails"),
    ("Product categories", "msdyn_productcategories"),
    ("Payment day lines CDS V2", "msdyn_paymentdaylines"),
    ("Workers", "cdm_workers"),
    ("Employments", "cdm_employments"),
    ("Fiscal calendars", "msdyn_fiscalcalendars"),
    ("Main accounts", "msdyn_mainaccounts"),
    ("Financial dimensions", "msdyn_financialdimensions"),
];

const PUBLISHERS: &[&str] = &["contoso", "fabrikam", "adatum", "northwind", "litware"];
const FEATURES: &[&str] = &[
    "Pricing",
    "Approvals",
    "CustomerService",
    "FieldService",
    "Warranty",
    "Returns",
    "Rebates",
    "Loyalty",
    "Inspections",
    "Quality",
    "Logistics",
    "Forecasting",
];

/// One snapshot of the fleet, as a JSON value.
pub fn snapshot(index: usize, seed: u64) -> Value {
    let mut rng = Rng(seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let base = if rng.chance(70) { READY } else { NOT_READY };
    let mut doc: Value = serde_json::from_str(base).expect("the examples are JSON");
    let (geography, region, crm) = REGIONS[rng.below(REGIONS.len())];
    let org = format!("org{index:05}");
    let tenant = rng.guid();

    let env = &mut doc["environment"];
    env["id"] = json!(rng.guid());
    env["displayName"] = json!(format!("Fleet environment {index:05}"));
    env["geography"] = json!(geography);
    env["region"] = json!(region);
    env["tenantId"] = json!(tenant);
    env["url"] = json!(format!("https://{org}.{crm}.dynamics.com"));
    if rng.chance(4) {
        env["type"] = json!(if rng.chance(50) { "Developer" } else { "Trial" });
    }

    let fno_url = format!("https://{org}.operations.dynamics.com");
    let fno = &mut doc["financeAndOperations"];
    if fno.is_object() {
        fno["id"] = json!(rng.guid());
        fno["url"] = json!(fno_url);
        fno["tenantId"] = json!(tenant);
        fno["geography"] = json!(geography);
        fno["region"] = json!(region);
        if rng.chance(4) {
            fno["isTrial"] = json!(true);
        }
    }
    if doc["dualWrite"].is_object() && doc["dualWrite"]["linkedFinanceAndOperationsUrl"].is_string()
    {
        doc["dualWrite"]["linkedFinanceAndOperationsUrl"] = json!(fno_url);
    }

    // What else the environment carries: other publishers' solutions.
    if let Some(solutions) = doc["solutions"].as_array_mut() {
        if rng.chance(6) && !solutions.is_empty() {
            let at = rng.below(solutions.len());
            solutions.remove(at);
        }
        for _ in 0..(18 + rng.below(10)) {
            let publisher = PUBLISHERS[rng.below(PUBLISHERS.len())];
            let feature = FEATURES[rng.below(FEATURES.len())];
            solutions.push(json!({
                "uniqueName": format!("{publisher}_{feature}{}", rng.below(100)),
                "version": format!("{}.{}.{}.{}", 1 + rng.below(4), rng.below(10), rng.below(30000), rng.below(100)),
                "managed": rng.chance(80),
            }));
        }
    }

    // Other maps, and now and then a required one that is not running.
    if let Some(maps) = doc["dualWrite"]["maps"].as_array_mut() {
        if rng.chance(8) && !maps.is_empty() {
            let at = rng.below(maps.len());
            maps[at]["state"] = json!(["Paused", "Not running", "Initializing"][rng.below(3)]);
        }
        for (entity, table) in EXTRA_MAPS.iter().take(6 + rng.below(EXTRA_MAPS.len() - 6)) {
            maps.push(json!({
                "name": format!("{entity} ({table})"),
                "financeAndOperationsEntity": entity,
                "dataverseTable": table,
                "state": if rng.chance(90) { "Running" } else { "Not running" },
                "version": format!("1.0.{}.{}", rng.below(5), rng.below(10)),
            }));
        }
    }

    if rng.chance(4)
        && let Some(pages) = doc["licensing"]["powerPages"].as_object_mut()
    {
        pages.insert("authenticatedUsersPerMonth".into(), json!(0));
        pages.insert("anonymousUsersPerMonth".into(), json!(0));
    }
    if rng.chance(3)
        && let Some(sites) = doc["powerPagesSites"].as_array_mut()
    {
        sites.push(json!({
            "id": rng.guid(),
            "name": format!("Fleet portal {index:05}"),
            "template": "Customer Portal",
            "dataModel": "Standard",
            "lifecycle": "Production",
            "url": format!("https://{org}.powerappsportals.com"),
        }));
    }
    doc
}

/// Writes `count` snapshots under `dir`, a hundred per folder
/// (`dir/000/env-00000.json`...), pretty-printed as exports are.
pub fn generate(dir: &Path, count: usize, seed: u64) -> std::io::Result<Fleet> {
    let mut files = Vec::with_capacity(count);
    let mut bytes = 0;
    for index in 0..count {
        let folder = dir.join(format!("{:03}", index / 100));
        if index % 100 == 0 {
            std::fs::create_dir_all(&folder)?;
        }
        let path = folder.join(format!("env-{index:05}.json"));
        let mut text = serde_json::to_string_pretty(&snapshot(index, seed))?;
        text.push('\n');
        bytes += text.len() as u64;
        std::fs::write(&path, text)?;
        files.push(path);
    }
    Ok(Fleet { files, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_snapshot_and_others_differ() {
        assert_eq!(snapshot(7, 1), snapshot(7, 1));
        assert_ne!(snapshot(7, 1), snapshot(8, 1));
        assert_ne!(snapshot(7, 1), snapshot(7, 2));
    }

    #[test]
    fn snapshots_are_about_ten_kilobytes_and_match_the_schema() {
        for index in 0..200 {
            let doc = snapshot(index, 42);
            let size = serde_json::to_string_pretty(&doc).unwrap().len();
            assert!(
                (7_000..14_000).contains(&size),
                "snapshot {index}: {size} bytes"
            );
            let violations = crate::inputs::schema::environment_violations(&doc);
            assert!(violations.is_empty(), "snapshot {index}: {violations:?}");
        }
    }
}
