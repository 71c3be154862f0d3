use std::process::ExitCode;

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use zerotrace_server::fields::Name;
use zerotrace_store::api_keys::ApiScopes;
use zerotrace_store::audit::Actor;

use super::admin::{org_scope, print, rfc3339, with_store};
use super::database::DatabaseArgs;

/// Manage API keys, straight on the database.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create an API key.
    Create {
        /// The organization (id or slug).
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: read, write, ingest, admin.
        #[arg(long, default_value = "read")]
        scopes: ApiScopes,
        /// Days until it expires (never when absent).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=3650))]
        expires_in_days: Option<u16>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Serialize)]
struct ApiKeyOutput {
    id: String,
    org_id: String,
    name: String,
    scopes: String,
    expires_at: Option<String>,
    key: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Command::Create {
        org,
        name,
        scopes,
        expires_in_days,
        json,
        database,
    } = args.command;
    let name = Name::parse(&name).map_err(|reason| anyhow::anyhow!("--name: {reason}"))?;
    let expires_at =
        expires_in_days.map(|days| OffsetDateTime::now_utc() + Duration::days(i64::from(days)));
    let (key, secret) = with_store(&database, async |store, authority| {
        let (_, scope) = org_scope(store, authority, &org).await?;
        Ok(store
            .create_api_key(scope, name.as_str(), scopes, expires_at, Actor::Operator)
            .await?)
    })?;
    let output = ApiKeyOutput {
        id: key.id.to_string(),
        org_id: key.org_id.to_string(),
        name: key.name,
        scopes: key.scopes.to_string(),
        expires_at: key.expires_at.map(rfc3339),
        key: secret,
    };
    print(json, &output, || {
        format!(
            "{}\n(API key {} [{}]; shown only now)",
            output.key, output.id, output.scopes
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
