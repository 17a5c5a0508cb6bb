//! The library's error type: every bad input names where it came from.
//!
//! Errors carry the file and the JSON path (or the flow text) and say what was expected, so
//! the CLI can print one clear line and exit 2. The library never panics on input.

use std::path::PathBuf;

/// Where in the input a problem sits: a file and a JSON path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as given on the command line (or found in a directory).
    pub file: PathBuf,
    /// A JSON path such as `value[2].properties.securityRules[0].properties.priority`; for a
    /// rule or assignment written in the secpath DSL, the line of the statement that wrote it
    /// (``line 7, the `nsg` statement``), the loader's JSON being none the user wrote.
    pub path: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}: {}", self.file.display(), self.path)
        }
    }
}

/// Everything that can go wrong between reading input and producing a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The path that failed.
        file: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file is not valid JSON.
    #[error("{}:{line}:{column}: malformed JSON: {message}", file.display())]
    Json {
        /// The file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// A value in a resource is invalid (bad port, bad CIDR, duplicate priority, unknown
    /// service tag, dangling reference, ...).
    #[error("{location}: {message}")]
    Invalid {
        /// Where the value is.
        location: Location,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The flow given on the command line or in a file does not parse.
    #[error("flow `{}`: {}", visible(.text), visible(.message))]
    Flow {
        /// The flow text as given.
        text: String,
        /// What was expected.
        message: String,
    },
    /// An endpoint cannot be placed: ambiguous address, bad pin.
    #[error("{0}")]
    Endpoint(String),
    /// A command-line argument outside the flow is invalid (e.g. an unknown pin id).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(location: Location, message: impl Into<String>) -> Error {
        Error::Invalid {
            location,
            message: message.into(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `text` with its control characters escaped (`\u{1}`), so that a flow pasted with a stray
/// one shows it instead of printing it to the terminal.
pub(crate) fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}
