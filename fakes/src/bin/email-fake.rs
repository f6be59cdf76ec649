//! `email-fake`: the fake e-mail API as a standalone server; prints its URL, runs until Ctrl-C.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use billing_fakes::EmailFake;
use clap::Parser;

/// A fake transactional e-mail API (POST /v1/messages).
#[derive(Debug, Parser)]
#[command(name = "email-fake", version, about)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "EMAIL_FAKE_PORT", default_value_t = 12112)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "EMAIL_FAKE_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = EmailFake::start_on(SocketAddr::new(args.host, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}; is the port taken? try --port 0", args.host, args.port))?;
    println!("email-fake listening on {}", fake.base_url());
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    Ok(())
}
