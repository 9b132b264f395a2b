//! Roles, principals and what a route requires.

use serde::{Deserialize, Serialize};

/// A user's role (contracts §2): viewer < operator < admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads incidents, links and the fleet.
    Viewer,
    /// Also acts: approves runbooks.
    Operator,
    /// Also manages users.
    Admin,
}

impl Role {
    /// The role's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a role name (`viewer`, `operator`, `admin`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// What a route requires of the caller's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A user token with at least this role.
    Role(Role),
    /// Permission to write telemetry: the node's ingest token, or an operator or admin.
    Ingest,
}

impl From<Role> for Access {
    fn from(r: Role) -> Self {
        Access::Role(r)
    }
}

/// Who is calling: attached to the request (extensions) by [`super::Auth::require`], so a
/// handler can take `axum::Extension<Principal>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User name (`ingest` for the ingest token; the `sub` or `preferred_username` claim for
    /// an OIDC token).
    pub name: String,
    /// The role, `None` for the ingest token (which may only write telemetry).
    pub role: Option<Role>,
    /// When the token stops being valid, unix ms (`None`: until revoked).
    pub expires_ms: Option<i64>,
}

impl Principal {
    /// Whether this principal may do what `access` requires.
    pub fn allows(&self, access: Access) -> bool {
        match access {
            Access::Role(need) => self.role.is_some_and(|r| r >= need),
            Access::Ingest => self.role.is_none_or(|r| r >= Role::Operator),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Option<Role>) -> Principal {
        Principal {
            name: "x".into(),
            role,
            expires_ms: None,
        }
    }

    #[test]
    fn roles_are_ordered_and_ingest_token_only_ingests() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert!(p(Some(Role::Admin)).allows(Access::Role(Role::Operator)));
        assert!(!p(Some(Role::Viewer)).allows(Access::Role(Role::Operator)));
        assert!(!p(Some(Role::Viewer)).allows(Access::Ingest));
        assert!(p(Some(Role::Operator)).allows(Access::Ingest));
        assert!(p(None).allows(Access::Ingest));
        assert!(!p(None).allows(Access::Role(Role::Viewer)));
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
