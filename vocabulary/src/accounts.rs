//! Accounts: what a staff member may do (the role).
