//! DSL errors: where (file, line, column), what was found, what was expected, and a
//! compiler-style rendering with the offending text underlined.

use std::fmt;
use std::path::PathBuf;

/// One mistake in a DSL file.
#[derive(Clone, Debug, PartialEq, Eq)]
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

impl fmt::Display for DslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        // Tabs would break the alignment of the underline: show them as one space.
        let shown: String = self
            .source_line
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        writeln!(f, "{pad} |")?;
        writeln!(f, "{number} | {shown}")?;
        let width = self.found.chars().count().max(1);
        write!(
            f,
            "{pad} | {}{}",
            " ".repeat(self.column.saturating_sub(1)),
            "^".repeat(width)
        )
    }
}

impl std::error::Error for DslError {}

/// Every mistake found in one run, in file order; never empty when returned as an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DslErrors(pub Vec<DslError>);

impl DslErrors {
    /// The errors.
    pub fn errors(&self) -> &[DslError] {
        &self.0
    }
}

impl fmt::Display for DslErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DslErrors {}

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
