//! ARM resource ids, compared the way Azure compares them.

use std::fmt;
use std::sync::Arc;

/// An ARM resource id. Equality, ordering and hashing ignore case, a leading `/` and a
/// trailing `/`, because Azure treats ids case-insensitively and its own REST examples
/// write the same id with and without the leading slash.
///
/// Cloning is cheap (one shared allocation): decisions carry the deciding rule's id, and
/// engines hand out millions of them.
#[derive(Clone)]
pub struct ResourceId(Arc<IdText>);

struct IdText {
    text: String,
    key: String,
    /// The key's hash, computed once: ids key the hit tables of replay and audit.
    hash: u64,
    /// Where the name (the last segment) starts in `text`: replay asks for rule names once a
    /// record.
    name: std::ops::Range<usize>,
}

impl ResourceId {
    /// Wraps an id as written.
    pub fn new(text: &str) -> ResourceId {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let trimmed = text.trim().trim_matches('/');
        let key = format!("/{}", trimmed.to_ascii_lowercase());
        let hash = BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(&key);
        let text = text.trim().to_string();
        let end = text.trim_end_matches('/').len();
        let start = text[..end].rfind('/').map_or(0, |i| i + 1);
        ResourceId(Arc::new(IdText {
            text,
            key,
            hash,
            name: start..end,
        }))
    }

    /// The id of the child `name` in collection `segment` (`subnets`, `securityRules`):
    /// built from the id as written, without its trailing `/`, which ids may carry.
    pub fn child(&self, segment: &str, name: &str) -> ResourceId {
        let parent = self.0.text.trim_end_matches('/');
        ResourceId::new(&format!("{parent}/{segment}/{name}"))
    }

    /// The id as written in the input.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// The normalised (lower-case, one leading slash) form used for comparison.
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// The last path segment: the resource's own name.
    pub fn name(&self) -> &str {
        &self.0.text[self.0.name.clone()]
    }

    /// The id of the parent resource (two segments up), if the id has one.
    pub fn parent(&self) -> Option<ResourceId> {
        let t = self.0.text.trim_end_matches('/');
        let cut = t.rfind('/')?;
        let cut = t[..cut].rfind('/')?;
        (cut > 0).then(|| ResourceId::new(&t[..cut]))
    }

    /// The subscription id in `/subscriptions/{id}/...`, if present.
    pub fn subscription(&self) -> Option<&str> {
        self.segment_after("subscriptions")
    }

    /// The resource group name in `.../resourceGroups/{name}/...`, if present.
    pub fn resource_group(&self) -> Option<&str> {
        self.segment_after("resourcegroups")
    }

    /// The management group name in `.../managementGroups/{name}...`, if present.
    pub fn management_group(&self) -> Option<&str> {
        self.segment_after("managementgroups")
    }

    fn segment_after(&self, word: &str) -> Option<&str> {
        let mut parts = self.0.text.split('/').filter(|s| !s.is_empty());
        while let Some(p) = parts.next() {
            if p.eq_ignore_ascii_case(word) {
                return parts.next();
            }
        }
        None
    }

    /// True when `self` is `other` or lies below it (`/subscriptions/s` contains every
    /// resource of that subscription).
    pub fn is_within(&self, other: &ResourceId) -> bool {
        let (me, them) = (self.key(), other.key());
        me == them || (me.starts_with(them) && me.as_bytes()[them.len()] == b'/')
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.key() == other.key()
    }
}
impl Eq for ResourceId {}
impl std::hash::Hash for ResourceId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash)
    }
}
impl PartialOrd for ResourceId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ResourceId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key())
    }
}
impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}
impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl serde::Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_case_and_slash_insensitively() {
        let a = ResourceId::new("/subscriptions/S1/resourceGroups/RG/providers/X/y/Z");
        let b = ResourceId::new("subscriptions/s1/resourcegroups/rg/providers/x/y/z/");
        assert_eq!(a, b);
        assert_eq!(a.name(), "Z");
        assert_eq!(b.name(), "z", "a trailing slash is not a name");
        assert_eq!(ResourceId::new("plain").name(), "plain");
        assert_eq!(ResourceId::new(" /a/b// ").name(), "b");
        assert_eq!(ResourceId::new("").name(), "");
        assert_eq!(a.subscription(), Some("S1"));
        assert_eq!(a.resource_group(), Some("RG"));
    }

    #[test]
    fn parent_and_containment() {
        let rule = ResourceId::new("/subscriptions/s/providers/A/nsg/n1/securityRules/r1");
        assert_eq!(
            rule.parent().unwrap().as_str(),
            "/subscriptions/s/providers/A/nsg/n1"
        );
        assert!(rule.is_within(&ResourceId::new("/subscriptions/S")));
        assert!(!rule.is_within(&ResourceId::new("/subscriptions/s2")));
        assert!(
            !ResourceId::new("/subscriptions/s10").is_within(&ResourceId::new("/subscriptions/s1"))
        );
        assert_eq!(ResourceId::new("/a/b").parent(), None);
    }

    #[test]
    fn management_group_names() {
        for s in [
            "/providers/Microsoft.Management/managementGroups/testMg",
            "Microsoft.Management/managementGroups/testmg",
        ] {
            assert!(ResourceId::new(s)
                .management_group()
                .unwrap()
                .eq_ignore_ascii_case("testmg"));
        }
    }
}
