use uuid::Uuid;

/// A keyset page request: rows with an id greater than `after`, in id (creation) order.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub after: Option<Uuid>,
    pub limit: u32,
}

impl Page {
    pub const MAX_LIMIT: u32 = 500;

    pub fn first(limit: u32) -> Self {
        Page { after: None, limit }
    }

    /// The lower bound to bind: the nil UUID sorts before every v7 id.
    pub(crate) fn after_bound(&self) -> Uuid {
        self.after.unwrap_or(Uuid::nil())
    }

    pub(crate) fn limit_bound(&self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT))
    }
}
