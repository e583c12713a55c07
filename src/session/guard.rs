//! The checks handlers share, each written once: a request path's syntax, the reserved
//! `/_SYSTEM` tree and authorization; and, for restricted sessions, filtering records by
//! permission before paging them.

use happn_cluster_sdk::{Error, FindOptions, PathQuery, Record};
use serde_json::json;

use super::Session;
use crate::path;
use crate::security::{Action, PermissionSet, is_system_path};

/// Which characters a request path may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathSyntax {
    /// A record path (`set`): no wildcards.
    Exact,
    /// A path or wildcard pattern (`remove`, `on`).
    Pattern,
    /// Not syntax-checked: a query the datastore reads as given (`get`, `count`).
    Query,
}

/// The error for any request reaching into `/_SYSTEM`.
pub(super) fn reserved() -> Error {
    Error::Forbidden("the /_SYSTEM tree is reserved".into())
}

impl Session {
    /// Checks a request path in order: syntax, normalised form, not under `/_SYSTEM`, and
    /// the session's permission for `action`. Returns the normalised path.
    pub(super) fn checked_path(
        &self,
        raw: &str,
        syntax: PathSyntax,
        action: Action,
    ) -> Result<String, Error> {
        match syntax {
            PathSyntax::Exact => path::validate(raw, false),
            PathSyntax::Pattern => path::validate(raw, true),
            PathSyntax::Query => Ok(()),
        }
        .map_err(|e| Error::bad_input(e.to_string()))?;
        let normal = path::normalise(raw).into_owned();
        if is_system_path(&normal) {
            return Err(reserved());
        }
        // The cluster's channel carries security changesets: only the node itself publishes
        // there (peers still subscribe to it).
        if normal == crate::pubsub::PEERS_ONLY_PATH
            && matches!(action, Action::Set | Action::Remove)
        {
            return Err(Error::Forbidden(format!(
                "{normal} is the cluster's replication channel"
            )));
        }
        match &self.delegation {
            // `onBehalfOf`: the user acted for decides.
            Some(delegation) if !delegation.permissions.allows(action, &normal) => {
                return Err(Error::Forbidden("unauthorized".into()));
            }
            Some(_) => {}
            None => self.ctx.access.authorize(&self.handle, action, &normal)?,
        }
        Ok(normal)
    }

    /// The permissions of a restricted (secure, non-admin) session, whose results must be
    /// filtered record by record; under `onBehalfOf`, the user acted for.
    pub(super) fn restricted(&self) -> Option<std::sync::Arc<PermissionSet>> {
        match &self.delegation {
            Some(delegation) => Some(delegation.permissions.clone()).filter(|p| !p.is_admin()),
            None => self.ctx.access.restricted(&self.handle),
        }
    }

    /// The name a write is recorded under: the user acted for, else the session's user.
    pub(super) fn author(&self) -> Option<&str> {
        match &self.delegation {
            Some(delegation) => self.ctx.access.author(Some(&delegation.username)),
            None => self.ctx.access.author(self.username.as_deref()),
        }
    }
}

/// True if a wildcard query could address records in a reserved tree.
pub(super) fn may_reach_system(query: &PathQuery) -> bool {
    match query {
        PathQuery::Exact(path) => is_system_path(path),
        PathQuery::Wildcard(pattern) => {
            let prefix = pattern.literal_prefix();
            ["/_SYSTEM", "/SYSTEM/DEPLOYMENT"]
                .iter()
                .any(|tree| format!("{tree}/").starts_with(prefix) || prefix.starts_with(tree))
        }
    }
}

/// Narrows `options` to records outside the reserved trees (added to the client's
/// criteria).
pub(super) fn exclude_system(options: &mut FindOptions) -> Result<(), Error> {
    let exclusion = happn_cluster_sdk::Criteria::parse(
        &json!({"_meta.path": {"$not": {"$regex": "^/(_SYSTEM|SYSTEM/DEPLOYMENT)(/|$)"}}}),
    )?;
    options.criteria = Some(match options.criteria.take() {
        Some(criteria) => criteria.and(exclusion),
        None => exclusion,
    });
    Ok(())
}

/// The same find without paging: a restricted session's records are paged after
/// filtering, so the page holds only what it may read.
pub(super) fn unpaged(options: &FindOptions) -> FindOptions {
    FindOptions {
        skip: None,
        limit: None,
        ..options.clone()
    }
}

/// The records `permissions` allow for `action`, then `options`' skip and limit.
pub(super) fn filter_then_page(
    records: Vec<Record>,
    permissions: &PermissionSet,
    action: Action,
    options: &FindOptions,
) -> Vec<Record> {
    records
        .into_iter()
        .filter(|r| permissions.allows(action, &r.path))
        .skip(options.skip.unwrap_or(0) as usize)
        .take(options.limit.map(|l| l as usize).unwrap_or(usize::MAX))
        .collect()
}
