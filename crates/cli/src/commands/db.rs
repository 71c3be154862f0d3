use std::process::ExitCode;

use super::database::DatabaseArgs;

/// Database maintenance.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create or update the schema (`serve` also does this at start).
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Migrate { database } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let (store, _) = database.open().await?;
                store.close().await;
                eprintln!("schema is up to date ({})", database.location()?.describe());
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
