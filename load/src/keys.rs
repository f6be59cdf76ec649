//! `load keys`: API keys and Pro customers made on a target through its API, written to the
//! file later runs read with `--keys-file` (what `scripts/create-load-test-keys` runs).

use billing_stack::ApiClient;

use crate::cli::KeysArgs;
use crate::context::RunIdentity;
use crate::error::LoadError;
use crate::setup::{self, KeysFile};
use crate::target::{BaseUrl, guard_production};

pub async fn create(args: KeysArgs) -> Result<KeysFile, LoadError> {
    let base = BaseUrl::parse(&args.target)?;
    guard_production(&base, std::env::var("LOAD_ALLOWED_TARGETS").ok().as_deref(), args.i_know_this_is_production)?;
    let api = ApiClient::new(&base.as_str(), billing_service::tls::client());
    let run = RunIdentity::new(&format!("{:08x}", rand::random::<u32>()), 0, 1);
    let api_keys =
        setup::api_keys(&api, &run, args.count).await.map_err(|err| LoadError::setup("making API keys", err))?;
    // With Stripe access (test mode), the Pro customers' paid invoices are recorded for the
    // webhook scenario's invoice.paid events; without, those events name invented invoices.
    let stripe = setup::stripe_from_env()?;
    if stripe.is_none() && args.pro_customers > 0 {
        eprintln!(
            "STRIPE_SECRET_KEY is not set: the Pro customers' paid invoices are not recorded, so the webhook scenario's \
             invoice.paid events will name invented invoices (which must grant nothing)"
        );
    }
    let pro_customers = setup::pro_customers(&api, &run, args.pro_customers, stripe.as_ref())
        .await
        .map_err(|err| LoadError::setup("making Pro customers", err))?;
    let file = KeysFile {
        target: base.as_str(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        api_keys,
        pro_customers,
    };
    file.write(&args.output)?;
    Ok(file)
}
