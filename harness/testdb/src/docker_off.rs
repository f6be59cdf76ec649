//! The Docker provider when billing-testdb is built without its `docker` feature, which is the default: the
//! feature brings in testcontainers, whose dependencies (bollard and its generated Engine API models, tonic, prost,
//! serde_with…) cost more to compile on this project's two-core machines than the whole rest of the workspace's
//! dependencies — see the figures in the README — for a provider that most machines here cannot use (no engine;
//! CI uses `DATABASE_URL` or the local binaries). The chain skips Docker with a reason that says how to turn it on;
//! `.ci/run` builds and tests the feature.

use crate::config::ProviderConfig;
use crate::error::TestDbError;

const HOW_TO_TURN_IT_ON: &str = "billing-testdb is built without its `docker` feature (testcontainers): build the \
                                 tests with `--features billing-testdb/docker` to use a Docker engine";

/// Never reachable: the feature is off.
pub(crate) async fn engine_reachable(_config: &ProviderConfig) -> Result<(), String> {
    Err(HOW_TO_TURN_IT_ON.to_owned())
}

/// No container can exist without the feature.
#[derive(Debug)]
pub(crate) enum DockerContainer {}

impl DockerContainer {
    pub(crate) async fn start(_config: &ProviderConfig) -> Result<(Self, String), TestDbError> {
        Err(TestDbError::Docker { action: "starting a container".to_owned(), detail: HOW_TO_TURN_IT_ON.to_owned() })
    }

    pub(crate) fn remove_at_exit(&self) {
        match *self {}
    }
}
