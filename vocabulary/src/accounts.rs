//! Accounts: what a staff member may do (the role).

crate::words! {
    /// What an account may do. Ordered: `Viewer < Operator < Admin`; a page
    /// or a server function asks for the least role it needs
    /// (`role >= Role::Operator`).
    #[derive(PartialOrd, Ord)]
    pub enum Role as "role" {
        /// Sees everything but changes nothing.
        Viewer = "viewer",
        /// Also runs actions on the hosts.
        Operator = "operator",
        /// Also manages accounts and hosts.
        Admin = "admin",
    }
}

impl Role {
    /// The translation key of the role's name (`role-admin`).
    pub fn label_key(self) -> &'static str {
        match self {
            Role::Viewer => "role-viewer",
            Role::Operator => "role-operator",
            Role::Admin => "role-admin",
        }
    }
}

crate::words! {
    /// What an API token lets a script do: read, or also operate (run
    /// actions). Never more than its account's role.
    #[derive(PartialOrd, Ord)]
    pub enum TokenScope as "token scope" {
        Read = "read",
        Operate = "operate",
    }
}

impl TokenScope {
    /// The role a token of this scope acts with at most.
    pub fn role(self) -> Role {
        match self {
            TokenScope::Read => Role::Viewer,
            TokenScope::Operate => Role::Operator,
        }
    }

    /// The translation key of the scope's name (`token-scope-read`).
    pub fn label_key(self) -> &'static str {
        match self {
            TokenScope::Read => "token-scope-read",
            TokenScope::Operate => "token-scope-operate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Role, TokenScope};

    #[test]
    fn a_scope_acts_as_a_viewer_or_an_operator_never_an_admin() {
        assert_eq!(TokenScope::Read.role(), Role::Viewer);
        assert_eq!(TokenScope::Operate.role(), Role::Operator);
        assert!("admin".parse::<TokenScope>().is_err());
    }

    #[test]
    fn roles_are_ordered_viewer_operator_admin() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }

    #[test]
    fn a_role_reads_back_as_written_and_an_unknown_one_is_refused() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err());
    }
}
