//! DSL errors: where (file, line, column), what was found, what was expected, and a
//! compiler-style rendering with the offending text underlined.

use std::path::PathBuf;

/// One mistake in a DSL file. Its `Display` is a compiler-style message: the place, what
/// is wrong, and the line with the offending text underlined.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}\n{}", .file.display(), snippet(*.line, *.column, .found, .source_line))]
pub struct DslError {
    /// The file (as given, or as an `include` named it).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters) of the offending text.
    pub column: usize,
    /// The offending text (empty when something is missing at the end of a line).
    pub found: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// The whole source line, for the rendering.
    pub source_line: String,
}

/// The source line with `found` underlined at `column`.
fn snippet(line: usize, column: usize, found: &str, source_line: &str) -> String {
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    // Tabs would break the alignment of the underline: show them as one space.
    let shown: String = source_line
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    let width = found.chars().count().max(1);
    format!(
        "{pad} |\n{number} | {shown}\n{pad} | {}{}",
        " ".repeat(column.saturating_sub(1)),
        "^".repeat(width)
    )
}

/// Every mistake found in one run, in file order; never empty when returned as an error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", all(.0))]
pub struct DslErrors(pub Vec<DslError>);

impl DslErrors {
    /// The errors.
    pub fn errors(&self) -> &[DslError] {
        &self.0
    }
}

/// Each error's rendering, a blank line between them.
fn all(errors: &[DslError]) -> String {
    errors
        .iter()
        .map(DslError::to_string)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// For the loader: the DSL's errors as one [`crate::Error`] naming the first file, with
/// every error rendered in the message.
impl From<DslErrors> for crate::Error {
    fn from(errors: DslErrors) -> crate::Error {
        let file = errors.0.first().map(|e| e.file.clone()).unwrap_or_default();
        let count = errors.0.len();
        let noun = if count == 1 { "error" } else { "errors" };
        crate::Error::invalid(
            crate::error::Location {
                file,
                path: String::new(),
            },
            format!("{count} {noun} in the secpath DSL:\n{errors}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_compiler() {
        let e = DslError {
            file: "rules.secpath".into(),
            line: 3,
            column: 11,
            found: "99999".into(),
            message: "`99999` is not a port".into(),
            source_line: "\tports 22,99999".into(),
        };
        let text = e.to_string();
        assert_eq!(
            text,
            "rules.secpath:3:11: `99999` is not a port\n  |\n3 |  ports 22,99999\n  |           ^^^^^"
        );
    }
}
