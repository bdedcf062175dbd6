//! The `bench-server` binary: see the library's `main_with_args`.

fn main() -> std::process::ExitCode {
    bench_server::main_with_args(std::env::args())
}
