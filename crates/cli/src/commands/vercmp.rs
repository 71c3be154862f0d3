//! `zerotrace vercmp`: compare versions the way an ecosystem's own tool does, for scripts.

use std::cmp::Ordering;
use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use zerotrace_version::{Ecosystem, compare};

/// Compare versions: `zerotrace vercmp --ecosystem Debian A B` prints -1, 0 or 1.
///
/// Without versions, reads `A<TAB>B` lines from standard input and prints one result per
/// line, in order; a line that cannot be compared prints `error: <reason>` instead and makes
/// the exit code 2.
#[derive(clap::Args)]
pub struct Args {
    /// Ecosystem name as OSV spells it (Debian, PyPI, npm, Maven, ...); a `:release` suffix
    /// such as `Debian:12` is accepted.
    #[arg(long)]
    pub ecosystem: String,
    /// First version.
    pub a: Option<String>,
    /// Second version.
    pub b: Option<String>,
}

fn sign(order: Ordering) -> &'static str {
    match order {
        Ordering::Less => "-1",
        Ordering::Equal => "0",
        Ordering::Greater => "1",
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ecosystem = Ecosystem::parse(&args.ecosystem);
    match (args.a, args.b) {
        (Some(a), Some(b)) => match compare(&ecosystem, &a, &b) {
            Ok(order) => {
                println!("{}", sign(order));
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("error: {error}");
                Ok(ExitCode::from(2))
            }
        },
        (None, None) => compare_lines(&ecosystem, io::stdin().lock(), io::stdout().lock()),
        _ => anyhow::bail!("give two versions, or none to read `A<TAB>B` lines from stdin"),
    }
}

fn compare_lines(
    ecosystem: &Ecosystem,
    input: impl BufRead,
    output: impl Write,
) -> anyhow::Result<ExitCode> {
    let mut out = BufWriter::with_capacity(1 << 16, output);
    let mut failed = false;
    for (index, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {} of stdin", index + 1))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let result = match line.split_once('\t') {
            Some((a, b)) => compare(ecosystem, a, b).map_err(|e| e.to_string()),
            None => Err(format!(
                "line {}: expected two versions separated by a tab",
                index + 1
            )),
        };
        match result {
            Ok(order) => writeln!(out, "{}", sign(order)),
            Err(reason) => {
                failed = true;
                writeln!(out, "error: {reason}")
            }
        }
        .context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_order_and_errors_take_their_place() {
        let input = "1.0\t1.1\n2:1.0-1\t1:9\nbad line\n1.0\t\n1.0-1\t1.0-1\n";
        let mut output = Vec::new();
        let code = compare_lines(&Ecosystem::Debian, input.as_bytes(), &mut output);
        assert_eq!(code.ok(), Some(ExitCode::from(2)));
        let text = String::from_utf8(output).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines.first(), Some(&"-1"));
        assert_eq!(lines.get(1), Some(&"1"));
        assert!(lines.get(2).is_some_and(|l| l.starts_with("error: line 3")));
        assert_eq!(
            lines.get(3),
            Some(&"error: invalid dpkg version \"\": version string is empty")
        );
        assert_eq!(lines.get(4), Some(&"0"));
    }
}
