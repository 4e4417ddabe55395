//! From a JSON pointer to the line of a JSON or YAML file where that value is
//! written, so that outputs can say `environment.json:176` and editors and code
//! review tools can jump there.
//!
//! Two small scanners walk the text and track the pointer of the value they are at:
//! for JSON, the keys and array indexes; for YAML, an indentation walk over block
//! mappings and sequences (flow collections and multi-line scalars count as one
//! value). When the pointer itself is not found, the line of its nearest parent that
//! is found is used; the document as a whole has no line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The 1-based line of `pointer` in `text` (JSON when it starts with `{` or `[`,
/// else YAML), or of its nearest parent found; `None` for the root or when nothing
/// of the pointer is found.
pub fn line_of(text: &str, pointer: &str) -> Option<usize> {
    lines_of(text, &[pointer])[0]
}

/// [`line_of`] for many pointers, in one walk of the text (an audit locates every
/// finding of a snapshot at once).
pub fn lines_of(text: &str, pointers: &[&str]) -> Vec<Option<usize>> {
    let targets: Vec<Vec<String>> = pointers
        .iter()
        .map(|pointer| segments(pointer).unwrap_or_default())
        .collect();
    let mut best = Best {
        targets: targets
            .iter()
            .map(|target| Target {
                target,
                depth: 0,
                line: None,
            })
            .collect(),
    };
    if targets.iter().any(|target| !target.is_empty()) {
        if text.trim_start().starts_with(['{', '[']) {
            Json::new(text).scan(&mut best);
        } else {
            yaml(text, &mut best);
        }
    }
    best.targets.into_iter().map(|target| target.line).collect()
}

/// Lines of the files of a check, each file read once and only when asked for.
#[derive(Debug, Default)]
pub struct Lines {
    texts: HashMap<PathBuf, Option<String>>,
}

impl Lines {
    pub fn new() -> Lines {
        Lines::default()
    }

    /// The line of `pointer` in the file at `path`; `None` for a folder, a file that
    /// cannot be read, or a pointer not found.
    pub fn line(&mut self, path: &Path, pointer: &str) -> Option<usize> {
        let text = self
            .texts
            .entry(path.to_owned())
            .or_insert_with(|| std::fs::read_to_string(path).ok());
        line_of(text.as_deref()?, pointer)
    }
}

/// The unescaped segments of an RFC 6901 pointer; `None` when it is not one.
fn segments(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// For each pointer, the deepest prefix found so far, and its line.
struct Best<'t> {
    targets: Vec<Target<'t>>,
}

struct Target<'t> {
    target: &'t [String],
    depth: usize,
    line: Option<usize>,
}

impl Best<'_> {
    /// A value at `path` starts on `line`.
    fn visit(&mut self, path: &[String], line: usize) {
        let depth = path.len();
        for target in &mut self.targets {
            if depth > target.depth
                && depth <= target.target.len()
                && path.iter().zip(target.target).all(|(a, b)| a == b)
            {
                target.depth = depth;
                target.line = Some(line);
            }
        }
    }

    fn done(&self) -> bool {
        self.targets
            .iter()
            .all(|target| target.depth == target.target.len())
    }
}

/// A forgiving JSON walker: it never fails, it stops where the text stops making sense.
struct Json<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
    line: usize,
}

impl<'a> Json<'a> {
    fn new(text: &'a str) -> Json<'a> {
        Json {
            bytes: text.as_bytes(),
            text,
            at: 0,
            line: 1,
        }
    }

    fn scan(mut self, best: &mut Best) {
        let mut path = Vec::new();
        self.value(&mut path, best);
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.at += 1;
        }
    }

    /// Walks one value; `false` when the walk should stop (the end, bad text or found).
    fn value(&mut self, path: &mut Vec<String>, best: &mut Best) -> bool {
        self.skip_space();
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b'}') => {
                            self.at += 1;
                            return true;
                        }
                        Some(b',') => self.at += 1,
                        Some(b'"') => {
                            let line = self.line;
                            let Some(key) = self.string() else {
                                return false;
                            };
                            self.skip_space();
                            if self.peek() != Some(b':') {
                                return false;
                            }
                            self.at += 1;
                            path.push(key);
                            best.visit(path, line);
                            let go_on = !best.done() && self.value(path, best);
                            path.pop();
                            if !go_on {
                                return false;
                            }
                        }
                        _ => return false,
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut index = 0usize;
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b']') => {
                            self.at += 1;
                            return true;
                        }
                        Some(b',') => self.at += 1,
                        Some(_) => {
                            path.push(index.to_string());
                            best.visit(path, self.line);
                            let go_on = !best.done() && self.value(path, best);
                            path.pop();
                            if !go_on {
                                return false;
                            }
                            index += 1;
                        }
                        None => return false,
                    }
                }
            }
            Some(b'"') => self.string().is_some(),
            Some(_) => {
                // A number or a literal: up to the next delimiter.
                let start = self.at;
                while let Some(byte) = self.peek() {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.at += 1;
                }
                self.at > start
            }
            None => false,
        }
    }

    /// Reads a string at `"`, returning its unescaped text.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.at += 1;
        let mut escaped = false;
        while let Some(byte) = self.peek() {
            self.at += 1;
            match byte {
                b'\\' => {
                    self.at += 1;
                    escaped = true;
                }
                b'"' => {
                    let raw = self.text.get(start..self.at)?;
                    return if escaped {
                        serde_json::from_str(raw).ok()
                    } else {
                        Some(raw[1..raw.len() - 1].to_owned())
                    };
                }
                b'\n' => return None,
                _ => {}
            }
        }
        None
    }
}

/// One node on the way down to the current YAML line.
struct Frame {
    /// The column of the key, or of the `-` of a sequence item.
    indent: usize,
    segment: String,
    /// For a sequence item, its index.
    item: Option<usize>,
}

/// The indentation walk over block-style YAML.
fn yaml(text: &str, best: &mut Best) {
    let mut stack: Vec<Frame> = Vec::new();
    // While inside a block scalar (`|`, `>`): the indentation it must exceed.
    let mut block_scalar: Option<usize> = None;
    for (number, raw) in text.lines().enumerate() {
        let line = number + 1;
        let content = raw.trim_start_matches(' ');
        let indent = raw.len() - content.len();
        let content = content.trim_end();
        if content.is_empty() {
            continue;
        }
        if let Some(parent) = block_scalar {
            if indent > parent {
                continue;
            }
            block_scalar = None;
        }
        if content.starts_with('#') || content.starts_with("---") || content.starts_with("...") {
            continue;
        }
        if content.starts_with('%') && indent == 0 {
            continue;
        }

        let mut column = indent;
        let mut rest = content;
        let mut first = true;
        loop {
            if rest == "-" || rest.starts_with("- ") {
                // A sequence item at `column`.
                let mut sibling = None;
                while let Some(top) = stack.last() {
                    if top.indent > column || (first && top.indent == column && top.item.is_some())
                    {
                        let popped = stack.pop().expect("a frame");
                        if popped.indent == column {
                            sibling = popped.item;
                        }
                    } else {
                        break;
                    }
                }
                let index = sibling.map_or(0, |index| index + 1);
                stack.push(Frame {
                    indent: column,
                    segment: index.to_string(),
                    item: Some(index),
                });
                visit(&stack, line, best);
                if best.done() {
                    return;
                }
                let after = &rest[1..];
                let value = after.trim_start_matches(' ');
                column += 1 + (after.len() - value.len());
                rest = value;
                first = false;
                if rest.is_empty() || rest.starts_with('#') {
                    break;
                }
                if is_block_scalar(rest) {
                    block_scalar = Some(column.saturating_sub(1));
                    break;
                }
                continue;
            }
            let Some((key, value)) = mapping_key(rest) else {
                break;
            };
            // A key at `column`: its siblings and their children end here.
            while stack.last().is_some_and(|top| top.indent >= column) {
                stack.pop();
            }
            stack.push(Frame {
                indent: column,
                segment: key,
                item: None,
            });
            visit(&stack, line, best);
            if best.done() {
                return;
            }
            if is_block_scalar(value) {
                block_scalar = Some(column);
            }
            break;
        }
    }
}

fn visit(stack: &[Frame], line: usize, best: &mut Best) {
    let path: Vec<String> = stack.iter().map(|frame| frame.segment.clone()).collect();
    best.visit(&path, line);
}

/// `|`, `>`, with chomping and indentation indicators, maybe a comment.
fn is_block_scalar(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars
            .take_while(|c| *c != '#')
            .all(|c| matches!(c, '+' | '-' | '0'..='9' | ' '))
}

/// Splits `key: value` (the key plain, single- or double-quoted) into the key and
/// the rest after the colon; `None` when the line is not a mapping key.
fn mapping_key(text: &str) -> Option<(String, &str)> {
    let (key, after) = match text.chars().next()? {
        '"' => {
            let end = closing_double_quote(text)?;
            let key: String = serde_json::from_str(&text[..=end]).ok()?;
            (key, &text[end + 1..])
        }
        '\'' => {
            let mut end = None;
            let bytes = text.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    end = Some(i);
                    break;
                }
                i += 1;
            }
            let end = end?;
            (text[1..end].replace("''", "'"), &text[end + 1..])
        }
        '[' | '{' | '&' | '*' | '!' | '|' | '>' | '?' => return None,
        _ => {
            let colon = plain_key_end(text)?;
            (text[..colon].trim_end().to_owned(), &text[colon..])
        }
    };
    let after = after.trim_start_matches(' ');
    let value = after.strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with(' ') || value.starts_with('\t')) {
        return None;
    }
    Some((key, value.trim_start()))
}

/// The index of the `"` that closes a double-quoted scalar starting at 0.
fn closing_double_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Where a plain key ends: the first `:` followed by a space or the end of the line.
fn plain_key_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        match byte {
            b':' if matches!(bytes.get(i + 1), None | Some(b' ' | b'\t')) => return Some(i),
            b'#' if i > 0 && bytes[i - 1] == b' ' => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const JSON: &str = r#"{
  "environment": {
    "id": "0a7d",
    "name": "a \"quoted\" ~ name/with slash"
  },
  "maps": [
    { "name": "Contacts", "state": "Running" },
    {
      "name": "Products",
      "state": "Paused"
    }
  ],
  "a/b": 1,
  "m~n": [1, [2, 3]],
  "empty": {}
}
"#;

    #[test]
    fn json_pointers_find_their_lines() {
        assert_eq!(line_of(JSON, "/environment"), Some(2));
        assert_eq!(line_of(JSON, "/environment/id"), Some(3));
        assert_eq!(line_of(JSON, "/environment/name"), Some(4));
        assert_eq!(line_of(JSON, "/maps"), Some(6));
        assert_eq!(line_of(JSON, "/maps/0"), Some(7));
        assert_eq!(line_of(JSON, "/maps/0/state"), Some(7));
        assert_eq!(line_of(JSON, "/maps/1"), Some(8));
        assert_eq!(line_of(JSON, "/maps/1/state"), Some(10));
        assert_eq!(line_of(JSON, "/a~1b"), Some(13));
        assert_eq!(line_of(JSON, "/m~0n/1/0"), Some(14));
    }

    #[test]
    fn json_falls_back_to_the_nearest_parent() {
        assert_eq!(line_of(JSON, "/maps/7/state"), Some(6));
        assert_eq!(line_of(JSON, "/maps/1/missing"), Some(8));
        assert_eq!(line_of(JSON, "/empty/x"), Some(15));
        assert_eq!(line_of(JSON, "/nothing/here"), None);
        assert_eq!(line_of(JSON, ""), None);
        assert_eq!(line_of(JSON, "no-slash"), None);
    }

    const YAML: &str = "\
# a comment
schemaVersion: 1
environment:
  id: 0a7d   # trailing comment
  \"display name\": 'it''s'
  notes: |
    maps:
      - not: a key
  after: 2
maps:
- name: Contacts
  state: Running
- name: Products
  state: Paused
  tags:
    - a
    -
      deep: true
solutions:
  - uniqueName: Core
    version: 1.0
  - - nested
    - list
url: https://example.com:443/x
";

    #[test]
    fn yaml_pointers_find_their_lines() {
        assert_eq!(line_of(YAML, "/schemaVersion"), Some(2));
        assert_eq!(line_of(YAML, "/environment"), Some(3));
        assert_eq!(line_of(YAML, "/environment/id"), Some(4));
        assert_eq!(line_of(YAML, "/environment/display name"), Some(5));
        assert_eq!(line_of(YAML, "/environment/notes"), Some(6));
        assert_eq!(line_of(YAML, "/environment/after"), Some(9));
        assert_eq!(line_of(YAML, "/maps"), Some(10));
        assert_eq!(line_of(YAML, "/maps/0"), Some(11));
        assert_eq!(line_of(YAML, "/maps/0/state"), Some(12));
        assert_eq!(line_of(YAML, "/maps/1"), Some(13));
        assert_eq!(line_of(YAML, "/maps/1/state"), Some(14));
        assert_eq!(line_of(YAML, "/maps/1/tags/1"), Some(17));
        assert_eq!(line_of(YAML, "/maps/1/tags/1/deep"), Some(18));
        assert_eq!(line_of(YAML, "/solutions/0/version"), Some(21));
        assert_eq!(line_of(YAML, "/solutions/1/0"), Some(22));
        assert_eq!(line_of(YAML, "/solutions/1/1"), Some(23));
        assert_eq!(line_of(YAML, "/url"), Some(24));
    }

    #[test]
    fn yaml_falls_back_to_the_nearest_parent() {
        assert_eq!(line_of(YAML, "/maps/5/state"), Some(10));
        assert_eq!(line_of(YAML, "/environment/notes/maps"), Some(6));
        assert_eq!(line_of(YAML, "/missing"), None);
    }
}
