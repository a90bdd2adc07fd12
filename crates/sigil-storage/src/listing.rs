//! Listing the immediate children of a prefix over any ordered key space.
//!
//! Backends store flat keys; `list` must present them as a tree. Walking every descendant would
//! cost time proportional to the size of the subtree, so this walks children instead: after
//! reporting a folder `a/` it seeks straight past every key under it (to the first key after
//! `prefix + "a/" + U+10FFFF...`, which in byte order is the first key not starting with
//! `prefix + "a/"`). Listing costs one seek per child returned.

use std::ops::Bound;

use crate::{Page, Result};

/// Lists children of `prefix`, using `seek(bound)` to find the first stored key within
/// `bound..` (the backend's ordered lookup).
pub(crate) fn children(
    prefix: &str,
    page: Page<'_>,
    mut seek: impl FnMut(Bound<&str>) -> Result<Option<String>>,
) -> Result<Vec<String>> {
    let limit = page.limit.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let mut cursor: String = match page.after {
        Some(after) => past_child(prefix, after),
        None => prefix.to_owned(),
    };
    // Seeking past a folder lands on the first key after it (inclusive); past a leaf, strictly
    // after the leaf itself.
    let mut inclusive = page.after.is_none_or(|a| a.ends_with('/'));
    loop {
        let bound = if inclusive {
            Bound::Included(cursor.as_str())
        } else {
            Bound::Excluded(cursor.as_str())
        };
        let Some(key) = seek(bound)? else { break };
        let Some(rest) = key.strip_prefix(prefix) else {
            break;
        };
        let child = match rest.find('/') {
            Some(i) => &rest[..=i],
            None => rest,
        };
        if child.is_empty() {
            // The prefix itself is a stored key: not one of its children.
            cursor = key.clone();
            inclusive = false;
            continue;
        }
        out.push(child.to_owned());
        if out.len() >= limit {
            break;
        }
        cursor = past_child(prefix, child);
        inclusive = child.ends_with('/');
    }
    Ok(out)
}

/// The seek position after `child`: for a leaf, the leaf's own key (searched exclusively); for a
/// folder `x/`, the key `x0` (`'0'` is the byte after `'/'`), searched inclusively, which skips
/// the folder's whole subtree.
fn past_child(prefix: &str, child: &str) -> String {
    match child.strip_suffix('/') {
        Some(folder) => format!("{prefix}{folder}0"),
        None => format!("{prefix}{child}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn list(keys: &[&str], prefix: &str, after: Option<&str>, limit: Option<usize>) -> Vec<String> {
        let map: BTreeMap<String, ()> = keys.iter().map(|k| ((*k).to_owned(), ())).collect();
        let mut seeks = 0;
        let out = children(prefix, Page { after, limit }, |b| {
            seeks += 1;
            Ok(map
                .range::<str, _>((b, Bound::Unbounded))
                .next()
                .map(|(k, _)| k.clone()))
        })
        .unwrap();
        assert!(
            seeks <= out.len() + 2,
            "{seeks} seeks for {} children",
            out.len()
        );
        out
    }

    #[test]
    fn folders_and_leaves() {
        let keys = ["a", "a/1", "a/2/x", "a0", "b", "c/d/e", "c/f", "z"];
        assert_eq!(
            list(&keys, "", None, None),
            ["a", "a/", "a0", "b", "c/", "z"]
        );
        assert_eq!(list(&keys, "a/", None, None), ["1", "2/"]);
        assert_eq!(list(&keys, "c/", None, None), ["d/", "f"]);
        assert!(list(&keys, "q/", None, None).is_empty());
    }

    #[test]
    fn pagination() {
        let keys = ["a", "a/1", "a0", "b", "c/d/e", "c/f", "z"];
        assert_eq!(list(&keys, "", None, Some(2)), ["a", "a/"]);
        assert_eq!(list(&keys, "", Some("a/"), Some(2)), ["a0", "b"]);
        assert_eq!(list(&keys, "", Some("b"), None), ["c/", "z"]);
        assert_eq!(list(&keys, "", Some("c/"), None), ["z"]);
        assert!(list(&keys, "", Some("z"), None).is_empty());
        assert!(list(&keys, "", None, Some(0)).is_empty());
    }

    #[test]
    fn the_prefix_key_itself_is_not_a_child() {
        let keys = ["p/", "p/x", "p/y/"];
        assert_eq!(list(&keys, "p/", None, None), ["x", "y/"]);
    }
}
