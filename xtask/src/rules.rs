//! Source rules of `cargo xtask lint` that no compiler checks: the core's layers depend one way, and every
//! RFC-named test names a section that the core's map lists.

use std::path::{Path, PathBuf};

/// The core's layers and what each may not name (`crate::<name>`): the shared wire types name no role, the
/// resource server names neither side, and the client and the server never name each other.
const LAYERS: [(&str, &[&str]); 4] = [
    ("shared", &["client", "server", "resource"]),
    ("resource", &["client", "server"]),
    ("client", &["server", "resource"]),
    ("server", &["client"]),
];

/// Every `.rs` file under `dir`, recursively, sorted.
pub(crate) fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Which layer a file of `oauth2-core/src` belongs to (`None` for `lib.rs`, which assembles them).
fn layer_of(relative: &Path) -> Option<&'static str> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" => None,
        "client" => Some("client"),
        "server" => Some("server"),
        "resource.rs" | "resource" => Some("resource"),
        _ => Some("shared"),
    }
}

/// The modules of the crate `source` names through `crate::` paths: `crate::a::b`, and `crate::{a, b::c}`.
fn crate_paths(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = source.as_bytes();
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut rest = source;
    while let Some(i) = rest.find("crate::") {
        // Skip `$crate::` and identifiers ending in `crate` (`oauth2_crate::`).
        let start = source.len() - rest.len() + i;
        let before = start.checked_sub(1).map(|j| bytes[j]);
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            out.extend(group[..end].split(',').map(|p| ident(p.trim())).filter(|p| !p.is_empty()));
        } else {
            out.push(ident(rest));
        }
    }
    out
}

/// Fails if a file of one layer of `core_src` names a layer it must not (see [`LAYERS`]).
pub(crate) fn one_way_modules(core_src: &Path) -> Result<usize, String> {
    let mut broken = Vec::new();
    let files = rust_files(core_src);
    for file in &files {
        let relative = file.strip_prefix(core_src).unwrap_or(file);
        let Some(layer) = layer_of(relative) else { continue };
        let forbidden = LAYERS.iter().find(|(l, _)| *l == layer).map(|(_, f)| *f).unwrap_or(&[]);
        let source = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for name in crate_paths(&source) {
            if forbidden.contains(&name.as_str()) {
                broken.push(format!("{} ({layer}) names crate::{name}", relative.display()));
            }
        }
    }
    if broken.is_empty() {
        Ok(files.len())
    } else {
        Err(format!("modules depend the wrong way:\n  {}", broken.join("\n  ")))
    }
}

/// A section of a document: `("RFC 6749", ["4", "1", "2"])`, `("RFC 7636", ["appendix", "b"])`,
/// `("OIDC Core", ["3", "1", "3", "7"])`.
pub(crate) type Section = (String, Vec<String>);

/// The section a test's name enforces, if it is an RFC-named test: `rfc6749_4_1_2_1_errors...` is RFC 6749
/// §4.1.2.1, `rfc7636_appendix_b_...` is RFC 7636 Appendix B, `oidc_core_3_1_3_7_...` is OIDC Core §3.1.3.7
/// (`oidc_discovery_4_...`: OpenID Connect Discovery §4), and
/// `rfc8414_discover...` is RFC 8414 as a whole.
pub(crate) fn section_of_test(name: &str) -> Option<Section> {
    let (doc, rest) = if let Some(rest) = name.strip_prefix("oidc_core_") {
        ("OIDC Core".to_owned(), rest)
    } else if let Some(rest) = name.strip_prefix("oidc_discovery_") {
        ("OIDC Discovery".to_owned(), rest)
    } else {
        let rest = name.strip_prefix("rfc")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() != 4 {
            return None;
        }
        (format!("RFC {digits}"), rest[4..].trim_start_matches('_'))
    };
    let parts: Vec<&str> = rest.split('_').collect();
    let mut comps: Vec<String> = parts
        .iter()
        .take_while(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .map(|p| (*p).to_owned())
        .collect();
    if comps.is_empty() && parts.first() == Some(&"appendix") && parts.len() > 1 {
        comps = vec!["appendix".into(), parts[1].to_ascii_lowercase()];
    }
    Some((doc, comps))
}

/// The sections the map in `lib_rs`'s docs lists: the first cell of each table row, such as
/// `RFC 6749 §2.3, §2.3.1, §3.2.1 (client authentication)` or `RFC 7636 §4.1, Appendix B` (a section without a
/// document belongs to the one before it).
pub(crate) fn map_sections(lib_rs: &str) -> Vec<Section> {
    let mut out = Vec::new();
    for line in lib_rs.lines() {
        let Some(row) = line.trim_start().strip_prefix("//! |") else { continue };
        let cell = row.split('|').next().unwrap_or("");
        let cell = cell.split('(').next().unwrap_or("");
        let mut doc: Option<String> = None;
        for item in cell.split(',') {
            let mut words: Vec<&str> = item.split_whitespace().collect();
            let rfc = words.len() >= 2 && words[0] == "RFC" && words[1].bytes().all(|b| b.is_ascii_digit());
            if rfc || (words.len() >= 2 && words[0] == "OIDC" && ["Core", "Discovery"].contains(&words[1])) {
                doc = Some(format!("{} {}", words[0], words[1]));
                words.drain(..2);
            }
            let Some(d) = doc.clone() else { continue };
            let comps: Vec<String> = match words.as_slice() {
                [] => Vec::new(),
                [s] if s.starts_with('§') => s.trim_start_matches('§').split('.').map(str::to_owned).collect(),
                ["Appendix", x] => vec!["appendix".into(), x.to_ascii_lowercase()],
                _ => continue,
            };
            out.push((d, comps));
        }
    }
    out
}

/// Whether `test` is covered by `entry`: the same document, and one section a prefix of the other (a whole-RFC
/// test is covered by any entry of its RFC).
pub(crate) fn covers(entry: &Section, test: &Section) -> bool {
    let n = entry.1.len().min(test.1.len());
    entry.0 == test.0 && entry.1[..n] == test.1[..n]
}

/// The names of the functions in `source` that look like RFC-named tests.
fn rfc_test_names(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in source.split("fn ").skip(1) {
        let name: String = piece.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if section_of_test(&name).is_some() {
            out.push(name);
        }
    }
    out
}

/// Fails if a test under `roots` names a section that the map in `lib_rs` does not list.
pub(crate) fn rfc_map(lib_rs: &Path, roots: &[PathBuf]) -> Result<usize, String> {
    let map = map_sections(&std::fs::read_to_string(lib_rs).map_err(|e| format!("{}: {e}", lib_rs.display()))?);
    if map.is_empty() {
        return Err(format!("{} has no RFC section map", lib_rs.display()));
    }
    let (mut checked, mut missing) = (0, Vec::new());
    for file in roots.iter().flat_map(|r| rust_files(r)) {
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        for name in rfc_test_names(&source) {
            let Some(section) = section_of_test(&name) else { continue };
            checked += 1;
            if !map.iter().any(|entry| covers(entry, &section)) {
                let shown = if section.1.is_empty() {
                    section.0.clone()
                } else {
                    format!("{} §{}", section.0, section.1.join("."))
                };
                missing.push(format!("{shown} (test {name} in {})", file.display()));
            }
        }
    }
    if missing.is_empty() {
        Ok(checked)
    } else {
        Err(format!("sections missing from the map in {}:\n  {}", lib_rs.display(), missing.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(doc: &str, comps: &[&str]) -> Section {
        (doc.to_owned(), comps.iter().map(|c| (*c).to_owned()).collect())
    }

    #[test]
    fn test_names_give_their_sections() {
        assert_eq!(section_of_test("rfc6749_4_1_2_1_errors_go_back"), Some(sec("RFC 6749", &["4", "1", "2", "1"])));
        assert_eq!(section_of_test("rfc7636_appendix_b_s256_vector"), Some(sec("RFC 7636", &["appendix", "b"])));
        assert_eq!(section_of_test("oidc_discovery_3_metadata"), Some(sec("OIDC Discovery", &["3"])));
        assert_eq!(section_of_test("oidc_core_3_1_3_7_id_token"), Some(sec("OIDC Core", &["3", "1", "3", "7"])));
        assert_eq!(section_of_test("rfc8414_discover_prints"), Some(sec("RFC 8414", &[])));
        assert_eq!(section_of_test("rfc12_short"), None);
        assert_eq!(section_of_test("parse_never_panics"), None);
    }

    #[test]
    fn the_map_is_read_from_table_rows_and_covers_by_prefix() {
        let lib = "//! | RFC section | file |\n//! |---|---|\n//! | RFC 6749 §4.1, §6 (grants) | `a.rs` |\n\
                   //! | RFC 7636 §4.2, Appendix B | `pkce.rs` |\n//! | OIDC Core §3.1.3 | `oidc.rs` |\n";
        let map = map_sections(lib);
        assert_eq!(map.len(), 5, "{map:?}");
        let covered = |t: &str| map.iter().any(|e| covers(e, &section_of_test(t).unwrap()));
        assert!(covered("rfc6749_4_1_2_x"), "an entry covers its subsections");
        assert!(covered("rfc6749_4_y"), "a test of a whole section is covered by an entry inside it");
        assert!(covered("rfc7636_appendix_b_x") && covered("oidc_core_3_1_3_7_x") && covered("rfc6749_z"));
        let discovery = map_sections("//! | OIDC Discovery §3, §4 (metadata) | `metadata.rs` |\n");
        assert_eq!(discovery, [sec("OIDC Discovery", &["3"]), sec("OIDC Discovery", &["4"])]);
        assert!(!covered("rfc6749_5_2_x") && !covered("rfc9700_2_x") && !covered("oidc_core_5_x"));
    }

    #[test]
    fn a_server_file_naming_the_client_breaks_the_rule() {
        let dir = std::env::temp_dir().join(format!("xtask-rules-{}", std::process::id()));
        let write = |path: &str, text: &str| {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        };
        write("lib.rs", "pub mod client; pub mod server;");
        write("error.rs", "pub struct E;");
        write("client/mod.rs", "use crate::error::E;");
        write("server/mod.rs", "use crate::error::E;");
        assert_eq!(one_way_modules(&dir), Ok(4));
        write("server/rules/x.rs", "use crate::{error::E, client::Token};");
        let e = one_way_modules(&dir).unwrap_err();
        assert!(e.contains("server/rules/x.rs (server) names crate::client"), "{e}");
        write("error.rs", "use crate::resource::AccessGrant;");
        assert!(one_way_modules(&dir).unwrap_err().contains("error.rs (shared) names crate::resource"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn crate_paths_are_found_in_both_spellings() {
        let src = "use crate::client::Token;\nuse crate::{error, server::store};\nlet x = $crate::client::x; my_crate::server;";
        assert_eq!(crate_paths(src), ["client", "error", "server"]);
    }
}
