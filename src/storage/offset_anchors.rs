//! Anchors for index paging deep into the user list.
//!
//! `GET /Users?startIndex=N` without a filter or a sort is how Okta imports users, a page of
//! 100 after another. An SQL OFFSET steps over every row before the page, so the pages near
//! the end of a million users cost a hundred times the first. This module remembers, for each
//! organization, the `seq` of every `STRIDE`-th live user in list order. A page then starts at
//! the nearest anchor and steps over fewer than `STRIDE` rows.
//!
//! The anchors are valid while the organization's live users neither grew nor shrank: every
//! new user raises the highest `seq`, and every removal or deletion lowers the live count.
//! Each request reads both, so every Hub instance sharing a PostgreSQL database notices the
//! changes of the others. Stale anchors are rebuilt by one scan of the list, once per
//! `REBUILD_PAUSE` per organization. In between, pages use a plain OFFSET. Requests that find
//! the anchors stale at the same moment each scan, because none waits for another. Under
//! steady provisioning, paging then costs what it cost without anchors, plus one scan per
//! pause.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::columns::Columns;
use super::filter_sql::Bind;
use super::{Cost, MapRow, StorageResult, Store};

/// Live users between two anchors.
pub const STRIDE: i64 = 1000;
/// Shortest time between two rebuilds of one organization's anchors.
const REBUILD_PAUSE: Duration = Duration::from_secs(1);

/// The state of the list the anchors were built for: the live user count and the highest `seq`.
type Version = (i64, i64);

struct Anchors {
    version: Version,
    /// `seqs[k]` is the `seq` of the live user at position `k * STRIDE` (0-based).
    seqs: Arc<Vec<i64>>,
    built_at: Instant,
}

/// The anchors of each organization's user list.
#[derive(Default)]
pub struct AnchorCache {
    organizations: Mutex<HashMap<String, Anchors>>,
}

/// A place in the list to start from: the position of a live user and its `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub position: i64,
    pub seq: i64,
}

struct VersionRow;

impl MapRow for VersionRow {
    type Output = Version;
    fn map<R: Columns>(row: &R) -> StorageResult<Version> {
        Ok((row.column("live")?, row.column::<Option<i64>>("top")?.unwrap_or(0)))
    }
}

struct SeqRow;

impl MapRow for SeqRow {
    type Output = i64;
    fn map<R: Columns>(row: &R) -> StorageResult<i64> {
        row.column("seq")
    }
}

impl Store {
    /// Returns the anchor at or before the 0-based `offset` of the organization's live users
    /// in list order, or `None` when a plain OFFSET is to be used.
    pub async fn user_anchor(&self, org_id: &str, offset: i64) -> StorageResult<Option<Anchor>> {
        if offset < STRIDE {
            return Ok(None);
        }
        // The version is read before the anchors are built: a change in between leaves
        // anchors newer than their version, which the next request rebuilds.
        let version = self.user_list_version(org_id).await?;
        let seqs = match self.cached_anchors(org_id, version) {
            Cached::Fresh(seqs) => seqs,
            Cached::Paused => return Ok(None),
            Cached::Stale => self.rebuild_anchors(org_id, version).await?,
        };
        let index = usize::try_from(offset / STRIDE).unwrap_or(usize::MAX).min(seqs.len().saturating_sub(1));
        Ok(seqs.get(index).filter(|_| index > 0).map(|seq| Anchor {
            position: index as i64 * STRIDE,
            seq: *seq,
        }))
    }

    async fn user_list_version(&self, org_id: &str) -> StorageResult<Version> {
        let sql = "SELECT o.live_users AS live, (SELECT MAX(u.seq) FROM users u WHERE u.org_id = $1) AS top \
                   FROM organizations o WHERE o.id = $1"
            .to_string();
        let rows = self.read_rows::<VersionRow>(Cost::Short, sql, vec![Bind::Text(org_id.to_string())]).await?;
        Ok(rows.first().copied().unwrap_or_default())
    }

    fn cached_anchors(&self, org_id: &str, version: Version) -> Cached {
        let Ok(organizations) = self.anchors.organizations.lock() else {
            return Cached::Stale;
        };
        match organizations.get(org_id) {
            Some(anchors) if anchors.version == version => Cached::Fresh(anchors.seqs.clone()),
            Some(anchors) if anchors.built_at.elapsed() < REBUILD_PAUSE => Cached::Paused,
            _ => Cached::Stale,
        }
    }

    async fn rebuild_anchors(&self, org_id: &str, version: Version) -> StorageResult<Arc<Vec<i64>>> {
        let sql = format!(
            "SELECT x.seq AS seq FROM (SELECT u.seq AS seq, ROW_NUMBER() OVER (ORDER BY u.seq) AS n FROM users u \
             WHERE u.org_id = $1 AND u.removed_at IS NULL) x WHERE (x.n - 1) % {STRIDE} = 0 ORDER BY x.seq"
        );
        let started = Instant::now();
        let seqs = Arc::new(self.read_rows::<SeqRow>(Cost::Long, sql, vec![Bind::Text(org_id.to_string())]).await?);
        tracing::debug!(org_id, anchors = seqs.len(), elapsed_ms = started.elapsed().as_millis() as u64, "rebuilt the user list's paging anchors");
        if let Ok(mut organizations) = self.anchors.organizations.lock() {
            organizations.insert(
                org_id.to_string(),
                Anchors {
                    version,
                    seqs: seqs.clone(),
                    built_at: Instant::now(),
                },
            );
        }
        Ok(seqs)
    }
}

enum Cached {
    Fresh(Arc<Vec<i64>>),
    /// Stale, and rebuilt too recently to rebuild again.
    Paused,
    Stale,
}
