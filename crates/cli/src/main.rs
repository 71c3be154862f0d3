//! The `zerotrace` binary: wiring only. Each subcommand lives in `commands/<name>.rs`.

mod commands;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "zerotrace",
    version,
    about = "Self-hosted security exposure platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: API and workers (embedded SQLite by default; PostgreSQL with DATABASE_URL).
    Serve(commands::serve::Args),
    /// Database maintenance.
    Db(commands::db::Args),
    /// Manage organizations.
    Org(commands::org::Args),
    /// Manage users.
    User(commands::user::Args),
    /// Manage agent enrollment tokens.
    Token(commands::token::Args),
    /// Manage API keys.
    Apikey(commands::apikey::Args),
    /// Compare two versions the way the ecosystem's own tool does.
    Vercmp(commands::vercmp::Args),
    /// Manage the vulnerability knowledge base: import feeds, status, show one vulnerability.
    Vulndb(commands::vulndb::Args),
    /// Scan a directory, lockfile or SBOM for known vulnerabilities, offline.
    Scan(commands::scan::Args),
    /// Load a local server with simulated agents sending realistic inventories; report throughput.
    Loadgen(commands::loadgen::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Db(args) => commands::db::run(args),
        Command::Org(args) => commands::org::run(args),
        Command::User(args) => commands::user::run(args),
        Command::Token(args) => commands::token::run(args),
        Command::Apikey(args) => commands::apikey::run(args),
        Command::Vercmp(args) => commands::vercmp::run(args),
        Command::Vulndb(args) => commands::vulndb::run(args),
        Command::Scan(args) => commands::scan::run(args),
        Command::Loadgen(args) => commands::loadgen::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
