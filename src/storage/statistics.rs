//! Planner statistics.
//!
//! SQLite plans without statistics until ANALYZE runs, and then assumes an equality on
//! `org_id` selects a few rows. With one organization of 100,000 users it would scan the
//! organization to test an email or membership lookup instead of reading the few matching
//! rows. PostgreSQL's autovacuum analyzes tables in time, but only after a delay, and an
//! initial sync of an identity provider fills the tables right after they were created: the
//! planner then scanned the organization for `userName eq` lookups. This task analyzes the
//! tables whenever users, groups and memberships together have grown by a quarter.

use std::time::Duration;

use super::sql::query;

use super::{Backend, Store, StorageResult};

/// How often the task checks whether the tables grew.
const CHECK_INTERVAL: Duration = Duration::from_secs(20);
/// Below this many users, every plan is fast and statistics do not matter.
const MIN_ROWS: i64 = 1000;
/// Rows each index samples, which bounds the cost of one ANALYZE to milliseconds.
const ANALYSIS_LIMIT: i64 = 1000;

/// Refreshes statistics now when the tables are large enough, then whenever they have grown
/// by a quarter since the last refresh.
pub fn spawn_refresh(store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut analyzed_at_rows = 0;
        loop {
            match refresh_if_grown(&store, analyzed_at_rows).await {
                Ok(rows) => analyzed_at_rows = rows,
                Err(error) => tracing::warn!(%error, "refreshing planner statistics failed"),
            }
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    })
}

async fn refresh_if_grown(store: &Store, analyzed_at_rows: i64) -> StorageResult<i64> {
    // Users, groups and memberships all count: groups created after the users were analyzed
    // left SQLite believing the group table empty, and it then walked every group to find one
    // user's memberships.
    let rows: i64 = query(
        "SELECT (SELECT COALESCE(MAX(seq), 0) FROM users) + (SELECT COALESCE(MAX(seq), 0) FROM groups) \
         + (SELECT COUNT(*) FROM group_members) AS rows",
    )
    .fetch_one(&mut store.db())
    .await?
    .try_get("rows")?;
    let grown = rows >= MIN_ROWS && rows * 4 > analyzed_at_rows * 5;
    if !grown {
        return Ok(analyzed_at_rows);
    }
    match store.backend() {
        Backend::Sqlite => {
            let mut tx = store.begin_global().await?;
            query(&format!("PRAGMA analysis_limit = {ANALYSIS_LIMIT}")).execute(&mut tx.db()).await?;
            query("ANALYZE").execute(&mut tx.db()).await?;
            tx.commit().await?;
        }
        Backend::Postgres => {
            query("ANALYZE users, user_emails, groups, group_members").execute(&mut store.db()).await?;
        }
    }
    tracing::info!(rows, "refreshed planner statistics");
    Ok(rows)
}
