use std::borrow::Cow;

use crate::Scheme;

/// A version string that the ordering of an ecosystem cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version {input:?}: {reason}")]
pub struct VersionError {
    /// The ordering that rejected the input.
    pub scheme: Scheme,
    /// The offending input, as given.
    pub input: String,
    /// Why it was rejected, in the words of the ecosystem's own tool where it has some.
    pub reason: Cow<'static, str>,
}

impl VersionError {
    pub(crate) fn new(scheme: Scheme, input: &str, reason: impl Into<Cow<'static, str>>) -> Self {
        VersionError {
            scheme,
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}
