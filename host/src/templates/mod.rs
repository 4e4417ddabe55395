//! The files `preflight policy new` writes: a standalone policy project, in Rust or
//! in JavaScript, with one rule and cases that pass out of the box. Both languages
//! implement the same rule (`MY001`, solutions are managed) and share the cases.

/// The componentize-js version a JavaScript project builds with (the one the
/// `examples/policies/js-naming` example is built and tested with).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The preview2-shim version a JavaScript project installs beside componentize-js:
/// componentize-js 0.23 needs it at build time but does not depend on it.
pub const PREVIEW2_SHIM_VERSION: &str = "0.25.0";

/// The WIT contract, copied into a JavaScript project (componentize-js reads it).
const WIT: &str = include_str!("../../../wit/policy.wit");

/// The cases both templates come with: (path under the project, contents).
const CASES: &[(&str, &str)] = &[
    (
        "cases/managed-solutions/environment.json",
        include_str!("cases/managed-solutions/environment.json"),
    ),
    (
        "cases/managed-solutions/expected.yaml",
        include_str!("cases/managed-solutions/expected.yaml"),
    ),
    (
        "cases/unmanaged-solution/environment.json",
        include_str!("cases/unmanaged-solution/environment.json"),
    ),
    (
        "cases/unmanaged-solution/expected.yaml",
        include_str!("cases/unmanaged-solution/expected.yaml"),
    ),
    (
        "cases/unmanaged-but-allowed/environment.json",
        include_str!("cases/unmanaged-but-allowed/environment.json"),
    ),
    (
        "cases/unmanaged-but-allowed/settings.yaml",
        include_str!("cases/unmanaged-but-allowed/settings.yaml"),
    ),
    (
        "cases/unmanaged-but-allowed/expected.yaml",
        include_str!("cases/unmanaged-but-allowed/expected.yaml"),
    ),
];

/// What the templates are filled in with.
pub struct Vars<'a> {
    /// The policy's name (kebab-case), also the package name.
    pub name: &'a str,
    /// The SDK's folder, for a Rust project's path dependency.
    pub sdk_path: &'a str,
}

impl Vars<'_> {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", self.name)
            .replace("{{crate_name}}", &self.name.replace('-', "_"))
            .replace("{{sdk_path}}", self.sdk_path)
            .replace("{{componentize_js_version}}", COMPONENTIZE_JS_VERSION)
            .replace("{{preview2_shim_version}}", PREVIEW2_SHIM_VERSION)
    }
}

/// The files of a Rust policy project: (path under the project, contents).
pub fn rust(vars: &Vars<'_>) -> Vec<(&'static str, String)> {
    let mut files = vec![
        (
            "Cargo.toml",
            vars.fill(include_str!("rust/Cargo.toml.tmpl")),
        ),
        ("src/lib.rs", vars.fill(include_str!("rust/lib.rs.tmpl"))),
        ("README.md", vars.fill(include_str!("rust/README.md.tmpl"))),
        (".gitignore", vars.fill(include_str!("rust/gitignore.tmpl"))),
    ];
    files.extend(CASES.iter().map(|(path, text)| (*path, (*text).to_owned())));
    files
}

/// The files of a JavaScript policy project: (path under the project, contents).
pub fn js(vars: &Vars<'_>) -> Vec<(&'static str, String)> {
    let mut files = vec![
        (
            "package.json",
            vars.fill(include_str!("js/package.json.tmpl")),
        ),
        ("policy.js", vars.fill(include_str!("js/policy.js.tmpl"))),
        ("wit/policy.wit", WIT.to_owned()),
        ("README.md", vars.fill(include_str!("js/README.md.tmpl"))),
        (".gitignore", vars.fill(include_str!("js/gitignore.tmpl"))),
    ];
    files.extend(CASES.iter().map(|(path, text)| (*path, (*text).to_owned())));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        let vars = Vars {
            name: "acme-checks",
            sdk_path: "/opt/preflight/guest",
        };
        for (path, text) in rust(&vars).into_iter().chain(js(&vars)) {
            assert!(!text.contains("{{"), "`{path}` has an unfilled placeholder");
        }
        let rust = rust(&vars);
        let manifest = &rust
            .iter()
            .find(|(path, _)| *path == "Cargo.toml")
            .unwrap()
            .1;
        assert!(manifest.contains("name = \"acme-checks\""), "{manifest}");
        assert!(
            manifest.contains("path = '/opt/preflight/guest'"),
            "{manifest}"
        );
        let js = js(&vars);
        let package = &js
            .iter()
            .find(|(path, _)| *path == "package.json")
            .unwrap()
            .1;
        let package: serde_json::Value = serde_json::from_str(package).unwrap();
        assert_eq!(package["preflight"]["component"], "dist/acme-checks.wasm");
        assert_eq!(
            package["devDependencies"]["@bytecodealliance/componentize-js"],
            COMPONENTIZE_JS_VERSION
        );
        // The example is built and tested with the same versions.
        let example: serde_json::Value = serde_json::from_str(include_str!(
            "../../../examples/policies/js-naming/package.json"
        ))
        .unwrap();
        assert_eq!(example["devDependencies"], package["devDependencies"]);
    }
}
