use std::process::ExitCode;

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use zerotrace_server::fields::Name;
use zerotrace_store::audit::Actor;

use super::admin::{org_scope, print, rfc3339, with_store};
use super::database::DatabaseArgs;

/// Manage agent enrollment tokens, straight on the database.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create an enrollment token for `zerotrace-agent enroll`.
    Create {
        /// The organization (id or slug).
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "default")]
        name: String,
        /// How many agents may enroll with it (unlimited when absent).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        max_uses: Option<u32>,
        /// Hours until it expires (never when absent).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=87_600))]
        expires_in_hours: Option<u32>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Serialize)]
struct TokenOutput {
    id: String,
    org_id: String,
    name: String,
    max_uses: Option<i64>,
    expires_at: Option<String>,
    token: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Command::Create {
        org,
        name,
        max_uses,
        expires_in_hours,
        json,
        database,
    } = args.command;
    let name = Name::parse(&name).map_err(|reason| anyhow::anyhow!("--name: {reason}"))?;
    let expires_at =
        expires_in_hours.map(|hours| OffsetDateTime::now_utc() + Duration::hours(i64::from(hours)));
    let (token, secret) = with_store(&database, async |store, authority| {
        let (_, scope) = org_scope(store, authority, &org).await?;
        Ok(store
            .create_enrollment_token(
                scope,
                name.as_str(),
                max_uses.map(i64::from),
                expires_at,
                Actor::Operator,
            )
            .await?)
    })?;
    let output = TokenOutput {
        id: token.id.to_string(),
        org_id: token.org_id.to_string(),
        name: token.name,
        max_uses: token.max_uses,
        expires_at: token.expires_at.map(rfc3339),
        token: secret,
    };
    print(json, &output, || {
        format!(
            "{}\n(enrollment token {}; shown only now)",
            output.token, output.id
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
