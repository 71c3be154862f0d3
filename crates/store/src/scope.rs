use crate::OrgId;

/// Permission to read and write one organization's rows.
///
/// Every store function on organization data takes one. It cannot be built from an id alone:
/// only a [`ScopeAuthority`] mints it, and the server keeps that authority inside its
/// authentication layer, so a handler can only act on the organization its caller was
/// authenticated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrgScope {
    org_id: OrgId,
}

impl OrgScope {
    /// Only the store itself (for credentials whose organization it has just verified) and a
    /// [`ScopeAuthority`] construct scopes.
    pub(crate) fn new(org_id: OrgId) -> Self {
        OrgScope { org_id }
    }

    pub fn org_id(self) -> OrgId {
        self.org_id
    }
}

/// The capability to mint [`OrgScope`]s. [`crate::Store::open`] returns exactly one; whoever
/// holds it decides who acts for which organization (the server's auth layer, the operator's
/// admin commands).
#[derive(Debug)]
pub struct ScopeAuthority {
    _private: (),
}

impl ScopeAuthority {
    pub(crate) fn new() -> Self {
        ScopeAuthority { _private: () }
    }

    /// A scope for `org_id`. The caller vouches that the principal may act for that organization.
    pub fn scope(&self, org_id: OrgId) -> OrgScope {
        OrgScope::new(org_id)
    }
}
