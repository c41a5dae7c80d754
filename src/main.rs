use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = signoff::cli::Cli::parse();
    match signoff::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signoff: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
