//! Decoding PostgreSQL rows into models by position, through the models' `Deserialize`.
//!
//! Why: sea-orm builds a model only from a full row and finds each column by name (a hashed
//! lookup and a formatted key per column per row). For Q1's page of 50 patients with their
//! 250 tests that was a fifth to a third of the server's CPU (docs/benchmarks-history.md, eighth pass).
//! Here the query selects only the columns a request reads, their names and types are worked
//! out once per query, and each row is offered to the model as a map of those names to the
//! values at their positions; the columns not selected keep their `Default`, as on SQLite
//! (`json_array_decode`).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sea_orm::sea_query::ColumnType;
use sea_orm::sqlx::postgres::{PgRow, PgValueRef};
use sea_orm::sqlx::{Column as _, Decode, Postgres, Row, Type, ValueRef};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, QuerySelect, Select, Statement,
};
use serde::de::value::{BorrowedStrDeserializer, Error};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use uuid::Uuid;

use super::columns::Columns;
use crate::error::{AppError, AppResult};

/// How a column's value is handed to the model's `Deserialize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// As its 16 bytes (the form `Uuid` asks a non-human-readable format for).
    Uuid,
    /// As a string borrowed from the row.
    Text,
    /// As `YYYY-MM-DD`, which `NaiveDate` parses (chrono reads dates only from strings).
    Date,
    /// As RFC 3339, which `DateTime<Utc>` parses (as above).
    Timestamp,
}

impl Kind {
    /// The kind for a column type; `None` for types no listed entity has yet, which the
    /// caller reports rather than guesses at.
    fn of(column_type: &ColumnType) -> Option<Kind> {
        match column_type {
            ColumnType::Uuid => Some(Kind::Uuid),
            ColumnType::Text | ColumnType::String(_) => Some(Kind::Text),
            ColumnType::Date => Some(Kind::Date),
            ColumnType::TimestampWithTimeZone => Some(Kind::Timestamp),
            _ => None,
        }
    }
}

/// A selected column: the model's field it fills and how its value is read.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    name: &'static str,
    kind: Kind,
}

/// `query` selecting only `columns`, in declaration order, and how each is read.
pub fn select<E: EntityTrait>(
    query: Select<E>,
    columns: Columns<E>,
) -> AppResult<(Select<E>, Vec<Column>)> {
    let mut selected = Vec::new();
    let mut query = query.select_only();
    for col in columns.iter() {
        let kind = Kind::of(col.def().get_column_type()).ok_or_else(|| {
            anyhow::anyhow!(
                "{}.{} has a column type lists do not decode yet",
                E::default().table_name(),
                col.as_str()
            )
        })?;
        selected.push(Column {
            name: col.as_str(),
            kind,
        });
        query = query.column(col);
    }
    Ok((query, selected))
}

/// Runs `statement`, whose values are those of `columns` in order, and builds a `T` from
/// each row; `table` names the rows in errors.
pub async fn all<T: DeserializeOwned>(
    db: &impl ConnectionTrait,
    statement: Statement,
    columns: &[Column],
    table: &str,
) -> AppResult<Vec<T>> {
    let rows = db.query_all_raw(statement).await?;
    let decoding = |err| AppError::Internal(anyhow::anyhow!("decoding a row of {table}: {err}"));
    let rows = rows
        .iter()
        .map(|row| {
            row.try_as_pg_row()
                .ok_or_else(|| anyhow::anyhow!("a PostgreSQL query returned no PostgreSQL row"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(first) = rows.first() {
        check_types(first, columns).map_err(decoding)?;
    }
    // Sized up front: a collect through `Result` cannot know the length, and growing a
    // vector of a few hundred models copies them several times.
    let mut models = Vec::with_capacity(rows.len());
    for row in rows {
        models.push(from_row(row, columns).map_err(decoding)?);
    }
    Ok(models)
}

/// Builds a `T` from `row`, whose values are those of `columns` in order.
fn from_row<T: DeserializeOwned>(row: &PgRow, columns: &[Column]) -> Result<T, Error> {
    if row.len() != columns.len() {
        return Err(de::Error::custom(format_args!(
            "a row has {} values for {} columns",
            row.len(),
            columns.len()
        )));
    }
    T::deserialize(Fields {
        row,
        columns,
        next: 0,
    })
}

/// Checks once per query that the row's columns have the types `columns` expects, which
/// `from_row` then takes for granted: a schema that drifted from the entities is reported
/// here, by column, instead of decoding bytes of another type.
fn check_types(row: &PgRow, columns: &[Column]) -> Result<(), Error> {
    for (column, info) in columns
        .iter()
        .zip(row.columns().iter().map(|c| c.type_info()))
    {
        let expected = match column.kind {
            Kind::Uuid => <Uuid as Type<Postgres>>::compatible(info),
            Kind::Text => <&str as Type<Postgres>>::compatible(info),
            Kind::Date => <NaiveDate as Type<Postgres>>::compatible(info),
            Kind::Timestamp => <DateTime<Utc> as Type<Postgres>>::compatible(info),
        };
        if !expected {
            return Err(column.error(format_args!("unexpected type {info}")));
        }
    }
    Ok(())
}

/// One row's values, offered as a map keyed by the columns' names.
struct Fields<'de> {
    row: &'de PgRow,
    columns: &'de [Column],
    next: usize,
}

impl<'de> Deserializer<'de> for Fields<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.columns.get(self.next) {
            Some(column) => seed
                .deserialize(BorrowedStrDeserializer::new(column.name))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let index = self.next;
        let column = *self
            .columns
            .get(index)
            .ok_or_else(|| de::Error::custom("a value was asked for past the last column"))?;
        self.next += 1;
        let value = self
            .row
            .try_get_raw(index)
            .map_err(|err| column.error(err))?;
        seed.deserialize(Value { value, column })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.columns.len() - self.next)
    }
}

/// The value at one position of a row.
struct Value<'de> {
    value: PgValueRef<'de>,
    column: Column,
}

impl<'de> Value<'de> {
    /// Decodes without sqlx's per-value type check, which `check_types` made once per query.
    fn get<T: Decode<'de, Postgres>>(self) -> Result<T, Error> {
        let column = self.column;
        T::decode(self.value).map_err(|err| column.error(err))
    }
}

impl Column {
    fn error(&self, err: impl std::fmt::Display) -> Error {
        de::Error::custom(format_args!("column {}: {err}", self.name))
    }
}

impl<'de> Deserializer<'de> for Value<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.value.is_null() {
            // A NULL in a column the model does not declare optional is refused by the
            // field's own visitor ("invalid type: Option value").
            return visitor.visit_none();
        }
        match self.column.kind {
            Kind::Uuid => visitor.visit_bytes(self.get::<Uuid>()?.as_bytes()),
            Kind::Text => visitor.visit_borrowed_str(self.get::<&'de str>()?),
            Kind::Date => visitor.visit_str(&self.get::<NaiveDate>()?.to_string()),
            Kind::Timestamp => visitor.visit_str(
                &self
                    .get::<DateTime<Utc>>()?
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.value.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    /// Not human-readable, so that `Uuid` takes its 16 bytes rather than a formatted string.
    fn is_human_readable(&self) -> bool {
        false
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ColumnTrait, EntityTrait, IdenStatic, Iterable};

    use super::Kind;

    /// Every column of every listed entity can be decoded, so a list never fails on a
    /// selection the schema allows (a new column of another type fails here first).
    fn all_decodable<E: EntityTrait>() {
        for col in E::Column::iter() {
            assert!(
                Kind::of(col.def().get_column_type()).is_some(),
                "{}.{}",
                E::default().table_name(),
                col.as_str()
            );
        }
    }

    #[test]
    fn every_column_of_a_listed_entity_has_a_kind() {
        all_decodable::<entity::patient::Entity>();
        all_decodable::<entity::lab_test::Entity>();
    }
}
