//! User accounts. A global table, because a login names an email before any organization is
//! known; every read for an organization still goes through its [`OrgScope`].

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::{OrgId, OrgScope, Page, Result, Store, StoreError, UserId};

/// What a user may do. Platform administrators manage organizations and belong to none; the other
/// roles belong to exactly one organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    OrgAdmin,
    Analyst,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::OrgAdmin => "org_admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Self, Self::Err> {
        match value.replace('-', "_").as_str() {
            "platform_admin" => Ok(Role::PlatformAdmin),
            "org_admin" => Ok(Role::OrgAdmin),
            "analyst" => Ok(Role::Analyst),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!(
                "unknown role {other:?} (expected platform_admin, org_admin, analyst or viewer)"
            )),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        value.parse()
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub org_id: Option<OrgId>,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
    pub disabled_at: Option<OffsetDateTime>,
}

/// A user with the password hash, for login only.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LoginRecord {
    #[sqlx(flatten)]
    pub user: User,
    pub password_hash: String,
}

/// A user to create. The password is hashed already (see [`crate::passwords`]).
pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
}

/// The columns of [`User`], for `concat!` into queries (sqlx only takes static SQL).
macro_rules! user_columns {
    () => {
        "id, org_id, email, display_name, role, created_at, last_login_at, disabled_at"
    };
}

/// The one insert of a user row, shared by both creators.
macro_rules! insert_user {
    ($tx:ident, $user:expr, $password_hash:expr) => {
        sqlx::query(
            "INSERT INTO users (id, org_id, email, display_name, password_hash, role, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($user.id)
        .bind($user.org_id)
        .bind(&$user.email)
        .bind(&$user.display_name)
        .bind($password_hash)
        .bind($user.role.as_str())
        .bind($user.created_at)
        .execute(&mut *$tx)
        .await
        .map_err(|error| StoreError::conflict_on_unique(error, "a user with this email"))?
    };
}

impl Store {
    /// Creates a platform administrator (no organization).
    pub async fn create_platform_admin(&self, new: NewUser<'_>) -> Result<User> {
        let user = new_user_row(None, &new, Role::PlatformAdmin);
        global!(self, Write, |tx| {
            insert_user!(tx, user, new.password_hash);
        });
        Ok(user)
    }

    /// Creates a member of `scope`'s organization with an organization role.
    pub async fn create_user(
        &self,
        scope: OrgScope,
        new: NewUser<'_>,
        actor: Actor,
    ) -> Result<User> {
        let user = new_user_row(Some(scope.org_id()), &new, new.role);
        let entry = AuditEntry::new(actor, "user.create", "user", Some(user.id.0))
            .with_detail(format!("{} as {}", user.email, user.role));
        scoped!(self, scope, Write, |tx| {
            insert_user!(tx, user, new.password_hash);
            record_audit!(tx, scope, &entry);
        });
        Ok(user)
    }

    /// The user with this email and the password hash, for login.
    pub async fn find_login(&self, email: &str) -> Result<Option<LoginRecord>> {
        Ok(global!(self, Read, |tx| {
            sqlx::query_as::<_, LoginRecord>(concat!(
                "SELECT ",
                user_columns!(),
                ", password_hash FROM users WHERE email = $1"
            ))
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    /// A user by id, whatever the organization: for the authenticated user's own record.
    pub async fn get_user(&self, id: UserId) -> Result<Option<User>> {
        Ok(global!(self, Read, |tx| {
            sqlx::query_as::<_, User>(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    pub async fn get_org_user(&self, scope: OrgScope, id: UserId) -> Result<Option<User>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, User>(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    pub async fn list_org_users(&self, scope: OrgScope, page: Page) -> Result<Vec<User>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, User>(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(scope.org_id())
            .bind(page.after_bound())
            .bind(page.limit_bound())
            .fetch_all(&mut *tx)
            .await?
        }))
    }

    /// Disables a member: they can no longer log in or refresh. Returns the user, or `None` if
    /// the organization has no such user.
    pub async fn disable_user(
        &self,
        scope: OrgScope,
        id: UserId,
        actor: Actor,
    ) -> Result<Option<User>> {
        let now = OffsetDateTime::now_utc();
        let entry = AuditEntry::new(actor, "user.disable", "user", Some(id.0));
        Ok(scoped!(self, scope, Write, |tx| {
            let user = sqlx::query_as::<_, User>(concat!(
                "UPDATE users SET disabled_at = coalesce(disabled_at, $3)
                     WHERE org_id = $1 AND id = $2 RETURNING ",
                user_columns!()
            ))
            .bind(scope.org_id())
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if user.is_some() {
                record_audit!(tx, scope, &entry);
            }
            user
        }))
    }

    pub async fn record_login(&self, id: UserId) -> Result<()> {
        global!(self, Write, |tx| {
            sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
                .bind(id)
                .bind(OffsetDateTime::now_utc())
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    pub async fn platform_admin_exists(&self) -> Result<bool> {
        Ok(global!(self, Read, |tx| {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users WHERE role = 'platform_admin'")
                .fetch_one(&mut *tx)
                .await?
                > 0
        }))
    }
}

fn new_user_row(org_id: Option<OrgId>, new: &NewUser<'_>, role: Role) -> User {
    User {
        id: UserId::generate(),
        org_id,
        email: new.email.to_owned(),
        display_name: new.display_name.to_owned(),
        role,
        created_at: OffsetDateTime::now_utc(),
        last_login_at: None,
        disabled_at: None,
    }
}
