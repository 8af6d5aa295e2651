//! Which columns of an entity a list query fetches.
//!
//! Why: a GraphQL list usually reads a few fields of each row, and on SQLite every column
//! fetched is copied, turned into JSON and parsed again (see `list_fetch`). Fetching only what
//! the selection reads halved the cost of a page of patients with their tests (docs/benchmarks-history.md).
//! Columns not fetched keep their `Default` in the model, which is not data: such a row is a
//! `Projected` row, whose columns are read only through a check that they were fetched.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use sea_orm::{EntityTrait, IdenStatic, Iterable};
use uuid::Uuid;

/// A set of `E`'s columns, one bit per column in declaration order.
pub struct Columns<E> {
    bits: u64,
    entity: PhantomData<fn() -> E>,
}

impl<E: EntityTrait> Columns<E> {
    /// Every column: what a query fetches unless told otherwise.
    pub fn all() -> Self {
        Self::from_bits(u64::MAX)
    }

    /// Only `cols` (the caller adds the key columns it always needs).
    pub fn of(cols: &[E::Column]) -> Self {
        let mut set = Self::from_bits(0);
        for col in cols {
            set = set.with(*col);
        }
        set
    }

    pub fn with(self, col: E::Column) -> Self {
        match position::<E>(col) {
            Some(i) => Self::from_bits(self.bits | 1 << i),
            None => Self::all(),
        }
    }

    pub fn contains(&self, col: E::Column) -> bool {
        position::<E>(col).is_none_or(|i| self.has(i))
    }

    /// The columns in the set, in declaration order (one pass, no lookup per column).
    pub fn iter(self) -> impl Iterator<Item = E::Column> {
        E::Column::iter()
            .enumerate()
            .filter(move |(i, _)| *i >= 64 || self.has(*i))
            .map(|(_, col)| col)
    }

    fn has(&self, i: usize) -> bool {
        self.bits & (1 << i) != 0
    }

    /// Whether every column of `bits` (same numbering) is in the set.
    pub fn has_bits(&self, bits: u64) -> bool {
        self.bits & bits == bits
    }

    /// The set of the columns numbered by `bits` (declaration order, as `iter`).
    pub fn from_bits(bits: u64) -> Self {
        Columns {
            bits,
            entity: PhantomData,
        }
    }
}

/// The column's place in the entity's declaration. Columns derive no `PartialEq`; their
/// names are unique within an entity. An entity of more than 64 columns has no bit for the
/// rest, which `with` and `contains` treat as "every column".
fn position<E: EntityTrait>(col: E::Column) -> Option<usize> {
    E::Column::iter()
        .position(|c| c.as_str() == col.as_str())
        .filter(|&i| i < 64)
}

/// An entity whose lists come in the order of its (time-ordered) id.
pub trait Listed: EntityTrait {
    /// The id column.
    const ID: Self::Column;
    /// A model's id: the sort key.
    fn id_of(model: &Self::Model) -> Uuid;
}

/// A row read with only some of its columns (`columns`): the others hold `Default` values
/// that are not data, so the row is not handed out as a model. Its columns are read through
/// `with`, which answers only if they were fetched; its id (always fetched) through `id`.
pub struct Projected<E: EntityTrait> {
    model: E::Model,
    columns: Columns<E>,
}

impl<E: EntityTrait> Projected<E> {
    pub fn new(model: E::Model, columns: Columns<E>) -> Self {
        Projected { model, columns }
    }

    /// A row read whole.
    pub fn whole(model: E::Model) -> Self {
        Projected {
            model,
            columns: Columns::all(),
        }
    }

    /// The row, for reading the columns numbered by `bits`; `None` if any was not fetched.
    pub fn with_bits(&self, bits: u64) -> Option<&E::Model> {
        self.columns.has_bits(bits).then_some(&self.model)
    }

    /// The row, for reading `cols`; `None` if any was not fetched.
    pub fn with(&self, cols: &[E::Column]) -> Option<&E::Model> {
        cols.iter()
            .all(|c| self.columns.contains(*c))
            .then_some(&self.model)
    }

    pub fn columns(&self) -> Columns<E> {
        self.columns
    }
}

impl<E: Listed> Projected<E> {
    /// The row's id, which every read fetches.
    pub fn id(&self) -> Uuid {
        E::id_of(&self.model)
    }
}

impl<E: EntityTrait> Clone for Projected<E>
where
    E::Model: Clone,
{
    fn clone(&self) -> Self {
        Projected {
            model: self.model.clone(),
            columns: self.columns,
        }
    }
}

// Written out because derives would require `E` itself to be Copy, Eq and Hash.
impl<E> Clone for Columns<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Columns<E> {}
impl<E> PartialEq for Columns<E> {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
    }
}
impl<E> Eq for Columns<E> {}
impl<E> Hash for Columns<E> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bits.hash(state);
    }
}
impl<E> fmt::Debug for Columns<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Columns({:#x})", self.bits)
    }
}

#[cfg(test)]
mod tests {
    use entity::patient::{Column, Entity};
    use sea_orm::{IdenStatic, Iterable};

    use super::Columns;

    #[test]
    fn a_set_holds_what_was_added_and_nothing_else() {
        let set = Columns::<Entity>::of(&[Column::Id, Column::FirstName]);
        assert!(set.contains(Column::Id) && set.contains(Column::FirstName));
        assert!(!set.contains(Column::Email) && !set.contains(Column::CreatedAt));
        assert!(!Column::iter().all(|c| set.contains(c)));
        let wider = set.with(Column::Email);
        assert!(wider.contains(Column::Email) && !wider.contains(Column::Phone));
        assert_ne!(set, wider);
        let listed: Vec<_> = wider.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, ["id", "first_name", "email"]);
    }

    #[test]
    fn all_holds_every_column() {
        let all = Columns::<Entity>::all();
        assert!(Column::iter().all(|c| all.contains(c)));
        assert_eq!(all.iter().count(), Column::iter().count());
        let listed = Columns::<Entity>::of(&Column::iter().collect::<Vec<_>>());
        assert!(Column::iter().all(|c| listed.contains(c)));
    }
}
