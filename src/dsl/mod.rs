//! The secpath DSL: a compact text form of an ARM snapshot, for rule sets written by hand
//! (SEMANTICS §1.2; the full reference with an example of every construct is `docs/dsl.md`).
//!
//! ```text
//! subscription 11111111-0000-4000-8000-000000000001 name "Prod" {
//!   resource-group rg-net {
//!     vnet hub region westeurope {
//!       address-space 10.0.0.0/16
//!       subnet web prefix 10.0.1.0/24 nsg web-nsg
//!     }
//!     nsg web-nsg {
//!       inbound 100 deny tcp from Internet to 10.0.1.0/24 ports 22,3389 name block-mgmt
//!     }
//!   }
//! }
//! ```
//!
//! **Design.** The DSL is another spelling of ARM JSON, not another model: [`parse()`]
//! compiles text to the ARM resource objects the loader reads (`crate::load`), and
//! [`to_dsl`] writes ARM resources back as text. A `.secpath` file therefore goes through the
//! same loader as JSON, and every command gives the same answer on both forms by
//! construction. Conversion is lossless for everything the loader reads
//! (`docs/snapshot.md`): ARM → DSL → ARM yields JSON the loader turns into the same model,
//! with resources in the same order. What the DSL cannot say (an unknown resource type, a
//! value the loader would reject) is kept verbatim as an `arm {...}` line.
//!
//! **Pipeline.** [`lex`] splits a line into tokens (nom); [`mod@parse`] reads statements line by
//! line into items, resolves names to ids ([`refs`]) and writes ARM JSON ([`item`]); [`read`]
//! reads ARM JSON into the same items and [`mod@print`] writes them as canonical text.
//!
//! **Guarantees.** Parsing never panics; every line that can be checked on its own is, and
//! each bad line gives an error with file, line, column, the offending text and what was
//! expected ([`DslError`]). [`format()`] is canonical and idempotent:
//! `format(format(x)) == format(x)`.

pub mod cond;
pub mod cursor;
pub mod error;
pub mod item;
pub mod lex;
pub mod notes;
pub mod parse;
pub mod print;
pub mod read;
pub mod refs;

pub use error::{DslError, DslErrors};
pub use parse::Origin;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Parses DSL text into ARM resources (the shapes the loader reads). `file` names the text
/// in errors and anchors `include` paths.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Value>, DslErrors> {
    Ok(parse::parse(text, file)?.values)
}

/// [`parse()`], with where each resource was written: errors the loader finds in a resource
/// (a duplicate address, an unknown service tag) can then name the DSL line, not a position
/// in JSON the user never saw.
pub fn parse_located(text: &str, file: &Path) -> Result<(Vec<Value>, Vec<Origin>), DslErrors> {
    let doc = parse::parse(text, file)?;
    Ok((doc.values, doc.origins))
}

/// Writes ARM resources as canonical DSL text. Each value may be a resource or any container
/// the loader accepts (an array, `{"value": [...]}`, `{"data": [...]}`, a REST example).
pub fn to_dsl(resources: &[Value]) -> String {
    let items = read::read(resources);
    let decls = refs::Decls::of(&items);
    print::print_document(
        &[print::Part::Items(items)],
        &decls,
        &notes::Notes::default(),
    )
}

/// Rewrites DSL text in canonical form: what [`to_dsl`] writes for what [`parse()`] reads,
/// keeping the file's comments, its blank lines between statements, and its `include`s
/// (the included files are read for the names they declare, not rewritten). Without
/// comments and includes, `format(text) == to_dsl(parse(text))`.
pub fn format(text: &str, file: &Path) -> Result<String, DslErrors> {
    let doc = parse::parse(text, file)?;
    let everything = read::read(&doc.values);
    let decls = refs::Decls::of(&everything);
    let parts: Vec<print::Part> = doc
        .parts
        .iter()
        .map(|p| match p {
            parse::Part::Values(values) => print::Part::Items(read::read(values)),
            parse::Part::Include(name) => print::Part::Include(name.clone()),
        })
        .collect();
    Ok(print::print_document(&parts, &decls, &doc.notes))
}

/// Every resource of snapshot files and directories (searched for `*.json`, like
/// `--snapshot`), DSL or JSON, as ARM values in one flat list: what `secpath convert`
/// converts, either way (`to_dsl` of it, or the list itself as JSON).
pub fn load_resources(paths: &[PathBuf]) -> crate::Result<Vec<Value>> {
    let mut out = Vec::new();
    for file in crate::load::expand(paths)? {
        let text = crate::load::read_text(&file)?;
        if is_dsl(&file, &text) {
            out.extend(parse(&text, &file)?);
        } else {
            let value = crate::load::parse_json(&file, &text)?;
            out.extend(read::resources(std::slice::from_ref(&value)));
        }
    }
    Ok(out)
}

/// True when a snapshot file is DSL rather than JSON: by extension (`.secpath`; `.json` is
/// JSON), otherwise by content (JSON starts with `{` or `[`).
pub fn is_dsl(file: &Path, text: &str) -> bool {
    match file.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("secpath") => true,
        Some(e) if e.eq_ignore_ascii_case("json") => false,
        _ => !text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with(['{', '[']),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_extension_then_content() {
        assert!(is_dsl(Path::new("a.secpath"), "{"));
        assert!(!is_dsl(Path::new("a.json"), "vnet x"));
        assert!(is_dsl(Path::new("rules.txt"), "# comment\nvnet x"));
        assert!(!is_dsl(Path::new("snapshot"), "\u{feff}  [ ]"));
    }
}
