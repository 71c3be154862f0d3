//! The JSON body extractor: size-limited, content-type checked, and errors that name the field.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, but a rejection is our JSON error and names the offending field
/// (`"email: invalid type: integer, expected a string"`).
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with content-type application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is larger than this server accepts",
                    )
                } else {
                    ApiError::invalid_request(rejection.body_text())
                }
            })?;
        parse(&bytes).map(ValidJson)
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid_request(format!("malformed JSON: {inner}"))
        } else if path == "." {
            ApiError::invalid_request(inner.to_string())
        } else {
            ApiError::invalid_request(format!("{path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::invalid_request(format!("malformed JSON: {error}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Login {
        email: String,
        password: String,
    }

    fn message(bytes: &[u8]) -> String {
        format!("{:?}", parse::<Login>(bytes).unwrap_err())
    }

    #[test]
    fn a_well_formed_body_parses() {
        let login: Login = parse(br#"{"email": "a@b.example", "password": "pw"}"#).unwrap();
        assert_eq!(
            (login.email.as_str(), login.password.as_str()),
            ("a@b.example", "pw")
        );
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        assert!(message(br#"{"email": 5, "password": "x"}"#).contains("email: invalid type"));
        assert!(message(br#"{"email": "a"}"#).contains("missing field `password`"));
        assert!(
            message(br#"{"email": "a", "password": "b", "admin": true}"#)
                .contains("unknown field `admin`")
        );
        assert!(message(br#"{"email": "a", "#).contains("malformed JSON"));
        assert!(message(br#"{"email": "a", "password": "b"} trailing"#).contains("malformed JSON"));
    }
}
