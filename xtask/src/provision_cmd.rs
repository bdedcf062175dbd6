//! `cargo xtask provision`: the system pieces mcpbench needs, checked or installed.

use std::process::ExitCode;

use cli::Exit;
use provision::{Missing, Piece, Refusal};

const PROVISION: &str = "cargo xtask provision";

#[derive(clap::Args)]
pub struct ProvisionArgs {
    /// Only say what is missing (exit 5 when something is); install nothing.
    #[arg(long)]
    check: bool,
    /// The pieces to check or install (default: every one).
    #[arg(value_enum)]
    pieces: Vec<Piece>,
}

pub fn run(args: ProvisionArgs) -> ExitCode {
    let pieces = if args.pieces.is_empty() {
        Piece::ALL.to_vec()
    } else {
        args.pieces
    };
    let outcome = if args.check {
        let absent = provision::check(&pieces);
        if absent.is_empty() {
            Ok(absent)
        } else {
            Err(Missing {
                pieces: absent,
                refusal: Refusal::Checked,
            })
        }
    } else {
        provision::ensure(&pieces)
    };
    match outcome {
        Ok(installed) => {
            for piece in pieces {
                let how = if installed.contains(&piece) {
                    "installed"
                } else {
                    "present"
                };
                println!("{}: {how}", piece.name());
            }
            Exit::Ok.into()
        }
        Err(missing) => Exit::Missing.fail(PROVISION, &missing.to_string()),
    }
}
