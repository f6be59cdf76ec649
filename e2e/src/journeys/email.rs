//! The welcome e-mail sequence, sent on schedule as the service's clock moves.

use std::collections::BTreeMap;

use anyhow::Context;

use billing_fakes::SentEmail;

use super::world::{EFFECT_DEADLINE, World};
use crate::check;
use crate::stack::Stack;

pub async fn the_welcome_sequence_follows_the_clock(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let clock = w.clock.as_ref().context("this journey needs the service clock")?;
    let (signup, _) = w.signup("welcome", None).await?;
    let mine = |n: usize| messages_to(stack, &signup.email, n);
    check!(mine(1).await?.iter().map(|m| m.template.as_str()).collect::<Vec<_>>() == ["welcome"], "day 0");

    let schedule = [(1, "getting_started"), (3, "setup_verification"), (5, "feature_discovery"), (7, "feedback")];
    let mut day = 0;
    for (n, (due, template)) in schedule.iter().enumerate() {
        clock.advance(chrono::Duration::days(due - day));
        day = *due;
        let sent = mine(n + 2).await?;
        check!(sent.last().is_some_and(|m| m.template == *template), "day {due}: {sent:?}");
    }
    let mut counts = BTreeMap::new();
    for message in mine(5).await? {
        *counts.entry(message.template).or_insert(0) += 1;
    }
    check!(counts.len() == 5 && counts.values().all(|n| *n == 1), "each e-mail once: {counts:?}");
    Ok(())
}

/// Waits until the inbox holds `n` messages, and returns those to `address`.
async fn messages_to(stack: &Stack, address: &str, n: usize) -> anyhow::Result<Vec<SentEmail>> {
    let all = stack.email.wait_for_messages(n, EFFECT_DEADLINE).await?;
    Ok(all.into_iter().filter(|m| m.to == address).collect())
}
