//! The partner authoring kit: `preflight policy new` (Rust and JavaScript projects
//! that build with one command and pass their own cases), `preflight policy test`
//! (data-driven cases, a readable diff, JUnit, untested rules), and the JavaScript
//! example `examples/policies/js-naming`, built with componentize-js through npm.
//!
//! The JavaScript tests need Node.js with npm (CI has node 20): they run `npm install`
//! (the versions package-lock.json pins) in a temporary copy of the example, or reuse
//! its `node_modules` when it has one, and fail, saying so, when npm is missing. They
//! never pass without building.

use preflight_e2e::{NOT_READY, READY, binary, findings_of, outcome, repo_root};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A build with cargo or componentize-js (and the first compile of a 12 MB JavaScript
/// component) may take minutes on a loaded two-core machine; longer is a hang.
const DEADLINE: Duration = Duration::from_secs(600);

const JS_EXAMPLE: &str = "examples/policies/js-naming";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    #[track_caller]
    fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code, expected,
            "unexpected exit code\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `program args` in `dir` with `env`, reading both streams, within [`DEADLINE`].
fn run_program(program: &Path, args: &[&str], dir: &Path, env: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PREFLIGHT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let shown = format!("{cmd:?}");
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {shown}: {err}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        took: started.elapsed(),
    }
}

/// Runs of the binary sharing a compile cache, in a working directory of their own.
struct Preflight {
    cache: tempfile::TempDir,
}

impl Preflight {
    fn new() -> Preflight {
        Preflight {
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str], dir: &Path) -> Run {
        // Cargo resolves a new project's dependencies from what the workspace build
        // already downloaded: the tests use no network.
        run_program(
            &binary(),
            args,
            dir,
            &[
                ("PREFLIGHT_CACHE_DIR", self.cache.path()),
                ("CARGO_NET_OFFLINE", Path::new("true")),
            ],
        )
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

#[test]
fn policy_new_refuses_bad_names_and_existing_folders() {
    let preflight = Preflight::new();
    let dir = tempfile::tempdir().unwrap();
    let out = preflight.run(&["policy", "new", "Acme_Checks"], dir.path());
    out.code(2);
    assert_eq!(
        out.stderr,
        "error: `Acme_Checks` is not a policy name: use kebab-case (lowercase letters, digits \
         and `-`, starting with a letter), e.g. `contoso-naming`\n"
    );
    std::fs::write(dir.path().join("taken"), "").unwrap();
    let out = preflight.run(&["policy", "new", "taken"], dir.path());
    out.code(2);
    assert_eq!(
        out.stderr,
        "error: `taken` already exists and is not an empty folder: choose another --dir\n"
    );
    let out = preflight.run(
        &["policy", "new", "acme", "--sdk-path", path(dir.path())],
        dir.path(),
    );
    out.code(2);
    assert!(
        out.stderr.contains("is not the preflight SDK"),
        "{}",
        out.stderr
    );
    // Nothing was written by the refused runs.
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn a_new_rust_policy_builds_and_passes_its_cases() {
    let preflight = Preflight::new();
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("acme-checks");

    let out = preflight.run(
        &["policy", "new", "acme-checks", "--dir", path(&project)],
        work.path(),
    );
    out.code(0);
    assert!(
        out.stdout.starts_with(&format!(
            "created the Rust policy `acme-checks` in `{}`\n",
            project.display()
        )),
        "{}",
        out.stdout
    );
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let sdk = repo_root().join("guest").canonicalize().unwrap();
    assert!(
        manifest.contains(&format!("preflight-sdk = {{ path = '{}' }}", sdk.display())),
        "{manifest}"
    );
    assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
    for file in ["src/lib.rs", "README.md", ".gitignore"] {
        assert!(project.join(file).is_file(), "{file} is missing");
    }

    // One command builds it and runs its cases.
    let out = preflight.run(&["policy", "test", "."], &project);
    out.code(0);
    let component = project.join("target/acme_checks.wasm");
    assert_eq!(
        out.stdout,
        format!(
            "testing `acme-checks` 0.1.0 (`{}`) with the cases in `./cases`\n\
             \n\
             ok      managed-solutions\n\
             ok      unmanaged-but-allowed\n\
             ok      unmanaged-solution (1 finding)\n\
             \n\
             3 cases: 3 passed, 0 failed\n",
            component.display()
        )
    );
    assert!(out.stderr.contains("built `"), "{}", out.stderr);

    // A case that expects something else fails, with the difference.
    let expected = project.join("cases/unmanaged-solution/expected.yaml");
    std::fs::write(
        &expected,
        "findings:\n  - rule: MY001\n    severity: error\n    pointer: /solutions/1\n",
    )
    .unwrap();
    let built = path(&component);
    let out = preflight.run(&["policy", "test", ".", "--policy", built], &project);
    out.code(1);
    assert!(
        out.stdout.contains(
            "FAILED  unmanaged-solution\n\
             \x20       missing     MY001    error    /solutions/1\n\
             \x20       unexpected  MY001    warning  /solutions/1  \
             \"the solution `ContosoCustomizations` is unmanaged\"\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("3 cases: 2 passed, 1 failed\n"),
        "{}",
        out.stdout
    );

    // JUnit for CI: stdout holds the XML alone, the verdict goes to stderr.
    let out = preflight.run(
        &[
            "policy", "test", ".", "--policy", built, "--format", "junit",
        ],
        &project,
    );
    out.code(1);
    assert!(
        out.stdout
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("tests=\"3\" failures=\"1\" errors=\"0\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "<failure message=\"missing     MY001    error    /solutions/1\" type=\"mismatch\">"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("</testsuites>\n"), "{}", out.stdout);
    assert_eq!(out.stderr, "3 cases: 2 passed, 1 failed\n");

    // A rule that no case expects a finding of is named; a broken case is an error.
    std::fs::remove_dir_all(project.join("cases/unmanaged-solution")).unwrap();
    std::fs::write(
        project.join("cases/managed-solutions/expected.yaml"),
        "finding: []\n",
    )
    .unwrap();
    let out = preflight.run(&["policy", "test", ".", "--policy", built], &project);
    out.code(1);
    assert!(
        out.stdout.contains(
            "BROKEN  managed-solutions\n        `./cases/managed-solutions/expected.yaml`: \
             unknown field `finding`, expected `findings` or `error`\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with(
            "rules no case exercises: `MY001` (add a case whose expected.yaml lists a finding \
             of it)\n2 cases: 1 passed, 1 failed\n"
        ),
        "{}",
        out.stdout
    );
}

/// Whether `npm` runs here.
fn npm_available() -> bool {
    Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Copies a folder, leaving out `node_modules` and build output.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" || name == "dist" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Gives `project` the componentize-js install of `with` (same version).
fn share_node_modules(with: &Path, project: &Path) {
    #[cfg(unix)]
    std::os::unix::fs::symlink(with.join("node_modules"), project.join("node_modules")).unwrap();
    #[cfg(not(unix))]
    copy_dir_all(&with.join("node_modules"), &project.join("node_modules"));
}

#[cfg(not(unix))]
fn copy_dir_all(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir_all(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A temporary copy of the JavaScript example with componentize-js installed: the
/// example's own `node_modules` when it has one, else `npm install` from its lockfile
/// (not `npm ci`, which refuses componentize-js 0.23's lockfile: one of its optional
/// platform packages was never published in the version it names).
fn js_example() -> (tempfile::TempDir, PathBuf) {
    assert!(
        npm_available(),
        "npm is not on PATH: the JavaScript policy tests build `{JS_EXAMPLE}` with \
         componentize-js through npm; install Node.js 18 or later with npm (CI has node 20)"
    );
    let work = tempfile::tempdir().unwrap();
    let example = repo_root().join(JS_EXAMPLE);
    let copy = work.path().join("js-naming");
    copy_tree(&example, &copy);
    if example.join("node_modules/.bin/componentize-js").exists() {
        share_node_modules(&example, &copy);
    } else {
        let npm = PathBuf::from(if cfg!(windows) { "npm.cmd" } else { "npm" });
        let out = run_program(&npm, &["install", "--no-audit", "--no-fund"], &copy, &[]);
        out.code(0);
        eprintln!("npm install took {:.1} s", out.took.as_secs_f64());
    }
    (work, copy)
}

#[test]
fn the_js_example_wit_is_the_contract() {
    let wit = std::fs::read_to_string(repo_root().join("wit/policy.wit")).unwrap();
    let copy =
        std::fs::read_to_string(repo_root().join(JS_EXAMPLE).join("wit/policy.wit")).unwrap();
    assert!(
        wit == copy,
        "`{JS_EXAMPLE}/wit/policy.wit` differs from `wit/policy.wit`: copy it again"
    );
}

#[test]
fn the_js_example_and_a_new_js_policy_build_and_pass_their_cases() {
    let preflight = Preflight::new();
    let (work, example) = js_example();

    // `policy test` builds it with `npm run build`, then runs its cases.
    let out = preflight.run(&["policy", "test", path(&example)], work.path());
    out.code(0);
    eprintln!(
        "js-naming: build + first compile + 7 cases took {:.1} s",
        out.took.as_secs_f64()
    );
    assert!(
        out.stderr.contains("running `npm run build`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.ends_with("7 cases: 7 passed, 0 failed\n"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("rules no case exercises"),
        "{}",
        out.stdout
    );
    // Built already: not again.
    let out = preflight.run(&["policy", "test", path(&example)], work.path());
    out.code(0);
    assert!(
        out.stderr.contains("is newer than its sources"),
        "{}",
        out.stderr
    );

    // It runs in `check` like any policy, with WASI denied. With a cache of its own,
    // the first check compiles the 12 MB component (and the built-in pack); the
    // second takes the compiled code from the cache.
    let component = example.join("dist/js-naming.wasm");
    let repo = repo_root();
    let timing = Preflight::new();
    let check = |env: &str, extra: &[&str]| {
        let mut args = vec![
            "check",
            "--env",
            env,
            "--format",
            "json",
            "--fail-on",
            "never",
            "--policy",
            path(&component),
        ];
        args.extend_from_slice(extra);
        timing.run(&args, &repo)
    };
    let first = check(READY, &[]);
    first.code(0);
    let cached = check(NOT_READY, &["--verbose"]);
    cached.code(0);
    eprintln!(
        "js-naming: first check (compiles) {:.2} s, second check (compile cache) {:.2} s",
        first.took.as_secs_f64(),
        cached.took.as_secs_f64()
    );
    assert!(
        cached.stderr.contains("[js-naming] ok in"),
        "{}",
        cached.stderr
    );
    assert!(
        cached.stderr.contains("(compiled code from cache)"),
        "{}",
        cached.stderr
    );
    let report: Value = serde_json::from_str(&cached.stdout).unwrap();
    assert_eq!(outcome(&report, "js-naming").0, "ok");
    // `Contoso Sales (UAT)` is a Sandbox: well named.
    assert!(findings_of(&report, "js-naming").is_empty());
    let out = preflight.run(
        &["policy", "inspect", path(&component), "--format", "json"],
        &repo,
    );
    out.code(0);
    let info: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(info["usesWasi"], true);
    let rules: Vec<&str> = info["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["JS001", "JS002"]);

    // A new JavaScript project, on the same componentize-js, passes its own cases.
    let project = work.path().join("acme-js");
    let out = preflight.run(
        &[
            "policy",
            "new",
            "acme-js",
            "--lang",
            "js",
            "--dir",
            path(&project),
        ],
        work.path(),
    );
    out.code(0);
    assert_eq!(
        std::fs::read_to_string(project.join("wit/policy.wit")).unwrap(),
        std::fs::read_to_string(repo.join("wit/policy.wit")).unwrap()
    );
    share_node_modules(&example, &project);
    let out = preflight.run(&["policy", "test", "."], &project);
    out.code(0);
    assert!(
        out.stdout.ends_with(
            "ok      managed-solutions\n\
             ok      unmanaged-but-allowed\n\
             ok      unmanaged-solution (1 finding)\n\
             \n\
             3 cases: 3 passed, 0 failed\n"
        ),
        "{}",
        out.stdout
    );
}
