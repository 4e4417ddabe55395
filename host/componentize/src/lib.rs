//! Builds Rust policy crates into preflight policy components, reproducibly.
//!
//! Used by the host's build script (the built-in pack), by the end-to-end tests
//! (fixture guests) and by `preflight policy build`. The same crate source built
//! twice, from any checkout path, gives byte-identical components: paths are
//! remapped, the profile is fixed here rather than in whatever workspace the crate
//! sits in, and `wit-component` encodes deterministically.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The compilation target of a policy crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `wasm32-unknown-unknown`: no WASI imports at all. The default for policies.
    Unknown,
    /// `wasm32-wasip2`: the component imports WASI (the host gives it a deny-all context).
    Wasip2,
}

impl Target {
    pub fn triple(self) -> &'static str {
        match self {
            Target::Unknown => "wasm32-unknown-unknown",
            Target::Wasip2 => "wasm32-wasip2",
        }
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct Build {
    /// `Cargo.toml` of the crate, or of the workspace holding the packages.
    pub manifest_path: PathBuf,
    /// Packages to build (`-p`); empty means the manifest's own package.
    pub packages: Vec<String>,
    /// Where cargo puts its output. Shared between calls, so dependencies build once.
    pub target_dir: PathBuf,
    pub target: Target,
    /// Cargo features to enable.
    pub features: Vec<String>,
    /// Path prefixes replaced in the output (panic locations), making it independent
    /// of the checkout path: `(from, to)`.
    pub remap: Vec<(PathBuf, String)>,
}

/// One component that came out of a build.
#[derive(Clone, Debug)]
pub struct Built {
    /// The package's library name (hyphens turned to underscores).
    pub lib_name: String,
    pub component: Vec<u8>,
}

/// The fixed profile every policy is built with (passed as `--config`, so a
/// partner's own workspace needs no profile of its own).
const PROFILE: &[(&str, &str)] = &[
    ("inherits", "\"release\""),
    ("opt-level", "3"),
    ("lto", "true"),
    ("codegen-units", "1"),
    ("debug", "false"),
    ("strip", "\"debuginfo\""),
    ("panic", "\"abort\""),
    ("incremental", "false"),
];

/// Environment variables of an enclosing cargo (we may run inside a build script)
/// that would change what the inner cargo does.
fn scrub(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let inherited = key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_TARGET_")
            || key.starts_with("CARGO_ENCODED_")
            || matches!(
                key,
                "RUSTFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "CARGO_TARGET_DIR"
                    | "CARGO_MAKEFLAGS"
                    | "MAKEFLAGS"
                    | "MFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
            );
        if inherited {
            cmd.env_remove(key);
        }
    }
}

/// The cargo home, whose registry sources end up in panic locations.
fn cargo_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Some(PathBuf::from(home));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo"))
}

/// Builds the packages and turns each core module into a component.
pub fn build(spec: &Build) -> Result<Vec<Built>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    scrub(&mut cmd);
    cmd.arg("build")
        .arg("--lib")
        .arg("--manifest-path")
        .arg(&spec.manifest_path)
        .arg("--target")
        .arg(spec.target.triple())
        .arg("--target-dir")
        .arg(&spec.target_dir)
        .arg("--profile")
        .arg("policy");
    for (key, value) in PROFILE {
        cmd.arg("--config")
            .arg(format!("profile.policy.{key}={value}"));
    }
    for package in &spec.packages {
        cmd.arg("-p").arg(package);
    }
    if !spec.features.is_empty() {
        cmd.arg("--features").arg(spec.features.join(","));
    }
    let mut remap: Vec<(PathBuf, String)> = spec.remap.clone();
    if let Some(home) = cargo_home() {
        remap.push((home, "/cargo".to_owned()));
    }
    let flags: Vec<String> = remap
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect();
    cmd.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));

    let status = cmd
        .status()
        .with_context(|| format!("running cargo for `{}`", spec.manifest_path.display()))?;
    if !status.success() {
        bail!(
            "cargo could not build `{}` for {} ({status}); is the target installed? \
             run `rustup target add {}`",
            spec.manifest_path.display(),
            spec.target.triple(),
            spec.target.triple()
        );
    }

    let out_dir = spec.target_dir.join(spec.target.triple()).join("policy");
    let names = if spec.packages.is_empty() {
        vec![package_name(&spec.manifest_path)?]
    } else {
        spec.packages.clone()
    };
    names
        .iter()
        .map(|name| {
            let lib_name = name.replace('-', "_");
            let wasm = out_dir.join(format!("{lib_name}.wasm"));
            let bytes =
                std::fs::read(&wasm).with_context(|| format!("reading `{}`", wasm.display()))?;
            let component = match spec.target {
                Target::Unknown => componentize(&bytes)
                    .with_context(|| format!("turning `{}` into a component", wasm.display()))?,
                Target::Wasip2 => bytes,
            };
            Ok(Built {
                lib_name,
                component,
            })
        })
        .collect()
}

/// Turns a core module produced by `wit-bindgen` into a component. The module must
/// not import anything but the interfaces of its world (no WASI adapter is used).
pub fn componentize(core_module: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(core_module)?
        .validate(true)
        .encode()
}

/// The package name of a single-package manifest (`[package] name = "..."`).
pub fn package_name(manifest_path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(manifest_path)
        .with_context(|| format!("reading `{}`", manifest_path.display()))?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package && let Some(rest) = line.strip_prefix("name") {
            let value = rest.trim_start().trim_start_matches('=').trim();
            return Ok(value.trim_matches('"').to_owned());
        }
    }
    bail!("`{}` has no `[package] name`", manifest_path.display())
}

/// The target directory of the enclosing cargo invocation, found from a build
/// script's `OUT_DIR`: `<target>/[<triple>/]<profile>/build/<package>/out`.
pub fn enclosing_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("target"))
}
