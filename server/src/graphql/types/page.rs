use async_graphql::SimpleObject;

/// Where a page ends and whether more follow.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether another page follows this one.
    pub has_next_page: bool,
    /// Pass as `after` to fetch the next page.
    pub end_cursor: Option<String>,
}
