use async_graphql::{Context, SelectionField, SimpleObject};

/// Where a page ends and whether more follow.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether another page follows this one.
    pub has_next_page: bool,
    /// Pass as `after` to fetch the next page.
    pub end_cursor: Option<String>,
}

/// The fields selected on a connection's nodes, through `nodes { … }` and `edges { node { … } }`
/// (fragments included), for deciding which columns the page fetches.
pub fn node_fields<'a>(ctx: &'a Context<'a>) -> Vec<SelectionField<'a>> {
    let mut fields = Vec::new();
    for field in ctx.field().selection_set() {
        match field.name() {
            "nodes" => fields.extend(field.selection_set()),
            "edges" => {
                for edge_field in field.selection_set() {
                    if edge_field.name() == "node" {
                        fields.extend(edge_field.selection_set());
                    }
                }
            }
            _ => {}
        }
    }
    fields
}
