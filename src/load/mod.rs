//! Reading snapshots: files and directories of ARM JSON into a linked [`Snapshot`].
//!
//! Reading happens in two passes. [`arm`] turns every resource, wherever it sits (a single
//! object, an array, `{"value": [...]}`, `{"data": [...]}`, a REST example's response body,
//! or nested inside its parent), into a flat record that names its parent by id. [`link`]
//! then joins children to parents and references to indices, and rejects dangling ones. So
//! nested and flat child resources are one code path, and order across files never matters.

mod arm;
pub mod json;
mod link;

use crate::error::{Error, Result};
use crate::model::Snapshot;
use json::Node;
use std::path::{Path, PathBuf};

/// Reads one or more snapshot files or directories (searched recursively for `*.json` and
/// `*.secpath`).
pub fn load_snapshot(paths: &[PathBuf]) -> Result<Snapshot> {
    let mut texts = Vec::new();
    for file in expand(paths)? {
        let text = read_text(&file)?;
        texts.push((file, text));
    }
    load_texts(&texts)
}

/// Reads snapshot texts already in memory, each named by the file it stands for (ARM JSON,
/// or the DSL by extension or content).
pub fn load_texts(texts: &[(PathBuf, String)]) -> Result<Snapshot> {
    let mut records = arm::Records::default();
    for (file, text) in texts {
        let value = if crate::dsl::is_dsl(file, text) {
            serde_json::Value::Array(crate::dsl::parse(text, file)?)
        } else {
            parse_json(file, text)?
        };
        records.read_file(Node::root(&value, file))?;
    }
    link::link(records)
}

/// The largest text input read whole (a snapshot, a DSL file, a hits file): 512 MiB, several
/// times a Resource Graph export of a large estate. A larger file is refused before it is
/// read, so a hostile or mistaken input cannot exhaust memory.
pub const MAX_TEXT_BYTES: u64 = 512 << 20;

/// Reads a whole text file of at most [`MAX_TEXT_BYTES`]; the error names the file.
pub fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let io = |source| Error::Io {
        file: path.to_path_buf(),
        source,
    };
    let too_large = || {
        io(std::io::Error::other(format!(
            "larger than the {} MiB a text input may be",
            MAX_TEXT_BYTES >> 20
        )))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    // The size can change after the check (a pipe, a growing file): cap the read itself.
    file.take(MAX_TEXT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

/// Parses JSON text, reporting line and column on failure. A UTF-8 byte-order mark (as
/// some Windows tools write) is skipped.
pub fn parse_json(file: &Path, text: &str) -> Result<serde_json::Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str(text).map_err(|e| Error::Json {
        file: file.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// The files named by `paths`: files as given, directories searched recursively for
/// `*.json` in name order (so results don't depend on the file system's order).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            file: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            out.extend(without_included(found));
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::Io {
        file: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, out)?;
        } else if entry
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("secpath"))
        {
            out.push(entry);
        }
    }
    Ok(())
}

/// Drops the DSL files that another file of the set `include`s: the including file reads
/// them, so loading them again would declare everything twice.
fn without_included(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut included = std::collections::HashSet::new();
    for file in files.iter().filter(|f| {
        f.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("secpath"))
    }) {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix("include") else {
                continue;
            };
            if let Some(name) = rest
                .trim()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
            {
                let target = file.parent().unwrap_or(Path::new(".")).join(name);
                included.insert(target.canonicalize().unwrap_or(target));
            }
        }
    }
    files
        .into_iter()
        .filter(|f| !included.contains(&f.canonicalize().unwrap_or_else(|_| f.clone())))
        .collect()
}
