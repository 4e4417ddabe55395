//! Input a person got wrong: the check stops before any policy runs, exits 2, writes
//! no report, and says on stderr what is wrong and where (the file, the line, the
//! JSON pointer).

use preflight_e2e::{NOT_READY, Output, preflight};
use std::path::{Path, PathBuf};

/// Asserts a usage error: exit 2, no report on stdout, and `error: <message>` on
/// stderr containing every fragment.
#[track_caller]
fn assert_usage_error(out: &Output, fragments: &[&str]) {
    out.assert_code(2);
    assert_eq!(out.stdout, "", "a report was written despite the error");
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    for fragment in fragments {
        assert!(
            out.stderr.contains(fragment),
            "stderr does not say {fragment:?}:\n{}",
            out.stderr
        );
    }
}

/// A file named `name` holding `text`, in a temporary directory.
fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn missing_environment_file_is_named() {
    let out = preflight(["check", "--env", "examples/nowhere/environment.json"]);
    assert_usage_error(&out, &["cannot read `examples/nowhere/environment.json`"]);
    // The operating system's reason is said once, not repeated by the error chain.
    assert_eq!(
        out.stderr.matches("os error 2").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_json_is_reported_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let env = file(
        dir.path(),
        "env.json",
        "{\n  \"environment\": {\n    \"displayName\": ,\n  }\n}\n",
    );
    let out = preflight(["check", "--env", s(&env)]);
    assert_usage_error(
        &out,
        &[&format!("`{}` is not valid JSON (line 3, column", s(&env))],
    );
}

#[test]
fn malformed_yaml_is_reported_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let env = file(
        dir.path(),
        "env.yaml",
        "environment:\n  displayName: x\n   type: Sandbox\n",
    );
    let out = preflight(["check", "--env", s(&env)]);
    assert_usage_error(
        &out,
        &[&format!("`{}` is not valid YAML (line 3, column", s(&env))],
    );
}

#[test]
fn a_document_that_is_not_an_object_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let env = file(dir.path(), "env.json", "[1, 2, 3]\n");
    let out = preflight(["check", "--env", s(&env)]);
    assert_usage_error(
        &out,
        &[&format!(
            "`{}`: the environment document must be an object at the top level",
            s(&env)
        )],
    );
}

#[test]
fn missing_policy_path_is_named() {
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--policy",
        "policies/nowhere.wasm",
    ]);
    assert_usage_error(&out, &["the policy `policies/nowhere.wasm` does not exist"]);
}

#[test]
fn settings_for_a_policy_that_is_not_loaded_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let settings = file(
        dir.path(),
        "settings.yaml",
        "customer-portal-mpas:\n  contacts: customers-v3\n",
    );
    let out = preflight(["check", "--env", NOT_READY, "--settings", s(&settings)]);
    assert_usage_error(
        &out,
        &[
            &format!("`{}`", s(&settings)),
            "settings for `customer-portal-mpas`, which is not a loaded policy",
            "customer-portal-maps",
        ],
    );
}

#[test]
fn settings_that_fail_the_schema_name_the_json_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let settings = file(
        dir.path(),
        "settings.yaml",
        "customer-portal-maps:\n  contacts: nobody\n",
    );
    let out = preflight(["check", "--env", NOT_READY, "--settings", s(&settings)]);
    assert_usage_error(
        &out,
        &[
            &format!("`{}`", s(&settings)),
            "invalid settings for `customer-portal-maps` at `/customer-portal-maps/contacts`",
            "nobody",
        ],
    );
}

#[test]
fn settings_that_are_not_an_object_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let settings = file(dir.path(), "settings.json", "[\"customer-portal-maps\"]");
    let out = preflight(["check", "--env", NOT_READY, "--settings", s(&settings)]);
    assert_usage_error(
        &out,
        &[&format!(
            "`{}`: settings must be an object whose keys are policy names",
            s(&settings)
        )],
    );
}

#[test]
fn a_check_without_any_document_says_what_to_give() {
    let out = preflight(["check"]);
    assert_usage_error(&out, &["nothing to check", "--env"]);
}

#[test]
fn limits_too_large_to_honour_are_refused() {
    let out = preflight(["check", "--env", NOT_READY, "--timeout", "1e20"]);
    assert_usage_error(&out, &["--timeout 100000000000000000000 is too large"]);
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--max-memory",
        "17592186044416",
    ]);
    assert_usage_error(&out, &["--max-memory 17592186044416 is too large"]);
    let out = preflight(["check", "--env", NOT_READY, "--timeout", "0"]);
    assert_usage_error(&out, &["--timeout must be a positive number of seconds"]);
}

#[test]
fn a_huge_timeout_that_fits_means_no_time_limit() {
    // Not an immediate deadline: the policies run as with the default.
    let out = preflight(["check", "--env", NOT_READY, "--timeout", "1e17"]);
    out.assert_code(1);
    assert!(out.stdout.contains("error[CP004]: "), "{}", out.stdout);
}
