//! The audit log: what was done (the action) and how it ended (the outcome).
