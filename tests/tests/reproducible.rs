//! The built-in policies are reproducible: rebuilt from this source into a fresh
//! target directory, each component has the sha256 that the binary reports for the
//! one it embeds (`preflight rules --format json`). Auditors rely on this: anyone
//! can rebuild the pack and compare digests.

use preflight_e2e::{binary, preflight, repo_root};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The package names of `policies/*`, as the host's build script finds them.
fn policy_packages(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("policies"))
        .expect("reading policies/")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("Cargo.toml"))
        .filter(|manifest| manifest.is_file())
        .map(|manifest| preflight_componentize::package_name(&manifest).expect("a policy manifest"))
        .collect();
    names.sort();
    names
}

/// `builtin:<file>` -> sha256, as the binary reports its built-in policies.
fn reported_digests() -> BTreeMap<String, String> {
    let rules = preflight(["rules", "--format", "json"])
        .assert_code(0)
        .json();
    rules["policies"]
        .as_array()
        .expect("a `policies` array")
        .iter()
        .filter_map(|policy| {
            let source = policy["source"].as_str()?.strip_prefix("builtin:")?;
            let sha256 = policy["sha256"]
                .as_str()
                .expect("a built-in policy has a sha256");
            Some((source.to_owned(), sha256.to_owned()))
        })
        .collect()
}

#[test]
fn rebuilt_builtin_policies_have_the_digests_the_binary_reports() {
    let reported = reported_digests();
    assert!(
        !reported.is_empty(),
        "the binary reports no built-in policy"
    );

    // The same arguments as host/build.rs, into a target directory of its own.
    let root = repo_root();
    let target_dir = tempfile::tempdir().expect("a temporary target dir");
    let built = preflight_componentize::build(&preflight_componentize::Build {
        manifest_path: root.join("Cargo.toml"),
        packages: policy_packages(&root),
        target_dir: target_dir.path().to_path_buf(),
        target: preflight_componentize::Target::Unknown,
        features: Vec::new(),
        remap: vec![(root.clone(), "/preflight".to_owned())],
    })
    .unwrap_or_else(|err| panic!("rebuilding the built-in policies: {err:#}"));
    let rebuilt: BTreeMap<String, String> = built
        .iter()
        .map(|policy| {
            (
                format!("{}.wasm", policy.lib_name),
                hex::encode(Sha256::digest(&policy.component)),
            )
        })
        .collect();

    assert_eq!(
        rebuilt,
        reported,
        "the components rebuilt from this source (left) differ from those `{}` embeds \
         (right): either the build is not reproducible or the binary is stale",
        binary().display()
    );
}
