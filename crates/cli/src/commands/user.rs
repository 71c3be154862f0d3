use std::io::BufRead;
use std::process::ExitCode;

use serde::Serialize;
use zerotrace_server::fields::{Email, Name};
use zerotrace_store::audit::Actor;
use zerotrace_store::passwords;
use zerotrace_store::users::{NewUser, Role};

use super::admin::{org_scope, print, with_store};
use super::database::DatabaseArgs;

/// Manage users, straight on the database.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create a user. Prints a generated password unless --password-stdin is given.
    Create {
        #[arg(long)]
        email: String,
        /// platform-admin, org-admin, analyst or viewer.
        #[arg(long)]
        role: Role,
        /// The organization (id or slug); required for every role but platform-admin.
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Serialize)]
struct UserOutput {
    id: String,
    email: String,
    role: Role,
    org_id: Option<String>,
    /// Present only when generated here.
    password: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Command::Create {
        email,
        role,
        org,
        display_name,
        password_stdin,
        json,
        database,
    } = args.command;
    let email = Email::parse(&email).map_err(|reason| anyhow::anyhow!("--email: {reason}"))?;
    let display_name = match display_name {
        Some(name) => {
            Name::parse(&name).map_err(|reason| anyhow::anyhow!("--display-name: {reason}"))?
        }
        None => {
            Name::parse(email.as_str()).map_err(|reason| anyhow::anyhow!("--email: {reason}"))?
        }
    };
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        let length = password.chars().count();
        if !(passwords::MIN_PASSWORD_LEN..=passwords::MAX_PASSWORD_LEN).contains(&length) {
            anyhow::bail!(
                "the password must be {} to {} characters",
                passwords::MIN_PASSWORD_LEN,
                passwords::MAX_PASSWORD_LEN
            );
        }
        (password, false)
    } else {
        (passwords::generate(), true)
    };
    let password_hash = passwords::hash(&password)?;
    let new = NewUser {
        email: email.as_str(),
        display_name: display_name.as_str(),
        password_hash: &password_hash,
        role,
    };
    let user = with_store(&database, async |store, authority| {
        match (role, org.as_deref()) {
            (Role::PlatformAdmin, None) => Ok(store.create_platform_admin(new).await?),
            (Role::PlatformAdmin, Some(_)) => {
                anyhow::bail!("a platform-admin belongs to no organization; drop --org")
            }
            (_, None) => anyhow::bail!("--org is required for the {role} role"),
            (_, Some(org)) => {
                let (_, scope) = org_scope(store, authority, org).await?;
                Ok(store.create_user(scope, new, Actor::Operator).await?)
            }
        }
    })?;
    let output = UserOutput {
        id: user.id.to_string(),
        email: user.email.clone(),
        role: user.role,
        org_id: user.org_id.map(|org| org.to_string()),
        password: generated.then_some(password),
    };
    print(json, &output, || {
        let mut text = format!(
            "created {} {} (id {})",
            output.role, output.email, output.id
        );
        if let Some(password) = &output.password {
            text.push_str(&format!("\npassword: {password}\n(shown only now)"));
        }
        text
    })?;
    Ok(ExitCode::SUCCESS)
}
