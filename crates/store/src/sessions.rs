//! Login sessions as chains of rotating refresh tokens.
//!
//! Each login starts a family. A refresh token is good for one use: using it marks it used and
//! issues the next one in the family. Presenting a used token again means it was copied, so the
//! whole family is revoked (the thief's copy and the user's alike) and the user logs in again.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::credentials::{self, CredentialKind, PresentedCredential};
use crate::{Result, Store, UserId};

/// A refresh token to hand to the client.
pub struct IssuedRefresh {
    pub token: String,
    pub expires_at: OffsetDateTime,
}

pub enum RotateOutcome {
    Rotated {
        user_id: UserId,
        refresh: IssuedRefresh,
    },
    /// The token had been used before; its family is now revoked.
    Reused,
    /// Unknown, wrong secret, expired or revoked.
    Invalid,
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    user_id: UserId,
    family_id: Uuid,
    secret_hash: Vec<u8>,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

macro_rules! insert_refresh {
    ($tx:ident, $issued:expr, $user_id:expr, $family:expr, $now:expr, $expires_at:expr) => {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, user_id, family_id, secret_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($issued.id)
        .bind($user_id)
        .bind($family)
        .bind(&$issued.secret_hash)
        .bind($now)
        .bind($expires_at)
        .execute(&mut *$tx)
        .await?
    };
}

macro_rules! revoke_family {
    ($tx:ident, $family:expr, $now:expr) => {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind($family)
        .bind($now)
        .execute(&mut *$tx)
        .await?
    };
}

impl Store {
    /// Starts a session (a new family) for a user who just logged in.
    pub async fn start_session(
        &self,
        user_id: UserId,
        lifetime: Duration,
    ) -> Result<IssuedRefresh> {
        let issued = credentials::issue(CredentialKind::Refresh, Uuid::nil());
        let now = OffsetDateTime::now_utc();
        let expires_at = now + lifetime;
        global!(self, Write, |tx| {
            insert_refresh!(tx, issued, user_id, issued.id, now, expires_at);
        });
        Ok(IssuedRefresh {
            token: issued.token,
            expires_at,
        })
    }

    /// Uses a refresh token once: returns its successor, or revokes the family on reuse.
    pub async fn rotate_session(
        &self,
        presented: &PresentedCredential,
        lifetime: Duration,
    ) -> Result<RotateOutcome> {
        let now = OffsetDateTime::now_utc();
        Ok(global!(self, Write, |tx| {
            let row = sqlx::query_as::<_, RefreshRow>(
                "SELECT user_id, family_id, secret_hash, expires_at, used_at, revoked_at
                 FROM refresh_tokens WHERE id = $1",
            )
            .bind(presented.id)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(row) if presented.matches(&row.secret_hash) && row.revoked_at.is_none() => {
                    let claimed = row.used_at.is_none()
                        && sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
                            .bind(presented.id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                            == 1;
                    if !claimed {
                        revoke_family!(tx, row.family_id, now);
                        RotateOutcome::Reused
                    } else if row.expires_at <= now {
                        RotateOutcome::Invalid
                    } else {
                        let issued = credentials::issue(CredentialKind::Refresh, Uuid::nil());
                        let expires_at = now + lifetime;
                        insert_refresh!(tx, issued, row.user_id, row.family_id, now, expires_at);
                        RotateOutcome::Rotated {
                            user_id: row.user_id,
                            refresh: IssuedRefresh {
                                token: issued.token,
                                expires_at,
                            },
                        }
                    }
                }
                _ => RotateOutcome::Invalid,
            }
        }))
    }

    /// Ends the session the refresh token belongs to. Returns whether the token was genuine.
    pub async fn end_session(&self, presented: &PresentedCredential) -> Result<bool> {
        let now = OffsetDateTime::now_utc();
        Ok(global!(self, Write, |tx| {
            let row = sqlx::query_as::<_, RefreshRow>(
                "SELECT user_id, family_id, secret_hash, expires_at, used_at, revoked_at
                 FROM refresh_tokens WHERE id = $1",
            )
            .bind(presented.id)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(row) if presented.matches(&row.secret_hash) => {
                    revoke_family!(tx, row.family_id, now);
                    true
                }
                _ => false,
            }
        }))
    }
}
