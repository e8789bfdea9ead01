//! The `.env` file as the console writes and reads it. Written: a comment
//! saying who wrote it, then `NAME='value'` per line — single quotes, which
//! both python-dotenv and a POSIX shell (`set -a; . ./.env`) take
//! literally (values never hold one). Read (drift, import): blank lines and
//! `#` comments skipped, an optional `export `, values bare, in single
//! quotes (literal) or in double quotes (`\"`, `\\`, `\n` unescaped); a
//! line that does not read is counted, never guessed at.

use std::collections::BTreeMap;

use super::names::EnvName;
use crate::secrets::Zeroizing;

/// The file's text for `variables` (in their order), under `header`.
pub(super) fn render(header: &str, variables: &[(EnvName, Zeroizing<String>)]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::new());
    for line in header.lines() {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    for (name, value) in variables {
        text.push_str(name.as_str());
        text.push_str("='");
        text.push_str(value);
        text.push_str("'\n");
    }
    text
}

/// A host's file read: its variables by name, and how many lines did not read.
pub(super) struct ReadFile {
    pub variables: BTreeMap<String, Zeroizing<String>>,
    pub unreadable: usize,
}

pub(super) fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> ReadFile {
    let mut file = ReadFile {
        variables: BTreeMap::new(),
        unreadable: 0,
    };
    for line in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match variable(line) {
            Some((name, value)) => {
                file.variables.insert(name, value);
            }
            None => file.unreadable += 1,
        }
    }
    file
}

fn variable(line: &str) -> Option<(String, Zeroizing<String>)> {
    let line = line.strip_prefix("export ").map_or(line, str::trim_start);
    let (name, raw) = line.split_once('=')?;
    let name = EnvName::parse(name.trim_end()).ok()?;
    let raw = raw.trim_start();
    let value = if let Some(rest) = raw.strip_prefix('\'') {
        let (inside, after) = rest.split_once('\'')?;
        comment_only(after)?;
        inside.to_owned()
    } else if let Some(rest) = raw.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = rest.chars();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        comment_only(chars.as_str())?;
        value
    } else {
        // Bare: up to a ` #` comment.
        raw.split(" #").next().unwrap_or("").trim_end().to_owned()
    };
    Some((name.as_str().to_owned(), Zeroizing::new(value)))
}

/// What follows a quoted value: nothing, or a comment.
fn comment_only(after: &str) -> Option<()> {
    let after = after.trim();
    (after.is_empty() || after.starts_with('#')).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<(String, String)> {
        parse(text.lines())
            .variables
            .into_iter()
            .map(|(name, value)| (name, value.to_string()))
            .collect()
    }

    #[test]
    fn what_the_console_writes_it_reads_back() {
        let vars = vec![
            (EnvName::parse("ENV").unwrap(), Zeroizing::new("Production".to_owned())),
            (
                EnvName::parse("DJANGO_SECRET_KEY").unwrap(),
                Zeroizing::new("a$b\"c\\d #e".to_owned()),
            ),
            (EnvName::parse("EMPTY").unwrap(), Zeroizing::new(String::new())),
        ];
        let text = render("Written by the console\non 2026-12-03", &vars);
        assert!(text.starts_with("# Written by the console\n# on 2026-12-03\nENV='Production'\n"));
        assert_eq!(
            read(&text),
            [
                ("DJANGO_SECRET_KEY".into(), "a$b\"c\\d #e".into()),
                ("EMPTY".into(), String::new()),
                ("ENV".into(), "Production".into())
            ]
        );
    }

    #[test]
    fn a_hand_written_file_reads_as_dotenv_reads_it() {
        let text = "\n# settings\nexport ENV=dev\nPOSTGRES_PORT = 5433 # moved\nMAPS_API_KEY=\"ab\\\"c\"\nbroken line\nlower=1\nOPEN='never closed\n";
        let file = parse(text.lines());
        let vars: Vec<(String, String)> = file.variables.into_iter().map(|(n, v)| (n, v.to_string())).collect();
        assert_eq!(
            vars,
            [
                ("ENV".into(), "dev".into()),
                ("MAPS_API_KEY".into(), "ab\"c".into()),
                ("POSTGRES_PORT".into(), "5433".into())
            ]
        );
        assert_eq!(file.unreadable, 3);
    }
}
