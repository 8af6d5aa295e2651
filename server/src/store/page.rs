use uuid::Uuid;

/// Keyset pagination over time-ordered (v7) ids: `id > after ORDER BY id LIMIT first + 1`.
/// The extra row tells whether there is a next page without a second query.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Uuid>,
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    pub fn from_overfetch(mut items: Vec<T>, first: u64) -> Self {
        let has_next_page = items.len() as u64 > first;
        items.truncate(first as usize);
        Page {
            items,
            has_next_page,
        }
    }
}
