//! Bearer credentials: API keys, device credentials, enrollment tokens and refresh tokens.
//!
//! A credential is `<prefix>_<base64url(org id ‖ credential id ‖ 256-bit secret)>`. The ids let
//! the store find the one row to check (within the claimed organization, so row-level security
//! applies to the lookup too); only the SHA-256 of the secret is stored, and it is compared in
//! constant time. The plain credential exists once, in the response that creates it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

const SECRET_LEN: usize = 32;
const PAYLOAD_LEN: usize = 16 + 16 + SECRET_LEN;

/// What a credential is for; its prefix tells a reader (and a secret scanner) at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    Device,
    Enrollment,
    Refresh,
}

impl CredentialKind {
    fn prefix(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "ztk_",
            CredentialKind::Device => "ztd_",
            CredentialKind::Enrollment => "zte_",
            CredentialKind::Refresh => "ztr_",
        }
    }
}

/// A freshly generated credential: the text to hand out once and the hash to store.
pub struct IssuedCredential {
    pub id: Uuid,
    pub token: String,
    pub secret_hash: Vec<u8>,
}

/// Generates a credential of `kind` for `org` (the nil UUID for credentials outside any organization).
pub fn issue(kind: CredentialKind, org: Uuid) -> IssuedCredential {
    let id = Uuid::now_v7();
    let mut secret = [0u8; SECRET_LEN];
    rand::rng().fill_bytes(&mut secret);
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.extend_from_slice(org.as_bytes());
    payload.extend_from_slice(id.as_bytes());
    payload.extend_from_slice(&secret);
    IssuedCredential {
        id,
        token: format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(&payload)),
        secret_hash: Sha256::digest(secret).to_vec(),
    }
}

/// A credential as presented by a caller, not yet checked against the store.
#[derive(Clone)]
pub struct PresentedCredential {
    pub org: Uuid,
    pub id: Uuid,
    secret: [u8; SECRET_LEN],
}

impl std::fmt::Debug for PresentedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedCredential")
            .field("org", &self.org)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PresentedCredential {
    /// Parses `token` as a credential of `kind`; anything else is `None`.
    pub fn parse(kind: CredentialKind, token: &str) -> Option<PresentedCredential> {
        let encoded = token.strip_prefix(kind.prefix())?;
        if encoded.len() > 100 {
            return None;
        }
        let payload = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        let (org, rest) = payload.split_first_chunk::<16>()?;
        let (id, secret) = rest.split_first_chunk::<16>()?;
        Some(PresentedCredential {
            org: Uuid::from_bytes(*org),
            id: Uuid::from_bytes(*id),
            secret: secret.try_into().ok()?,
        })
    }

    /// The hash the store keeps of this credential's secret.
    pub fn secret_hash(&self) -> [u8; 32] {
        Sha256::digest(self.secret).into()
    }

    /// Whether this credential's secret hashes to `stored_hash`, compared in constant time.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        self.secret_hash().as_slice().ct_eq(stored_hash).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_credential_parses_back_and_matches_only_its_hash() {
        let org = Uuid::now_v7();
        let issued = issue(CredentialKind::ApiKey, org);
        assert!(issued.token.starts_with("ztk_"));
        let presented = PresentedCredential::parse(CredentialKind::ApiKey, &issued.token).unwrap();
        assert_eq!(presented.org, org);
        assert_eq!(presented.id, issued.id);
        assert!(presented.matches(&issued.secret_hash));
        let other = issue(CredentialKind::ApiKey, org);
        assert!(!presented.matches(&other.secret_hash));
    }

    #[test]
    fn wrong_kind_or_mangled_tokens_are_rejected() {
        let issued = issue(CredentialKind::Device, Uuid::now_v7());
        assert!(PresentedCredential::parse(CredentialKind::ApiKey, &issued.token).is_none());
        let truncated = &issued.token[..issued.token.len() - 2];
        assert!(PresentedCredential::parse(CredentialKind::Device, truncated).is_none());
        assert!(PresentedCredential::parse(CredentialKind::Device, "ztd_!!!").is_none());
        assert!(PresentedCredential::parse(CredentialKind::Device, "").is_none());
        let long = format!("ztd_{}", "A".repeat(10_000));
        assert!(PresentedCredential::parse(CredentialKind::Device, &long).is_none());
    }
}
