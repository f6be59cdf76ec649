//! `GET /healthz` and nothing else: the load tool's own ceiling, to hold against `wrk` on the
//! same endpoint (`load/bench/run.sh`). Not part of `all`.
//!
//! The smallest scenario, and the one to copy for a new one: an [`About`], a [`Scenario`] that
//! makes its fixtures (none here), a [`Prepared`] whose step sends one request through
//! [`common::send_and_record`], and a line in [`super::REGISTRY`].

use std::sync::Arc;

use billing_stack::ApiRequest;
use goose::prelude::*;
use hyper::StatusCode;

use crate::context::RoundContext;
use crate::error::LoadError;
use crate::scenario::{About, BoxFuture, Prepared, Scenario, Setup};
use crate::scenarios::common;
use crate::target::Needs;

pub const REQUEST: &str = "GET /healthz";

static ABOUT: About = About {
    name: "healthz",
    description: "GET /healthz only: the load tool's own ceiling, to compare with wrk",
    requests: &[REQUEST],
    weight_in_all: 0,
    thresholds: &["error-rate<1%"],
    needs: Needs::NOTHING,
};

pub struct Healthz;

impl Scenario for Healthz {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare<'a>(&'a self, _setup: &'a Setup<'a>) -> BoxFuture<'a, Result<Arc<dyn Prepared>, LoadError>> {
        Box::pin(async { Ok(Arc::new(Probe) as Arc<dyn Prepared>) })
    }
}

struct Probe;

impl Prepared for Probe {
    fn step<'a>(&'a self, user: &'a mut GooseUser, round: &'a RoundContext) -> BoxFuture<'a, TransactionResult> {
        Box::pin(async move {
            let Some(started) = common::start_clock(round).await else { return common::idle().await };
            let request = ApiRequest::healthz();
            common::send_and_record(user, round, started, REQUEST, &request, None, |answer| {
                common::expect(StatusCode::OK, answer, |_| Ok(()))
            })
            .await?;
            Ok(())
        })
    }
}
