//! `preflight policy ...`: tools for policy authors.

use super::{PolicyArgs, write_output};
use crate::model::PolicySource;
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "\
Examples:
  preflight policy new contoso-naming                 # a Rust policy in ./contoso-naming
  preflight policy new contoso-naming --lang js       # the same in JavaScript
  preflight policy test contoso-naming                # build it, run its cases
  preflight policy test . --format junit --output policy-tests.xml
  preflight policy build contoso-naming
  preflight policy inspect contoso-naming/target/contoso_naming.wasm
  preflight policy pull https://example.com/naming-1.2.0.wasm --sha256 3f6c...e1";

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a policy project (Rust or JavaScript) with one rule and passing cases
    New(NewArgs),
    /// Build a Rust policy crate into a component (no WASI imports), reproducibly
    Build(BuildArgs),
    /// Build a policy and run its cases (`cases/<case>/`): inputs in, expected findings out
    Test(super::policy_test::Args),
    /// Show what a policy component is: name, rules, documents, settings, imports, digest
    Inspect(InspectArgs),
    /// Download a published policy, pinned by its sha256, into the local store and lockfile
    Pull(super::pull::Args),
}

/// The language of a new policy project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the preflight SDK; builds to a small component with no WASI imports
    Rust,
    /// JavaScript, built with componentize-js (the component embeds a JS engine)
    Js,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The policy's name: kebab-case, e.g. `contoso-naming` (also the package name)
    pub name: String,

    /// The language to write the policy in
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,

    /// Where to create the project (a new or empty folder) [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// The preflight SDK a Rust policy depends on: the `guest/` folder of a preflight
    /// checkout [default: the one this preflight was built from]
    #[arg(long, value_name = "DIR")]
    pub sdk_path: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The policy crate (a folder with Cargo.toml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Where to write the component [default: <dir>/target/<crate>.wasm]
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The component file, or a published one: `URL#sha256=HEX` (pulled into the
    /// store first), or `URL` pinned in `preflight.lock`
    #[arg(value_name = "FILE_OR_URL")]
    pub file: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args) -> Result<u8> {
    match args.command {
        Command::New(args) => new(args),
        Command::Build(args) => build(args),
        Command::Test(args) => super::policy_test::run(args),
        Command::Inspect(args) => inspect(args),
        Command::Pull(args) => super::pull::run(args),
    }
}

/// The SDK this binary was built with: `guest/` beside `host/` in its checkout.
const BUILT_WITH_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest");

fn new(args: NewArgs) -> Result<u8> {
    let name = args.name.as_str();
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        bail!(
            "`{name}` is not a policy name: use kebab-case (lowercase letters, digits and `-`, \
             starting with a letter), e.g. `contoso-naming`"
        );
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read `{}`", dir.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "`{}` already exists and is not an empty folder: choose another --dir",
                dir.display()
            );
        }
    }
    let files = match args.lang {
        Lang::Rust => {
            let sdk = sdk_path(args.sdk_path.as_deref())?;
            crate::templates::rust(&crate::templates::Vars {
                name,
                sdk_path: &sdk,
            })
        }
        Lang::Js => crate::templates::js(&crate::templates::Vars { name, sdk_path: "" }),
    };
    for (path, text) in &files {
        super::write_bytes(&dir.join(path), text.as_bytes())?;
    }
    let shown = dir.display();
    let mut out = format!(
        "created the {} policy `{name}` in `{shown}`\n\nnext:\n  cd {shown}\n",
        match args.lang {
            Lang::Rust => "Rust",
            Lang::Js => "JavaScript",
        }
    );
    match args.lang {
        Lang::Rust => out.push_str(
            "  rustup target add wasm32-unknown-unknown   # once\n  \
             preflight policy test .                     # builds it, runs cases/\n",
        ),
        Lang::Js => out.push_str(
            "  npm install                                 # once: componentize-js\n  \
             preflight policy test .                     # builds it, runs cases/\n",
        ),
    }
    write_output(None, &out)?;
    Ok(0)
}

/// The SDK folder a new Rust project depends on, as an absolute path.
fn sdk_path(given: Option<&Path>) -> Result<String> {
    let (dir, hint) = match given {
        Some(dir) => (dir.to_path_buf(), "--sdk-path"),
        None => (
            PathBuf::from(BUILT_WITH_SDK),
            "the checkout this preflight was built from; give --sdk-path",
        ),
    };
    let manifest = dir.join("Cargo.toml");
    let is_sdk = manifest.is_file()
        && preflight_componentize::package_name(&manifest)
            .is_ok_and(|name| name == "preflight-sdk");
    if !is_sdk {
        bail!(
            "`{}` is not the preflight SDK (the `guest/` folder of a preflight checkout): {hint}",
            dir.display()
        );
    }
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot read `{}`", dir.display()))?;
    dir.to_str()
        .map(str::to_owned)
        .with_context(|| format!("the SDK path `{}` is not UTF-8", dir.display()))
}

fn build(args: BuildArgs) -> Result<u8> {
    build_crate(&args.dir, args.output)?;
    Ok(0)
}

/// Builds the Rust policy crate in `dir` into a component, written to `output`
/// [default: `<dir>/target/<crate>.wasm`]; returns where it was written.
pub fn build_crate(dir: &Path, output: Option<PathBuf>) -> Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("the policy folder `{}` does not exist", dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("`{}` has no Cargo.toml", dir.display());
    }
    let target_dir = dir.join("target");
    let built = preflight_componentize::build(&preflight_componentize::Build {
        manifest_path: manifest,
        packages: Vec::new(),
        target_dir: target_dir.clone(),
        target: preflight_componentize::Target::Unknown,
        features: Vec::new(),
        remap: vec![(dir.clone(), "/policy".to_owned())],
    })?;
    let policy = built.into_iter().next().context("cargo built nothing")?;
    let output = output.unwrap_or_else(|| target_dir.join(format!("{}.wasm", policy.lib_name)));
    super::write_bytes(&output, &policy.component)?;
    eprintln!(
        "built `{}` ({} bytes, sha256 {})",
        output.display(),
        policy.component.len(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&policy.component))
    );
    Ok(output)
}

fn inspect(args: InspectArgs) -> Result<u8> {
    let file = match args.file.to_str() {
        Some(text) if super::pull::is_url(text) => super::pull::resolve(text)?,
        _ => args.file.clone(),
    };
    let bytes =
        std::fs::read(&file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let engine = PolicyArgs::defaults().engine()?;
    let policy = engine
        .load(PolicySource::File(args.file.clone()), &bytes, None)
        .map_err(|err| anyhow::anyhow!("`{}` {err}", args.file.display()))?;
    let text = match args.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&json!({
                "name": policy.info.name,
                "version": policy.info.version,
                "description": policy.info.description,
                "sha256": policy.sha256,
                "size": policy.size,
                "imports": policy.imports,
                "usesWasi": policy.uses_wasi,
                "documents": policy.info.documents,
                "settingsSchema": policy.info.settings_schema,
                "rules": policy.info.rules,
            }))?;
            text.push('\n');
            text
        }
        Format::Text => {
            let info = &policy.info;
            let mut out = format!(
                "{} {}\n  {}\n\nsha256   {}\nsize     {} bytes\n",
                info.name, info.version, info.description, policy.sha256, policy.size
            );
            out.push_str("imports  ");
            if policy.imports.is_empty() {
                out.push_str("none\n");
            } else {
                out.push_str(&policy.imports.join("\n         "));
                out.push('\n');
            }
            if policy.uses_wasi {
                out.push_str(
                    "         (WASI runs with a deny-all context: no files, network, \
                     environment or arguments)\n",
                );
            }
            let documents: Vec<String> = info
                .documents
                .iter()
                .map(|need| {
                    if need.optional {
                        format!("{} (optional)", need.name)
                    } else {
                        need.name.clone()
                    }
                })
                .collect();
            out.push_str(&format!("reads    {}\n", documents.join(", ")));
            out.push_str(&format!(
                "settings {}\n\nrules\n",
                if info.settings_schema.is_some() {
                    "yes (JSON Schema published; see --format json)"
                } else {
                    "none"
                }
            ));
            for rule in &info.rules {
                out.push_str(&format!(
                    "  {:<8} {:<8} {}\n",
                    rule.id,
                    rule.default_severity.as_str(),
                    rule.title
                ));
            }
            out
        }
    };
    write_output(None, &text)?;
    Ok(0)
}
