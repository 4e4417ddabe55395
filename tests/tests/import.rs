//! `preflight import`: the raw exports in `examples/raw/` become a snapshot that
//! gives the same findings as the hand-written `contoso-not-ready` one, whichever
//! shape each export comes in; and what a person gets wrong (the environment, the
//! file, its shape, a missing fact) stops the import with exit 2, the file named, and
//! nothing written.

use preflight_e2e::{NOT_READY, Output, Preflight, preflight, repo_root};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const ENVIRONMENTS: &str = "examples/raw/environments.json";
const UAT: &str = "Contoso Sales (UAT)";
const UAT_ID: &str = "0a7d5e21-3c44-4b9e-8f12-6e5d4c3b2a19";
const SOLUTIONS: &str = "examples/raw/solutions.json";
const SKUS: &str = "examples/raw/skus.json";
const OVERRIDES: &str = "examples/raw/overrides.yaml";
const LINK: &str = "examples/raw/dual-write-link.yaml";
const TAKEN_AT: &str = "2026-11-18T09:42:00Z";

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A file named `name` holding `bytes`, in `dir`.
fn file(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The arguments that import the UAT environment from `solutions` and `maps`
/// (`examples/raw/<name>`), with the overrides a CSV of maps needs.
fn import_args(solutions: &str, maps: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "import",
        "--environments",
        ENVIRONMENTS,
        "--environment",
        UAT,
        "--solutions",
        &format!("examples/raw/{solutions}"),
        "--skus",
        SKUS,
        "--maps",
        &format!("examples/raw/{maps}"),
        "--overrides",
        OVERRIDES,
        "--taken-at",
        TAKEN_AT,
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    if maps.ends_with(".csv") {
        args.extend(["--overrides".to_owned(), LINK.to_owned()]);
    }
    args
}

/// Asserts an import that failed: exit 2, nothing on stdout, and `error: ...` on
/// stderr with every fragment.
#[track_caller]
fn assert_refused(out: &Output, fragments: &[&str]) {
    out.assert_code(2);
    assert_eq!(out.stdout, "", "a snapshot was written despite the error");
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    for fragment in fragments {
        assert!(
            out.stderr.contains(fragment),
            "stderr does not say {fragment:?}:\n{}",
            out.stderr
        );
    }
}

/// The findings of `check --format json`, without the file they point into (the
/// imported snapshot is another file than the hand-written one).
fn findings(run: &Preflight, env: &str) -> Vec<Value> {
    let out = run.run(["check", "--env", env, "--format", "json"]);
    out.assert_code(1);
    let report = out.json();
    let findings = report["findings"].as_array().expect("findings").clone();
    assert!(!findings.is_empty(), "the check found nothing in `{env}`");
    findings
        .into_iter()
        .map(|mut finding| {
            finding.as_object_mut().unwrap().remove("file");
            finding
        })
        .collect()
}

#[test]
fn every_export_shape_gives_the_findings_of_the_hand_written_snapshot() {
    let run = Preflight::new();
    let expected = findings(&run, NOT_READY);
    let dir = tempfile::tempdir().unwrap();
    for (solutions, maps) in [
        ("solutions.json", "maps.json"),
        ("solutions.txt", "maps.csv"),
        ("solutions.json", "maps.csv"),
        ("solutions.txt", "maps.json"),
    ] {
        let output = dir.path().join(format!("{solutions}-{maps}.json"));
        let mut args = import_args(solutions, maps);
        args.extend(["--output".to_owned(), s(&output).to_owned()]);
        let out = run.run(&args);
        out.assert_code(0);
        assert_eq!(out.stdout, "", "the snapshot went to --output");
        assert_eq!(out.stderr, "", "{solutions} + {maps}");
        let got = findings(&run, s(&output));
        assert_eq!(
            got, expected,
            "importing {solutions} + {maps} gives other findings than {NOT_READY}"
        );
    }
}

#[test]
fn the_snapshot_says_what_it_was_built_from() {
    let out = preflight(import_args("solutions.txt", "maps.json"));
    out.assert_code(0);
    let snapshot = out.json();
    assert_eq!(snapshot["snapshot"]["takenAt"], TAKEN_AT);
    assert_eq!(snapshot["snapshot"]["source"], "preflight import");
    let inputs = snapshot["snapshot"]["inputs"].as_array().unwrap();
    let recorded: Vec<(&str, &str, &str)> = inputs
        .iter()
        .map(|input| {
            (
                input["option"].as_str().unwrap(),
                input["path"].as_str().unwrap(),
                input["shape"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        recorded,
        [
            (
                "--environments",
                ENVIRONMENTS,
                "Power Platform admin API environments"
            ),
            (
                "--solutions",
                "examples/raw/solutions.txt",
                "pac solution list (text)"
            ),
            ("--skus", SKUS, "Microsoft Graph subscribedSkus"),
            (
                "--maps",
                "examples/raw/maps.json",
                "DualWriteProjectConfigurationEntity (OData)"
            ),
            ("--overrides", OVERRIDES, "overrides"),
        ]
    );
    for input in inputs {
        let path = input["path"].as_str().unwrap();
        let bytes = std::fs::read(repo_root().join(path)).unwrap();
        assert_eq!(
            input["sha256"],
            hex::encode(Sha256::digest(&bytes)),
            "sha256 of {path}"
        );
    }
    // The finance and operations environment the maps run in is the OData export's own.
    assert_eq!(
        snapshot["dualWrite"]["linkedFinanceAndOperationsUrl"],
        "https://contoso-prod.operations.dynamics.com"
    );
    // With --taken-at, the same inputs give the same bytes.
    let again = preflight(import_args("solutions.txt", "maps.json"));
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn the_environment_is_picked_by_display_name_or_by_id() {
    let base = |pick: &str| {
        preflight([
            "import",
            "--environments",
            ENVIRONMENTS,
            "--environment",
            pick,
            "--solutions",
            SOLUTIONS,
            "--overrides",
            OVERRIDES,
            "--taken-at",
            TAKEN_AT,
        ])
    };
    let by_name = base("contoso sales (uat)");
    by_name.assert_code(0);
    let snapshot = by_name.json();
    assert_eq!(snapshot["environment"]["id"], UAT_ID);
    assert_eq!(snapshot["environment"]["displayName"], UAT);
    assert_eq!(
        snapshot["financeAndOperations"]["url"],
        "https://contoso-uat.sandbox.operations.dynamics.com"
    );
    let by_id = base(UAT_ID);
    by_id.assert_code(0);
    assert_eq!(by_id.stdout, by_name.stdout);

    let production = base("Contoso Sales (Production)");
    production.assert_code(0);
    let snapshot = production.json();
    assert_eq!(
        snapshot["environment"]["id"],
        "6f1c2a3e-8d4b-4c61-9a57-0b2e3f4d5c6a"
    );
    assert_eq!(snapshot["environment"]["type"], "Production");
    assert_eq!(
        snapshot["financeAndOperations"]["url"],
        "https://contoso-prod.operations.dynamics.com"
    );
}

#[test]
fn a_listing_of_several_environments_needs_a_choice_and_lists_them() {
    let out = preflight([
        "import",
        "--environments",
        ENVIRONMENTS,
        "--solutions",
        SOLUTIONS,
    ]);
    assert_refused(
        &out,
        &[
            &format!("`{ENVIRONMENTS}` lists 3 environments: choose one with --environment"),
            "`Contoso (default)`",
            "`Contoso Sales (Production)` (id `6f1c2a3e-8d4b-4c61-9a57-0b2e3f4d5c6a`",
            &format!("`{UAT}` (id `{UAT_ID}`"),
        ],
    );
    let out = preflight([
        "import",
        "--environments",
        ENVIRONMENTS,
        "--environment",
        "Contoso Sales (Test)",
        "--solutions",
        SOLUTIONS,
    ]);
    assert_refused(
        &out,
        &[
            &format!("`{ENVIRONMENTS}` has no environment `Contoso Sales (Test)`"),
            &format!("`{UAT}` (id `{UAT_ID}`"),
        ],
    );
}

#[test]
fn an_unknown_shape_names_the_file_and_lists_the_accepted_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let numbers = file(dir.path(), "numbers.json", "[1, 2, 3]\n");
    let wrong_csv = file(
        dir.path(),
        "maps.csv",
        "Map,Direction,Owner\n\"Customers V3 (accounts)\",\"both, live\",ops\n",
    );
    let import = |option: &str, path: &Path| {
        let mut args = vec![
            "import",
            "--environments",
            ENVIRONMENTS,
            "--environment",
            UAT,
            option,
            s(path),
        ];
        if option != "--solutions" {
            args.extend(["--solutions", SOLUTIONS]);
        }
        preflight(args)
    };
    let out = import("--maps", &numbers);
    assert_refused(
        &out,
        &[
            &format!(
                "`{}` is not an export that --maps reads (a JSON array of 3 numbers); --maps \
                 accepts:",
                s(&numbers)
            ),
            "\n  - the finance and operations `DualWriteProjectConfigurationEntity`",
            "\n  - the Dual-write workspace's table maps saved as CSV",
        ],
    );
    let out = import("--maps", &wrong_csv);
    assert_refused(
        &out,
        &[
            &format!(
                "`{}` is not an export that --maps reads (text whose first line is \
                 `Map,Direction,Owner`)",
                s(&wrong_csv)
            ),
            "`Name,Finance and Operations apps,Microsoft Dataverse,Status,Version`",
        ],
    );
    let out = import("--solutions", &numbers);
    assert_refused(
        &out,
        &[
            &format!("`{}` is not an export that --solutions reads", s(&numbers)),
            "\n  - the Dataverse Web API `solutions` response",
            "\n  - the text output of `pac solution list --includeSystemSolutions`",
            "\n  - the output of `pac solution list --includeSystemSolutions --json`",
        ],
    );
    let out = import("--skus", &wrong_csv);
    assert_refused(
        &out,
        &[
            &format!("`{}` is not an export that --skus reads", s(&wrong_csv)),
            "`GET https://graph.microsoft.com/v1.0/subscribedSkus`",
        ],
    );
    let out = preflight([
        "import",
        "--environments",
        s(&numbers),
        "--solutions",
        SOLUTIONS,
    ]);
    assert_refused(
        &out,
        &[
            &format!(
                "`{}` is not an export that --environments reads",
                s(&numbers)
            ),
            "the Power Platform admin API list of environments",
        ],
    );
}

#[test]
fn malformed_json_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let skus = file(
        dir.path(),
        "skus.json",
        "{\n  \"value\": [\n    {\"skuPartNumber\": \"DYN365_SCM\",}\n  ]\n}\n",
    );
    let out = preflight([
        "import",
        "--environments",
        ENVIRONMENTS,
        "--environment",
        UAT,
        "--solutions",
        SOLUTIONS,
        "--skus",
        s(&skus),
    ]);
    assert_refused(
        &out,
        &[&format!("`{}` is not valid JSON (line 3, column", s(&skus))],
    );
}

#[test]
fn a_value_an_export_cannot_give_names_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_root().join("examples/raw/maps.csv")).unwrap();
    let broken = text.replacen("Paused", "Sleeping", 1);
    assert_ne!(broken, text);
    let maps = file(dir.path(), "maps.csv", broken);
    let out = preflight([
        "import",
        "--environments",
        ENVIRONMENTS,
        "--environment",
        UAT,
        "--solutions",
        SOLUTIONS,
        "--maps",
        s(&maps),
    ]);
    assert_refused(
        &out,
        &[&format!(
            "`{}` line 11: `Sleeping` is not a dual-write map state",
            s(&maps)
        )],
    );
}

#[test]
fn a_snapshot_that_fails_validation_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("env.json");
    // Without the overrides, nothing says whether finance and operations is a trial.
    let out = preflight([
        "import",
        "--environments",
        ENVIRONMENTS,
        "--environment",
        UAT,
        "--solutions",
        SOLUTIONS,
        "--output",
        s(&output),
    ]);
    assert_refused(
        &out,
        &[
            "the imported snapshot does not match the environment snapshot schema at \
             `/financeAndOperations`: the required member `isTrial` is missing",
            "nothing was written",
            "--overrides",
        ],
    );
    assert!(!output.exists(), "a snapshot was written despite the error");
    let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(left.is_empty(), "files were left behind: {left:?}");

    // An override with a misspelt member fails too, and an earlier snapshot stays.
    std::fs::write(&output, "{\"earlier\": true}\n").unwrap();
    let typo = file(
        dir.path(),
        "typo.yaml",
        "financeAndOperations:\n  isTrail: false\n",
    );
    let out = preflight([
        "import",
        "--environments",
        ENVIRONMENTS,
        "--environment",
        UAT,
        "--solutions",
        SOLUTIONS,
        "--overrides",
        OVERRIDES,
        "--overrides",
        s(&typo),
        "--output",
        s(&output),
    ]);
    assert_refused(
        &out,
        &["`/financeAndOperations/isTrail`", "did you mean `isTrial`?"],
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "{\"earlier\": true}\n"
    );
}

#[test]
fn pac_output_redirected_by_windows_powershell_is_read() {
    // Windows PowerShell 5 writes `pac solution list > solutions.txt` as UTF-16 LE.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_root().join("examples/raw/solutions.txt")).unwrap();
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            text.replace('\n', "\r\n")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let solutions = file(dir.path(), "solutions.txt", utf16);
    let import = |path: &str| {
        let out = preflight([
            "import",
            "--environments",
            ENVIRONMENTS,
            "--environment",
            UAT,
            "--solutions",
            path,
            "--overrides",
            OVERRIDES,
        ]);
        out.assert_code(0);
        out.json()["solutions"].clone()
    };
    let from_utf16 = import(s(&solutions));
    assert_eq!(from_utf16, import("examples/raw/solutions.txt"));
    assert_eq!(from_utf16[14]["uniqueName"], "ProspectToCash");
    assert_eq!(from_utf16[14]["friendlyName"], "Prospect to cash");
}
