//! Parsing a command line the same way in every command: `--help`/`--version` print and exit 0
//! (with the exit-status table), a bad flag is one line on stderr — `<command>: <what is wrong>`
//! — and exit 2.

use std::process::ExitCode;

use clap::Parser;

use crate::{Exit, EXIT_STATUS_HELP};

/// Parses `args` (`args[0]` is the program name) into `T`.
pub fn parse<T: Parser>(command: &str, args: &[String]) -> Result<T, ExitCode> {
    let matches = T::command()
        .after_help(EXIT_STATUS_HELP)
        .try_get_matches_from(args)
        .and_then(|m| T::from_arg_matches(&m));
    matches.map_err(|e| match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => Exit::Usage.fail(command, first_line(&e.render().to_string())),
    })
}

/// The first line of a rendered clap error, without its `error: ` prefix.
pub fn first_line(rendered: &str) -> &str {
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    first.strip_prefix("error: ").unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    struct Args {
        #[arg(long)]
        count: u8,
    }

    #[test]
    fn a_bad_value_is_a_usage_error_and_help_is_not() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse::<Args>("t", &argv(&["t", "--count", "3"]))
                .unwrap()
                .count,
            3
        );
        assert_eq!(
            parse::<Args>("t", &argv(&["t", "--count", "300"])).unwrap_err(),
            ExitCode::from(2)
        );
        assert_eq!(
            parse::<Args>("t", &argv(&["t", "--help"])).unwrap_err(),
            ExitCode::SUCCESS
        );
        assert_eq!(
            first_line("error: unexpected argument '--x' found\n\nUsage: t"),
            "unexpected argument '--x' found"
        );
    }
}
