//! Parsers for the `/proc/<pid>` files the unix attestor reads. Pure functions over text.

/// The ids in `/proc/<pid>/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    /// The effective uid: what the kernel checks for access, and what `SO_PEERCRED`
    /// reports.
    pub(crate) uid: u32,
    /// The effective gid.
    pub(crate) gid: u32,
    /// The supplementary groups.
    pub(crate) groups: Vec<u32>,
}

/// Parses `/proc/<pid>/status`. The `Uid:`/`Gid:` lines hold real, effective, saved and
/// filesystem ids; `Groups:` the supplementary groups (possibly none).
pub(crate) fn parse_status(text: &str) -> Option<Status> {
    let mut uid = None;
    let mut gid = None;
    let mut groups = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let effective = || value.split_whitespace().nth(1)?.parse::<u32>().ok();
        match key {
            "Uid" => uid = effective(),
            "Gid" => gid = effective(),
            "Groups" => {
                groups = value
                    .split_whitespace()
                    .map(str::parse::<u32>)
                    .collect::<Result<Vec<_>, _>>()
                    .ok();
            }
            _ => {}
        }
    }
    Some(Status {
        uid: uid?,
        gid: gid?,
        groups: groups?,
    })
}

/// The start time (clock ticks after boot) in `/proc/<pid>/stat`: the 22nd field. The
/// second field, the command name in parentheses, may itself hold spaces and `)`, so the
/// fields are counted from the last `)`.
pub(crate) fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` begins at field 3 (the state).
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status() {
        let text = "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\n\
                    Uid:\t1000\t1001\t1000\t1001\nGid:\t100\t101\t100\t101\n\
                    FDSize:\t64\nGroups:\t4 24 27 \nNStgid:\t42\n";
        let status = parse_status(text).unwrap();
        assert_eq!(
            status,
            Status {
                uid: 1001,
                gid: 101,
                groups: vec![4, 24, 27]
            }
        );
        let none = parse_status("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n").unwrap();
        assert!(none.groups.is_empty());
        assert_eq!(parse_status("Uid:\t0\t0\t0\t0\nGroups:\t\n"), None);
        assert_eq!(parse_status("Uid:\t0\nGid:\t0\t0\t0\t0\nGroups:\n"), None);
    }

    #[test]
    fn start_time_survives_odd_command_names() {
        let fields = "S 1 42 42 0 -1 4194560 1000 0 0 0 5 3 0 0 20 0 1 0 987654 100000 500";
        assert_eq!(
            parse_start_time(&format!("42 (python3) {fields}")),
            Some(987654)
        );
        assert_eq!(
            parse_start_time(&format!("42 (a) b (c)) {fields}")),
            Some(987654)
        );
        assert_eq!(
            parse_start_time(&format!("42 (x y) {fields}")),
            Some(987654)
        );
        assert_eq!(parse_start_time("42 (short) S 1"), None);
        assert_eq!(parse_start_time("garbage"), None);
    }
}
