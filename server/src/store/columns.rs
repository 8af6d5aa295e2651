//! Which columns of an entity a list query fetches.
//!
//! Why: a GraphQL list usually reads a few fields of each row, and on SQLite every column
//! fetched is copied, turned into JSON and parsed again (see `list_fetch`). Fetching only what
//! the selection reads halved the cost of a page of patients with their tests (docs/benchmarks-history.md).
//! Columns not fetched keep their `Default` in the model; the GraphQL layer decides the set
//! from the fields it will resolve, so a column not fetched is never read.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use sea_orm::{EntityTrait, IdenStatic, Iterable};

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

    fn from_bits(bits: u64) -> Self {
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
