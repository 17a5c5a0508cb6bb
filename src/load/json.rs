//! A JSON value with its path, so every error can say where it is.
//!
//! Inputs that are translated into ARM resources first (Terraform plans, ARM templates, az
//! CLI outputs) carry [`Origins`]: which JSON path of the original file each part of the
//! translation came from, so errors still point into the file the user wrote.

use crate::error::{Error, Location};
use serde_json::Value;
use std::path::Path;

/// One step of a JSON path: a key (`K` borrowed or owned) or an index.
#[derive(Clone, Copy)]
pub(crate) enum Step<K> {
    Key(K),
    Index(usize),
}

/// A JSON path as [`Node::path`] writes it: `value[3].properties.priority`.
pub(crate) fn path_text<K: AsRef<str>>(path: &[Step<K>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k.as_ref()),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k.as_ref());
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A JSON value inside a file, with the JSON path that leads to it.
#[derive(Clone)]
pub struct Node<'a> {
    /// The value.
    pub value: &'a Value,
    /// JSON path from the file's root (`value[3].properties.priority`).
    pub path: String,
    /// The file.
    pub file: &'a Path,
    /// For a translated value: where its parts came from in `file`.
    pub origins: Option<&'a Origins>,
}

/// Where the parts of a translated value came from: (path in the translation, path in the
/// original file) pairs; a location maps through the longest pair whose first path is a
/// prefix of it.
#[derive(Clone, Debug, Default)]
pub struct Origins(Vec<(String, String)>);

impl Origins {
    /// Records that the translation's `translated` path came from `original`.
    pub fn add(&mut self, translated: impl Into<String>, original: impl Into<String>) {
        self.0.push((translated.into(), original.into()));
    }

    /// The original path of a path into the translation (the rest of the path is kept).
    pub fn map(&self, path: &str) -> String {
        let at_boundary = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        match self
            .0
            .iter()
            .filter(|(t, _)| at_boundary(t))
            .max_by_key(|(t, _)| t.len())
        {
            Some((t, o)) => {
                let rest = &path[t.len()..];
                if o.is_empty() {
                    rest.trim_start_matches('.').to_string()
                } else {
                    format!("{o}{rest}")
                }
            }
            None => path.to_string(),
        }
    }
}

impl<'a> Node<'a> {
    /// The root of a file.
    pub fn root(value: &'a Value, file: &'a Path) -> Node<'a> {
        Node {
            value,
            path: String::new(),
            file,
            origins: None,
        }
    }

    /// The root of a translation of `file` (a plan, a template), with where its parts came
    /// from.
    pub fn translated(value: &'a Value, file: &'a Path, origins: &'a Origins) -> Node<'a> {
        Node {
            origins: Some(origins),
            ..Node::root(value, file)
        }
    }

    /// This node's location, for messages: a path in the file as the user wrote it.
    pub fn location(&self) -> Location {
        Location {
            file: self.file.to_path_buf(),
            path: self
                .origins
                .map_or_else(|| self.path.clone(), |o| o.map(&self.path)),
        }
    }

    /// An error at this node.
    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::invalid(self.location(), message)
    }

    fn child(&self, value: &'a Value, step: String) -> Node<'a> {
        let path = if self.path.is_empty() || step.starts_with('[') {
            format!("{}{step}", self.path)
        } else {
            format!("{}.{step}", self.path)
        };
        Node {
            value,
            path,
            file: self.file,
            origins: self.origins,
        }
    }

    /// A member by key: exact spelling first, then case-insensitively; JSON `null` counts
    /// as absent.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let obj = self.value.as_object()?;
        let (k, v) = obj
            .get_key_value(key)
            .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))?;
        (!v.is_null()).then(|| self.child(v, k.clone()))
    }

    /// The keys of an object, as written (none for anything else).
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.value
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys().map(String::as_str))
    }

    /// Follows a dotted path of keys (`properties.addressSpace.addressPrefixes`).
    pub fn at(&self, dotted: &str) -> Option<Node<'a>> {
        dotted
            .split('.')
            .try_fold(self.clone(), |node, key| node.get(key))
    }

    /// The elements of an array member; absent means empty, anything else is an error.
    pub fn array(&self, dotted: &str) -> Result<Vec<Node<'a>>, Error> {
        match self.at(dotted) {
            None => Ok(Vec::new()),
            Some(n) => n.elements(),
        }
    }

    /// This node's elements, when it is an array.
    pub fn elements(&self) -> Result<Vec<Node<'a>>, Error> {
        match self.value {
            Value::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| self.child(v, format!("[{i}]")))
                .collect()),
            _ => Err(self.error("expected an array")),
        }
    }

    /// This node as a string.
    pub fn as_str(&self) -> Result<&'a str, Error> {
        self.value
            .as_str()
            .ok_or_else(|| self.error("expected a string"))
    }

    /// An optional string member.
    pub fn opt_str(&self, dotted: &str) -> Result<Option<&'a str>, Error> {
        self.at(dotted).map(|n| n.as_str()).transpose()
    }

    /// A required string member.
    pub fn req_str(&self, dotted: &str) -> Result<&'a str, Error> {
        self.opt_str(dotted)?
            .ok_or_else(|| self.error(format!("missing required field `{dotted}`")))
    }

    /// This node as one of `allowed`, matched case-insensitively as ARM does, in `allowed`'s
    /// spelling: an enum field that gates what applies (a manager's accesses, a deployment's
    /// type and status) must not turn a typo into "does not apply" without a word.
    pub fn one_of(&self, allowed: &[&'static str], what: &str) -> Result<&'static str, Error> {
        let text = self.as_str()?;
        crate::model::enum_value(allowed, text).ok_or_else(|| {
            self.error(format!(
                "`{text}` is not {what}: expected {}",
                allowed.join(", ")
            ))
        })
    }

    /// A list of strings: an array of strings (absent = empty).
    pub fn str_list(&self, dotted: &str) -> Result<Vec<&'a str>, Error> {
        self.array(dotted)?.iter().map(|n| n.as_str()).collect()
    }

    /// The `id` of an `{ "id": ... }` reference member.
    pub fn ref_id(&self, dotted: &str) -> Result<Option<&'a str>, Error> {
        match self.at(dotted) {
            None => Ok(None),
            Some(n) => n.opt_str("id"),
        }
    }

    /// A boolean written as JSON `true` or as the strings `"True"`/`"False"` (AVNM uses both).
    pub fn flag(&self, dotted: &str) -> Result<bool, Error> {
        match self.at(dotted) {
            None => Ok(false),
            Some(n) => match n.value {
                Value::Bool(b) => Ok(*b),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
                _ => Err(n.error("expected true or false")),
            },
        }
    }

    /// Tags: an object of strings (absent = none).
    pub fn tags(&self, dotted: &str) -> Result<crate::model::Tags, Error> {
        let Some(n) = self.at(dotted) else {
            return Ok(Default::default());
        };
        let obj = n
            .value
            .as_object()
            .ok_or_else(|| n.error("expected an object of tags"))?;
        Ok(obj
            .iter()
            .map(|(k, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), text)
            })
            .collect())
    }
}
