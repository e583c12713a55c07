//! Permission evaluation: per-path allow and prohibit sets, unioned over a user's groups.
//! Prohibit beats allow; `count` needs `get`. Permission paths are wildcard patterns in which
//! `*` matches anything, `/` included (`/x/*` covers `/x/1/2` but not `/x`).

use happn_cluster_sdk::WildcardPattern;

/// An action a permission can allow or prohibit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// get and count.
    Get,
    /// set, merge, increment, publish.
    Set,
    /// Subscribing.
    On,
    /// Removing.
    Remove,
}

impl Action {
    fn bit(self) -> u8 {
        match self {
            Action::Get => 1,
            Action::Set => 2,
            Action::On => 4,
            Action::Remove => 8,
        }
    }

    /// The action's name in permission records.
    pub fn name(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::Set => "set",
            Action::On => "on",
            Action::Remove => "remove",
        }
    }
}

/// The bits an action name stands for (`*` is every action); None for unknown names.
pub fn action_bits(name: &str) -> Option<u8> {
    match name {
        "get" => Some(1),
        "set" => Some(2),
        "on" => Some(4),
        "remove" => Some(8),
        "*" => Some(15),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Entry {
    pattern: WildcardPattern,
    allow: u8,
    prohibit: u8,
}

/// Everything one session may do.
#[derive(Debug, Clone, Default)]
pub struct PermissionSet {
    entries: Vec<Entry>,
    admin: bool,
}

impl PermissionSet {
    /// Full access (the `_ADMIN` group).
    pub fn admin() -> Self {
        PermissionSet {
            entries: Vec::new(),
            admin: true,
        }
    }

    /// True for administrators.
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// Adds allowed and prohibited action names on `path`. A path written without its
    /// leading `/` means the same as with it, as request paths do.
    pub fn add(&mut self, path: &str, allow: &[String], prohibit: &[String]) {
        let slashed;
        let path = if path.starts_with('/') || path.starts_with('*') {
            path
        } else {
            slashed = format!("/{path}");
            &slashed
        };
        let bits = |names: &[String]| {
            names
                .iter()
                .filter_map(|n| action_bits(n))
                .fold(0, |a, b| a | b)
        };
        let (allow, prohibit) = (bits(allow), bits(prohibit));
        if allow == 0 && prohibit == 0 {
            return;
        }
        if let Some(entry) = self.entries.iter_mut().find(|e| e.pattern.as_str() == path) {
            entry.allow |= allow;
            entry.prohibit |= prohibit;
        } else {
            self.entries.push(Entry {
                pattern: WildcardPattern::new(path),
                allow,
                prohibit,
            });
        }
    }

    /// True if `action` on `path` is allowed.
    pub fn allows(&self, action: Action, path: &str) -> bool {
        if self.admin {
            return true;
        }
        let bit = action.bit();
        let mut allowed = false;
        for entry in &self.entries {
            if (entry.allow | entry.prohibit) & bit == 0 || !entry.pattern.matches(path) {
                continue;
            }
            if entry.prohibit & bit != 0 {
                return false;
            }
            allowed = true;
        }
        allowed
    }

    /// Number of path entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && !self.admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn union_prohibit_and_greedy_paths() {
        let mut set = PermissionSet::default();
        set.add("/x/*", &names(&["get"]), &[]);
        set.add("/x/*", &names(&["set"]), &[]); // a second group on the same path unions
        set.add("/x/secret/*", &[], &names(&["get"]));
        set.add("/all/*", &names(&["*"]), &[]);
        assert!(set.allows(Action::Get, "/x/1"));
        assert!(set.allows(Action::Get, "/x/1/2"), "* crosses /");
        assert!(set.allows(Action::Set, "/x/1"));
        assert!(!set.allows(Action::Get, "/x"), "/x/* does not cover /x");
        assert!(
            !set.allows(Action::Get, "/x/secret/a"),
            "prohibit beats allow"
        );
        assert!(
            set.allows(Action::Set, "/x/secret/a"),
            "prohibit is per action"
        );
        assert!(!set.allows(Action::On, "/x/1"));
        assert!(
            set.allows(Action::Get, "/x/*"),
            "a wildcard path is checked as a path"
        );
        assert!(set.allows(Action::Remove, "/all/z"));
        assert!(!set.allows(Action::Get, "/X/1"), "case-sensitive");
        assert!(PermissionSet::admin().allows(Action::Remove, "/anything"));
        assert!(!PermissionSet::default().allows(Action::Get, "/a"));
        let mut unslashed = PermissionSet::default();
        unslashed.add("users/alice/*", &names(&["get"]), &[]);
        assert!(
            unslashed.allows(Action::Get, "/users/alice/x"),
            "a permission path without its leading slash still matches"
        );
    }
}
