//! Files given as `--policy` that are not usable policy components. Each is refused
//! with a reason a person can act on; the other policies still run.

use preflight_e2e::{NOT_READY, findings_of, outcome, preflight};
use std::path::{Path, PathBuf};

/// Bytes that are not WebAssembly: a fixed pseudo-random sequence.
fn garbage() -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// The bad files, written into `dir`: (file name, bytes, the reason's start).
fn bad_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "core-module.wasm",
            wat::parse_str("(module (func (export \"evaluate\")))").unwrap(),
            "cannot be loaded: a core WebAssembly module, not a component: build it with \
             `preflight policy build`",
        ),
        (
            "other-world.wasm",
            wat::parse_str("(component)").unwrap(),
            "cannot be loaded: does not implement the `preflight:policy/policy@1.x` world: ",
        ),
        (
            "evil-import.wasm",
            wat::parse_str("(component (import \"evil:net/sockets@1.0.0\" (instance)))").unwrap(),
            "cannot be loaded: imports `evil:net/sockets@1.0.0`, which the host does not provide",
        ),
        (
            "bare-function-import.wasm",
            wat::parse_str("(component (import \"launch-missiles\" (func)))").unwrap(),
            "cannot be loaded: imports `launch-missiles`, which the host does not provide",
        ),
        (
            "garbage.wasm",
            garbage(),
            "cannot be loaded: not a WebAssembly file (it does not start with `\\0asm`)",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, bytes, reason)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            (path, reason)
        })
        .collect()
}

#[test]
fn each_bad_file_is_refused_with_its_reason_and_the_rest_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (path, expected) in bad_files(dir.path()) {
        let path = path.to_str().unwrap();
        let out = preflight([
            "check", "--env", NOT_READY, "--format", "json", "--policy", path,
        ]);
        out.assert_code(2);
        let report = out.json();
        // A policy that could not be loaded is named by its file.
        let (status, reason) = outcome(&report, path);
        assert_eq!(status, "error", "{path}");
        assert!(reason.starts_with(expected), "{path}: {reason}");
        assert_eq!(outcome(&report, "customer-portal-maps").0, "ok");
        assert!(!findings_of(&report, "customer-portal-maps").is_empty());
        assert_eq!(report["summary"]["gate"], "incomplete");
    }
}

#[test]
fn a_folder_of_bad_files_reports_each_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let files = bad_files(dir.path());
    // Not a `.wasm` file: a folder brings only its components.
    std::fs::write(dir.path().join("README.md"), "not a policy").unwrap();
    let out = preflight([
        "check",
        "--env",
        NOT_READY,
        "--format",
        "json",
        "--no-builtin",
        "--policy",
        dir.path().to_str().unwrap(),
    ]);
    out.assert_code(2);
    let report = out.json();
    for (path, expected) in &files {
        let (status, reason) = outcome(&report, path.to_str().unwrap());
        assert_eq!(status, "error");
        assert!(reason.starts_with(expected), "{reason}");
    }
    let counts = &report["summary"]["policies"];
    assert_eq!(counts["error"], files.len());
    assert_eq!(counts["total"], files.len());
}

#[test]
fn rules_names_the_file_it_cannot_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    std::fs::write(&path, wat::parse_str("(module)").unwrap()).unwrap();
    let out = preflight(["rules", "--policy", path.to_str().unwrap()]);
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!(
            "error: policy `{}` cannot be loaded: a core WebAssembly module, not a component",
            path.display()
        )),
        "{}",
        out.stderr
    );
    // The built-in rules are still listed.
    assert!(out.stdout.contains("CP004 "), "{}", out.stdout);
}
