//! What the end-to-end tests share: the real `preflight` binary, run hermetically
//! (`NO_COLOR=1`, a fresh compile cache, no inherited `PREFLIGHT_*` variables, the
//! repository as working directory), and the fixture components `build.rs` built.

use serde_json::Value;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Paths of the fixture components (hostile guests, the rust-minimal example).
pub mod fixtures {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}

/// How long one run of the binary may take before the test calls it a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// The repository's root: the working directory of every run, so that relative
/// paths such as `examples/contoso-ready/environment.json` work and are stable.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// The `preflight` binary: `PREFLIGHT_BIN`, else the one cargo built beside this
/// test (`<target>/release/deps/<test>` -> `<target>/release/preflight`).
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PREFLIGHT_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "PREFLIGHT_BIN is `{}`, which is not a file",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<profile>/deps");
    let path = dir.join(format!("preflight{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "the preflight binary is not at `{}`: build it with `cargo build --release -p preflight` \
         (`cargo test --workspace --release` does), or set PREFLIGHT_BIN",
        path.display()
    );
    path
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Output {
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts the exit code, showing both streams when it is not the expected one.
    #[track_caller]
    pub fn assert_code(&self, expected: i32) -> &Output {
        assert_eq!(
            self.code, expected,
            "unexpected exit code\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Stdout parsed as JSON (the report of `--format json`).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err})\n--- stdout:\n{}\n--- stderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs of the binary sharing one compile cache (a fresh temporary directory).
pub struct Preflight {
    cache: tempfile::TempDir,
}

impl Default for Preflight {
    fn default() -> Preflight {
        Preflight::new()
    }
}

impl Preflight {
    pub fn new() -> Preflight {
        Preflight {
            cache: tempfile::tempdir().expect("a temporary cache directory"),
        }
    }

    /// The compile cache (`PREFLIGHT_CACHE_DIR`) of these runs.
    pub fn cache_dir(&self) -> &Path {
        self.cache.path()
    }

    /// Runs `preflight <args>` in the repository root and waits for it (at most
    /// [`RUN_DEADLINE`]: a hang is a failure, not a stuck test).
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PREFLIGHT_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("NO_COLOR", "1")
            .env("PREFLIGHT_CACHE_DIR", self.cache.path());
        let shown = format!("{cmd:?}");
        let mut child = cmd.spawn().expect("starting the preflight binary");
        let stdout = drain(child.stdout.take().expect("piped"));
        let stderr = drain(child.stderr.take().expect("piped"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for preflight") {
                break status;
            }
            if started.elapsed() > RUN_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{shown}` did not finish within {RUN_DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().expect("reading stdout"),
            stderr: stderr.join().expect("reading stderr"),
        }
    }
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).expect("reading a pipe");
        String::from_utf8(bytes).expect("the output is UTF-8")
    })
}

/// Runs `preflight <args>` with a cache of its own.
pub fn preflight<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Preflight::new().run(args)
}

/// The report's entry for the policy named `name` (or, for a policy that could not
/// be loaded, its source path).
#[track_caller]
pub fn policy<'r>(report: &'r Value, name: &str) -> &'r Value {
    let policies = report["policies"]
        .as_array()
        .expect("`policies` is an array");
    policies
        .iter()
        .find(|policy| policy["name"] == name)
        .unwrap_or_else(|| {
            let names: Vec<&Value> = policies.iter().map(|policy| &policy["name"]).collect();
            panic!("no policy `{name}` in the report; it has {names:?}")
        })
}

/// The report's findings of the policy named `name`.
pub fn findings_of<'r>(report: &'r Value, name: &str) -> Vec<&'r Value> {
    report["findings"]
        .as_array()
        .expect("`findings` is an array")
        .iter()
        .filter(|finding| finding["policy"] == name)
        .collect()
}

/// The `status` and `reason` of a policy's entry, for one-line assertions.
#[track_caller]
pub fn outcome(report: &Value, name: &str) -> (String, String) {
    let entry = policy(report, name);
    (
        entry["status"].as_str().unwrap_or_default().to_owned(),
        entry["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Compares `actual` with the snapshot file `tests/snapshots/<name>`. With
/// `PREFLIGHT_E2E_UPDATE=1` it writes the file instead: review the diff, then commit.
#[track_caller]
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(name);
    if std::env::var_os("PREFLIGHT_E2E_UPDATE").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("creating snapshots/");
        std::fs::write(&path, actual).expect("writing a snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read the snapshot `{}` ({err}); run with PREFLIGHT_E2E_UPDATE=1 to write it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(want, got)| want != got)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "the output differs from the snapshot `{}` from line {}; if the change is \
             intended, run with PREFLIGHT_E2E_UPDATE=1 and review the diff\n\
             --- expected:\n{expected}\n--- actual:\n{actual}",
            path.display(),
            line + 1
        );
    }
}

/// The contoso examples, relative to the repository root.
pub const READY: &str = "examples/contoso-ready/environment.json";
pub const NOT_READY: &str = "examples/contoso-not-ready/environment.json";
