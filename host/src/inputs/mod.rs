//! Input documents and settings: read once, parsed once, with errors that name the
//! file and the place in it.

pub mod raw;
pub mod schema;
pub mod site;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An input document as read from a file.
#[derive(Clone, Debug)]
pub struct Input {
    /// The document's name: `environment`, `site`, ...
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub value: Arc<Value>,
}

/// Why an input could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not valid {format} (line {line}, column {column}): {message}")]
    Syntax {
        path: PathBuf,
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("`{path}`: {message}")]
    Shape { path: PathBuf, message: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

impl Format {
    /// By extension; otherwise by the first character (`{` or `[` is JSON).
    fn of(path: &Path, text: &str) -> Format {
        match path.extension().and_then(|ext| ext.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            _ if text.trim_start().starts_with(['{', '[']) => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Parses JSON or YAML text into a JSON value, with the place of any error.
pub fn parse(path: &Path, text: &str) -> Result<Value, InputError> {
    match Format::of(path, text) {
        Format::Json => serde_json::from_str(text).map_err(|err| InputError::Syntax {
            path: path.to_owned(),
            format: "JSON",
            line: err.line(),
            column: err.column(),
            message: strip_position(&err.to_string()),
        }),
        Format::Yaml => serde_yaml_ng::from_str(text).map_err(|err| {
            let (line, column) = err
                .location()
                .map_or((0, 0), |loc| (loc.line(), loc.column()));
            InputError::Syntax {
                path: path.to_owned(),
                format: "YAML",
                line,
                column,
                message: strip_position(&err.to_string()),
            }
        }),
    }
}

/// serde's messages end with " at line X column Y"; we print the place ourselves.
pub(crate) fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Whether a file is read as JSON (by its extension, else by its first character).
pub fn is_json(path: &Path, text: &str) -> bool {
    Format::of(path, text) == Format::Json
}

/// The sha256 of a file's bytes, and its text.
pub fn read(path: &Path) -> Result<(String, String), InputError> {
    // Neither `fs::read` nor `File::read_to_end`: both ask for the file's size and
    // position first (a `statx` and an `lseek` per file, a tenth of an audit's system
    // time), and then read in growing steps from 8 KiB. Here a snapshot (about
    // 11 KB) takes one read and the read that finds the end, into a buffer that is
    // not zeroed first (zeroing 16 KiB per file was about 2 % of an audit).
    let read = || -> std::io::Result<Vec<u8>> {
        let mut file = std::fs::File::open(path)?;
        let mut bytes: Vec<u8> = Vec::with_capacity(16 * 1024);
        loop {
            if bytes.len() == bytes.capacity() {
                bytes.reserve(bytes.capacity());
            }
            if read_into_spare(&mut file, &mut bytes)? == 0 {
                break;
            }
        }
        Ok(bytes)
    };
    let bytes = read().map_err(|source| InputError::Read {
        path: path.to_owned(),
        source,
    })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|err| InputError::Shape {
        path: path.to_owned(),
        message: format!("not UTF-8 text (byte {})", err.utf8_error().valid_up_to()),
    })?;
    Ok((sha256, text))
}

/// One `read` into the vector's unused capacity; the bytes read are added to it.
#[cfg(unix)]
fn read_into_spare(file: &mut std::fs::File, bytes: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = bytes.spare_capacity_mut();
    let (at, room) = (spare.as_mut_ptr(), spare.len());
    loop {
        // SAFETY: `read` writes at most `room` bytes at `at`, the vector's unused
        // capacity, which nothing else refers to while it runs.
        let n = unsafe { libc::read(file.as_raw_fd(), at.cast(), room) };
        if let Ok(n) = usize::try_from(n) {
            // SAFETY: the first `n` bytes of the spare capacity are now written.
            unsafe { bytes.set_len(bytes.len() + n) };
            return Ok(n);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// [`read_into_spare`] where there is no `read` to call: through a zeroed buffer.
#[cfg(not(unix))]
fn read_into_spare(file: &mut std::fs::File, bytes: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::io::Read;
    let len = bytes.len();
    bytes.resize(bytes.capacity(), 0);
    let read = loop {
        match file.read(&mut bytes[len..]) {
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            other => break other,
        }
    };
    bytes.truncate(len + *read.as_ref().unwrap_or(&0));
    read
}

/// Reads a document (JSON or YAML file) whose root must be an object.
pub fn load_document(name: &str, path: &Path) -> Result<Input, InputError> {
    let (sha256, text) = read(path)?;
    document_from_text(name, path, sha256, &text)
}

/// A document from the text of its file (read with [`read`]).
pub fn document_from_text(
    name: &str,
    path: &Path,
    sha256: String,
    text: &str,
) -> Result<Input, InputError> {
    let value = parse(path, text)?;
    if !value.is_object() {
        return Err(InputError::Shape {
            path: path.to_owned(),
            message: format!("the {name} document must be an object at the top level"),
        });
    }
    Ok(Input {
        name: name.to_owned(),
        path: path.to_owned(),
        sha256,
        value: Arc::new(value),
    })
}

/// Settings: an object whose keys are policy names and values the policy's settings.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub path: Option<PathBuf>,
    pub sha256: Option<String>,
    pub by_policy: BTreeMap<String, Value>,
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings, InputError> {
        let (sha256, text) = read(path)?;
        let value = parse(path, &text)?;
        let Value::Object(members) = value else {
            return Err(InputError::Shape {
                path: path.to_owned(),
                message: "settings must be an object whose keys are policy names".into(),
            });
        };
        Ok(Settings {
            path: Some(path.to_owned()),
            sha256: Some(sha256),
            by_policy: members.into_iter().collect(),
        })
    }

    /// The settings of one policy as JSON text (`{}` when none were given).
    pub fn for_policy(&self, name: &str) -> String {
        self.by_policy
            .get(name)
            .map_or_else(|| "{}".to_owned(), Value::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_gives_every_byte_of_files_smaller_and_larger_than_its_first_read() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 100_000] {
            let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let path = dir.path().join(format!("{len}.json"));
            std::fs::write(&path, &text).unwrap();
            let (sha256, read) = read(&path).unwrap();
            assert_eq!(read, text, "{len} bytes");
            assert_eq!(sha256, hex::encode(Sha256::digest(text.as_bytes())));
        }
    }
}
