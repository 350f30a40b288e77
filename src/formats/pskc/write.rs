//! Writing a KeyContainer, plain or as RFC 6030 section 6 encrypts it.
//!
//! Each KeyPackage is built in wiped memory and written in one call, so a
//! million tokens stream out without a buffer of secrets that nobody
//! clears. Every element is prefixed `pskc:` (as in RFC 6030's figure 7):
//! the PBKDF2 parameters are then unqualified, as PKCS #5's schema has
//! them, with no default namespace to undo.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::num::NonZeroU32;

use quick_xml::escape::escape;
use ring::rand::SystemRandom;
use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

use super::crypto::{random, Cipher, MacAlg, Prf};
use super::xml::{NS_DS, NS_PKCS5, NS_PSKC, NS_XENC, NS_XENC11};
use super::{HOTP_URI, TOTP_URI};
use crate::formats::{FormatError, PskcKey, WriteOptions};
use crate::token::{OtpKind, Token};

/// Salt length for password-protected files.
const SALT_LEN: usize = 16;
/// AES-128 key derived from a password, as RFC 6030's example does.
const DERIVED_KEY_LEN: usize = 16;
/// The name a pre-shared key is given in `ds:KeyName` (RFC 6030's).
const PRE_SHARED_KEY_NAME: &str = "Pre-shared-key";

/// How the values are protected.
struct Encryption {
    cipher: Cipher,
    key: SecretBox<Vec<u8>>,
    mac: MacAlg,
    mac_key: SecretBox<Vec<u8>>,
}

/// Writes the container; `iterations` is the PBKDF2 count for passwords.
pub(super) fn write(
    tokens: &mut dyn Iterator<Item = &Token>,
    out: &mut dyn Write,
    opts: &WriteOptions,
    iterations: u32,
) -> Result<(), FormatError> {
    let mut w = Writer::new(out, opts, iterations)?;
    for token in tokens {
        w.push(token)?;
    }
    w.finish()
}

/// A KeyContainer being written: the header when made, a KeyPackage per
/// token, the closing tag on [`Writer::finish`].
pub(crate) struct Writer<'w> {
    out: &'w mut dyn Write,
    encryption: Option<Encryption>,
    rng: SystemRandom,
}

impl<'w> Writer<'w> {
    /// Writes the header; `iterations` is the PBKDF2 count for passwords.
    pub(crate) fn new(
        out: &'w mut dyn Write,
        opts: &WriteOptions,
        iterations: u32,
    ) -> Result<Self, FormatError> {
        let rng = SystemRandom::new();
        // The header holds no secret. Here and in `package`, `write!` to a
        // String cannot fail, so its results are ignored.
        let mut header = String::new();
        header.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let encryption = match &opts.pskc_key {
            None => {
                let _ = writeln!(
                    header,
                    "<pskc:KeyContainer xmlns:pskc=\"{NS_PSKC}\" Version=\"1.0\">"
                );
                None
            }
            Some(PskcKey::Password(password)) => {
                let iterations = NonZeroU32::new(iterations)
                    .ok_or_else(|| failed("PBKDF2 needs at least one iteration"))?;
                let salt = random(SALT_LEN, &rng).map_err(failed)?;
                let salt = salt.expose_secret();
                let key = Prf::Sha1.derive(
                    iterations,
                    salt,
                    password.expose_secret().as_bytes(),
                    DERIVED_KEY_LEN,
                );
                let _ = writeln!(
                    header,
                    "<pskc:KeyContainer xmlns:pskc=\"{NS_PSKC}\" xmlns:xenc=\"{NS_XENC}\" \
                     xmlns:xenc11=\"{NS_XENC11}\" xmlns:pkcs5=\"{NS_PKCS5}\" Version=\"1.0\">\n  \
                     <pskc:EncryptionKey>\n    <xenc11:DerivedKey>\n      \
                     <xenc11:KeyDerivationMethod Algorithm=\"{NS_PKCS5}pbkdf2\">\n        \
                     <pkcs5:PBKDF2-params>\n          \
                     <Salt><Specified>{}</Specified></Salt>\n          \
                     <IterationCount>{}</IterationCount>\n          \
                     <KeyLength>{DERIVED_KEY_LEN}</KeyLength>\n        \
                     </pkcs5:PBKDF2-params>\n      </xenc11:KeyDerivationMethod>\n    \
                     </xenc11:DerivedKey>\n  </pskc:EncryptionKey>",
                    data_encoding::BASE64.encode(salt),
                    iterations.get()
                );
                Some(with_mac(Cipher::Aes128, key, MacAlg::Sha1, &rng)?)
            }
            Some(PskcKey::PreShared(key)) => {
                let key = key.expose_secret();
                let cipher = Cipher::for_key_len(key.len()).ok_or_else(|| {
                    failed(format!(
                        "a pre-shared AES key is 16, 24 or 32 bytes long; this one is {}",
                        key.len()
                    ))
                })?;
                let mac = if cipher == Cipher::Aes128 {
                    MacAlg::Sha1
                } else {
                    MacAlg::Sha256
                };
                let _ = writeln!(
                    header,
                    "<pskc:KeyContainer xmlns:pskc=\"{NS_PSKC}\" xmlns:xenc=\"{NS_XENC}\" \
                     xmlns:ds=\"{NS_DS}\" Version=\"1.0\">\n  \
                     <pskc:EncryptionKey>\n    <ds:KeyName>{PRE_SHARED_KEY_NAME}</ds:KeyName>\n  \
                     </pskc:EncryptionKey>"
                );
                Some(with_mac(
                    cipher,
                    SecretBox::new(Box::new(key.to_vec())),
                    mac,
                    &rng,
                )?)
            }
        };
        if let Some(enc) = &encryption {
            let wrapped = enc
                .cipher
                .encrypt(enc.key.expose_secret(), enc.mac_key.expose_secret(), &rng)
                .map_err(failed)?;
            let _ = writeln!(
                header,
                "  <pskc:MACMethod Algorithm=\"{}\">\n    <pskc:MACKey>\n      \
                 <xenc:EncryptionMethod Algorithm=\"{}\"/>\n      \
                 <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>\n    \
                 </pskc:MACKey>\n  </pskc:MACMethod>",
                enc.mac.uri(),
                enc.cipher.uri(),
                data_encoding::BASE64.encode(&wrapped)
            );
        }
        out.write_all(header.as_bytes())?;
        Ok(Writer {
            out,
            encryption,
            rng,
        })
    }

    pub(crate) fn push(&mut self, token: &Token) -> Result<(), FormatError> {
        let package = package(token, self.encryption.as_ref(), &self.rng)?;
        self.out.write_all(package.as_bytes())?;
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<(), FormatError> {
        self.out.write_all(b"</pskc:KeyContainer>\n")?;
        self.out.flush()?;
        Ok(())
    }
}

fn with_mac(
    cipher: Cipher,
    key: SecretBox<Vec<u8>>,
    mac: MacAlg,
    rng: &SystemRandom,
) -> Result<Encryption, FormatError> {
    let mac_key = random(mac.len(), rng).map_err(failed)?;
    Ok(Encryption {
        cipher,
        key,
        mac,
        mac_key,
    })
}

fn failed(problem: impl Into<String>) -> FormatError {
    FormatError::Io(io::Error::other(problem.into()))
}

/// One KeyPackage, in memory that is wiped when dropped.
fn package(
    token: &Token,
    encryption: Option<&Encryption>,
    rng: &SystemRandom,
) -> Result<Zeroizing<String>, FormatError> {
    let p = &token.params;
    let serial = escape(token.serial.as_str());
    let mut s = Zeroizing::new(String::with_capacity(1024));
    let _ = writeln!(s, "  <pskc:KeyPackage>\n    <pskc:DeviceInfo>");
    if let Some(m) = &p.manufacturer {
        let _ = writeln!(
            s,
            "      <pskc:Manufacturer>{}</pskc:Manufacturer>",
            text(token, "manufacturer", m)?
        );
    }
    let _ = writeln!(s, "      <pskc:SerialNo>{serial}</pskc:SerialNo>");
    if let Some(m) = &p.model {
        let _ = writeln!(
            s,
            "      <pskc:Model>{}</pskc:Model>",
            text(token, "model", m)?
        );
    }
    let (uri, moving) = match p.kind {
        OtpKind::Hotp { counter } => (
            HOTP_URI,
            format!("<pskc:Counter><pskc:PlainValue>{counter}</pskc:PlainValue></pskc:Counter>"),
        ),
        OtpKind::Totp { period } => (
            TOTP_URI,
            format!("<pskc:TimeInterval><pskc:PlainValue>{period}</pskc:PlainValue></pskc:TimeInterval>"),
        ),
    };
    // The bare hash name: privacyIDEA's parsePSKCdata takes the Suite
    // text, lower-cased, as its hash name and falls back to SHA1 for any
    // name it does not know (`hmac-sha256` among them).
    let suite = p.algorithm.name();
    let _ = writeln!(
        s,
        "    </pskc:DeviceInfo>\n    <pskc:Key Id=\"{serial}\" Algorithm=\"{uri}\">\n      \
         <pskc:AlgorithmParameters>\n        <pskc:Suite>{suite}</pskc:Suite>\n        \
         <pskc:ResponseFormat Length=\"{}\" Encoding=\"DECIMAL\"/>\n      </pskc:AlgorithmParameters>\n      \
         <pskc:Data>\n        <pskc:Secret>",
        p.digits
    );
    match encryption {
        None => {
            // Room for the rest of the package, so the buffer never moves
            // (leaving an unwiped copy) once it holds the secret.
            s.reserve(data_encoding::BASE64.encode_len(token.seed.len()) + 1024);
            s.push_str("          <pskc:PlainValue>");
            // Encode straight into the wiped buffer: no other copy of the secret.
            data_encoding::BASE64.encode_append(token.seed.expose(), &mut s);
            s.push_str("</pskc:PlainValue>\n");
        }
        Some(enc) => {
            let data = enc
                .cipher
                .encrypt(enc.key.expose_secret(), token.seed.expose(), rng)
                .map_err(failed)?;
            let mac = enc.mac.sign(enc.mac_key.expose_secret(), &data);
            let _ = writeln!(
                s,
                "          <pskc:EncryptedValue>\n            <xenc:EncryptionMethod Algorithm=\"{}\"/>\n            \
                 <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>\n          \
                 </pskc:EncryptedValue>\n          <pskc:ValueMAC>{}</pskc:ValueMAC>",
                enc.cipher.uri(),
                data_encoding::BASE64.encode(&data),
                data_encoding::BASE64.encode(&mac)
            );
        }
    }
    let _ = writeln!(
        s,
        "        </pskc:Secret>\n        {moving}\n      </pskc:Data>\n    </pskc:Key>\n  </pskc:KeyPackage>"
    );
    Ok(s)
}

/// Escapes a manufacturer or model; refuses what XML 1.0 cannot carry.
fn text<'t>(
    token: &Token,
    what: &str,
    value: &'t str,
) -> Result<std::borrow::Cow<'t, str>, FormatError> {
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
    {
        return Err(FormatError::Unrepresentable {
            serial: token.serial.to_string(),
            format: "pskc",
            problem: format!(
                "the {what} contains the control character {c:?}, which XML cannot hold"
            ),
        });
    }
    Ok(escape(value))
}
