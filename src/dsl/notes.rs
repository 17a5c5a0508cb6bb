//! Comments and blank lines, kept across [`super::format`].
//!
//! ARM JSON has no comments, so they cannot ride along with the resources. Instead the
//! parser files each comment under a key naming the statement it precedes (or follows on
//! the same line, or closes a block before): the statement's resource id, or a key built
//! from its owner and position for statements without one (a peering, a condition line, a
//! deployment). The printer looks the same keys up as it writes each statement.

use std::collections::HashMap;

/// What surrounds one statement in the source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Note {
    /// A blank line came before it (or before its leading comments).
    pub blank_before: bool,
    /// Comment lines right above it, `#` included, indentation removed; an empty string
    /// stands for a blank line among them.
    pub leading: Vec<String>,
    /// A comment at the end of its line, `#` included.
    pub trailing: Option<String>,
}

impl Note {
    /// True when there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        !self.blank_before && self.leading.is_empty() && self.trailing.is_none()
    }
}

/// Notes by statement key.
#[derive(Clone, Debug, Default)]
pub struct Notes {
    map: HashMap<String, Note>,
}

impl Notes {
    /// Files a note (merging with one already filed under the key).
    pub fn add(&mut self, key: String, note: Note) {
        if note.is_empty() {
            return;
        }
        let entry = self.map.entry(key).or_default();
        entry.blank_before |= note.blank_before;
        entry.leading.extend(note.leading);
        if note.trailing.is_some() {
            entry.trailing = note.trailing;
        }
    }

    /// The note filed under `key`.
    pub fn get(&self, key: &str) -> Option<&Note> {
        self.map.get(key)
    }
}

/// Keys, built the same way by the parser and the printer.
pub mod key {
    /// A declared resource, by id.
    pub fn id(id: &str) -> String {
        id.to_lowercase()
    }

    /// Comments before the `}` that closes `owner`'s block.
    pub fn end(owner: &str) -> String {
        format!("{owner}#end")
    }

    /// An `in` block, by the id prefix it gives.
    pub fn context(prefix: &str) -> String {
        format!("in:{}", prefix.to_lowercase())
    }

    /// The `n`-th statement of a kind that has no id in its file (deployment, arm, include).
    pub fn nth(kind: &str, n: usize) -> String {
        format!("{kind}#{n}")
    }

    /// The `n`-th child line of a kind inside `owner` (peering, applies-to).
    pub fn child(owner: &str, kind: &str, n: usize) -> String {
        format!("{owner}#{kind}#{n}")
    }

    /// The condition block of `owner` (a group or a policy definition).
    pub fn condition(owner: &str) -> String {
        format!("{owner}#where")
    }

    /// The end of the file.
    pub const EOF: &str = "#eof";
}
