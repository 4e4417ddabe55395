//! Builds the built-in policies (`policies/*`) into components and embeds them.
//!
//! Each policy crate is compiled for `wasm32-unknown-unknown` by a nested cargo
//! (its own target directory, beside the enclosing one) and encoded as a component
//! by `preflight-componentize`, reproducibly: the digests printed by
//! `preflight rules --format json` equal those of any rebuild of the same source.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());

    for watched in ["policies", "guest", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let packages = policy_packages(&root.join("policies"));
    let target_dir = preflight_componentize::enclosing_target_dir(&out_dir).join("wasm");
    let built = preflight_componentize::build(&preflight_componentize::Build {
        manifest_path: root.join("Cargo.toml"),
        packages: packages.clone(),
        target_dir,
        target: preflight_componentize::Target::Unknown,
        features: Vec::new(),
        remap: vec![(root.clone(), "/preflight".to_owned())],
    })
    .unwrap_or_else(|err| panic!("building the built-in policies: {err:#}"));

    let mut code =
        String::from("/// The built-in policies: (file name, component bytes, sha256).\n");
    code.push_str("pub static BUILTIN_POLICIES: &[(&str, &[u8], &str)] = &[\n");
    for policy in &built {
        let file = format!("{}.wasm", policy.lib_name);
        let path = out_dir.join(&file);
        std::fs::write(&path, &policy.component).expect("writing a built-in component");
        let digest = hex::encode(Sha256::digest(&policy.component));
        writeln!(
            code,
            "    ({file:?}, include_bytes!({:?}), {digest:?}),",
            path.display()
        )
        .unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("builtin_policies.rs"), code).expect("writing builtin_policies.rs");
}

/// The package names of `policies/*/Cargo.toml`, sorted so the pack's order is stable.
fn policy_packages(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("reading policies/")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("Cargo.toml"))
        .filter(|manifest| manifest.is_file())
        .map(|manifest| preflight_componentize::package_name(&manifest).expect("a policy manifest"))
        .collect();
    names.sort();
    names
}
