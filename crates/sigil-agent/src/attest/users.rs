//! User and group names from `/etc/passwd` and `/etc/group`, for the `unix:user` and
//! `unix:group` selectors.
//!
//! Only the local files are read (no NSS): the agent names what the node itself defines.
//! The first line for an id wins, as with `getpwuid` on files. Malformed lines are skipped.

use std::collections::BTreeMap;

/// uid → user name, from the text of `/etc/passwd` (`name:password:uid:gid:...`).
pub(crate) fn parse_passwd(text: &str) -> BTreeMap<u32, String> {
    parse_id_file(text)
}

/// gid → group name, from the text of `/etc/group` (`name:password:gid:members`).
pub(crate) fn parse_group(text: &str) -> BTreeMap<u32, String> {
    parse_id_file(text)
}

/// Both files put the name first and the numeric id third.
fn parse_id_file(text: &str) -> BTreeMap<u32, String> {
    let mut names = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        // NIS compat lines (`+name`, `-name`) name no local account.
        if name.is_empty() || name.starts_with(['+', '-']) {
            continue;
        }
        if let Ok(id) = id.parse::<u32>() {
            names.entry(id).or_insert_with(|| name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd() {
        let text = "\
root:x:0:0:root:/root:/bin/bash
# a comment

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App User,,,:/home/app:/bin/sh\r
alias:x:1000:1000::/home/alias:/bin/sh
broken:x:notanumber:1::/:/bin/sh
short:x
+nis::::::
:x:7:7::/:/bin/sh
";
        let users = parse_passwd(text);
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&1).map(String::as_str), Some("daemon"));
        assert_eq!(
            users.get(&1000).map(String::as_str),
            Some("app"),
            "first line wins"
        );
        assert_eq!(users.len(), 3, "{users:?}");
    }

    #[test]
    fn group() {
        let text = "root:x:0:\nadm:x:4:syslog,app\nusers:x:100:\nstaff::50:app\nbad:x::\n";
        let groups = parse_group(text);
        assert_eq!(groups.get(&4).map(String::as_str), Some("adm"));
        assert_eq!(groups.get(&50).map(String::as_str), Some("staff"));
        assert_eq!(groups.get(&100).map(String::as_str), Some("users"));
        assert_eq!(groups.len(), 4);
    }
}
