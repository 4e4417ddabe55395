//! `preflight audit` and `preflight merge` on the real binary: the JSON Lines stream,
//! the same findings as `check`, determinism across threads, shards that merge into
//! the single run, bad snapshots contained, and the HTML report (also opened in a
//! real headless Chromium when one is installed; `.ci/run` installs it and sets
//! `PREFLIGHT_REQUIRE_CHROMIUM=1` so that it cannot be skipped there).

use preflight_e2e::{NOT_READY, Preflight, repo_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

/// The records of a stream without the times (which differ from run to run).
fn timeless(text: &str) -> Vec<Value> {
    lines(text)
        .into_iter()
        .map(|mut record| {
            if let Some(object) = record.as_object_mut() {
                object.remove("startedAt");
                object.remove("endedAt");
            }
            record
        })
        .collect()
}

fn fleet(dir: &Path, count: usize) -> PathBuf {
    let root = dir.join("fleet");
    preflight::audit::fleet::generate(&root, count, 7).expect("writing the fleet");
    root
}

/// (rule, severity, pointer, message) of each finding, sorted.
fn keys(findings: &Value) -> Vec<(String, String, String, String)> {
    let mut keys: Vec<_> = findings
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let text = |name: &str| f[name].as_str().unwrap_or_default().to_owned();
            (
                text("ruleId"),
                text("severity"),
                text("pointer"),
                text("message"),
            )
        })
        .collect();
    keys.sort();
    keys
}

/// A target line of an audit has the findings `preflight check` gives for its
/// snapshot.
fn assert_same_findings_as_check(preflight: &Preflight, target: &Value) {
    let id = target["id"].as_str().expect("a target id");
    let check = preflight.run([
        "check",
        "--format",
        "json",
        "--fail-on",
        "never",
        "--env",
        id,
    ]);
    check.assert_code(0);
    assert_eq!(
        keys(&target["findings"]),
        keys(&check.json()["findings"]),
        "{id}"
    );
}

#[test]
fn the_stream_has_a_header_a_line_per_snapshot_in_order_and_a_summary() {
    let preflight = Preflight::new();
    // A folder with environment.json and site/ is one target; a file is another.
    let out = preflight.run(["audit", "examples/contoso-ready", NOT_READY]);
    out.assert_code(1);
    let records = lines(&out.stdout);
    assert_eq!(records.len(), 4, "{}", out.stdout);
    assert_eq!(records[0]["type"], "header");
    assert_eq!(records[0]["targets"], 2);
    assert_eq!(records[0]["shard"], Value::Null);
    assert_eq!(records[0]["policies"].as_array().unwrap().len(), 7);
    // Targets come in the order of their ids.
    let not_ready = &records[1];
    let ready = &records[2];
    assert_eq!(ready["id"], "examples/contoso-ready");
    assert_eq!(ready["gate"], "passed");
    let documents: Vec<&str> = ready["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|input| input["document"].as_str().unwrap())
        .collect();
    assert_eq!(
        documents,
        ["environment", "site"],
        "the site beside the snapshot is read"
    );
    assert_eq!(not_ready["id"], NOT_READY);
    assert_eq!(not_ready["gate"], "failed");
    assert_eq!(not_ready["environment"]["type"], "Sandbox");
    let summary = &records[3];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["targets"]["total"], 2);
    assert_eq!(summary["targets"]["passed"], 1);
    assert_eq!(summary["targets"]["failed"], 1);
    assert_eq!(summary["exitCode"], 1);
    let cp004 = summary["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["ruleId"] == "CP004")
        .expect("CP004 is tallied");
    assert_eq!(cp004["targets"], 1);

    // The same findings, with their lines, as `check` gives for the file.
    let check = preflight.run(["check", "--format", "json", "--env", NOT_READY]);
    let report = check.json();
    assert_eq!(keys(&not_ready["findings"]), keys(&report["findings"]));
    assert!(
        not_ready["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["line"].as_u64().is_some_and(|line| line > 1)),
        "every finding has its line: {}",
        not_ready["findings"]
    );
    // Progress and the summary go to stderr, never into the stream.
    assert!(
        out.stderr.contains("audited 2 environments"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_audit_finds_what_single_checks_find_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let root = fleet(dir.path(), 40);
    let preflight = Preflight::new();
    let two = preflight.run([
        "audit".as_ref(),
        root.as_os_str(),
        "--jobs".as_ref(),
        "2".as_ref(),
    ]);
    let one = preflight.run([
        "audit".as_ref(),
        root.as_os_str(),
        "--jobs".as_ref(),
        "1".as_ref(),
    ]);
    let isolated = preflight.run(["audit".as_ref(), root.as_os_str(), "--isolate".as_ref()]);
    assert_eq!(timeless(&two.stdout)[1..], timeless(&one.stdout)[1..]);
    // A fresh instance per evaluation changes nothing but the header's flag.
    assert_eq!(timeless(&two.stdout)[1..], timeless(&isolated.stdout)[1..]);

    let records = lines(&two.stdout);
    let targets: Vec<&Value> = records.iter().filter(|r| r["type"] == "target").collect();
    assert_eq!(targets.len(), 40);
    let mut with_findings = 0;
    for target in targets {
        assert_same_findings_as_check(&preflight, target);
        with_findings += usize::from(!target["findings"].as_array().unwrap().is_empty());
    }
    assert!(
        with_findings > 5,
        "the fleet is varied: {with_findings} of 40 have findings"
    );
}

/// JSON goes straight into the tape when the fast path can read it; everything
/// else (YAML, a duplicate key, text all on one line, escapes, a float) must give
/// what `check` gives, and every finding's line must be the line of its pointer.
#[test]
fn snapshots_of_every_shape_give_the_findings_and_lines_of_check() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shapes");
    std::fs::create_dir_all(&root).unwrap();
    let snapshot = |index| preflight::audit::fleet::snapshot(index, 7);
    // Pretty JSON, the fast path.
    std::fs::write(
        root.join("pretty.json"),
        serde_json::to_string_pretty(&snapshot(1)).unwrap(),
    )
    .unwrap();
    // All on one line, escapes and a whole-valued float: still the fast path.
    let mut escaped = snapshot(2);
    escaped["environment"]["displayName"] = "Contoso \"EU\" \u{e9}t\u{e9}\tprod".into();
    escaped["licensing"]["powerPages"]["authenticatedUsersPerMonth"] = serde_json::json!(100.0);
    std::fs::write(
        root.join("compact.json"),
        serde_json::to_string(&escaped).unwrap(),
    )
    .unwrap();
    // A duplicate key: serde_json keeps the last value; the fast path leaves it.
    let text = serde_json::to_string_pretty(&snapshot(3)).unwrap();
    let duplicated = text.replacen(
        "\"schemaVersion\": \"1.0\",",
        "\"schemaVersion\": \"0.9\",\n  \"schemaVersion\": \"1.0\",",
        1,
    );
    assert_ne!(duplicated, text);
    std::fs::write(root.join("duplicate.json"), duplicated).unwrap();
    // YAML, read as check reads it.
    std::fs::write(
        root.join("exported.yaml"),
        serde_yaml_ng::to_string(&snapshot(4)).unwrap(),
    )
    .unwrap();

    let preflight = Preflight::new();
    let audit = preflight.run(["audit".as_ref(), root.as_os_str()]);
    let records = lines(&audit.stdout);
    let targets: Vec<&Value> = records.iter().filter(|r| r["type"] == "target").collect();
    assert_eq!(targets.len(), 4, "{}", audit.stderr);
    let mut located = 0;
    for target in targets {
        let id = target["id"].as_str().unwrap();
        assert!(target["error"].is_null(), "{id}: {}", target["error"]);
        assert_same_findings_as_check(&preflight, target);
        let text = std::fs::read_to_string(id).unwrap();
        for finding in target["findings"].as_array().unwrap() {
            let pointer = finding["pointer"].as_str().unwrap();
            let expected = preflight::report::lines::line_of(&text, pointer);
            assert_eq!(
                finding["line"].as_u64().map(|line| line as usize),
                expected,
                "{id} {pointer}"
            );
            located += usize::from(expected.is_some());
        }
    }
    assert!(located > 4, "findings with a line: {located}");
}

#[test]
fn shards_merge_into_exactly_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = fleet(dir.path(), 30);
    let preflight = Preflight::new();
    let whole = preflight.run(["audit".as_ref(), root.as_os_str()]);
    let mut files = Vec::new();
    let mut sizes = Vec::new();
    for k in 1..=3 {
        let file = dir.path().join(format!("shard-{k}.jsonl"));
        let out = preflight.run([
            "audit".as_ref(),
            root.as_os_str(),
            "--shard".as_ref(),
            format!("{k}/3").as_ref(),
            "--format".as_ref(),
            format!("jsonl={}", file.display()).as_ref(),
        ]);
        assert_eq!(out.stdout, "", "the stream went to its file");
        let records = lines(&std::fs::read_to_string(&file).unwrap());
        assert_eq!(records[0]["shard"]["index"], k);
        sizes.push(records.len() - 2);
        files.push(file);
    }
    assert_eq!(sizes.iter().sum::<usize>(), 30, "{sizes:?}");
    assert!(
        sizes.iter().all(|&n| n > 0),
        "every shard has work: {sizes:?}"
    );

    // Given in any order, the shards merge into the single run.
    let merged = preflight.run([
        "merge".as_ref(),
        files[2].as_os_str(),
        files[0].as_os_str(),
        files[1].as_os_str(),
    ]);
    assert_eq!(merged.code, whole.code, "{}", merged.stderr);
    assert_eq!(timeless(&merged.stdout), timeless(&whole.stdout));

    let missing = preflight.run(["merge".as_ref(), files[0].as_os_str(), files[2].as_os_str()]);
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("shards missing: 2/3"),
        "{}",
        missing.stderr
    );
    assert_eq!(missing.stdout, "");

    let twice = preflight.run(["merge".as_ref(), files[0].as_os_str(), files[0].as_os_str()]);
    twice.assert_code(2);
    assert!(
        twice.stderr.contains("are both shard 1/3"),
        "{}",
        twice.stderr
    );

    let whole_file = dir.path().join("whole.jsonl");
    std::fs::write(&whole_file, &whole.stdout).unwrap();
    let not_a_shard = preflight.run(["merge".as_ref(), whole_file.as_os_str()]);
    not_a_shard.assert_code(2);
    assert!(
        not_a_shard.stderr.contains("not a shard's output"),
        "{}",
        not_a_shard.stderr
    );

    // A shard cut short (no summary line) is refused, naming the file.
    let text = std::fs::read_to_string(&files[1]).unwrap();
    let cut: Vec<&str> = text.lines().collect();
    std::fs::write(&files[1], cut[..cut.len() - 1].join("\n")).unwrap();
    let truncated = preflight.run([
        "merge".as_ref(),
        files[0].as_os_str(),
        files[1].as_os_str(),
        files[2].as_os_str(),
    ]);
    truncated.assert_code(2);
    assert!(
        truncated.stderr.contains("has no summary line"),
        "{}",
        truncated.stderr
    );
    assert!(
        truncated.stderr.contains("shard-2.jsonl"),
        "{}",
        truncated.stderr
    );
}

#[test]
fn a_bad_snapshot_is_reported_with_its_place_and_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = fleet(dir.path(), 3);
    let broken = root.join("000/broken.json");
    std::fs::write(&broken, "{\n  \"schemaVersion\": \"1.0\",\n  oops\n}\n").unwrap();
    let invalid = root.join("000/invalid.json");
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("000/env-00000.json")).unwrap())
            .unwrap();
    doc["dualWrite"]["maps"][0]["state"] = "Stopped".into();
    std::fs::write(&invalid, serde_json::to_string_pretty(&doc).unwrap()).unwrap();

    let out = Preflight::new().run(["audit".as_ref(), root.as_os_str()]);
    out.assert_code(2);
    let records = lines(&out.stdout);
    let by_id: BTreeMap<String, &Value> = records
        .iter()
        .filter(|r| r["type"] == "target")
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r))
        .collect();
    assert_eq!(by_id.len(), 5);
    let broken = by_id[&broken.display().to_string()];
    assert_eq!(broken["gate"], "incomplete");
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.contains("broken.json") && error.contains("line 3"),
        "{error}"
    );
    let invalid = by_id[&invalid.display().to_string()];
    let error = invalid["error"].as_str().unwrap();
    assert!(error.contains("/dualWrite/maps/0/state"), "{error}");
    let checked = by_id.values().filter(|r| r["error"].is_null()).count();
    assert_eq!(checked, 3, "the good snapshots were still checked");
    assert_eq!(records.last().unwrap()["targets"]["incomplete"], 2);
}

#[test]
fn usage_errors_exit_2_before_anything_runs() {
    let preflight = Preflight::new();
    for (args, expected) in [
        (vec!["audit", "no/such/dir"], "`no/such/dir` does not exist"),
        (vec!["audit", NOT_READY, "--shard", "4/3"], "is not a shard"),
        (
            vec!["audit", NOT_READY, "--format", "pdf"],
            "unknown format `pdf`",
        ),
        (
            vec!["audit", NOT_READY, "--format", "html", "--format", "jsonl"],
            "only one format can",
        ),
    ] {
        let out = preflight.run(&args);
        out.assert_code(2);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
    }
}

/// Every `href="#x"` of the page has an element with `id="x"`.
fn assert_anchors_resolve(html: &str) {
    let ids: std::collections::HashSet<&str> = html
        .split("id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let mut links = 0;
    for rest in html.split("href=\"#").skip(1) {
        let target = rest.split('"').next().unwrap();
        assert!(
            ids.contains(target),
            "a link to #{target}, which is not on the page"
        );
        links += 1;
    }
    assert!(links > 10, "{links} in-page links");
}

#[test]
fn the_html_report_is_one_self_contained_page_with_a_chart_and_rule_docs() {
    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("audit.html");
    let md_path = dir.path().join("audit.md");
    let out = Preflight::new().run([
        "audit",
        "examples/contoso-ready",
        NOT_READY,
        "--format",
        &format!("html={}", html_path.display()),
        "--format",
        &format!("markdown={}", md_path.display()),
        "--format",
        "jsonl",
    ]);
    out.assert_code(1);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Nothing outside the file: no scripts, stylesheets, images or fonts to fetch.
    for outside in ["<script", "<link", "<img", "src=", "@import", "url("] {
        assert!(!html.contains(outside), "the page has `{outside}`");
    }
    assert!(html.contains("<svg id=\"findings-chart\""));
    assert!(html.contains("Summary per rule") && html.contains("Summary per environment"));
    assert!(html.contains("Gate FAILED"));
    // Each finding links to its rule's docs on the page, which link to Microsoft's article.
    assert!(html.contains("href=\"#rule-customer-portal-maps-CP004\""));
    assert!(html.contains("id=\"rule-customer-portal-maps-CP004\""));
    assert!(html.contains("href=\"https://learn.microsoft.com/"));
    assert!(html.contains("What it checks"));
    assert_anchors_resolve(&html);
    // A value from a snapshot is text, never markup.
    assert!(!html.contains("<script"));

    let markdown = std::fs::read_to_string(&md_path).unwrap();
    assert!(markdown.contains("| CP004 |"), "{markdown}");
    assert!(markdown.contains("gate FAILED"), "{markdown}");

    chromium_renders(&html_path, dir.path());
}

/// Opens the report in headless Chromium: the DOM it builds has the chart and the
/// tables, and the screenshot is a real picture (kept in `target/` for people).
fn chromium_renders(html: &Path, dir: &Path) {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
    else {
        assert!(
            std::env::var_os("PREFLIGHT_REQUIRE_CHROMIUM").is_none(),
            "PREFLIGHT_REQUIRE_CHROMIUM is set but Chromium is not installed"
        );
        eprintln!("Chromium is not installed: the HTML report was not opened in a browser");
        return;
    };
    let url = format!("file://{}", html.display());
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ];
    let profile = dir.join("chromium-profile");
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(&chromium)
            .args(flags)
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("starting Chromium");
        assert!(
            output.status.success(),
            "Chromium failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    let dom = String::from_utf8(run(&["--dump-dom"]).stdout).unwrap();
    assert!(dom.contains("<svg id=\"findings-chart\""), "{dom}");
    assert!(dom.contains("<rect"), "the chart has bars");
    assert!(dom.contains("Summary per environment"));

    let screenshot = repo_root().join("target/audit-report.png");
    let _ = std::fs::remove_file(&screenshot);
    run(&[
        "--window-size=1280,1600",
        &format!("--screenshot={}", screenshot.display()),
    ]);
    let png = std::fs::read(&screenshot).expect("Chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1600));
    assert!(
        png.len() > 20_000,
        "a page with content, not a blank: {} bytes",
        png.len()
    );
}

#[test]
fn check_writes_the_same_html_report_for_one_environment() {
    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("report.html");
    let out = Preflight::new().run([
        "check",
        "--env",
        NOT_READY,
        "--format",
        &format!("html={}", html_path.display()),
    ]);
    out.assert_code(1);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains(&format!("preflight report: {NOT_READY}")),
        "{html}"
    );
    assert!(html.contains("<svg id=\"findings-chart\""));
    assert_anchors_resolve(&html);
}

/// A policy that traps (here: panics) on every environment. The instance it trapped
/// in is never entered again; each environment gets a fresh one and the same
/// contained error, and the built-in policies still report their findings.
#[test]
fn a_policy_that_traps_is_contained_on_every_environment() {
    for guest in [
        preflight_e2e::fixtures::PANIC,
        preflight_e2e::fixtures::ENDLESS_LOOP,
    ] {
        let out = Preflight::new().run([
            "audit",
            "examples/contoso-ready",
            NOT_READY,
            "--jobs",
            "1",
            "--fuel",
            "50000000",
            "--policy",
            guest,
        ]);
        out.assert_code(2);
        let records = lines(&out.stdout);
        let targets: Vec<&Value> = records.iter().filter(|r| r["type"] == "target").collect();
        assert_eq!(targets.len(), 2);
        let reasons: Vec<&str> = targets
            .iter()
            .map(|target| {
                assert_eq!(target["gate"], "incomplete");
                let errors = target["policyErrors"].as_array().expect("policy errors");
                assert_eq!(errors.len(), 1, "{target}");
                errors[0]["reason"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            reasons[0], reasons[1],
            "the same error each time, not a poisoned instance"
        );
        assert!(
            reasons[0].starts_with("trapped: it aborted")
                || reasons[0].starts_with("ran out of fuel"),
            "{}",
            reasons[0]
        );
        let not_ready = targets.iter().find(|t| t["id"] == NOT_READY).unwrap();
        assert!(
            not_ready["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["ruleId"] == "CP004"),
            "the built-in policies still ran: {not_ready}"
        );
    }
}

/// What instance reuse means, shown with a policy that keeps state on purpose: in a
/// kept instance it sees the previous environment; with `--isolate` it never does.
#[test]
fn a_policy_that_keeps_state_sees_the_previous_environment_unless_isolated() {
    let run = |isolate: bool| {
        let mut args = vec![
            "audit",
            "examples/contoso-ready",
            NOT_READY,
            "--jobs",
            "1",
            "--no-builtin",
            "--policy",
            preflight_e2e::fixtures::REMEMBERS,
        ];
        if isolate {
            args.push("--isolate");
        }
        let out = Preflight::new().run(args);
        lines(&out.stdout)
            .into_iter()
            .filter(|r| r["type"] == "target")
            .map(|r| r["findings"].as_array().unwrap().len())
            .collect::<Vec<usize>>()
    };
    assert_eq!(
        run(false),
        [0, 1],
        "the second environment's call saw the first's name"
    );
    assert_eq!(run(true), [0, 0]);
}
