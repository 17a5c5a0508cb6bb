//! JSON parsed with the keys written twice in one object noted. serde_json's `Value` keeps
//! the last value without a word, so a hand-edited resource with two `priority` keys would
//! load with one of them silently dropped; this parser builds the same `Value` in the same
//! single pass and names each repeated key, for a warning.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

/// `text` as serde_json reads it, and the JSON paths (`value[1].properties.priority`, the
/// syntax of [`Node`](super::json::Node)) of every key that repeats one before it in its
/// object; the value keeps the last, as serde_json does.
pub fn parse_noting_duplicates(text: &str) -> serde_json::Result<(Value, Vec<String>)> {
    let mut found = Vec::new();
    let mut path = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Walk {
        path: &mut path,
        found: &mut found,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((value, found))
}

/// One step of a JSON path, its key borrowed from the text where it can be.
type Step<'de> = super::json::Step<Cow<'de, str>>;

/// Builds a value, recording repeated keys in the objects inside it.
struct Walk<'a, 'de> {
    path: &'a mut Vec<Step<'de>>,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.path.push(Step::Index(items.len()));
            let item = seq.next_element_seed(Walk {
                path: self.path,
                found: self.found,
            })?;
            self.path.pop();
            match item {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let name = key.to_string();
            let repeated = object.contains_key(&name);
            self.path.push(Step::Key(key));
            if repeated {
                self.found.push(super::json::path_text(self.path));
            }
            let value = map.next_value_seed(Walk {
                path: self.path,
                found: self.found,
            })?;
            self.path.pop();
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_found_with_their_paths() {
        let text = r#"{"value": [{"a": 1}, {"properties": {"priority": 100, "x": [1], "priority": 200}}],
            "t\u0061gs": {}, "tags": {"k": {"k": 1}}}"#;
        let (value, found) = parse_noting_duplicates(text).unwrap();
        assert_eq!(found, ["value[1].properties.priority", "tags"]);
        // The value is serde_json's, the last of each repeated key kept.
        let mut want: Value = serde_json::from_str(text).unwrap();
        assert_eq!(value, want);
        assert_eq!(value["value"][1]["properties"]["priority"], 200);
        want = serde_json::from_str(
            r#"[{"a": {"a": {"a": -1.5e3, "b": null}}}, true, 18446744073709551615]"#,
        )
        .unwrap();
        let (value, found) = parse_noting_duplicates(&want.to_string()).unwrap();
        assert!(found.is_empty());
        assert_eq!(value, want);
        assert!(parse_noting_duplicates("{\"a\": ").is_err());
        assert!(parse_noting_duplicates("{} x").is_err());
    }
}
