//! Published policies: `preflight policy pull URL --sha256 HEX` and `--policy
//! URL#sha256=HEX`, against a real HTTP server on 127.0.0.1 started by each test
//! (a good download, other bytes, a 404, a slow server, redirects), and the runs
//! after it that work from the store and the lockfile with the server gone.

use preflight_e2e::{NOT_READY, binary, findings_of, fixtures, outcome, repo_root};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the slow route keeps a client waiting (the tests time out long before).
const SLOW: Duration = Duration::from_secs(20);

/// A tiny HTTP/1.1 server on 127.0.0.1 with fixed routes; it records the paths asked
/// for, and stops (no longer accepting) when dropped.
struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The bytes the routes serve.
struct Content {
    policy: Vec<u8>,
    other: Vec<u8>,
}

impl Server {
    fn start() -> Server {
        let content = Arc::new(Content {
            policy: std::fs::read(fixtures::RUST_MINIMAL).unwrap(),
            other: std::fs::read(fixtures::NEEDS_SITE).unwrap(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = requests.clone();
                    let content = content.clone();
                    // One thread per connection: the slow route must not hold up others.
                    std::thread::spawn(move || serve(stream, &content, &requests));
                }
            })
        };
        Server {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, content: &Content, requests: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 << 10 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    requests.lock().unwrap().push(path.clone());
    let respond = |stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]| {
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        );
        let _ = stream.write_all(body);
        let _ = stream.flush();
    };
    match path.as_str() {
        "/policy.wasm" => respond(
            &mut stream,
            "200 OK",
            "Content-Type: application/wasm\r\n",
            &content.policy,
        ),
        "/other.wasm" => respond(&mut stream, "200 OK", "", &content.other),
        "/moved.wasm" => respond(&mut stream, "302 Found", "Location: /policy.wasm\r\n", b""),
        "/loop.wasm" => respond(&mut stream, "302 Found", "Location: /loop.wasm\r\n", b""),
        "/slow.wasm" => {
            std::thread::sleep(SLOW);
            respond(&mut stream, "200 OK", "", &content.policy);
        }
        _ => respond(&mut stream, "404 Not Found", "", b"no such file"),
    }
}

/// What one run of the binary did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
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

/// A project folder (the lockfile's home, the working directory) and a cache (the
/// store and the compile cache) that the runs of one test share.
struct Project {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn store(&self) -> PathBuf {
        self.cache.path().join("store").join("sha256")
    }

    fn stored_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.store()) {
            Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn lockfile(&self) -> PathBuf {
        self.dir.path().join("preflight.lock")
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs `preflight <args>` in the project folder and waits for it (at most a
    /// minute: a hang is a failure, not a stuck test).
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .current_dir(self.dir.path())
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
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().expect("starting preflight");
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).unwrap();
            text
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).unwrap();
            text
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`preflight {}` did not finish within a minute",
                    args.join(" ")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }
}

fn sha256_of(path: &str) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn not_ready() -> String {
    repo_root().join(NOT_READY).display().to_string()
}

fn lockfile(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `check` with only the given policy, as JSON.
fn check(project: &Project, policy: &str) -> Run {
    project.run(&[
        "check",
        "--env",
        &not_ready(),
        "--no-builtin",
        "--format",
        "json",
        "--policy",
        policy,
    ])
}

#[test]
fn a_pulled_policy_is_stored_by_digest_locked_and_used_offline() {
    let server = Server::start();
    let project = Project::new();
    let sha = sha256_of(fixtures::RUST_MINIMAL);
    let url = server.url("/policy.wasm");

    let out = project.run(&["policy", "pull", &url, "--sha256", &sha]);
    out.code(0);
    let stored = project.store().join(format!("{sha}.wasm"));
    assert!(
        out.stdout.starts_with(&format!("pulled `{url}`\n")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  policy   example-naming 0.1.0\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("  stored   {}\n", stored.display())),
        "{}",
        out.stdout
    );
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        std::fs::read(fixtures::RUST_MINIMAL).unwrap()
    );
    let lock = lockfile(&project.lockfile());
    assert_eq!(lock["version"], 1);
    let entry = &lock["policies"][0];
    assert_eq!(entry["url"], url.as_str());
    assert_eq!(entry["sha256"], sha.as_str());
    assert_eq!(
        entry["size"],
        std::fs::metadata(fixtures::RUST_MINIMAL).unwrap().len()
    );
    assert_eq!(entry["name"], "example-naming");
    let pulled_at = entry["pulledAt"].as_str().unwrap();
    assert!(
        pulled_at.len() == 20 && pulled_at.ends_with('Z') && pulled_at.as_bytes()[10] == b'T',
        "{pulled_at}"
    );
    assert_eq!(server.requests(), ["/policy.wasm"]);

    // Pulling again needs no download.
    let out = project.run(&["policy", "pull", &url, "--sha256", &sha]);
    out.code(0);
    assert!(out.stdout.starts_with("already pulled"), "{}", out.stdout);
    assert_eq!(server.requests().len(), 1);

    // The server goes away; the store and the lockfile are enough from now on.
    drop(server);
    let pinned = format!("{url}#sha256={sha}");
    for policy in [pinned.as_str(), url.as_str()] {
        let out = check(&project, policy);
        out.code(0);
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(outcome(&report, "example-naming").0, "ok");
        assert!(findings_of(&report, "example-naming").is_empty());
    }
    let out = project.run(&["policy", "inspect", &url]);
    out.code(0);
    assert!(
        out.stdout.starts_with("example-naming 0.1.0\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&sha), "{}", out.stdout);
}

#[test]
fn check_pulls_a_pinned_policy_that_is_not_in_the_store() {
    let server = Server::start();
    let project = Project::new();
    let sha = sha256_of(fixtures::RUST_MINIMAL);
    let pinned = format!("{}#sha256={sha}", server.url("/policy.wasm"));

    let out = check(&project, &pinned);
    out.code(0);
    assert!(out.stderr.contains("pulling `http://"), "{}", out.stderr);
    assert_eq!(
        project.stored_files(),
        [project.store().join(format!("{sha}.wasm"))]
    );
    // A check does not write the lockfile; `policy pull` does.
    assert!(!project.lockfile().exists());

    let out = check(&project, &pinned);
    out.code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(server.requests(), ["/policy.wasm"]);
}

#[test]
fn a_download_with_other_bytes_is_refused_and_nothing_is_stored() {
    let server = Server::start();
    let project = Project::new();
    let sha = sha256_of(fixtures::RUST_MINIMAL);
    let actual = sha256_of(fixtures::NEEDS_SITE);
    let url = server.url("/other.wasm");

    let out = project.run(&["policy", "pull", &url, "--sha256", &sha]);
    out.code(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: the download of `{url}` has sha256 `{actual}`, not the pinned `{sha}`: \
             nothing was stored; if the publisher released a new version on purpose, check it \
             and pin its digest\n"
        )
    );
    assert!(project.stored_files().is_empty());
    assert!(!project.lockfile().exists());

    // The same through `check`: the policy cannot be had, the check cannot be completed.
    let out = check(&project, &format!("{url}#sha256={sha}"));
    out.code(2);
    assert!(out.stderr.contains("not the pinned"), "{}", out.stderr);
    assert!(project.stored_files().is_empty());
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let server = Server::start();
    let project = Project::new();
    let sha = sha256_of(fixtures::RUST_MINIMAL);
    let url = server.url("/missing.wasm");

    let out = project.run(&["policy", "pull", &url, "--sha256", &sha]);
    out.code(2);
    assert_eq!(
        out.stderr,
        format!("error: cannot download `{url}`: the server answered 404 Not Found\n")
    );
    assert!(project.stored_files().is_empty());
    assert!(!project.lockfile().exists());
}

#[test]
fn a_slow_server_times_out() {
    let server = Server::start();
    let project = Project::new();
    let sha = sha256_of(fixtures::RUST_MINIMAL);
    let url = server.url("/slow.wasm");

    let started = Instant::now();
    let out = project.run(&["policy", "pull", &url, "--sha256", &sha, "--timeout", "1"]);
    out.code(2);
    assert!(started.elapsed() < SLOW / 2, "took {:?}", started.elapsed());
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot download `{url}`: no complete answer within 1 s (raise it with \
             --timeout or PREFLIGHT_PULL_TIMEOUT)\n"
        )
    );
    assert!(project.stored_files().is_empty());

    // `check` takes the download timeout from the environment.
    let started = Instant::now();
    let out = project.run_with(
        &[
            "check",
            "--env",
            &not_ready(),
            "--no-builtin",
            "--policy",
            &format!("{url}#sha256={sha}"),
        ],
        &[("PREFLIGHT_PULL_TIMEOUT", "0.5")],
    );
    out.code(2);
    assert!(started.elapsed() < SLOW / 2, "took {:?}", started.elapsed());
    assert!(
        out.stderr.contains("no complete answer within 500 ms"),
        "{}",
        out.stderr
    );
}

#[test]
fn redirects_are_followed_up_to_a_limit() {
    let server = Server::start();
    let project = Project::new();
    let sha = sha256_of(fixtures::RUST_MINIMAL);

    let moved = server.url("/moved.wasm");
    let out = project.run(&["policy", "pull", &moved, "--sha256", &sha]);
    out.code(0);
    assert_eq!(server.requests(), ["/moved.wasm", "/policy.wasm"]);
    // The lockfile keeps the URL the user gave.
    assert_eq!(
        lockfile(&project.lockfile())["policies"][0]["url"],
        moved.as_str()
    );
    assert_eq!(project.stored_files().len(), 1);

    let looping = server.url("/loop.wasm");
    let out = project.run(&["policy", "pull", &looping, "--sha256", &sha]);
    out.code(2);
    assert_eq!(
        out.stderr,
        format!("error: cannot download `{looping}`: more than 5 redirects\n")
    );
}

#[test]
fn an_unpinned_url_is_refused() {
    let server = Server::start();
    let project = Project::new();
    let url = server.url("/policy.wasm");

    let out = check(&project, &url);
    out.code(2);
    assert_eq!(
        out.stderr,
        format!(
            "error: the policy `{url}` is not pinned: add `#sha256=<digest>` to it, or run \
             `preflight policy pull {url} --sha256 <digest>` to record it in `preflight.lock`\n"
        )
    );
    let out = project.run(&["policy", "pull", &url]);
    out.code(2);
    assert!(
        out.stderr
            .contains("give the component's digest with --sha256"),
        "{}",
        out.stderr
    );
    let out = project.run(&["policy", "pull", &url, "--sha256", "abc"]);
    out.code(2);
    assert_eq!(
        out.stderr,
        "error: `abc` is not a sha256 digest (64 hex digits)\n"
    );
    assert!(server.requests().is_empty());
}
