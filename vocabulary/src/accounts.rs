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

crate::words! {
    /// Who must sign in with a second factor (an admin's choice): such an
    /// account without one is sent to enrol before anything else.
    pub enum SecondFactorPolicy as "second factor policy" {
        Nobody = "nobody",
        Admins = "admins",
        Everyone = "everyone",
    }
}

impl SecondFactorPolicy {
    /// Whether an account of `role` must have a second factor.
    pub fn applies_to(self, role: Role) -> bool {
        match self {
            SecondFactorPolicy::Nobody => false,
            SecondFactorPolicy::Admins => role == Role::Admin,
            SecondFactorPolicy::Everyone => true,
        }
    }

    /// The translation key of the choice (`second-factor-policy-admins`).
    pub fn label_key(self) -> &'static str {
        match self {
            SecondFactorPolicy::Nobody => "second-factor-policy-nobody",
            SecondFactorPolicy::Admins => "second-factor-policy-admins",
            SecondFactorPolicy::Everyone => "second-factor-policy-everyone",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Role, SecondFactorPolicy, TokenScope};

    #[test]
    fn the_second_factor_policy_names_who_must_have_one() {
        assert!(Role::ALL.iter().all(|&r| !SecondFactorPolicy::Nobody.applies_to(r)));
        assert!(SecondFactorPolicy::Admins.applies_to(Role::Admin));
        assert!(!SecondFactorPolicy::Admins.applies_to(Role::Operator));
        assert!(Role::ALL.iter().all(|&r| SecondFactorPolicy::Everyone.applies_to(r)));
        assert!("all".parse::<SecondFactorPolicy>().is_err());
    }

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
