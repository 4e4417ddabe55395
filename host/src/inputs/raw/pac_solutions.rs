//! `pac solution list --includeSystemSolutions`, as text or with `--json`.
//!
//! The text is what pac prints: a preamble (`Connected as ...`, `Connected to...
//! <environment>`, `Listing all Solutions from the current Dataverse
//! organization...`, in the user's language), then a table headed `Unique Name
//! Friendly Name  Version  Managed`. Older pac versions print an `Index` column first
//! (`[1]` in each row) and no `Managed` column. Columns are padded with spaces, and a
//! friendly name may itself hold spaces: a row is read as its first word (the unique
//! name, which has no spaces), its last word (`True`/`False`, when there is a
//! `Managed` column), the version before it, and the friendly name in between.
//!
//! With `--json`, pac prints an array of `{"SolutionUniqueName", "FriendlyName",
//! "VersionNumber", "IsManaged", ...}`.

use super::{Problem, Solution, get_ci, is_dotted_version, str_ci};
use serde_json::Value;

/// The shape names, for `snapshot.inputs`.
pub const TEXT_SHAPE: &str = "pac solution list (text)";
pub const JSON_SHAPE: &str = "pac solution list --json";

/// The shapes, for the unknown-shape error.
pub const TEXT_DESCRIPTION: &str = "the text output of `pac solution list --includeSystemSolutions` (a table headed `Unique Name  Friendly Name  Version  Managed`, after pac's `Connected as ...` lines)";
pub const JSON_DESCRIPTION: &str = "the output of `pac solution list --includeSystemSolutions --json`: `[{\"SolutionUniqueName\", \"FriendlyName\", \"VersionNumber\", \"IsManaged\"}]`";

/// The header's columns, as pac prints them.
pub const HEADER: &str = "Unique Name  Friendly Name  Version  Managed";

/// The solutions of pac's text output, `Ok(None)` when no line is the table's header.
pub fn read_text(text: &str) -> Result<Option<Vec<Solution>>, Problem> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(header_at) = lines.iter().position(|line| is_header(line)) else {
        return Ok(None);
    };
    let header = squash(lines[header_at]);
    let indexed = header.starts_with("index ");
    let managed_column = header.ends_with(" managed");
    let mut solutions = Vec::new();
    for (offset, line) in lines[header_at + 1..].iter().enumerate() {
        let number = header_at + offset + 2;
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with("---") {
            continue;
        }
        let mut words = words(line);
        if indexed
            && words
                .first()
                .is_some_and(|(_, w)| w.starts_with('[') && w.ends_with(']'))
        {
            words.remove(0);
        }
        let expected = if managed_column {
            format!("expected `{HEADER}` columns")
        } else {
            "expected `Unique Name  Friendly Name  Version` columns".to_owned()
        };
        let managed = if managed_column {
            let Some((_, last)) = words.pop() else {
                continue;
            };
            Some(match last.to_ascii_lowercase().as_str() {
                "true" | "yes" => true,
                "false" | "no" => false,
                _ => {
                    return Err(Problem::line(
                        number,
                        format!("`{last}` is not `True` or `False` (Managed); {expected}"),
                    ));
                }
            })
        } else {
            None
        };
        let (Some((version_at, version)), true) = (words.pop(), !words.is_empty()) else {
            return Err(Problem::line(
                number,
                format!("cannot read the row `{}`: {expected}", line.trim()),
            ));
        };
        if !is_dotted_version(version) {
            return Err(Problem::line(
                number,
                format!(
                    "`{version}` is not a version such as `1.0.24062.1` (row `{}`); {expected}",
                    line.trim()
                ),
            ));
        }
        let (name_at, unique_name) = words[0];
        let friendly = line[name_at + unique_name.len()..version_at].trim();
        solutions.push(Solution {
            unique_name: unique_name.to_owned(),
            friendly_name: (!friendly.is_empty()).then(|| friendly.to_owned()),
            version: version.to_owned(),
            managed,
            installed_on: None,
        });
    }
    Ok(Some(solutions))
}

/// Whether a line is the table's header: `Unique Name`, `Friendly Name` and
/// `Version`, whatever the spacing and case.
fn is_header(line: &str) -> bool {
    let squashed = squash(line);
    squashed.contains("unique name")
        && squashed.contains("friendly name")
        && squashed.contains("version")
}

/// Lowercase, runs of white space made one space, trimmed.
fn squash(line: &str) -> String {
    line.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// The words of a line with their byte offsets.
fn words(line: &str) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut start = None;
    for (at, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(from)) => {
                words.push((from, &line[from..at]));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(from) = start {
        words.push((from, &line[from..]));
    }
    words
}

/// The solutions of `pac solution list --json`, `Ok(None)` when it is not this shape.
pub fn read_json(value: &Value) -> Result<Option<Vec<Solution>>, Problem> {
    let Some(items) = value.as_array() else {
        return Ok(None);
    };
    let is_pac = items
        .first()
        .and_then(Value::as_object)
        .is_some_and(|first| get_ci(first, "SolutionUniqueName").is_some());
    if !is_pac {
        return Ok(None);
    }
    let mut solutions = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = |member: &str| format!("/{index}/{member}");
        let Some(members) = item.as_object() else {
            return Err(Problem::at(
                &format!("/{index}"),
                "not a solution (an object)",
            ));
        };
        let unique_name = str_ci(members, "SolutionUniqueName").ok_or_else(|| {
            Problem::at(&at("SolutionUniqueName"), "the solution has no unique name")
        })?;
        let version = str_ci(members, "VersionNumber").ok_or_else(|| {
            Problem::at(
                &at("VersionNumber"),
                format!("the solution `{unique_name}` has no version"),
            )
        })?;
        if !is_dotted_version(version) {
            return Err(Problem::at(
                &at("VersionNumber"),
                format!("`{version}` is not a version such as `1.0.24062.1`"),
            ));
        }
        solutions.push(Solution {
            unique_name: unique_name.to_owned(),
            friendly_name: str_ci(members, "FriendlyName").map(str::to_owned),
            version: version.to_owned(),
            managed: get_ci(members, "IsManaged").and_then(Value::as_bool),
            installed_on: str_ci(members, "InstalledOn").map(str::to_owned),
        });
    }
    Ok(Some(solutions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OUTPUT: &str = "\
Connected as admin@contoso.onmicrosoft.com
Connected to... Contoso Sales (UAT)

Listing all Solutions from the current Dataverse organization...
Unique Name                                  Friendly Name                                   Version          Managed
DualWriteCore                                Dual-write core solution                        1.0.15.2         True
Default                                      Common Data Services Default Solution           1.0              False
ProspectToCash                               Prospect to cash                                1.0.0.20         True
";

    #[test]
    fn the_table_is_read_after_the_preamble() {
        let solutions = read_text(OUTPUT).unwrap().unwrap();
        let names: Vec<&str> = solutions.iter().map(|s| s.unique_name.as_str()).collect();
        assert_eq!(names, ["DualWriteCore", "Default", "ProspectToCash"]);
        assert_eq!(
            solutions[1].to_json(),
            json!({"uniqueName": "Default", "friendlyName": "Common Data Services Default Solution",
                   "version": "1.0", "managed": false})
        );
    }

    #[test]
    fn rows_need_not_line_up_with_the_header() {
        let text = "Unique Name  Friendly Name  Version Managed\nA  Some  name 1.0.0.0 true\n";
        let solutions = read_text(text).unwrap().unwrap();
        assert_eq!(solutions[0].friendly_name.as_deref(), Some("Some  name"));
        assert_eq!(solutions[0].managed, Some(true));
    }

    #[test]
    fn the_older_layout_with_an_index_and_no_managed_column_is_read() {
        let text = "Connected to...vscode-test\nListing all Solutions from the current Dataverse Organization...\n\n Index      Unique Name      Friendly Name                              Version\n\n\n [1]        Cr4323c          Common Data Services Default Solution      1.0.0.0\n";
        let solutions = read_text(text).unwrap().unwrap();
        assert_eq!(
            solutions,
            vec![Solution {
                unique_name: "Cr4323c".into(),
                friendly_name: Some("Common Data Services Default Solution".into()),
                version: "1.0.0.0".into(),
                managed: None,
                installed_on: None,
            }]
        );
    }

    #[test]
    fn text_without_the_header_is_not_this_shape() {
        assert_eq!(read_text("Name,Status\nA,Running\n").unwrap(), None);
        assert_eq!(read_text("").unwrap(), None);
    }

    #[test]
    fn a_row_that_does_not_fit_names_its_line() {
        let text = "Unique Name  Friendly Name  Version  Managed\nA  Name  1.0.0.0  True\nB  Name  v2  False\n";
        let problem = read_text(text).unwrap_err();
        assert_eq!(problem.place, "line 3");
        assert!(
            problem.message.starts_with("`v2` is not a version"),
            "{}",
            problem.message
        );
        let text = "Unique Name  Friendly Name  Version  Managed\nA  Name  1.0.0.0  Maybe\n";
        assert_eq!(read_text(text).unwrap_err().place, "line 2");
    }

    #[test]
    fn the_json_output_is_read() {
        let value = json!([
            {"Id": "1e0b6f7a-9a3f-4a8f-8f0c-2a1b3c4d5e6f", "SolutionUniqueName": "DualWriteCore",
             "FriendlyName": "Dual-write core solution", "VersionNumber": "1.0.15.2",
             "IsManaged": true}
        ]);
        let solutions = read_json(&value).unwrap().unwrap();
        assert_eq!(solutions[0].unique_name, "DualWriteCore");
        assert_eq!(solutions[0].managed, Some(true));
        assert_eq!(read_json(&json!([1, 2])).unwrap(), None);
        let bad = json!([{"SolutionUniqueName": "A", "VersionNumber": "x"}]);
        assert_eq!(read_json(&bad).unwrap_err().place, "at `/0/VersionNumber`");
    }
}
