//! Record objects (`Patient`, `Test`) declared field by field, each field once.
//!
//! One declaration in `record_object!` gives a field everything it has: its GraphQL name, type
//! and description, the rule that guards it (`access::rules`), whether reading it discloses
//! patient data (`Disclosure`, for the read audit), the columns it reads, and how it is
//! resolved: `plain` fields are computed from those columns alone and copied into list
//! responses directly (`plain::Plain`), `resolve` fields run as ordinary async-graphql
//! resolvers (loaders, nested objects). From it the macro writes the resolver, the fast-path
//! copy, the column projection of lists and the rule table's entries; none of those is written
//! by hand.
//!
//! A field's code sees only the columns its declaration names, bound by name: it cannot read
//! one it did not declare (it does not compile), and a declared column it does not use is an
//! unused variable (a warning, an error under clippy). Rows of lists hold only the columns the
//! query's fields read (`store::columns::Projected`); a field whose columns were not fetched
//! answers an internal error instead of a default that would look like data.

use async_graphql::{ID, ScalarType, Value};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{EntityTrait, IdenStatic, Iterable};

use crate::access::Disclosure;
use crate::access::rules::Rule;

/// A record field's entry in the rule table.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    /// The GraphQL name.
    pub name: &'static str,
    pub rule: Rule,
    pub disclosure: Disclosure,
}

/// The bits of `E`'s columns named `names` (`store::columns::Columns` numbering). Computed
/// once per field (the macro keeps it in a static), so reading a field costs a bit test.
pub fn column_bits<E: EntityTrait>(names: &[&str]) -> u64 {
    E::Column::iter()
        .enumerate()
        .filter(|(i, col)| *i < 64 && names.contains(&col.as_str()))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

#[cfg(test)]
/// Checks that the macro's column names exist: a misspelt one would otherwise just never be
/// fetched.
pub fn known_columns<E: EntityTrait>(names: &[&str]) -> bool {
    names
        .iter()
        .all(|n| E::Column::iter().any(|c| c.as_str() == *n))
}

/// The answer for a field whose columns the row was read without: a bug, never data.
pub fn unfetched(object: &str, field: &str) -> async_graphql::Error {
    // Logged with its correlation id by the conversion.
    crate::error::AppError::Internal(anyhow::anyhow!(
        "{object}.{field} read from a row fetched without its columns"
    ))
    .into()
}

/// A plain field's value as the response holds it: exactly what async-graphql's own
/// resolution of the same type produces (the projection test compares the two paths).
pub trait PlainValue {
    fn into_value(self) -> Value;
}

impl PlainValue for Option<&str> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, |s| Value::String(s.to_owned()))
    }
}

macro_rules! plain_scalars {
    ($($t:ty),*) => {$(
        impl PlainValue for Option<$t> {
            fn into_value(self) -> Value {
                self.map_or(Value::Null, |v| ScalarType::to_value(&v))
            }
        }
    )*};
}
plain_scalars!(ID, bool, DateTime<Utc>, NaiveDate);

impl PlainValue for Option<Vec<String>> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, |items| {
            Value::List(items.into_iter().map(Value::String).collect())
        })
    }
}

/// Enums' names as response values, made once per enum: `enum_value` would allocate one for
/// each of a page's hundreds of rows.
macro_rules! plain_enums {
    ($($t:ty),*) => {$(
        impl $crate::graphql::types::record::PlainValue for Option<$t> {
            fn into_value(self) -> async_graphql::Value {
                static NAMES: std::sync::LazyLock<Vec<($t, async_graphql::Value)>> = std::sync::LazyLock::new(|| {
                    <$t as async_graphql::resolver_utils::EnumType>::items()
                        .iter()
                        .map(|item| (item.value, async_graphql::resolver_utils::enum_value(item.value)))
                        .collect()
                });
                self.and_then(|v| NAMES.iter().find(|(n, _)| *n == v).map(|(_, name)| name.clone()))
                    .unwrap_or(async_graphql::Value::Null)
            }
        }
    )*};
}
pub(crate) use plain_enums;

/// Declares a record object; see the module documentation. The form:
///
/// ```text
/// record_object! {
///     /// The type's description.
///     Patient for patient, keys [id, client_id, location_id] {
///         /// The field's description.
///         "firstName" first_name: Option<&str>, DEMOGRAPHICS, Disclosure::Data,
///             [first_name] plain => first_name.as_deref();
///         "tests" tests(ctx): Option<Vec<Plain<Test>>>, PATIENT_TESTS, Disclosure::Data,
///             [id] resolve => { /* uses ctx; evaluates to async_graphql::Result<_> */ };
///     }
/// }
/// ```
///
/// `patient` names the entity module (`entity::patient`); `keys` are the columns every row
/// of a list carries. The object is a tuple struct around
/// `Projected<Entity>`, defined by the caller.
macro_rules! record_object {
    (
        $(#[$meta:meta])*
        $object:ident for $module:ident, keys [$($key:ident),*] {
            $(
                $(#[$fmeta:meta])*
                $gql:literal $field:ident $(($ctx:ident))? : $ty:ty, $rule:expr, $disclosure:expr,
                    [$($col:ident),*] $mode:ident => $body:expr;
            )*
        }
    ) => {
        $(#[$meta])*
        #[async_graphql::Object(serial)]
        impl $object {
            $(
                $(#[$fmeta])*
                async fn $field(&self $(, $ctx: &async_graphql::Context<'_>)?) -> async_graphql::Result<$ty> {
                    static COLUMNS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
                        $crate::graphql::types::record::column_bits::<entity::$module::Entity>(&[$(stringify!($col)),*])
                    });
                    let Some(row) = self.0.with_bits(*COLUMNS) else {
                        return Err($crate::graphql::types::record::unfetched(stringify!($object), $gql));
                    };
                    $(let $col = &row.$col;)*
                    $crate::graphql::types::record::record_object!(@resolve $mode $body)
                }
            )*
        }

        impl $object {
            /// Every field of the object: the rule table's entries.
            pub const FIELDS: &'static [$crate::graphql::types::record::FieldSpec] = &[
                $($crate::graphql::types::record::FieldSpec {
                    name: $gql,
                    rule: $rule,
                    disclosure: $disclosure,
                },)*
            ];

            /// The columns that resolving `fields` reads, plus the keys every row carries. A
            /// name not declared here (introspection's) reads every column.
            pub fn columns<'a>(
                fields: impl IntoIterator<Item = async_graphql::SelectionField<'a>>,
            ) -> $crate::store::columns::Columns<entity::$module::Entity> {
                static KEYS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
                    $crate::graphql::types::record::column_bits::<entity::$module::Entity>(&[$(stringify!($key)),*])
                });
                let mut bits = *KEYS;
                for field in fields {
                    match field.name() {
                        $($gql => {
                            static COLUMNS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
                                $crate::graphql::types::record::column_bits::<entity::$module::Entity>(&[$(stringify!($col)),*])
                            });
                            bits |= *COLUMNS;
                        })*
                        "__typename" => {}
                        _ => return $crate::store::columns::Columns::all(),
                    }
                }
                $crate::store::columns::Columns::from_bits(bits)
            }

            /// Whether every column name the declaration uses exists (a unit test asks).
            #[cfg(test)]
            pub fn declared_columns_exist() -> bool {
                $crate::graphql::types::record::known_columns::<entity::$module::Entity>(&[$(stringify!($key)),*])
                    $(&& $crate::graphql::types::record::known_columns::<entity::$module::Entity>(&[$(stringify!($col)),*]))*
            }
        }

        impl $crate::graphql::types::plain::PlainFields for $object {
            fn plain(&self, name: &str) -> Option<async_graphql::Value> {
                match name {
                    $($gql => $crate::graphql::types::record::record_object!(
                        @plain $mode self $module [$($col),*] $body
                    ),)*
                    _ => None,
                }
            }
        }
    };
    (@resolve plain $body:expr) => { Ok($body) };
    (@resolve resolve $body:expr) => { $body };
    (@plain resolve $this:ident $module:ident [$($col:ident),*] $body:expr) => { None };
    (@plain plain $this:ident $module:ident [$($col:ident),*] $body:expr) => {{
        static COLUMNS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
            $crate::graphql::types::record::column_bits::<entity::$module::Entity>(&[$(stringify!($col)),*])
        });
        // Not fetched: the resolver answers (with its error).
        let row = $this.0.with_bits(*COLUMNS)?;
        $(let $col = &row.$col;)*
        Some($crate::graphql::types::record::PlainValue::into_value($body))
    }};
}
pub(crate) use record_object;

#[cfg(test)]
mod tests {
    use async_graphql::Value;
    use entity::patient::{Column, Model};

    use crate::graphql::types::patient::Patient;
    use crate::graphql::types::plain::PlainFields;
    use crate::store::columns::{Columns, Projected};

    fn model() -> Model {
        Model {
            id: uuid::Uuid::now_v7(),
            client_id: uuid::Uuid::now_v7(),
            location_id: uuid::Uuid::now_v7(),
            external_patient_id: Some("X-1".into()),
            first_name: Some("Ada".into()),
            last_name: None,
            date_of_birth: None,
            sex: Some("FEMALE".into()),
            email: None,
            phone: None,
            address: None,
            diagnoses: "[]".into(),
            medications: "[\"m\"]".into(),
            insurance: None,
            billing_account: None,
            account_status: "NONE".into(),
            account_reason: Some("NO_EMAIL".into()),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_field_whose_columns_were_not_fetched_gives_no_value() {
        // Fetched without `account_status`: its default ("") must not read as "has an account".
        let keys = Columns::of(&[Column::Id, Column::ClientId, Column::LocationId]);
        let projected = Patient(Projected::new(model(), keys.with(Column::FirstName)));
        assert_eq!(
            projected.plain("firstName"),
            Some(Value::String("Ada".into()))
        );
        assert_eq!(projected.plain("hasAccount"), None);
        assert_eq!(projected.plain("accountStatus"), None);
        assert_eq!(projected.plain("email"), None);
        assert!(projected.plain("id").is_some());

        let whole = Patient::whole(model());
        assert_eq!(whole.plain("hasAccount"), Some(Value::Boolean(false)));
        assert_eq!(
            whole.plain("accountStatus"),
            Some(Value::Enum(async_graphql::Name::new("NONE")))
        );
        assert_eq!(
            whole.plain("medications"),
            Some(Value::List(vec![Value::String("m".into())]))
        );
        assert_eq!(
            whole.plain("sex"),
            Some(Value::Enum(async_graphql::Name::new("FEMALE")))
        );
        assert_eq!(whole.plain("tests"), None, "resolved, not copied");
    }
}
