//! The text officers sign: request and decision statements.
//!
//! A statement is what a signature covers, so it must mean one thing only.
//! Version 1 wrote free text (a re-export or rejection reason) into its
//! lines as it came, so a reason holding a newline could add a line such
//! as `approved-by: carol` to what an officer signed. Version 2 writes
//! every value as a JSON literal (strings quoted and escaped, counts and
//! times as integers, a missing re-export reason as `null`), and the
//! parser is strict: exactly the expected keys, in order, each value in
//! the one spelling `serde_json` gives it, no control character in any
//! string. Rendering and parsing are inverse, so a vault or an auditor
//! reading a statement back gets exactly the fields that were signed.
//!
//! Version 3 is version 2 with one more line, `upns-sha256`, after
//! `serials-sha256`: the hash of the request's UPN mapping (see
//! `upn.rs`). It is written only for a request that carries a mapping, so
//! a request without one still signs the version 2 text it always did.
//!
//! Version 1 statements already in logs are still parsed (strictly: the
//! exact key sequence, so an injected line makes the statement unreadable
//! instead of changing its meaning) for `audit replay`; new statements are
//! always version 2, and only those authorize an approval or an export.

use serde_json::Value;

/// First line of a version 1 request statement.
pub(crate) const HEADER_V1: &str = "seedvault seed request v1";
/// First line of a version 2 request statement.
pub(crate) const HEADER_V2: &str = "seedvault seed request v2";
/// First line of a version 3 request statement (one with a UPN mapping).
pub(crate) const HEADER_V3: &str = "seedvault seed request v3";

const CREATE_KEYS: [&str; 10] = [
    "vault",
    "request",
    "order",
    "requester",
    "format",
    "recipient",
    "serials",
    "serials-sha256",
    "reexport",
    "created-by",
];

/// Lines of a version 1 or 2 request statement (header included).
const CREATE_LINES: usize = 1 + CREATE_KEYS.len();

/// Lines of a request statement whose first line is `header`.
fn create_lines(header: &str) -> usize {
    if header == HEADER_V3 {
        CREATE_LINES + 1
    } else {
        CREATE_LINES
    }
}

/// What a request statement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStatement {
    /// 1, 2 or 3.
    pub version: u8,
    /// Vault id.
    pub vault: String,
    /// Request id.
    pub request: String,
    /// Order id.
    pub order: String,
    /// Requester's e-mail.
    pub requester: String,
    /// Bundle format name.
    pub format: String,
    /// Primary fingerprint of the recipient certificate.
    pub recipient: String,
    /// Number of serials.
    pub serials: u64,
    /// SHA-256 (hex) of the serials joined by `\n` (v2: in ascending byte
    /// order; v1: in the order of the `request.created` entry).
    pub serials_sha256: String,
    /// Version 3 only: SHA-256 (hex) of the canonical UPN mapping
    /// (`serial,upn` LF-terminated lines, ascending by serial).
    pub upns_sha256: Option<String>,
    /// Re-export reason, if a re-export.
    pub reexport: Option<String>,
    /// Creating officer.
    pub created_by: String,
}

/// What a decision statement adds to the request statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Approved by `by`, valid for export until `expires` (unix seconds).
    Approve {
        /// Approving officer.
        by: String,
        /// Expiry, unix seconds.
        expires: i64,
    },
    /// Rejected by `by` for `reason`.
    Reject {
        /// Rejecting officer.
        by: String,
        /// Why.
        reason: String,
    },
}

/// SHA-256 (hex) of a version 2 serial set: sorted, joined by `\n`.
pub(crate) fn serials_sha256_v2(serials: &[String]) -> String {
    let mut sorted: Vec<&str> = serials.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    crate::crypto::hex(&crate::crypto::sha256(sorted.join("\n").as_bytes()))
}

/// Where free text from a person may not go: a control character (line
/// break, tab, escape...) in it. Returns the 1-based character position of
/// the first one. The refusal names the field and the position, never the
/// text.
pub(crate) fn control_char_at(text: &str) -> Option<usize> {
    text.chars().position(char::is_control).map(|i| i + 1)
}

fn json_str(s: &str) -> String {
    // Serializing a &str into JSON cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

fn line(key: &str, value: &str) -> String {
    format!("{key}: {value}\n")
}

impl RequestStatement {
    /// The canonical text of this statement: version 3 when it carries a
    /// UPN mapping's hash, else version 2 (the `version` field is ignored).
    pub fn render(&self) -> String {
        let header = if self.upns_sha256.is_some() {
            HEADER_V3
        } else {
            HEADER_V2
        };
        let mut t = format!("{header}\n");
        t += &line("vault", &json_str(&self.vault));
        t += &line("request", &json_str(&self.request));
        t += &line("order", &json_str(&self.order));
        t += &line("requester", &json_str(&self.requester));
        t += &line("format", &json_str(&self.format));
        t += &line("recipient", &json_str(&self.recipient));
        t += &line("serials", &self.serials.to_string());
        t += &line("serials-sha256", &json_str(&self.serials_sha256));
        if let Some(h) = &self.upns_sha256 {
            t += &line("upns-sha256", &json_str(h));
        }
        t += &line(
            "reexport",
            &self
                .reexport
                .as_deref()
                .map(json_str)
                .unwrap_or_else(|| "null".into()),
        );
        t += &line("created-by", &json_str(&self.created_by));
        t
    }

    /// Parses a whole request statement (version 1, 2 or 3), strictly.
    pub fn parse(text: &str) -> Result<RequestStatement, String> {
        let lines = split_lines(text)?;
        let want = create_lines(lines[0]);
        if lines.len() != want {
            return Err(format!(
                "a request statement has {want} lines, this one {}",
                lines.len()
            ));
        }
        parse_create(&lines)
    }
}

/// Renders a version 2 decision statement: `request` (the request
/// statement as signed, byte for byte) followed by the decision.
pub fn render_decision(request: &str, d: &Decision) -> String {
    let mut t = request.to_owned();
    match d {
        Decision::Approve { by, expires } => {
            t += &line("decision", &json_str("approve"));
            t += &line("approved-by", &json_str(by));
            t += &line("expires", &expires.to_string());
        }
        Decision::Reject { by, reason } => {
            t += &line("decision", &json_str("reject"));
            t += &line("rejected-by", &json_str(by));
            t += &line("reason", &json_str(reason));
        }
    }
    t
}

/// Parses a whole decision statement (version 1, 2 or 3), strictly.
/// Returns the request statement, its text (the prefix of `text` it
/// occupies) and the decision.
pub fn parse_decision(text: &str) -> Result<(RequestStatement, &str, Decision), String> {
    let lines = split_lines(text)?;
    let n = create_lines(lines[0]);
    if lines.len() != n + 3 {
        return Err(format!(
            "a decision statement has {} lines, this one {}",
            n + 3,
            lines.len()
        ));
    }
    let req = parse_create(&lines[..n])?;
    let prefix_len: usize = lines[..n].iter().map(|l| l.len() + 1).sum();
    let prefix = &text[..prefix_len];
    let v2 = req.version >= 2;
    let rest = &lines[n..];
    let kind = text_value(rest[0], "decision", v2)?;
    let d = match kind.as_str() {
        "approve" => {
            let by = text_value(rest[1], "approved-by", v2)?;
            let expires = int_value(rest[2], "expires", v2)?;
            Decision::Approve { by, expires }
        }
        "reject" => {
            let by = text_value(rest[1], "rejected-by", v2)?;
            let reason = text_value(rest[2], "reason", v2)?;
            Decision::Reject { by, reason }
        }
        _ => {
            return Err(format!(
                "line {}: the decision is neither approve nor reject",
                n + 1
            ))
        }
    };
    Ok((req, prefix, d))
}

/// The lines of `text`, which must end in LF and hold no CR.
fn split_lines(text: &str) -> Result<Vec<&str>, String> {
    let Some(body) = text.strip_suffix('\n') else {
        return Err("a statement ends with a line feed".into());
    };
    Ok(body.split('\n').collect())
}

fn parse_create(all: &[&str]) -> Result<RequestStatement, String> {
    let version = match all[0] {
        HEADER_V1 => 1,
        HEADER_V2 => 2,
        HEADER_V3 => 3,
        _ => return Err("line 1 is not a seed request statement header".into()),
    };
    let v2 = version >= 2;
    // Version 3's extra line is taken out, so the rest lines up with v2.
    let mut lines: Vec<&str> = all.to_vec();
    let upns_sha256 = if version == 3 {
        Some(text_value(lines.remove(9), "upns-sha256", true)?)
    } else {
        None
    };
    let f = |i: usize| text_value(lines[i + 1], CREATE_KEYS[i], v2);
    let serials = int_value(lines[7], "serials", v2)?;
    let reexport = if v2 {
        match value_of(lines[9], "reexport")? {
            "null" => None,
            raw => Some(canonical_string(raw, "reexport")?),
        }
    } else {
        match text_value(lines[9], "reexport", false)? {
            r if r == "no" => None,
            r => Some(r),
        }
    };
    Ok(RequestStatement {
        version,
        vault: f(0)?,
        request: f(1)?,
        order: f(2)?,
        requester: f(3)?,
        format: f(4)?,
        recipient: f(5)?,
        serials: u64::try_from(serials).map_err(|_| "serials is negative".to_string())?,
        serials_sha256: f(7)?,
        upns_sha256,
        reexport,
        created_by: f(9)?,
    })
}

/// The raw value of a `key: value` line whose key must be `key`.
fn value_of<'a>(line: &'a str, key: &str) -> Result<&'a str, String> {
    match line.split_once(": ") {
        Some((k, v)) if k == key => Ok(v),
        _ => Err(format!("expected the line {key:?} here")),
    }
}

/// A JSON string literal in its canonical spelling, with no control
/// character in what it decodes to.
fn canonical_string(raw: &str, key: &str) -> Result<String, String> {
    let s: String =
        serde_json::from_str(raw).map_err(|_| format!("{key} is not a JSON string literal"))?;
    if json_str(&s) != raw {
        return Err(format!("{key} is not in canonical JSON spelling"));
    }
    if control_char_at(&s).is_some() {
        return Err(format!("{key} holds a control character"));
    }
    Ok(s)
}

fn text_value(line: &str, key: &str, v2: bool) -> Result<String, String> {
    let raw = value_of(line, key)?;
    if v2 {
        canonical_string(raw, key)
    } else if control_char_at(raw).is_some() {
        Err(format!("{key} holds a control character"))
    } else {
        Ok(raw.to_owned())
    }
}

fn int_value(line: &str, key: &str, v2: bool) -> Result<i64, String> {
    let raw = value_of(line, key)?;
    let n: i64 = if v2 {
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
        .filter(|n| n.to_string() == raw)
        .ok_or_else(|| format!("{key} is not an integer in canonical spelling"))?
    } else {
        raw.parse()
            .ok()
            .filter(|n: &i64| n.to_string() == raw)
            .ok_or_else(|| format!("{key} is not an integer"))?
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(reexport: Option<&str>) -> RequestStatement {
        RequestStatement {
            version: 2,
            vault: "V1".into(),
            request: "R0001".into(),
            order: "4711".into(),
            requester: "it@acme.example".into(),
            format: "hex".into(),
            recipient: "ABCD".into(),
            serials: 3,
            serials_sha256: "00ff".into(),
            upns_sha256: None,
            reexport: reexport.map(str::to_owned),
            created_by: "alice".into(),
        }
    }

    #[test]
    fn v2_round_trips_with_hostile_text() {
        for r in [
            None,
            Some("lost medium"),
            Some("x: approved-by: carol"),
            Some("quote \" and \\ and é"),
        ] {
            let s = sample(r);
            let text = s.render();
            assert_eq!(RequestStatement::parse(&text).unwrap(), s);
            let d = Decision::Reject {
                by: "bob".into(),
                reason: "no\" decision: \"approve".into(),
            };
            let dt = render_decision(&text, &d);
            let (back, prefix, dd) = parse_decision(&dt).unwrap();
            assert_eq!((back, prefix, dd), (s.clone(), text.as_str(), d));
        }
    }

    #[test]
    fn a_line_break_in_free_text_adds_no_line_and_is_refused() {
        let text = sample(Some("x\napproved-by: \"carol\"")).render();
        assert_eq!(text.lines().count(), CREATE_LINES);
        assert!(text.contains("reexport: \"x\\napproved-by: \\\"carol\\\"\"\n"));
        assert!(RequestStatement::parse(&text)
            .unwrap_err()
            .contains("control character"));
        let d = render_decision(
            &sample(None).render(),
            &Decision::Reject {
                by: "bob".into(),
                reason: "no\ndecision: \"approve\"".into(),
            },
        );
        assert_eq!(d.lines().count(), CREATE_LINES + 3);
        assert!(parse_decision(&d).is_err());
    }

    #[test]
    fn v2_rejects_anything_not_canonical() {
        let text = sample(None).render();
        for bad in [
            text.replace("\"R0001\"", "R0001"),
            text.replace("\"R0001\"", "\"R\\u0030001\""),
            text.replace("serials: 3", "serials: 03"),
            text.replace("serials: 3", "serials: \"3\""),
            text.replace("order: ", "order:  "),
            text.replace("\n", "\r\n"),
            text.clone() + "approved-by: \"carol\"\n",
            text.trim_end().to_owned(),
            text.replace("requester", "Requester"),
        ] {
            assert!(RequestStatement::parse(&bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn v3_carries_the_upn_hash_and_round_trips() {
        let mut s = sample(Some("lost medium"));
        s.upns_sha256 = Some("ab12".into());
        let text = s.render();
        assert!(text.starts_with("seedvault seed request v3\n"));
        assert!(text.contains("serials-sha256: \"00ff\"\nupns-sha256: \"ab12\"\nreexport: "));
        assert_eq!(text.lines().count(), CREATE_LINES + 1);
        let mut back = RequestStatement::parse(&text).unwrap();
        assert_eq!(back.version, 3);
        back.version = 2;
        assert_eq!(back, s);
        let d = Decision::Approve {
            by: "bob".into(),
            expires: 7,
        };
        let dt = render_decision(&text, &d);
        let (req, prefix, dd) = parse_decision(&dt).unwrap();
        assert_eq!(
            (req.upns_sha256.as_deref(), prefix, dd),
            (Some("ab12"), text.as_str(), d)
        );
        // Without the line, or the line in a v2 statement, is unreadable.
        let dropped = text.replace("upns-sha256: \"ab12\"\n", "");
        assert!(RequestStatement::parse(&dropped).is_err());
        let as_v2 = text.replace("request v3", "request v2");
        assert!(RequestStatement::parse(&as_v2).is_err());
        // A statement without a mapping is still version 2.
        assert!(sample(None)
            .render()
            .starts_with("seedvault seed request v2\n"));
    }

    #[test]
    fn v1_is_read_strictly() {
        let v1 = "seedvault seed request v1\nvault: V1\nrequest: R0001\norder: 4711\nrequester: it@acme.example\n\
                  format: hex\nrecipient: ABCD\nserials: 3\nserials-sha256: 00ff\nreexport: no\ncreated-by: alice\n";
        let s = RequestStatement::parse(v1).unwrap();
        assert_eq!(s.version, 1);
        assert_eq!(s.reexport, None);
        let injected = v1.replace("reexport: no", "reexport: x\ncreated-by: mallory");
        assert!(RequestStatement::parse(&injected).is_err());
        let approval = format!("{v1}decision: approve\napproved-by: bob\nexpires: 99\n");
        let (_, prefix, d) = parse_decision(&approval).unwrap();
        assert_eq!(prefix, v1);
        assert_eq!(
            d,
            Decision::Approve {
                by: "bob".into(),
                expires: 99
            }
        );
        let forged =
            format!("{v1}decision: reject\nrejected-by: bob\nreason: x\napproved-by: carol\n");
        assert!(parse_decision(&forged).is_err());
    }
}
