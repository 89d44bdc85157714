//! JSON strings read as slices of the line they came from, not copies: serde's `borrow`
//! attribute borrows a `Cow<str>` field but not one inside an `Option` or a map
//! (serde-rs/serde#1497), which it always copies into a new `String`. [`Text`] (a field's
//! type: `#[serde(borrow)] name: Option<Text<'a>>`) and the map reader borrow every string
//! that has no escape in it, and unescape only those that do.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// A string of the input: borrowed when it needed no unescaping.
#[derive(Debug, PartialEq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'a> From<Text<'a>> for Cow<'a, str> {
    fn from(text: Text<'a>) -> Self {
        text.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text: Text<'de> = d.deserialize_str(TextVisitor)?;
        Ok(text)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// An object of strings (or `null`s) by key, in key order, a key given twice keeping its last
/// value (as a map keeps it). Kept in a vector: a record's few details took two B-tree maps
/// (one of the borrowed strings, one converted) per record, a sixth of a Keycloak event's parse.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct StringMap<'a>(Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>);

#[cfg(test)]
impl StringMap<'_> {
    /// The value of `key`: `Some(None)` when it is `null`.
    pub(crate) fn get(&self, key: &str) -> Option<&Option<Cow<'_, str>>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The entries in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Cow<'_, str>, Option<Cow<'_, str>>)> {
        self.0.iter()
    }
}

impl<'a> StringMap<'a> {
    /// The map of `entries` in the order read: in key order, of a key given twice the last.
    pub(crate) fn from_entries(mut entries: Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>) -> Self {
        // Latest first, then a stable sort: of equal keys the latest comes first, and the
        // dedup keeps the first of equal neighbours.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| later.0 == kept.0);
        StringMap(entries)
    }
}

impl<'a> IntoIterator for StringMap<'a> {
    type Item = (Cow<'a, str>, Option<Cow<'a, str>>);
    type IntoIter = std::vec::IntoIter<Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for StringMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map: StringMap<'de> = d.deserialize_map(MapVisitor)?;
        Ok(map)
    }
}

struct MapVisitor;

impl<'de> Visitor<'de> for MapVisitor {
    type Value = StringMap<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(8).min(64));
        while let Some((key, value)) = access.next_entry::<Text<'de>, Option<Text<'de>>>()? {
            entries.push((key.0, value.map(|v| v.0)));
        }
        Ok(StringMap::from_entries(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Row<'a> {
        #[serde(borrow)]
        name: Option<Text<'a>>,
        #[serde(borrow)]
        details: Option<StringMap<'a>>,
    }

    #[test]
    fn strings_are_borrowed_unless_escaped_and_null_or_missing_is_none() {
        let line = r#"{"name":"alice","details":{"k":"v","e":"a\tb","n":null,"k":"last"}}"#;
        let row: Row<'_> = serde_json::from_str(line).unwrap();
        assert!(matches!(row.name, Some(Text(Cow::Borrowed("alice")))));
        let details = row.details.unwrap();
        assert!(matches!(
            details.get("k"),
            Some(Some(Cow::Borrowed("last")))
        ));
        assert!(matches!(details.get("e"), Some(Some(Cow::Owned(s))) if s == "a\tb"));
        assert_eq!(details.get("n"), Some(&None));
        let keys: Vec<&str> = details.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["e", "k", "n"], "in key order, each key once");
        let row: Row<'_> = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert!(row.name.is_none() && row.details.is_none());
        assert!(serde_json::from_str::<Row<'_>>(r#"{"name":3}"#).is_err());
    }
}
