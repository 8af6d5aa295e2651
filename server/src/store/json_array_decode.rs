//! Decoding rows sent as JSON arrays of values (`[[v1, v2, …], …]`) into structs, by position.
//!
//! Why: an aggregated list (`list_fetch`) repeated every column name in every row when it was
//! built with `json_object`. Arrays leave the names out: SQLite builds less JSON, faster
//! (docs/benchmarks-history.md), and the decoder matches no keys. The names are known once per query, so each row is handed
//! to the struct's `Deserialize` as a map whose keys come from that list.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Decodes `text`, a JSON array of rows, each an array of the values of `names` in order.
pub fn from_str<T: de::DeserializeOwned>(
    text: &str,
    names: &[&'static str],
) -> serde_json::Result<Vec<T>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let rows = Rows {
        names,
        row: PhantomData,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(rows)
}

struct Rows<'n, T> {
    names: &'n [&'static str],
    row: PhantomData<fn() -> T>,
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Rows<'_, T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Rows<'_, T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element_seed(Row {
            names: self.names,
            row: PhantomData,
        })? {
            rows.push(row);
        }
        Ok(rows)
    }
}

struct Row<'n, T> {
    names: &'n [&'static str],
    row: PhantomData<fn() -> T>,
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Row<'_, T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Row<'_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a row of {} values", self.names.len())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        // Values left unread (a row longer than `names`) are reported by the JSON reader.
        T::deserialize(&mut Values {
            seq,
            names: self.names.iter(),
        })
    }
}

/// One row's values, offered as a map keyed by `names`.
struct Values<'n, A> {
    seq: A,
    names: std::slice::Iter<'n, &'static str>,
}

impl<'de, A: SeqAccess<'de>> Deserializer<'de> for &mut Values<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de, A: SeqAccess<'de>> MapAccess<'de> for &mut Values<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.names.next() {
            Some(name) => seed
                .deserialize(BorrowedStrDeserializer::new(name))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.seq
            .next_element_seed(seed)?
            .ok_or_else(|| de::Error::custom("a row has fewer values than columns"))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.names.len())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Item {
        id: String,
        name: Option<String>,
        count: i64,
    }

    #[test]
    fn values_are_matched_to_names_by_position() {
        let rows: Vec<Item> = super::from_str(
            r#"[["a", "one", 1], ["b", null, 2]]"#,
            &["id", "name", "count"],
        )
        .unwrap();
        assert_eq!(
            rows,
            [
                Item {
                    id: "a".into(),
                    name: Some("one".into()),
                    count: 1
                },
                Item {
                    id: "b".into(),
                    name: None,
                    count: 2
                },
            ]
        );
        assert_eq!(super::from_str::<Item>("[]", &["id"]).unwrap(), []);
    }

    #[test]
    fn columns_not_fetched_keep_their_default() {
        let rows: Vec<Item> = super::from_str(r#"[[7, "x"]]"#, &["count", "id"]).unwrap();
        assert_eq!(
            rows,
            [Item {
                id: "x".into(),
                name: None,
                count: 7
            }]
        );
    }

    #[test]
    fn a_row_of_the_wrong_length_or_type_is_an_error() {
        let names = ["id", "name", "count"];
        for bad in [
            r#"[["a", "one"]]"#,
            r#"[["a", "one", 1, 2]]"#,
            r#"[["a", "one", "1"]]"#,
            r#"[{"id": "a"}]"#,
            r#"[["a", "one", 1]] trailing"#,
        ] {
            assert!(super::from_str::<Item>(bad, &names).is_err(), "{bad}");
        }
    }
}
