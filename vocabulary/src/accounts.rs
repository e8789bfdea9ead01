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

#[cfg(test)]
mod tests {
    use super::Role;

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
