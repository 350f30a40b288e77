//! The container: its header, its keys, and the stream of KeyPackages.
//!
//! The header (root, `EncryptionKey`, `MACMethod`) is read before the first
//! record so that everything about the file as a whole, above all a missing
//! or wrong key, is known before a single token is produced.

use std::io::BufRead;
use std::num::NonZeroU32;

use secrecy::{ExposeSecret, SecretBox};
use zeroize::{Zeroize, Zeroizing};

use super::crypto::{Cipher, MacAlg, Prf};
use super::xml::{Element, Next, Ns, XmlError, XmlStream, NS_PSKC};
use super::{package, MAX_PBKDF2_ITERATIONS};
use crate::formats::problem::shown;
use crate::formats::{FormatError, LocatedRecords, Problem, PskcKey, ReadOptions, RecordError};
use crate::token::Token;

/// The keys that open the values of one file.
pub(super) struct Keys {
    /// The AES key (pre-shared or derived), when there is one.
    pub enc: Option<SecretBox<Vec<u8>>>,
    /// The MAC algorithm and the decrypted MAC key, when the file has a
    /// MACMethod.
    pub mac: Option<(MacAlg, SecretBox<Vec<u8>>)>,
    /// The container declares encryption (EncryptionKey or MACMethod): a
    /// secret in plain text is then refused, since anyone who could write
    /// to the file could have added it, and no MAC would show it.
    pub encrypted: bool,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([REDACTED])")
    }
}

/// Reads the header and returns the stream of the KeyPackages, each with
/// the line its `<KeyPackage>` starts on.
pub(super) fn open<'a>(
    input: Box<dyn BufRead + 'a>,
    opts: &'a ReadOptions,
) -> Result<LocatedRecords<'a>, FormatError> {
    let mut xml = XmlStream::new(input);
    let (root, root_empty) = match xml.next().map_err(structure)? {
        Next::Start(el, empty) => (el, empty),
        Next::End | Next::Eof => {
            return Err(FormatError::Structure {
                line: xml.line(),
                problem: "the file holds no XML element; a PSKC file is one <KeyContainer>".into(),
            })
        }
    };
    if root.ns == Ns::Other && matches!(root.name.as_str(), "KeyContainer" | "SecretContainer") {
        // draft-hoyer-keyprov-*: the container of the drafts before RFC 6030
        // (their own namespaces, PBE-3DES password encryption, Device/Key).
        return Err(FormatError::Structure {
            line: root.line,
            problem: format!(
                "this is a <{}> of a PSKC draft written before RFC 6030 (its namespace is not {NS_PSKC}); \
                 seedvault reads RFC 6030 files only: ask the vendor for an RFC 6030 export",
                root.name
            ),
        });
    }
    if !root.is(Ns::Pskc, "KeyContainer") {
        return Err(FormatError::Structure {
            line: root.line,
            problem: format!(
                "the document is <{}>, not a PSKC <KeyContainer> in the namespace {NS_PSKC}",
                shown(&root.name)
            ),
        });
    }
    // RFC 6030 requires Version="1.0"; a file that leaves it out is read as 1.0.
    if let Some(version) = root.attr("Version") {
        if version.trim() != "1.0" {
            return Err(FormatError::Structure {
                line: root.line,
                problem: format!(
                    "PSKC Version {:?} is not supported; only 1.0 is",
                    shown(version)
                ),
            });
        }
    }

    let mut encryption_key = None;
    let mut mac_method = None;
    let mut pending = None;
    let mut closed = root_empty;
    while !closed {
        match xml.next().map_err(structure)? {
            Next::Start(el, empty) if el.is(Ns::Pskc, "KeyPackage") => {
                pending = Some((el, empty));
                break;
            }
            Next::Start(el, empty) if el.is(Ns::Pskc, "EncryptionKey") => {
                encryption_key = Some(xml.subtree(el, empty).map_err(structure)?);
            }
            Next::Start(el, empty) if el.is(Ns::Pskc, "MACMethod") => {
                mac_method = Some(xml.subtree(el, empty).map_err(structure)?);
            }
            Next::Start(el, empty) => {
                // Signature, Extensions, the drafts' MACAlgorithm: not needed.
                xml.subtree(el, empty).map_err(structure)?;
            }
            Next::End => closed = true,
            Next::Eof => {
                return Err(FormatError::Structure {
                    line: xml.line(),
                    problem: "the file ends before </KeyContainer>: it is truncated".into(),
                })
            }
        }
    }
    if encryption_key.is_none() && mac_method.is_none() && opts.pskc_key.is_some() {
        // Stripping the encryption from a file would also strip its MACs:
        // the person who expected an encrypted file must hear that it is not.
        return Err(FormatError::Structure {
            line: root.line,
            problem: "a key or password was given but the PSKC file is not encrypted; an unencrypted file \
                      carries no MAC to show it was not altered, so it is only read without a key"
                .into(),
        });
    }
    let keys = keys(encryption_key.as_ref(), mac_method.as_ref(), opts)?;
    Ok(Box::new(Packages {
        xml,
        keys,
        pending,
        closed,
        done: false,
    }))
}

/// The stream of tokens, one KeyPackage parsed at a time.
struct Packages<'a> {
    xml: XmlStream<'a>,
    keys: Keys,
    /// A KeyPackage start tag read while looking for the header's end.
    pending: Option<(Element, bool)>,
    /// The container's end tag has been read.
    closed: bool,
    /// Nothing more will be yielded.
    done: bool,
}

impl Iterator for Packages<'_> {
    type Item = Result<(u64, Token), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.closed {
                self.done = true;
                return match self.xml.next() {
                    Ok(Next::Eof) | Ok(Next::End) => None,
                    Ok(Next::Start(el, _)) => Some(Err(record(XmlError {
                        line: el.line,
                        kind: "xml_after_container",
                        problem: "there is an element after </KeyContainer>".into(),
                    }))),
                    Err(e) => Some(Err(record(e))),
                };
            }
            let (head, empty) = match self.pending.take() {
                Some(p) => p,
                None => match self.xml.next() {
                    Ok(Next::Start(el, empty)) => (el, empty),
                    Ok(Next::End) => {
                        self.closed = true;
                        continue;
                    }
                    Ok(Next::Eof) => {
                        self.done = true;
                        let line = self.xml.line();
                        return Some(Err(record(XmlError {
                            line,
                            kind: "xml_truncated",
                            problem: "the file ends before </KeyContainer>: it is truncated".into(),
                        })));
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(record(e)));
                    }
                },
            };
            let is_package = head.is(Ns::Pskc, "KeyPackage");
            let line = head.line;
            match self.xml.subtree(head, empty) {
                Ok(el) if is_package => {
                    return Some(package::token(&el, &self.keys).map(|t| (line, t)))
                }
                // A Signature or an extension after the packages.
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(record(e)));
                }
            }
        }
    }
}

fn record(e: XmlError) -> RecordError {
    RecordError::at(
        e.line,
        Problem::Xml {
            kind: e.kind,
            message: e.problem,
        },
    )
}

fn structure(e: XmlError) -> FormatError {
    FormatError::Structure {
        line: e.line,
        problem: e.problem,
    }
}

fn structure_at(el: &Element, problem: impl Into<String>) -> FormatError {
    FormatError::Structure {
        line: el.line,
        problem: problem.into(),
    }
}

/// Base64 as PSKC files write it: any whitespace inside, padding usually.
/// The error says nothing (a decoder's error names an offset into what
/// may be a secret).
pub(super) fn base64(text: &str) -> Result<Vec<u8>, ()> {
    let compact: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let input = compact.as_bytes();
    let encoding = if input.len() % 4 == 0 {
        &data_encoding::BASE64
    } else {
        &data_encoding::BASE64_NOPAD
    };
    let len = encoding.decode_len(input.len()).map_err(|_| ())?;
    // Decoded in wiped memory: on an error the partial output is a secret too.
    let mut out = Zeroizing::new(vec![0u8; len]);
    let n = encoding.decode_mut(input, &mut out).map_err(|_| ())?;
    out[n..].zeroize();
    out.truncate(n);
    Ok(std::mem::take(&mut *out))
}

/// The cipher and IV || ciphertext of an element holding
/// `xenc:EncryptionMethod` and `xenc:CipherData/xenc:CipherValue`.
pub(super) fn encrypted_data(el: &Element) -> Result<(Cipher, Vec<u8>), &'static str> {
    let method = el
        .child(Ns::Xenc, "EncryptionMethod")
        .ok_or("has no xenc:EncryptionMethod")?;
    let uri = method
        .attr("Algorithm")
        .ok_or("has an EncryptionMethod without Algorithm")?;
    let cipher = Cipher::from_uri(uri).ok_or(
        "names an encryption algorithm that is not supported (aes128-cbc, aes192-cbc, aes256-cbc are)",
    )?;
    let value = el
        .child(Ns::Xenc, "CipherData")
        .and_then(|d| d.child(Ns::Xenc, "CipherValue"))
        .ok_or("has no xenc:CipherData/xenc:CipherValue")?;
    let data = base64(&value.text).map_err(|()| "has a CipherValue that is not valid base64")?;
    Ok((cipher, data))
}

/// Works out the encryption and MAC keys from the header and the options.
fn keys(
    encryption_key: Option<&Element>,
    mac_method: Option<&Element>,
    opts: &ReadOptions,
) -> Result<Keys, FormatError> {
    let encrypted = encryption_key.is_some() || mac_method.is_some();
    let enc = match encryption_key {
        Some(el) => Some(encryption(el, mac_method, opts)?),
        // No EncryptionKey: a pre-shared key given by the caller is still
        // used if a value turns out to be encrypted.
        None => match &opts.pskc_key {
            Some(PskcKey::PreShared(k)) => {
                Some(SecretBox::new(Box::new(k.expose_secret().clone())))
            }
            _ => None,
        },
    };
    let Some(method) = mac_method else {
        return Ok(Keys {
            enc,
            mac: None,
            encrypted,
        });
    };
    let uri = method.attr("Algorithm").unwrap_or_default();
    let alg = MacAlg::from_uri(uri).ok_or_else(|| structure_at(method, mac_uri_problem(uri)))?;
    let mac_key = match method.child(Ns::Pskc, "MACKey") {
        Some(mac_key) => {
            let Some(key) = &enc else {
                return Err(FormatError::KeyNeeded("its MAC key is encrypted".into()));
            };
            let (cipher, data) = encrypted_data(mac_key)
                .map_err(|p| structure_at(mac_key, format!("the MACKey {p}")))?;
            let mut plain = cipher.decrypt(key.expose_secret(), &data).map_err(|p| {
                structure_at(
                    mac_key,
                    format!(
                        "cannot decrypt the MAC key with the key or password given: the key or password is \
                         wrong, or the file was altered ({p})"
                    ),
                )
            })?;
            SecretBox::new(Box::new(std::mem::take(&mut *plain)))
        }
        // No MACKey: the encryption key doubles as the MAC key (what
        // python-pskc does with such files).
        None => match &enc {
            Some(key) => SecretBox::new(Box::new(key.expose_secret().clone())),
            None => {
                return Ok(Keys {
                    enc,
                    mac: None,
                    encrypted,
                })
            }
        },
    };
    Ok(Keys {
        enc,
        mac: Some((alg, mac_key)),
        encrypted,
    })
}

/// The AES key an EncryptionKey element names, from the options.
fn encryption(
    el: &Element,
    mac_method: Option<&Element>,
    opts: &ReadOptions,
) -> Result<SecretBox<Vec<u8>>, FormatError> {
    if let Some(derived) = el.child(Ns::Xenc11, "DerivedKey") {
        let password = match &opts.pskc_key {
            Some(PskcKey::Password(p)) => p,
            Some(PskcKey::PreShared(_)) => return Err(FormatError::KeyNeeded(
                "with a key derived from a password (PBKDF2), and a pre-shared key was given instead of the password"
                    .into(),
            )),
            None => {
                return Err(FormatError::KeyNeeded(
                    "with a key derived from a password (PBKDF2)".into(),
                ))
            }
        };
        let pbkdf2 = Pbkdf2::from_xml(derived, mac_method)?;
        return Ok(pbkdf2.prf.derive(
            pbkdf2.iterations,
            &pbkdf2.salt,
            password.expose_secret().as_bytes(),
            pbkdf2.key_len,
        ));
    }
    // A named pre-shared key, or an empty EncryptionKey (python-pskc
    // writes one for a pre-shared key it was given no name for).
    let key_name = el.child(Ns::Ds, "KeyName");
    if key_name.is_some() || el.children.is_empty() {
        let which = match key_name {
            Some(name) => format!("the pre-shared key {:?}", shown(name.trimmed())),
            None => "an unnamed pre-shared key".to_owned(),
        };
        return match &opts.pskc_key {
            Some(PskcKey::PreShared(k)) => {
                let k = k.expose_secret();
                if Cipher::for_key_len(k.len()).is_none() {
                    return Err(FormatError::KeyNeeded(format!(
                        "with {which}, and the key given is {} bytes; AES keys are 16, 24 or 32",
                        k.len()
                    )));
                }
                Ok(SecretBox::new(Box::new(k.clone())))
            }
            Some(PskcKey::Password(_)) => Err(FormatError::KeyNeeded(format!(
                "with {which}, and a password was given instead of the key"
            ))),
            None => Err(FormatError::KeyNeeded(format!("with {which}"))),
        };
    }
    Err(structure_at(el, encryption_key_problem(el)))
}

/// Why an EncryptionKey is not one seedvault reads, in words that say
/// what the file holds.
fn encryption_key_problem(el: &Element) -> String {
    const SUPPORTED: &str = "seedvault reads a pre-shared key (ds:KeyName) or a PBKDF2 password \
                             (xenc11:DerivedKey, namespace http://www.w3.org/2009/xmlenc11#), as RFC 6030 section 6 has them";
    let Some(first) = el.children.first() else {
        return format!("EncryptionKey is empty; {SUPPORTED}");
    };
    match (first.ns, first.name.as_str()) {
        (_, "DerivedKey") => format!(
            "EncryptionKey holds a password-based key (DerivedKey) outside the XML Encryption 1.1 namespace: \
             the layout of the PSKC drafts before RFC 6030 (draft-ietf-keyprov-pskc); {SUPPORTED}. \
             Ask the vendor for an RFC 6030 export"
        ),
        (Ns::Ds, "X509Data" | "KeyValue" | "RetrievalMethod") => format!(
            "EncryptionKey names an asymmetric key (ds:{}): encryption to a private key is not supported; {SUPPORTED}",
            first.name
        ),
        _ => format!(
            "EncryptionKey holds <{}>, which is not supported; {SUPPORTED}",
            shown(&first.name)
        ),
    }
}

/// Why a MACMethod algorithm URI is refused. A known HMAC under the wrong
/// namespace (e.g. `xmldsig-more#hmac-sha1`, which no standard defines:
/// HMAC-SHA1 is in XML Signature's own namespace) is named as such.
fn mac_uri_problem(uri: &str) -> String {
    let supported: Vec<&str> = [MacAlg::Sha1, MacAlg::Sha256, MacAlg::Sha384, MacAlg::Sha512]
        .iter()
        .map(|a| a.uri())
        .collect();
    let fragment = uri.trim().rsplit('#').next().unwrap_or_default();
    let meant = supported
        .iter()
        .find(|s| s.rsplit('#').next() == Some(fragment) && !fragment.is_empty());
    match meant {
        Some(right) => format!(
            "MACMethod algorithm {:?} is not a standard URI: {fragment} is identified as {right}; \
             the supported MAC algorithm URIs are {}",
            shown(uri),
            supported.join(", ")
        ),
        None => format!(
            "MACMethod algorithm {:?} is not supported; the supported MAC algorithm URIs are {}",
            shown(uri),
            supported.join(", ")
        ),
    }
}

/// The PBKDF2 parameters of a DerivedKey.
struct Pbkdf2 {
    salt: Vec<u8>,
    iterations: NonZeroU32,
    key_len: usize,
    prf: Prf,
}

impl Pbkdf2 {
    fn from_xml(derived: &Element, mac_method: Option<&Element>) -> Result<Pbkdf2, FormatError> {
        let method = derived
            .child(Ns::Xenc11, "KeyDerivationMethod")
            .ok_or_else(|| structure_at(derived, "DerivedKey has no KeyDerivationMethod"))?;
        let uri = method.attr("Algorithm").unwrap_or_default();
        if !uri.trim().ends_with("pkcs-5v2-0#pbkdf2") {
            return Err(structure_at(
                method,
                format!(
                    "key derivation {:?} is not supported; only PBKDF2 is",
                    shown(uri)
                ),
            ));
        }
        let params = method.child_any_ns("PBKDF2-params").ok_or_else(|| {
            structure_at(
                method,
                "the PBKDF2 KeyDerivationMethod has no PBKDF2-params",
            )
        })?;
        let salt = params
            .child_any_ns("Salt")
            .and_then(|s| s.child_any_ns("Specified"))
            .ok_or_else(|| structure_at(params, "PBKDF2-params has no Salt/Specified"))?;
        let salt = base64(&salt.text)
            .map_err(|()| structure_at(salt, "the PBKDF2 salt is not valid base64"))?;
        let count = params
            .child_any_ns("IterationCount")
            .ok_or_else(|| structure_at(params, "PBKDF2-params has no IterationCount"))?;
        let iterations = count
            .trimmed()
            .parse::<u32>()
            .ok()
            .and_then(NonZeroU32::new)
            .filter(|n| n.get() <= MAX_PBKDF2_ITERATIONS)
            .ok_or_else(|| {
                structure_at(
                    count,
                    format!(
                        "PBKDF2 IterationCount {:?} is not a number from 1 to {MAX_PBKDF2_ITERATIONS}",
                        shown(count.trimmed())
                    ),
                )
            })?;
        // Without KeyLength, the key fits the cipher of the MAC key (or is
        // an AES-128 key, what RFC 6030's example uses).
        let key_len = match params.child_any_ns("KeyLength") {
            Some(len) => len
                .trimmed()
                .parse::<usize>()
                .ok()
                .filter(|n| Cipher::for_key_len(*n).is_some())
                .ok_or_else(|| {
                    structure_at(
                        len,
                        format!(
                            "PBKDF2 KeyLength {:?} is not 16, 24 or 32",
                            shown(len.trimmed())
                        ),
                    )
                })?,
            None => mac_method
                .and_then(|m| m.child(Ns::Pskc, "MACKey"))
                .and_then(|k| encrypted_data(k).ok())
                .map(|(cipher, _)| cipher.key_len())
                .unwrap_or(16),
        };
        // PKCS #5 puts the PRF in an Algorithm attribute; python-pskc writes
        // it as text. Empty or absent means HMAC-SHA1.
        let prf = match params.child_any_ns("PRF") {
            None => Prf::Sha1,
            Some(prf) => {
                let uri = prf
                    .attr("Algorithm")
                    .map(str::to_owned)
                    .unwrap_or_else(|| prf.trimmed().to_owned());
                if uri.trim().is_empty() {
                    Prf::Sha1
                } else {
                    Prf::from_uri(&uri).ok_or_else(|| {
                        structure_at(
                            prf,
                            format!("PBKDF2 PRF {:?} is not supported", shown(&uri)),
                        )
                    })?
                }
            }
        };
        Ok(Pbkdf2 {
            salt,
            iterations,
            key_len,
            prf,
        })
    }
}
