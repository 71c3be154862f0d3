use std::process::ExitCode;

use serde::Serialize;
use zerotrace_server::fields::{Name, Slug};
use zerotrace_store::Page;
use zerotrace_store::audit::Actor;
use zerotrace_store::orgs::Organization;

use super::admin::{print, rfc3339, with_store};
use super::database::DatabaseArgs;

/// Manage organizations, straight on the database.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create an organization.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// URL-safe handle (a-z, 0-9, -); derived from the name when absent.
        #[arg(long)]
        slug: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List organizations.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Serialize)]
struct OrgOutput {
    id: String,
    name: String,
    slug: String,
    created_at: String,
}

impl From<&Organization> for OrgOutput {
    fn from(org: &Organization) -> Self {
        OrgOutput {
            id: org.id.to_string(),
            name: org.name.clone(),
            slug: org.slug.clone(),
            created_at: rfc3339(org.created_at),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Create {
            name,
            slug,
            json,
            database,
        } => {
            let name = Name::parse(&name).map_err(|reason| anyhow::anyhow!("--name {reason}"))?;
            let slug = match slug {
                Some(slug) => {
                    Slug::parse(&slug).map_err(|reason| anyhow::anyhow!("--slug {reason}"))?
                }
                None => Slug::from_name(name.as_str()).ok_or_else(|| {
                    anyhow::anyhow!("cannot derive a slug from {name:?}; give --slug")
                })?,
            };
            let org = with_store(&database, async |store, _| {
                Ok(store
                    .create_org(name.as_str(), slug.as_str(), Actor::Operator)
                    .await?)
            })?;
            let output = OrgOutput::from(&org);
            print(json, &output, || {
                format!(
                    "created organization {} ({}) id {}",
                    output.name, output.slug, output.id
                )
            })?;
        }
        Command::List { json, database } => {
            let orgs = with_store(&database, async |store, _| {
                let mut all = Vec::new();
                let mut page = Page::first(Page::MAX_LIMIT);
                loop {
                    let batch = store.list_orgs(page).await?;
                    let full = batch.len() == Page::MAX_LIMIT as usize;
                    page.after = batch.last().map(|org| org.id.0);
                    all.extend(batch);
                    if !full {
                        break Ok(all);
                    }
                }
            })?;
            let output: Vec<OrgOutput> = orgs.iter().map(OrgOutput::from).collect();
            print(json, &output, || {
                output
                    .iter()
                    .map(|org| format!("{}  {:<24} {}", org.id, org.slug, org.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
