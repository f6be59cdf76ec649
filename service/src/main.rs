//! `billing-service`: reads its configuration (flags or environment variables, see `--help`),
//! applies migrations and serves until Ctrl-C or SIGTERM.

use billing_service::{Application, Config, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env();
    telemetry::init(&config.log.format);
    let app = Application::build(config).await?;
    app.run_until(shutdown_signal()).await?;
    tracing::info!("billing service stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
