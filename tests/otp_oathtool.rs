//! Cross-check of the OTP engine against the real `oathtool` (OATH Toolkit):
//! TOTP with SHA1/SHA256/SHA512, 6 and 8 digits, at several times, and HOTP
//! counters. A missing oathtool fails the test; it never skips.

use std::process::Command;

use seedvault::otp;
use seedvault::token::{Algorithm, OtpKind, Seed, TokenParams};

fn oathtool(args: &[&str]) -> String {
    let out = Command::new("oathtool")
        .args(args)
        .output()
        .expect("oathtool runs");
    assert!(
        out.status.success(),
        "oathtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn seed(len: usize, salt: u8) -> Seed {
    Seed::new(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(37).wrapping_add(salt))
            .collect(),
    )
    .unwrap()
}

#[test]
fn totp_matches_oathtool() {
    crate::common::require_tool("oathtool");
    let times: [u64; 5] = [
        59,
        1_111_111_109,
        1_700_000_000,
        1_999_999_999,
        4_102_444_800,
    ];
    for (algorithm, name, len) in [
        (Algorithm::Sha1, "SHA1", 20),
        (Algorithm::Sha256, "SHA256", 32),
        (Algorithm::Sha512, "SHA512", 64),
    ] {
        let s = seed(len, 11);
        let hex = data_encoding::HEXLOWER.encode(s.expose());
        for digits in [6u8, 8] {
            for period in [30u32, 60] {
                for &t in &times {
                    let p = TokenParams {
                        algorithm,
                        digits,
                        kind: OtpKind::Totp { period },
                        manufacturer: None,
                        model: None,
                    };
                    let ours = otp::totp(&s, &p, t);
                    let theirs = oathtool(&[
                        &format!("--totp={name}"),
                        &format!("--digits={digits}"),
                        &format!("--time-step-size={period}s"),
                        &format!("--now=@{t}"),
                        &hex,
                    ]);
                    assert_eq!(ours, theirs, "{name} {digits} digits, {period}s, t={t}");
                    assert_eq!(otp::verify(&s, &p, &theirs, t, 0), Some(0));
                }
            }
        }
    }
}

#[test]
fn hotp_matches_oathtool() {
    crate::common::require_tool("oathtool");
    let s = seed(20, 3);
    let hex = data_encoding::HEXLOWER.encode(s.expose());
    for digits in [6u8, 8] {
        for counter in [0u64, 1, 7, 1000, 123_456_789] {
            let ours = otp::hotp(&s, Algorithm::Sha1, digits, counter);
            let theirs = oathtool(&[
                "--hotp",
                &format!("--digits={digits}"),
                &format!("--counter={counter}"),
                &hex,
            ]);
            assert_eq!(ours, theirs, "{digits} digits, counter {counter}");
        }
    }
}
