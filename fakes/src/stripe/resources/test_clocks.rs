//! `/v1/test_helpers/test_clocks`: Stripe's simulated time. Customers created with `test_clock`
//! live on the clock; advancing it runs every renewal or period-end cancellation that falls due
//! (see `domain::clocks`). `advance` answers at once with `status: "advancing"`; the clock reads
//! `ready` when the work is done.

use serde_json::{Value, json};

use crate::stripe::context::{Ctx, unix_now};
use crate::stripe::domain::clocks::{begin_advance, valid_time};
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;

/// `POST /v1/test_helpers/test_clocks`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let frozen_time = valid_time(p.integer("frozen_time")?.ok_or_else(|| ApiError::missing("frozen_time"))?)?;
    let name = p.clearable_string("name")?.flatten();
    let expansions = p.expand()?;
    p.finish()?;
    let now = unix_now();
    let mut clock = json!({
        "id": new_id(Kind::TestClock.prefix()),
        "object": Kind::TestClock.object(),
        "created": now,
        "deletes_after": now + 30 * 86_400,
        "frozen_time": frozen_time,
        "livemode": false,
        "name": name,
        "status": "ready",
        "status_details": {},
    });
    let text = ctx.store.insert(Kind::TestClock, &clock);
    ctx.emit_text("test_helpers.test_clock.created", text, None, now);
    expand(ctx.store, &mut clock, &expansions);
    Ok(clock)
}

/// `GET /v1/test_helpers/test_clocks/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let _ = p.expand()?;
    p.finish()?;
    ctx.store.get_kind(Kind::TestClock, id, "id")
}

/// `GET /v1/test_helpers/test_clocks`
pub fn list(ctx: &mut Ctx<'_>, p: Params) -> Result<Value, ApiError> {
    expand::list(ctx.store, Kind::TestClock, "/v1/test_helpers/test_clocks", p, None, |_| true)
}

/// `DELETE /v1/test_helpers/test_clocks/{id}`
pub fn delete(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    p.finish()?;
    ctx.store.get_kind(Kind::TestClock, id, "id")?;
    let text = ctx.store.text(id).cloned();
    ctx.store.remove(id);
    if let Some(text) = text {
        ctx.emit_text("test_helpers.test_clock.deleted", text, None, unix_now());
    }
    Ok(json!({ "id": id, "object": Kind::TestClock.object(), "deleted": true }))
}

/// `POST /v1/test_helpers/test_clocks/{id}/advance`
pub fn advance(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let to = valid_time(p.integer("frozen_time")?.ok_or_else(|| ApiError::missing("frozen_time"))?)?;
    let _ = p.expand()?;
    p.finish()?;
    begin_advance(ctx, id, to)
}
