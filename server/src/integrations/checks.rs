//! Periodic health checks: every enabled connection is tested each
//! `services.health_check_interval_seconds`, so its health follows the service even while no
//! traffic flows. Replicas share the work through the log: a connection checked recently by
//! any of them is not checked again (two may now and then check the same one at once, which
//! costs one more log entry).

use std::time::Duration;

use chrono::Utc;

use super::Reach;
use super::exchanges::test_and_record;
use crate::domain::integration::Operation;
use crate::store::Store;
use crate::store::service_connections::due_for;

/// Runs the checks until the task is dropped.
pub async fn run(store: Store, reach: Reach, interval: Duration) {
    let every = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::minutes(5));
    loop {
        // A failure to list is reported, and the next round tries again.
        match due_for(
            store.conn(),
            Operation::HealthCheck.as_str(),
            Utc::now() - every,
        )
        .await
        {
            Ok(due) => {
                for row in due {
                    if let Err(e) =
                        test_and_record(&store, &reach, &row, Operation::HealthCheck, None).await
                    {
                        tracing::warn!(connection = %row.id, error = %e.message(), "health check not recorded");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.message(), "listing connections due a health check")
            }
        }
        tokio::time::sleep(
            interval
                .min(Duration::from_secs(60))
                .max(Duration::from_millis(200)),
        )
        .await;
    }
}
