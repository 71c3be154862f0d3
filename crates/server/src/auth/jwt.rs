//! Short-lived access tokens for users: HS256 JWTs signed with a key every API instance reads
//! from the database, so any instance verifies what another issued.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zerotrace_store::users::{Role, User};
use zerotrace_store::{Store, StoreError};

const SIGNING_KEY_SETTING: &str = "jwt_hs256_key";
const ISSUER: &str = "zerotrace";

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub org: Option<Uuid>,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

impl JwtKeys {
    /// Loads the signing key from the database, creating it on first start.
    pub async fn load_or_create(store: &Store, lifetime: Duration) -> Result<Self, StoreError> {
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        let encoded = store
            .setting_or_insert(SIGNING_KEY_SETTING, &STANDARD.encode(fresh))
            .await?;
        let secret = STANDARD
            .decode(encoded.as_bytes())
            .map_err(|_| StoreError::Corrupt {
                column: "server_settings.jwt_hs256_key",
                value: "<not base64>".into(),
            })?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            lifetime,
        })
    }

    pub fn issue(&self, user: &User) -> Result<AccessToken, jsonwebtoken::errors::Error> {
        let now = OffsetDateTime::now_utc();
        let claims = AccessClaims {
            sub: user.id.0,
            org: user.org_id.map(|org| org.0),
            role: user.role,
            iss: ISSUER.to_owned(),
            iat: now.unix_timestamp(),
            exp: (now + self.lifetime).unix_timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(AccessToken {
            token,
            expires_in: self.lifetime,
        })
    }

    /// The claims of a genuine, unexpired token; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}
