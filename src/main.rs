//! The `barge` binary: all of it is [`barge::cli::main`] (parse, log, run,
//! print the error, exit with its code), which keeps secrets out of what it
//! prints.

fn main() {
    barge::cli::main();
}
