//! What the console says to git and reads from it. A branch name reaches a
//! command line only as a [`BranchName`], checked against git's own rules
//! and narrower still: nothing in it means anything to a shell. Answers are
//! read from formats fixed here (fields separated by tabs), and a line that
//! does not read is left out rather than guessed at.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{DomainError, Result};
use crate::ssh::RemoteArgument;

/// `git log -1` as the console reads it: id, committer date, subject.
pub(super) const COMMIT_FORMAT: &str = "--format=%H%x09%cI%x09%s";

/// `git for-each-ref refs/remotes/origin` as the console reads it: the
/// branch (without `refs/remotes/origin/`), then the commit as above.
pub(super) const BRANCH_FORMAT: &str =
    "--format=%(refname:lstrip=3)%09%(objectname)%09%(committerdate:iso-strict)%09%(subject)";

/// The longest branch name taken.
pub const MAX_BRANCH_NAME: usize = 200;

/// A branch name git accepts (`git check-ref-format --branch`), limited to
/// ASCII letters, digits and `/ . _ -`: `main`, `release/1.1`,
/// `feature/menu-hiver`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BranchName(String);

impl BranchName {
    pub fn parse(raw: &str) -> Result<Self> {
        let characters = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'));
        let parts_fine = raw
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"));
        let valid = !raw.is_empty()
            && raw.len() <= MAX_BRANCH_NAME
            && characters
            && parts_fine
            && !raw.starts_with('-')
            && !raw.ends_with('.')
            && !raw.contains("..")
            && raw != "HEAD";
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::invalid("branch", "error-branch-name"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RemoteArgument for BranchName {
    fn as_argument(&self) -> &str {
        &self.0
    }
}

/// A commit's full id, 40 hexadecimal digits in lower case: what a
/// rollback checks out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitId(String);

impl CommitId {
    pub fn parse(raw: &str) -> Result<Self> {
        let valid = raw.len() == 40 && raw.chars().all(|c| c.is_ascii_hexdigit());
        valid
            .then(|| Self(raw.to_ascii_lowercase()))
            .ok_or_else(|| DomainError::invalid("commit", "error-commit-id"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RemoteArgument for CommitId {
    fn as_argument(&self) -> &str {
        &self.0
    }
}

/// What a deploy moves the app to, as git names it: a branch's newest
/// commit as fetched (`origin/<branch>`), or a commit.
pub(super) struct Revision(String);

impl Revision {
    pub fn of_branch(branch: &BranchName) -> Self {
        Self(format!("origin/{}", branch.as_str()))
    }

    pub fn of_commit(commit: &CommitId) -> Self {
        Self(commit.as_str().to_owned())
    }
}

impl RemoteArgument for Revision {
    fn as_argument(&self) -> &str {
        &self.0
    }
}

/// The files whose change between two commits means migrations to apply
/// (Django's layout: `<app>/migrations/*.py`).
pub(super) const MIGRATIONS: &str = ":(glob)**/migrations/*.py";

/// The file whose change means requirements to install.
pub(super) const REQUIREMENTS: &str = "requirements.txt";

/// A commit as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The full id (40 hexadecimal digits).
    pub id: String,
    pub date: OffsetDateTime,
    /// The first line of its message.
    pub subject: String,
}

impl Commit {
    /// The id as people quote it (its first 7 digits).
    pub fn short(&self) -> &str {
        &self.id[..7]
    }
}

/// A branch of the app's remote and its newest commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub name: BranchName,
    pub commit: Commit,
}

/// What a host's app runs and could run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVersion {
    /// The commit checked out in the app directory.
    pub deployed: Commit,
    /// Its branch; `None` when a commit is checked out on its own (after a
    /// rollback to a commit, `git checkout <sha>`).
    pub branch: Option<BranchName>,
    /// The remote's branches as last fetched, by name.
    pub branches: Vec<Branch>,
}

/// A commit from its fields: id, date, subject.
fn commit_of(id: &str, date: &str, subject: &str) -> Option<Commit> {
    let id_fine = id.len() == 40 && id.chars().all(|c| c.is_ascii_hexdigit());
    Some(Commit {
        id: id_fine.then(|| id.to_ascii_lowercase())?,
        date: OffsetDateTime::parse(date, &Rfc3339).ok()?,
        subject: subject.to_owned(),
    })
}

/// A line of [`COMMIT_FORMAT`].
pub(super) fn commit(line: &str) -> Option<Commit> {
    let mut fields = line.splitn(3, '\t');
    commit_of(fields.next()?, fields.next()?, fields.next().unwrap_or(""))
}

/// The lines of [`BRANCH_FORMAT`], by name (`HEAD`, the remote's pointer
/// to its default branch, left out).
pub(super) fn branches(lines: &[String]) -> Vec<Branch> {
    let mut branches: Vec<Branch> = lines
        .iter()
        .filter_map(|line| {
            let (name, rest) = line.split_once('\t')?;
            Some(Branch {
                name: BranchName::parse(name).ok()?,
                commit: commit(rest)?,
            })
        })
        .collect();
    branches.sort_by(|a, b| a.name.cmp(&b.name));
    branches
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn branch_names_git_takes_are_taken_and_the_rest_refused() {
        for fine in ["main", "release/1.1", "feature/menu-hiver", "fix_42", "v2.0-rc1"] {
            assert_eq!(BranchName::parse(fine).unwrap().as_str(), fine);
        }
        for refused in [
            "",
            "-rf",
            "a..b",
            "feature/",
            "/main",
            "a//b",
            ".hidden",
            "x/.y",
            "main.lock",
            "main.",
            "HEAD",
            "a b",
            "a;b",
            "$(id)",
            "`id`",
            "a|b",
            "a&b",
            "a'b",
            "a\"b",
            "a\nb",
            "é",
            "a@{1}",
            "a~1",
            "a^",
            "a:b",
            "a*",
            "a?",
            "a[b",
            "a\\b",
        ] {
            assert!(BranchName::parse(refused).is_err(), "{refused:?} was taken");
        }
        assert!(BranchName::parse(&"a".repeat(MAX_BRANCH_NAME + 1)).is_err());
    }

    proptest! {
        /// Whatever is typed, a name taken carries nothing a shell reads:
        /// quoted or not, it stays one word and means itself.
        #[test]
        fn a_branch_name_taken_holds_no_shell_metacharacter(raw in "\\PC{0,40}") {
            if let Ok(name) = BranchName::parse(&raw) {
                prop_assert!(name.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)));
                prop_assert!(!name.as_str().starts_with('-'));
            }
        }
    }

    #[test]
    fn answers_are_read_field_by_field_and_a_line_that_does_not_read_is_left_out() {
        let head =
            commit("462993920fae5548e9687931624b1804c701d637\t2026-12-03T08:39:16+00:00\tOC Pizza 1.0.0\twith a tab")
                .unwrap();
        assert_eq!(head.short(), "4629939");
        assert_eq!(head.subject, "OC Pizza 1.0.0\twith a tab");
        assert_eq!(head.date, time::macros::datetime!(2026-12-03 08:39:16 UTC));
        assert_eq!(commit("not a commit"), None);
        let lines: Vec<String> = [
            "release/1.1\t1111111111111111111111111111111111111111\t2026-12-01T10:00:00+01:00\tOC Pizza 1.1",
            "HEAD\t4629939200000000000000000000000000000000\t2026-12-03T08:39:16+00:00\tOC Pizza 1.0.0",
            "main\t462993920fae5548e9687931624b1804c701d637\t2026-12-03T08:39:16+00:00\tOC Pizza 1.0.0",
            "bad name;\t462993920fae5548e9687931624b1804c701d637\t2026-12-03T08:39:16+00:00\tx",
            "feature/menu-hiver\tshort\t2026-12-03T08:39:16+00:00\tx",
        ]
        .map(String::from)
        .to_vec();
        let read = branches(&lines);
        let names: Vec<&str> = read.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["main", "release/1.1"]);
    }

    #[test]
    fn a_commit_id_is_forty_hexadecimal_digits_and_nothing_else() {
        let id = "462993920FAE5548E9687931624B1804C701D637";
        assert_eq!(CommitId::parse(id).unwrap().as_str(), id.to_ascii_lowercase());
        for refused in [
            "4629939",
            "",
            "462993920fae5548e9687931624b1804c701d63g",
            "HEAD~1",
            "-f",
        ] {
            assert!(CommitId::parse(refused).is_err(), "{refused:?}");
        }
        let branch = BranchName::parse("release/1.1").unwrap();
        assert_eq!(Revision::of_branch(&branch).as_argument(), "origin/release/1.1");
    }
}
