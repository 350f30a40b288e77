//! Interoperability with the SLIP-0039 reference implementation
//! (`shamir-mnemonic` 0.3.0 from PyPI, in the venv `scripts/test` makes).
//!
//! Why: a custodian's paper share must be recoverable without seedvault.
//! Our shares go to Python and come back as the same secret from every
//! threshold subset; Python's shares (extendable and not) combine here. A
//! missing interpreter or package fails these tests; they never skip.

use std::io::Write;
use std::process::{Command, Stdio};

use ring::rand::{SecureRandom, SystemRandom};
use secrecy::ExposeSecret;
use seedvault::shares::{combine_mnemonics, split, Share};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `script` with the venv's Python, `input` on stdin; returns stdout.
fn run_python(script: &str, input: &str) -> String {
    let mut child = Command::new(crate::common::python())
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the venv's python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to python");
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "python failed (is shamir-mnemonic 0.3.0 installed? run ./scripts/test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 from python")
}

/// All subsets of `0..n` with `k` elements, in lexicographic order.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for first in 0..n {
        for rest in subsets(n, k - 1) {
            if rest.first().is_none_or(|&r| r > first) {
                let mut s = vec![first];
                s.extend(rest);
                all.push(s);
            }
        }
    }
    all
}

fn random_secret(len: usize) -> Vec<u8> {
    let mut secret = vec![0u8; len];
    SystemRandom::new().fill(&mut secret).unwrap();
    secret
}

/// Python's `combine_mnemonics` on each list of mnemonics (JSON list of
/// lists on stdin), one hex secret or "ERROR: ..." per line.
const PY_COMBINE: &str = r#"
import importlib.metadata, json, sys
import shamir_mnemonic
assert importlib.metadata.version("shamir-mnemonic") == "0.3.0", importlib.metadata.version("shamir-mnemonic")
for mnemonics in json.load(sys.stdin):
    try:
        print(shamir_mnemonic.combine_mnemonics(mnemonics, b"").hex())
    except Exception as e:
        print("ERROR: %r" % (e,))
"#;

#[test]
fn python_combines_our_shares_from_every_threshold_subset() {
    let rng = SystemRandom::new();
    for (threshold, count) in [(2u8, 3u8), (3, 5)] {
        let secret = random_secret(32);
        let shares = split(&secret, threshold, count, b"", 1, &rng).unwrap();
        let mnemonics: Vec<String> = shares
            .iter()
            .map(|s| s.to_mnemonic().expose_secret().to_owned())
            .collect();
        let sets: Vec<Vec<&str>> = subsets(usize::from(count), usize::from(threshold))
            .iter()
            .map(|subset| subset.iter().map(|&i| mnemonics[i].as_str()).collect())
            .collect();
        let input = serde_json::to_string(&sets).unwrap();
        let output = run_python(PY_COMBINE, &input);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), sets.len(), "{threshold}-of-{count}: {output}");
        for (subset, line) in subsets(usize::from(count), usize::from(threshold))
            .iter()
            .zip(&lines)
        {
            assert_eq!(
                *line,
                hex(&secret),
                "{threshold}-of-{count}, shares {subset:?}"
            );
        }
    }
}

/// Python's `generate_mnemonics` for the secret in argv, one group 2-of-3,
/// with the extendable flag in argv; prints the mnemonics as JSON.
const PY_GENERATE: &str = r#"
import importlib.metadata, json, sys
import shamir_mnemonic
assert importlib.metadata.version("shamir-mnemonic") == "0.3.0", importlib.metadata.version("shamir-mnemonic")
secret = bytes.fromhex(sys.argv[1])
extendable = sys.argv[2] == "1"
groups = shamir_mnemonic.generate_mnemonics(
    1, [(2, 3)], secret, b"", extendable=extendable, iteration_exponent=1)
print(json.dumps(groups[0]))
"#;

#[test]
fn we_combine_python_shares_extendable_or_not() {
    for extendable in [true, false] {
        let secret = random_secret(32);
        let out = Command::new(crate::common::python())
            .arg("-c")
            .arg(PY_GENERATE)
            .arg(hex(&secret))
            .arg(if extendable { "1" } else { "0" })
            .output()
            .expect("run the venv's python");
        assert!(
            out.status.success(),
            "python failed (is shamir-mnemonic 0.3.0 installed? run ./scripts/test): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mnemonics: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(mnemonics.len(), 3);
        for m in &mnemonics {
            let share = Share::from_mnemonic(m).unwrap();
            assert_eq!(share.extendable(), extendable);
            assert_eq!(share.member_threshold(), 2);
            // Our encoder writes the same words back.
            assert_eq!(share.to_mnemonic().expose_secret(), m.as_str());
        }
        for a in 0..3 {
            for b in 0..3 {
                if a == b {
                    continue;
                }
                let got = combine_mnemonics(&[&mnemonics[a], &mnemonics[b]], b"").unwrap();
                assert_eq!(
                    got.expose_secret(),
                    &secret,
                    "extendable={extendable}, shares {a},{b}"
                );
            }
        }
        // One share alone is refused with the count.
        let err = combine_mnemonics(&[&mnemonics[0]], b"").unwrap_err();
        assert_eq!(err.to_string(), "2 shares needed, 1 given");
    }
}
