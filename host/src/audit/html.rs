//! The HTML audit report: one self-contained file (inline CSS and SVG, no scripts,
//! no external assets) that an auditor can keep, mail or attach to a ticket, and
//! open years later in any browser.
//!
//! Sections: the verdict and counts; a chart of findings per rule (inline SVG);
//! the summary per rule and per environment; every target's findings, each linking
//! to its rule's documentation further down the same page (and from there to the
//! Microsoft article); the evidence (tool, policies and their sha256, settings).

use super::{AuditSummary, Header, RuleRecord, TargetResult};
use crate::report::Gate;
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An anchor id made of safe characters only.
fn anchor(prefix: &str, text: &str) -> String {
    let mut id = String::from(prefix);
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            id.push(c);
        } else {
            let _ = write!(id, "_{:x}", c as u32);
        }
    }
    id
}

fn rule_anchor(policy: &str, rule: &str) -> String {
    anchor("rule-", &format!("{policy}-{rule}"))
}

const STYLE: &str = r#"
:root { --error:#b42318; --warning:#b54708; --info:#175cd3; --pass:#067647; --muted:#475467; --line:#d0d5dd; }
* { box-sizing: border-box; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:#101828; margin:0; background:#f9fafb; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom:1px solid var(--line); padding-bottom:4px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
.meta { color: var(--muted); margin: 0 0 16px; }
.verdict { padding: 12px 16px; border-radius: 8px; font-weight: 600; margin: 12px 0; color:#fff; }
.verdict.passed { background: var(--pass); } .verdict.failed { background: var(--error); } .verdict.incomplete { background: var(--warning); }
.cards { display:flex; flex-wrap:wrap; gap:12px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 14px; min-width:130px; }
.card b { display:block; font-size:22px; }
table { border-collapse: collapse; width:100%; background:#fff; }
th, td { border:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; }
th { background:#f2f4f7; }
td.n { text-align:right; font-variant-numeric: tabular-nums; }
.sev { font-weight:600; text-transform:uppercase; font-size:11px; padding:1px 6px; border-radius:4px; color:#fff; }
.sev.error { background:var(--error); } .sev.warning { background:var(--warning); } .sev.info { background:var(--info); }
.gate { font-weight:600; } .gate.passed { color:var(--pass); } .gate.failed { color:var(--error); } .gate.incomplete { color:var(--warning); }
details { background:#fff; border:1px solid var(--line); border-radius:6px; margin:6px 0; padding:4px 10px; }
summary { cursor:pointer; }
ul.findings { margin:6px 0; padding-left:18px; } ul.findings li { margin:4px 0; }
.where, .fix { color: var(--muted); } code { background:#f2f4f7; padding:0 3px; border-radius:3px; }
.help { background:#fff; border:1px solid var(--line); border-radius:6px; padding:4px 14px; margin:8px 0 16px; }
.help table { width:auto; }
svg text { font: 12px system-ui, sans-serif; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; word-break:break-all; }
"#;

/// Renders the report.
pub fn render(header: &Header, targets: &[TargetResult], summary: &AuditSummary) -> String {
    let mut out = String::with_capacity(64 * 1024 + targets.len() * 512);
    let title = if targets.len() == 1 && header.shard.is_none() {
        format!("preflight report: {}", targets[0].id)
    } else {
        format!("preflight audit: {} environments", summary.targets.total)
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"preflight {version}\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>{title}</h1>\n<p class=\"meta\">preflight {version} · started {started} · ended {ended}{shard} · \
         fail on <code>{fail_on}</code>{isolate}</p>\n",
        version = escape(&header.tool.version),
        title = escape(&title),
        started = escape(&header.started_at),
        ended = escape(&summary.ended_at),
        shard = header
            .shard
            .map(|shard| format!(" · shard {shard}"))
            .unwrap_or_default(),
        fail_on = header.fail_on.as_str(),
        isolate = if header.isolate {
            " · a fresh instance per evaluation"
        } else {
            ""
        },
    );

    let (class, verdict) = match summary.gate {
        Gate::Passed => (
            "passed",
            "Gate passed: no environment has a finding at or above the threshold",
        ),
        Gate::Failed => (
            "failed",
            "Gate FAILED: some environments have findings at or above the threshold",
        ),
        Gate::Incomplete => (
            "incomplete",
            "Audit INCOMPLETE: some environments could not be checked (see below)",
        ),
    };
    let _ = writeln!(
        out,
        "<div class=\"verdict {class}\" id=\"verdict\">{verdict}</div>"
    );
    let t = &summary.targets;
    let f = &summary.findings;
    let _ = writeln!(
        out,
        "<div class=\"cards\">\
         <div class=\"card\"><b>{}</b>environments</div>\
         <div class=\"card\"><b class=\"gate passed\">{}</b>passed</div>\
         <div class=\"card\"><b class=\"gate failed\">{}</b>failed</div>\
         <div class=\"card\"><b class=\"gate incomplete\">{}</b>incomplete</div>\
         <div class=\"card\"><b>{}</b>errors</div>\
         <div class=\"card\"><b>{}</b>warnings</div>\
         <div class=\"card\"><b>{}</b>info</div></div>",
        t.total, t.passed, t.failed, t.incomplete, f.error, f.warning, f.info
    );

    out.push_str("<h2 id=\"chart\">Findings per rule</h2>\n");
    chart(&mut out, summary);

    out.push_str(
        "<h2 id=\"rules\">Summary per rule</h2>\n<table>\n<thead><tr><th>Rule</th><th>Title</th>\
         <th>Policy</th><th>Errors</th><th>Warnings</th><th>Info</th><th>Environments</th></tr></thead>\n<tbody>\n",
    );
    for rule in &summary.rules {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            rule_anchor(&rule.policy, &rule.rule_id),
            escape(&rule.rule_id),
            escape(&rule.title),
            escape(&rule.policy),
            rule.counts.error,
            rule.counts.warning,
            rule.counts.info,
            rule.targets
        );
    }
    out.push_str("</tbody>\n</table>\n");

    out.push_str(
        "<h2 id=\"environments\">Summary per environment</h2>\n<table>\n<thead><tr><th>Target</th>\
         <th>Environment</th><th>Type</th><th>Gate</th><th>Errors</th><th>Warnings</th><th>Info</th></tr></thead>\n<tbody>\n",
    );
    for target in targets {
        let gate = target.gate.as_str();
        let name = target
            .environment
            .display_name
            .as_deref()
            .map(escape)
            .unwrap_or_default();
        let id = target
            .environment
            .id
            .as_deref()
            .map(|id| format!("<br><span class=\"mono\">{}</span>", escape(id)))
            .unwrap_or_default();
        let has_details = !target.findings.is_empty()
            || target.error.is_some()
            || !target.policy_errors.is_empty();
        let label = if has_details {
            format!(
                "<a href=\"#{}\">{}</a>",
                anchor("target-", &target.id),
                escape(&target.id)
            )
        } else {
            escape(&target.id)
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"mono\">{label}</td><td>{name}{id}</td><td>{}</td>\
             <td class=\"gate {gate}\">{gate}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            target
                .environment
                .kind
                .as_deref()
                .map(escape)
                .unwrap_or_default(),
            target.counts.error,
            target.counts.warning,
            target.counts.info
        );
    }
    out.push_str("</tbody>\n</table>\n");

    out.push_str("<h2 id=\"findings\">Findings per environment</h2>\n");
    let mut any = false;
    for target in targets {
        if target.findings.is_empty() && target.error.is_none() && target.policy_errors.is_empty() {
            continue;
        }
        any = true;
        let gate = target.gate.as_str();
        let _ = writeln!(
            out,
            "<details id=\"{}\" open><summary><span class=\"mono\">{}</span> · \
             <span class=\"gate {gate}\">{gate}</span> · {} error{}, {} warning{}, {} info</summary>",
            anchor("target-", &target.id),
            escape(&target.id),
            target.counts.error,
            if target.counts.error == 1 { "" } else { "s" },
            target.counts.warning,
            if target.counts.warning == 1 { "" } else { "s" },
            target.counts.info
        );
        if let Some(error) = &target.error {
            let _ = writeln!(
                out,
                "<p><b>Could not be checked:</b> <span class=\"mono\">{}</span></p>",
                escape(error)
            );
        }
        for failed in &target.policy_errors {
            let _ = writeln!(
                out,
                "<p><b>Policy <code>{}</code> failed:</b> {}</p>",
                escape(&failed.policy),
                escape(&failed.reason)
            );
        }
        if !target.findings.is_empty() {
            out.push_str("<ul class=\"findings\">\n");
            for finding in &target.findings {
                let severity = finding.severity.as_str();
                let place = match (&finding.file, finding.line) {
                    (Some(file), Some(line)) => format!("{file}:{line}"),
                    (Some(file), None) => file.clone(),
                    (None, _) => finding.document.clone(),
                };
                let _ = write!(
                    out,
                    "<li><span class=\"sev {severity}\">{severity}</span> \
                     <a href=\"#{}\"><b>{}</b></a> {}<br><span class=\"where\">{} · <code>{}</code></span>",
                    rule_anchor(&finding.policy, &finding.rule_id),
                    escape(&finding.rule_id),
                    escape(&finding.message),
                    escape(&place),
                    escape(if finding.pointer.is_empty() {
                        "/"
                    } else {
                        &finding.pointer
                    }),
                );
                if let Some(fix) = &finding.remediation {
                    let _ = write!(out, "<br><span class=\"fix\">Fix: {}</span>", escape(fix));
                }
                out.push_str("</li>\n");
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</details>\n");
    }
    if !any {
        out.push_str("<p>No findings.</p>\n");
    }

    out.push_str("<h2 id=\"rule-docs\">Rules</h2>\n");
    for policy in &header.policies {
        for rule in &policy.rules {
            rule_doc(&mut out, &policy.name, rule);
        }
    }

    out.push_str(
        "<h2 id=\"evidence\">Evidence</h2>\n<table>\n<thead><tr><th>Policy</th><th>Version</th>\
                  <th>Source</th><th>sha256</th></tr></thead>\n<tbody>\n",
    );
    for policy in &header.policies {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
            escape(&policy.name),
            escape(&policy.version),
            escape(&policy.source),
            escape(&policy.sha256)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    let settings = serde_json::to_string_pretty(&header.settings).unwrap_or_default();
    let _ = writeln!(
        out,
        "<h3>Settings</h3>\n<pre class=\"mono\">{}</pre>\n<p class=\"meta\">Each input's path and sha256 \
         are in the JSON Lines output of the same run; <code>preflight verify-report</code> checks a \
         <code>check</code> report's digests.</p>",
        escape(&settings)
    );
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// A horizontal bar per rule with findings, stacked by severity.
fn chart(out: &mut String, summary: &AuditSummary) {
    let rules: Vec<_> = summary
        .rules
        .iter()
        .filter(|rule| rule.counts.total() > 0)
        .collect();
    if rules.is_empty() {
        out.push_str("<p>No findings to chart.</p>\n");
        return;
    }
    let max = rules
        .iter()
        .map(|rule| rule.counts.total())
        .max()
        .unwrap_or(1)
        .max(1);
    let (label_width, bar_width, row, top) = (90.0, 640.0, 24.0, 28.0);
    let height = top + row * rules.len() as f64 + 8.0;
    let width = label_width + bar_width + 80.0;
    let _ = writeln!(
        out,
        "<svg id=\"findings-chart\" role=\"img\" aria-label=\"Findings per rule\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n\
         <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>\n\
         <g><rect x=\"{label_width}\" y=\"6\" width=\"12\" height=\"12\" fill=\"#b42318\"/><text x=\"{}\" y=\"16\">error</text>\
         <rect x=\"{}\" y=\"6\" width=\"12\" height=\"12\" fill=\"#b54708\"/><text x=\"{}\" y=\"16\">warning</text>\
         <rect x=\"{}\" y=\"6\" width=\"12\" height=\"12\" fill=\"#175cd3\"/><text x=\"{}\" y=\"16\">info</text></g>",
        label_width + 16.0,
        label_width + 70.0,
        label_width + 86.0,
        label_width + 160.0,
        label_width + 176.0,
    );
    for (i, rule) in rules.iter().enumerate() {
        let y = top + row * i as f64;
        let _ = write!(
            out,
            "<g><title>{id}: {e} errors, {w} warnings, {n} info, in {t} environments</title>\
             <text x=\"0\" y=\"{ty}\"><a href=\"#{anchor}\">{id}</a></text>",
            id = escape(&rule.rule_id),
            e = rule.counts.error,
            w = rule.counts.warning,
            n = rule.counts.info,
            t = rule.targets,
            ty = y + 15.0,
            anchor = rule_anchor(&rule.policy, &rule.rule_id),
        );
        let mut x = label_width;
        for (count, color) in [
            (rule.counts.error, "#b42318"),
            (rule.counts.warning, "#b54708"),
            (rule.counts.info, "#175cd3"),
        ] {
            if count == 0 {
                continue;
            }
            let w = bar_width * count as f64 / max as f64;
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"18\" fill=\"{color}\"/>",
                y + 2.0
            );
            x += w;
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            x + 6.0,
            y + 15.0,
            rule.counts.total()
        );
    }
    out.push_str("</svg>\n");
}

fn rule_doc(out: &mut String, policy: &str, rule: &RuleRecord) {
    let severity = rule.default_severity.as_str();
    let _ = write!(
        out,
        "<h3 id=\"{}\">{} · {} <span class=\"sev {severity}\">{severity}</span></h3>\n<p class=\"meta\">Policy <code>{}</code>",
        rule_anchor(policy, &rule.id),
        escape(&rule.id),
        escape(&rule.title),
        escape(policy)
    );
    if let Some(url) = &rule.help_url {
        let _ = write!(
            out,
            " · reference: <a href=\"{}\">{}</a>",
            escape(url),
            escape(url)
        );
    }
    out.push_str("</p>\n");
    if !rule.help.trim().is_empty() {
        out.push_str("<div class=\"help\">\n");
        markdown(out, &rule.help);
        out.push_str("</div>\n");
    }
}

/// The Markdown of rule docs, rendered: headings, paragraphs, lists, tables,
/// `code`, **bold** and [links](url). Everything is escaped first.
fn markdown(out: &mut String, text: &str) {
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list = false;
    let mut table = false;
    let flush = |out: &mut String, paragraph: &mut Vec<&str>| {
        if !paragraph.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", inline(&paragraph.join(" ")));
            paragraph.clear();
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        let is_item = trimmed.starts_with("- ") || trimmed.starts_with("* ");
        let is_row = trimmed.starts_with('|');
        if list && !is_item {
            out.push_str("</ul>\n");
            list = false;
        }
        if table && !is_row {
            out.push_str("</table>\n");
            table = false;
        }
        if trimmed.is_empty() {
            flush(out, &mut paragraph);
        } else if let Some(heading) = trimmed.strip_prefix('#') {
            flush(out, &mut paragraph);
            let _ = writeln!(
                out,
                "<h4>{}</h4>",
                inline(heading.trim_start_matches('#').trim())
            );
        } else if is_item {
            flush(out, &mut paragraph);
            if !list {
                out.push_str("<ul>\n");
                list = true;
            }
            let _ = writeln!(out, "<li>{}</li>", inline(&trimmed[2..]));
        } else if is_row {
            flush(out, &mut paragraph);
            let cells: Vec<&str> = trimmed
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            if cells
                .iter()
                .all(|cell| cell.chars().all(|c| matches!(c, '-' | ':' | ' ')))
            {
                continue;
            }
            let tag = if table { "td" } else { "th" };
            if !table {
                out.push_str("<table>\n");
                table = true;
            }
            out.push_str("<tr>");
            for cell in cells {
                let _ = write!(out, "<{tag}>{}</{tag}>", inline(cell));
            }
            out.push_str("</tr>\n");
        } else {
            paragraph.push(trimmed);
        }
    }
    flush(out, &mut paragraph);
    if list {
        out.push_str("</ul>\n");
    }
    if table {
        out.push_str("</table>\n");
    }
}

/// Inline Markdown: `code` first (nothing inside it is formatted), then links and bold.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
            continue;
        }
        let mut rest = part;
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let Some(close) = after.find("](") else { break };
            let Some(end) = after[close + 2..].find(')') else {
                break;
            };
            let label = &after[..close];
            let url = &after[close + 2..close + 2 + end];
            out.push_str(&bold(&escape(&rest[..open])));
            if url.starts_with("https://") || url.starts_with("http://") || url.starts_with('#') {
                let _ = write!(
                    out,
                    "<a href=\"{}\">{}</a>",
                    escape(url),
                    bold(&escape(label))
                );
            } else {
                out.push_str(&bold(&escape(label)));
            }
            rest = &after[close + 2 + end + 1..];
        }
        out.push_str(&bold(&escape(rest)));
    }
    out
}

fn bold(escaped: &str) -> String {
    let parts: Vec<&str> = escaped.split("**").collect();
    if parts.len() < 3 {
        return escaped.to_owned();
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(if i % 2 == 1 { "<b>" } else { "</b>" });
        }
        out.push_str(part);
    }
    if parts.len().is_multiple_of(2) {
        out.push_str("</b>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_snapshots_cannot_inject_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(anchor("target-", "a b/<c>"), "target-a_20b_2f_3cc_3e");
    }

    #[test]
    fn rule_docs_markdown_becomes_html() {
        let mut out = String::new();
        markdown(
            &mut out,
            "## What it checks\n\nThat the **maps** run (`CDS`).\n\n- one\n- [two](https://learn.microsoft.com/x)\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n",
        );
        assert!(out.contains("<h4>What it checks</h4>"), "{out}");
        assert!(
            out.contains("<p>That the <b>maps</b> run (<code>CDS</code>).</p>"),
            "{out}"
        );
        assert!(
            out.contains("<li><a href=\"https://learn.microsoft.com/x\">two</a></li>"),
            "{out}"
        );
        assert!(
            out.contains("<tr><th>a</th><th>b</th></tr>\n<tr><td>1</td><td>2</td></tr>"),
            "{out}"
        );
        // A javascript: link is not a link.
        assert_eq!(inline("[x](javascript:alert(1))"), "x)");
    }
}
