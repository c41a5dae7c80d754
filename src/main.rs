use clap::Parser;

fn main() -> std::process::ExitCode {
    // Before the runtime starts its threads (src/allocator.rs).
    signoff::allocator::configure();
    let cli = signoff::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the Tokio runtime starts");
    match runtime.block_on(signoff::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signoff: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
