//! A request's UPN mapping: which Entra user each token goes to.
//!
//! Entra's upload file wants each token's user principal name. Which user
//! gets which token decides who can sign in with it, so the mapping is part
//! of what the officers sign: the creation statement carries the SHA-256
//! of its canonical form ([`UpnMap::sha256`]), the `request_upns` table
//! holds the rows, and export and `audit replay` check the rows against the
//! signed hash before using them. An edited row is tampering, not a new
//! mapping.
//!
//! The file is `serial,upn` per line (blank lines and `#` comments
//! ignored, an optional `serial,upn` header). Every refusal names the line
//! and never repeats a UPN it could not accept.

use std::collections::{BTreeMap, HashMap};

use crate::token::Serial;

/// Longest UPN accepted (Entra's own limit on a user principal name).
pub const MAX_UPN_CHARS: usize = 113;

/// One line of a UPN file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpnLine {
    /// 1-based line in the file.
    pub line: u64,
    /// The token's serial.
    pub serial: Serial,
    /// The user principal name.
    pub upn: String,
}

/// A checked mapping, serial to UPN, in ascending serial order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpnMap(BTreeMap<String, String>);

impl UpnMap {
    /// Builds the map from rows already checked (the table, the log).
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> UpnMap {
        UpnMap(pairs.into_iter().collect())
    }

    /// The UPN of `serial`, if mapped.
    pub fn get(&self, serial: &str) -> Option<&str> {
        self.0.get(serial).map(String::as_str)
    }

    /// Serial and UPN pairs, ascending by serial.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(s, u)| (s.as_str(), u.as_str()))
    }

    /// The mapping, serial to UPN.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// How many serials are mapped.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical form the statement's hash covers: one `serial,upn`
    /// line per serial, LF-terminated, in ascending byte order of serial.
    pub fn canonical(&self) -> String {
        let mut t = String::new();
        for (s, u) in &self.0 {
            t.push_str(s);
            t.push(',');
            t.push_str(u);
            t.push('\n');
        }
        t
    }

    /// Lower-case hex SHA-256 of [`UpnMap::canonical`].
    pub fn sha256(&self) -> String {
        crate::crypto::hex(&crate::crypto::sha256(self.canonical().as_bytes()))
    }
}

/// Why a UPN is not e-mail-like, if it is not: `local@domain`, the local
/// part of letters, digits and `. - _ ! # ^ ~ ' +`, the domain of at least
/// two dot-separated labels of letters, digits and inner `-`. No space,
/// comma or quote can pass, so the CSV cell needs no quoting.
pub fn upn_problem(upn: &str) -> Option<&'static str> {
    if upn.is_empty() {
        return Some("the UPN is empty");
    }
    if upn.chars().count() > MAX_UPN_CHARS {
        return Some("the UPN is longer than Entra's 113 characters");
    }
    let Some((local, domain)) = upn.split_once('@') else {
        return Some("the UPN is not e-mail-like: it has no @");
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_!#^~'+".contains(c));
    if !local_ok {
        return Some("the UPN is not e-mail-like: the part before @ may hold only letters, digits and . - _ ! # ^ ~ ' +");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return Some(
            "the UPN is not e-mail-like: the part after @ must be a domain such as contoso.com",
        );
    }
    None
}

/// Parses a UPN file. Every bad line is reported (`line N: ...`), none
/// echoing what could not be accepted.
pub fn parse_upn_file(text: &str) -> Result<Vec<UpnLine>, Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = u64::try_from(i + 1).unwrap_or(u64::MAX);
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let header = first && l.eq_ignore_ascii_case("serial,upn");
        first = false;
        if header {
            continue;
        }
        let Some((serial, upn)) = l.split_once(',') else {
            bad.push(format!(
                "line {line}: expected `serial,upn` (two fields separated by a comma)"
            ));
            continue;
        };
        if upn.contains(',') {
            bad.push(format!(
                "line {line}: expected `serial,upn`, found more than two fields"
            ));
            continue;
        }
        let serial = match Serial::parse(serial.trim()) {
            Ok(s) => s,
            Err(e) => {
                bad.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let upn = upn.trim();
        if let Some(p) = upn_problem(upn) {
            bad.push(format!("line {line} (serial {serial}): {p}"));
            continue;
        }
        out.push(UpnLine {
            line,
            serial,
            upn: upn.to_owned(),
        });
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

/// Checks the lines against the request's serials: no serial twice, none
/// outside the request, every serial of the request present. Problems go
/// to `problems`; the map comes back only when there were none.
pub(crate) fn check_against(
    lines: &[UpnLine],
    serials: &[String],
    problems: &mut Vec<String>,
) -> Option<UpnMap> {
    let before = problems.len();
    let wanted: std::collections::HashSet<&str> = serials.iter().map(String::as_str).collect();
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut map = BTreeMap::new();
    for l in lines {
        let s = l.serial.as_str();
        if let Some(first) = seen.get(s) {
            problems.push(format!(
                "UPN file line {}: serial {s} is listed twice (first on line {first})",
                l.line
            ));
            continue;
        }
        seen.insert(s, l.line);
        if !wanted.contains(s) {
            problems.push(format!(
                "UPN file line {}: serial {s} is not one of the request's serials",
                l.line
            ));
            continue;
        }
        map.insert(s.to_owned(), l.upn.clone());
    }
    let missing: Vec<&str> = serials
        .iter()
        .map(String::as_str)
        .filter(|s| !seen.contains_key(s))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "the UPN file has no line for {} serial(s) of the request: {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    (problems.len() == before).then_some(UpnMap(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upns_must_be_email_like() {
        for ok in [
            "helga@contoso.com",
            "a.b-c_d+e@sub.contoso.co.uk",
            "O'Neil@x.io",
        ] {
            assert_eq!(upn_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "helga",
            "@contoso.com",
            "helga@contoso",
            "helga@@contoso.com",
            "hel ga@contoso.com",
            "helga@contoso..com",
            "helga@-contoso.com",
            "\"helga\"@contoso.com",
            ".helga@contoso.com",
        ] {
            assert!(upn_problem(bad).is_some(), "{bad:?}");
        }
        assert!(upn_problem(&format!("{}@contoso.com", "a".repeat(110))).is_some());
    }

    #[test]
    fn the_file_is_read_with_every_bad_line_named_and_nothing_echoed() {
        let text = "\u{feff}serial,upn\n# comment\n\n306EUO4-00960, helga@contoso.com \r\n-bad,x@y.com\n7,not an address\n8\n9,a@b.com,extra\n";
        let bad = parse_upn_file(text).unwrap_err();
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(bad[0].starts_with("line 5: "), "{bad:?}");
        assert!(bad[1].starts_with("line 6 (serial 7): "), "{bad:?}");
        assert!(!bad[1].contains("not an address"), "{bad:?}");
        assert!(bad[2].starts_with("line 7: "), "{bad:?}");
        assert!(bad[3].starts_with("line 8: "), "{bad:?}");
        let good = parse_upn_file("306EUO4-00960, helga@contoso.com \n").unwrap();
        assert_eq!(good[0].upn, "helga@contoso.com");
        assert_eq!(good[0].line, 1);
    }

    #[test]
    fn the_lines_must_cover_exactly_the_requests_serials() {
        let lines = parse_upn_file("1,a@b.com\n3,c@b.com\n1,d@b.com\n").unwrap();
        let mut problems = Vec::new();
        let serials = vec!["1".to_owned(), "2".to_owned()];
        assert!(check_against(&lines, &serials, &mut problems).is_none());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("line 2: serial 3 is not one of"));
        assert!(problems[1].contains("line 3: serial 1 is listed twice (first on line 1)"));
        assert!(problems[2].contains("no line for 1 serial(s) of the request: 2"));

        let lines = parse_upn_file("2,b@b.com\n1,a@b.com\n").unwrap();
        let mut problems = Vec::new();
        let map = check_against(&lines, &serials, &mut problems).unwrap();
        assert_eq!(map.canonical(), "1,a@b.com\n2,b@b.com\n");
        assert_eq!(
            map.sha256(),
            crate::crypto::hex(&crate::crypto::sha256(b"1,a@b.com\n2,b@b.com\n"))
        );
    }
}
