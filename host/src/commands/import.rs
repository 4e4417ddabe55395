//! `preflight import`: builds an environment snapshot from raw platform exports (the
//! admin API's environments, the installed solutions, the tenant's SKUs, the
//! dual-write maps), merges the overrides, checks the result against the snapshot
//! schema and only then writes it. Which export gives which member, and what is
//! inferred: docs/import.md.

use super::write_output;
use crate::inputs::load_document;
use crate::inputs::raw::snapshot::{self, Parts, Recorded};
use crate::inputs::raw::{self, RawFile, admin_environments, subscribed_skus};
use crate::inputs::schema::environment_violations;
use anyhow::{Result, anyhow, bail};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Power Platform admin API list of environments (api-version 2020-10-01), or
    /// one environment of it (JSON)
    #[arg(long, value_name = "FILE")]
    pub environments: PathBuf,

    /// The environment to import, by id (`name`) or display name; needed when the
    /// listing has more than one
    #[arg(long, value_name = "ID_OR_NAME")]
    pub environment: Option<String>,

    /// Installed solutions: the Dataverse Web API `solutions` response, or the output
    /// of `pac solution list --includeSystemSolutions` (text or `--json`)
    #[arg(long, value_name = "FILE")]
    pub solutions: PathBuf,

    /// The tenant's licences: the Microsoft Graph `GET /subscribedSkus` response (JSON)
    #[arg(long, value_name = "FILE")]
    pub skus: Option<PathBuf>,

    /// Dual-write maps: the finance and operations `DualWriteProjectConfigurationEntity`
    /// OData export, or the Dual-write workspace's maps saved as CSV
    #[arg(long, value_name = "FILE")]
    pub maps: Option<PathBuf>,

    /// What no export says: a partial snapshot (JSON or YAML) merged last as a JSON
    /// merge patch; repeatable, merged in order
    #[arg(long, value_name = "FILE")]
    pub overrides: Vec<PathBuf>,

    /// `snapshot.takenAt` (RFC 3339, e.g. `2026-11-18T09:42:00Z`) instead of now, for
    /// reproducible snapshots
    #[arg(long, value_name = "TIME")]
    pub taken_at: Option<String>,

    /// Write the snapshot here (atomically, only once it is valid) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<u8> {
    let taken_at = match &args.taken_at {
        Some(text) if is_rfc3339(text) => text.clone(),
        Some(text) => {
            bail!("--taken-at `{text}` is not an RFC 3339 date-time such as `2026-11-18T09:42:00Z`")
        }
        None => crate::report::waivers::rfc3339(std::time::SystemTime::now()),
    };
    if let Some(output) = &args.output
        && output.is_dir()
    {
        bail!("cannot write `{}`: it is a folder", output.display());
    }
    let mut inputs = Vec::new();

    let file = RawFile::read("environments", &args.environments)?;
    let environments = raw::read_environments(&file)?;
    let chosen = admin_environments::select(&environments, args.environment.as_deref())
        .map_err(|message| anyhow!("`{}` {message}", file.path.display()))?;
    record(&mut inputs, &file, admin_environments::SHAPE);

    let solutions = {
        let file = RawFile::read("solutions", &args.solutions)?;
        let (solutions, shape) = raw::read_solutions(&file)?;
        record(&mut inputs, &file, shape);
        solutions
    };

    let skus = match &args.skus {
        Some(path) => {
            let file = RawFile::read("skus", path)?;
            let found = raw::read_skus(&file)?;
            record(&mut inputs, &file, subscribed_skus::SHAPE);
            Some(found)
        }
        None => None,
    };
    let fallback_tenant = skus.as_ref().and_then(|(_, tenant)| tenant.as_deref());
    let environment = chosen
        .to_environment(fallback_tenant)
        .map_err(|problem| file.invalid(problem))?;
    let finance_and_operations = chosen.to_finance_and_operations(fallback_tenant);
    let dataverse_url = chosen.dataverse_url();

    let mut notes = Vec::new();
    let dual_write = match &args.maps {
        Some(path) => {
            let file = RawFile::read("maps", path)?;
            let (dual_write, shape) = raw::read_maps(&file, dataverse_url.as_deref())?;
            record(&mut inputs, &file, shape);
            for (url, count) in &dual_write.ignored {
                notes.push(format!(
                    "`{}`: left out {count} record{} of the Dataverse environment `{url}`, \
                     not the one imported",
                    file.path.display(),
                    if *count == 1 { "" } else { "s" }
                ));
            }
            Some(dual_write)
        }
        None => None,
    };

    let licensing = skus.as_ref().map(|(skus, _)| {
        snapshot::licensing(
            &subscribed_skus::licences(skus),
            chosen.addons().as_deref(),
            chosen.pay_as_you_go(),
        )
    });

    let mut overrides = Vec::new();
    for path in &args.overrides {
        let input = load_document("overrides", path)?;
        inputs.push(Recorded {
            option: "--overrides".into(),
            path: path.display().to_string(),
            shape: "overrides".into(),
            sha256: input.sha256.clone(),
        });
        overrides.push(input);
    }

    let parts = Parts {
        environment,
        finance_and_operations,
        solutions: Some(solutions),
        dual_write,
        licensing,
        taken_at,
        inputs,
    };
    let mut value = snapshot::assemble(&parts);
    for input in &overrides {
        snapshot::merge_patch(&mut value, &input.value);
    }
    snapshot::order_like_schema(&mut value);

    let violations = environment_violations(&value);
    if !violations.is_empty() {
        let mut message = match violations.as_slice() {
            [only] => format!(
                "the imported snapshot does not match the environment snapshot schema {}: {}",
                place(&only.pointer),
                only.message
            ),
            all => {
                let mut text = format!(
                    "the imported snapshot does not match the environment snapshot schema in {} \
                     places:",
                    all.len()
                );
                for violation in all.iter().take(10) {
                    text.push_str(&format!(
                        "\n  - {}: {}",
                        place(&violation.pointer),
                        violation.message
                    ));
                }
                if all.len() > 10 {
                    text.push_str(&format!("\n  - and {} more", all.len() - 10));
                }
                text
            }
        };
        message.push_str(
            "\nnothing was written: give what no export says (or fix what an override got \
             wrong) in an --overrides file; docs/import.md lists which export gives which member",
        );
        bail!(message);
    }

    if value.get("dualWrite").is_some()
        && value
            .pointer("/dualWrite/linkedFinanceAndOperationsUrl")
            .is_none()
    {
        notes.push(
            "the maps export does not say which finance and operations environment the maps \
             run in: give `dualWrite.linkedFinanceAndOperationsUrl` in --overrides, or the \
             check reports dual-write as not linked"
                .to_owned(),
        );
    }
    for note in &notes {
        eprintln!("note: {note}");
    }

    let mut text = serde_json::to_string_pretty(&value)?;
    text.push('\n');
    write_output(args.output.as_deref(), &text)?;
    Ok(0)
}

/// Where a violation is: `at `/financeAndOperations``, or `at the top level`.
fn place(pointer: &str) -> String {
    if pointer.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("at `{pointer}`")
    }
}

fn record(inputs: &mut Vec<Recorded>, file: &RawFile, shape: &str) {
    inputs.push(Recorded {
        option: format!("--{}", file.option),
        path: file.path.display().to_string(),
        shape: shape.to_owned(),
        sha256: file.sha256.clone(),
    });
}

/// Whether `text` is an RFC 3339 date-time: `2026-11-18T09:42:00Z`,
/// `2026-11-18T10:42:00.5+01:00`.
fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(_), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_at_must_be_rfc3339() {
        assert!(is_rfc3339("2026-11-18T09:42:00Z"));
        assert!(is_rfc3339("2026-11-18T10:42:00.250+01:00"));
        assert!(!is_rfc3339("2026-11-18"));
        assert!(!is_rfc3339("2026-11-18 09:42:00Z"));
        assert!(!is_rfc3339("2026-13-18T09:42:00Z"));
        assert!(!is_rfc3339("2026-11-18T09:42:00"));
        assert!(!is_rfc3339("2026-11-18T09:42:00.Z"));
        assert!(!is_rfc3339("yesterday"));
    }
}
