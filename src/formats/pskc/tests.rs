//! Round trips and the corners the RFC vectors do not reach.

use std::cell::Cell;
use std::io::{BufReader, Read};
use std::rc::Rc;

use proptest::prelude::*;
use secrecy::{SecretBox, SecretString};

use super::package::{otp_type, OtpType};
use super::{reader, write};
use crate::formats::{FormatError, PskcKey, ReadOptions, RecordError, WriteOptions};
use crate::token::{Algorithm, OtpKind, Seed, Serial, Token, TokenParams};

/// PBKDF2 rounds for the property tests: the production count would make
/// each case take half a second.
const FAST_ITERATIONS: u32 = 2;

fn read_all(
    bytes: &[u8],
    key: Option<PskcKey>,
) -> Result<Vec<Result<Token, RecordError>>, FormatError> {
    let opts = ReadOptions {
        pskc_key: key,
        ..ReadOptions::default()
    };
    let records = reader(Box::new(bytes), &opts)?;
    Ok(records.collect())
}

fn write_fast(tokens: &[Token], key: Option<PskcKey>) -> Vec<u8> {
    let opts = WriteOptions {
        pskc_key: key,
        upn: None,
        upns: None,
    };
    let mut out = Vec::new();
    super::write::write(&mut tokens.iter(), &mut out, &opts, FAST_ITERATIONS).unwrap();
    out
}

fn token(serial: &str) -> Token {
    Token {
        serial: Serial::parse(serial).unwrap(),
        seed: Seed::new(b"12345678901234567890".to_vec()).unwrap(),
        params: TokenParams::default(),
    }
}

fn password(p: &str) -> Option<PskcKey> {
    Some(PskcKey::Password(SecretString::from(p.to_owned())))
}

fn pre_shared(bytes: &[u8]) -> Option<PskcKey> {
    Some(PskcKey::PreShared(SecretBox::new(Box::new(bytes.to_vec()))))
}

fn text_strategy() -> impl Strategy<Value = Option<String>> {
    // What the reader gives back unchanged: no control characters (XML
    // cannot hold most of them) and no surrounding space (the reader trims).
    proptest::option::of(
        "[\\PC&<>'\"]{1,24}".prop_filter("trimmed", |s| s.trim() == s && !s.is_empty()),
    )
}

fn token_strategy() -> impl Strategy<Value = Token> {
    (
        "[A-Za-z0-9]{1,64}",
        proptest::collection::vec(any::<u8>(), 16..=128)
            .prop_filter_map("weak seed", |b| Seed::new(b).ok()),
        prop_oneof![
            Just(Algorithm::Sha1),
            Just(Algorithm::Sha256),
            Just(Algorithm::Sha512)
        ],
        prop_oneof![Just(6u8), Just(8u8)],
        prop_oneof![
            (1u32..).prop_map(|period| OtpKind::Totp { period }),
            any::<u64>().prop_map(|counter| OtpKind::Hotp { counter }),
        ],
        text_strategy(),
        text_strategy(),
    )
        .prop_map(
            |(serial, seed, algorithm, digits, kind, manufacturer, model)| Token {
                serial: Serial::parse(&serial).unwrap(),
                seed,
                params: TokenParams {
                    algorithm,
                    digits,
                    kind,
                    manufacturer,
                    model,
                },
            },
        )
}

fn round_trip(
    tokens: &[Token],
    write_key: Option<PskcKey>,
    read_key: Option<PskcKey>,
) -> Vec<Token> {
    let bytes = write_fast(tokens, write_key);
    read_all(&bytes, read_key)
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn plain_round_trip(tokens in proptest::collection::vec(token_strategy(), 0..5)) {
        prop_assert_eq!(round_trip(&tokens, None, None), tokens);
    }

    #[test]
    fn password_round_trip(
        tokens in proptest::collection::vec(token_strategy(), 0..5),
        pass in "\\PC{0,16}",
    ) {
        prop_assert_eq!(round_trip(&tokens, password(&pass), password(&pass)), tokens);
    }

    #[test]
    fn pre_shared_round_trip(
        tokens in proptest::collection::vec(token_strategy(), 0..5),
        key in prop_oneof![
            proptest::collection::vec(any::<u8>(), 16),
            proptest::collection::vec(any::<u8>(), 24),
            proptest::collection::vec(any::<u8>(), 32),
        ],
    ) {
        prop_assert_eq!(round_trip(&tokens, pre_shared(&key), pre_shared(&key)), tokens);
    }
}

#[test]
fn written_password_file_uses_rfc_6030_section_6_2() {
    let bytes = write_fast(&[token("1")], password("pw"));
    let text = String::from_utf8(bytes).unwrap();
    for needle in [
        "<xenc11:KeyDerivationMethod Algorithm=\"http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2\">",
        "<IterationCount>2</IterationCount>",
        "<KeyLength>16</KeyLength>",
        "<pskc:MACMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#hmac-sha1\">",
        "<xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes128-cbc\"/>",
        "<pskc:ValueMAC>",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    assert!(
        !text.contains("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA="),
        "the secret is in the clear"
    );
}

#[test]
fn default_iteration_count_is_what_the_docs_say() {
    let opts = WriteOptions {
        pskc_key: password("pw"),
        upn: None,
        upns: None,
    };
    let mut out = Vec::new();
    write(&mut [token("1")].iter(), &mut out, &opts).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(&format!(
        "<IterationCount>{}</IterationCount>",
        super::PBKDF2_ITERATIONS
    )));
    let back = read_all(text.as_bytes(), password("pw")).unwrap();
    assert_eq!(
        back.into_iter().map(|r| r.unwrap()).collect::<Vec<_>>(),
        [token("1")]
    );
}

#[test]
fn pre_shared_keys_pick_their_cipher() {
    for (len, cipher, mac) in [
        (16, "aes128-cbc", "hmac-sha1"),
        (24, "aes192-cbc", "hmac-sha256"),
        (32, "aes256-cbc", "hmac-sha256"),
    ] {
        let text = String::from_utf8(write_fast(&[token("1")], pre_shared(&vec![7; len]))).unwrap();
        assert!(text.contains(&format!("xmlenc#{cipher}\"")), "{len}");
        assert!(text.contains(&format!("#{mac}\"")), "{len}");
        assert!(text.contains("<ds:KeyName>Pre-shared-key</ds:KeyName>"));
    }
    let opts = WriteOptions {
        pskc_key: pre_shared(&[1; 10]),
        upn: None,
        upns: None,
    };
    let e = write(&mut [token("1")].iter(), &mut Vec::new(), &opts).unwrap_err();
    assert!(e.to_string().contains("16, 24 or 32"), "{e}");
}

#[test]
fn a_wrong_pre_shared_key_is_never_a_wrong_seed() {
    let bytes = write_fast(&[token("1"), token("2")], pre_shared(&[1; 16]));
    match read_all(&bytes, pre_shared(&[2; 16])) {
        Err(FormatError::Structure { problem, .. }) => {
            assert!(problem.contains("wrong"), "{problem}")
        }
        Ok(records) => assert!(records.iter().all(|r| r
            .as_ref()
            .is_err_and(|e| e.problem.to_string().contains("wrong")))),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn writer_escapes_and_refuses_control_characters() {
    let mut t = token("1");
    t.params.manufacturer = Some("A&B <Tokens> \"quoted\" 'single'".into());
    let bytes = write_fast(std::slice::from_ref(&t), None);
    assert!(String::from_utf8_lossy(&bytes).contains("A&amp;B &lt;Tokens&gt;"));
    assert_eq!(read_all(&bytes, None).unwrap()[0].as_ref().unwrap(), &t);

    t.params.model = Some("bad\u{1}model".into());
    let e = write(&mut [t].iter(), &mut Vec::new(), &WriteOptions::default()).unwrap_err();
    assert!(
        matches!(e, FormatError::Unrepresentable { ref serial, .. } if serial == "1"),
        "{e}"
    );
}

#[test]
fn algorithm_uris() {
    for (uri, want) in [
        (
            "urn:ietf:params:xml:ns:keyprov:pskc:hotp",
            Some(OtpType::Hotp),
        ),
        (
            "urn:ietf:params:xml:ns:keyprov:pskc:totp",
            Some(OtpType::Totp),
        ),
        (
            "urn:ietf:params:xml:ns:keyprov:pskc#hotp",
            Some(OtpType::Hotp),
        ),
        (
            "urn:ietf:params:xml:ns:keyprov:pskc#totp",
            Some(OtpType::Totp),
        ),
        ("http://www.ietf.org/keyprov/pskc#hotp", Some(OtpType::Hotp)),
        (
            " URN:IETF:PARAMS:XML:NS:KEYPROV:PSKC:TOTP ",
            Some(OtpType::Totp),
        ),
        ("urn:ietf:params:xml:ns:keyprov:pskc:pin", None),
        ("urn:ietf:params:xml:ns:keyprov:pskc:hotpx", None),
        ("hotp", None),
    ] {
        assert_eq!(otp_type(uri), want, "{uri}");
    }
}

const PREFIXED: &str = r#"<?xml version="1.0"?>
<k:KeyContainer xmlns:k="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0">
  <k:KeyPackage>
    <k:DeviceInfo><k:SerialNo>42</k:SerialNo><k:Model>M &amp; N</k:Model></k:DeviceInfo>
    <k:Key Id="x" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc#totp">
      <k:AlgorithmParameters><k:Suite>HMAC-SHA256</k:Suite>
        <k:ResponseFormat Length="8" Encoding="DECIMAL"/></k:AlgorithmParameters>
      <k:Data>
        <k:Secret><k:PlainValue><![CDATA[MTIzNDU2Nzg5MDEy]]>MzQ1Njc4OTA=</k:PlainValue></k:Secret>
        <k:Time><k:PlainValue>0</k:PlainValue></k:Time>
        <k:TimeInterval><k:PlainValue>60</k:PlainValue></k:TimeInterval>
        <k:TimeDrift><k:PlainValue>-3</k:PlainValue></k:TimeDrift>
      </k:Data>
    </k:Key>
  </k:KeyPackage>
  <KeyPackage xmlns="urn:example:not-pskc"><Key/></KeyPackage>
</k:KeyContainer>
"#;

#[test]
fn any_prefix_and_only_the_pskc_namespace() {
    let records = read_all(PREFIXED.as_bytes(), None).unwrap();
    // The KeyPackage of another namespace is not a PSKC package.
    assert_eq!(records.len(), 1);
    let t = records[0].as_ref().unwrap();
    assert_eq!(t.serial.as_str(), "42");
    assert_eq!(t.seed.expose(), b"12345678901234567890");
    assert_eq!(t.params.algorithm, Algorithm::Sha256);
    assert_eq!(t.params.digits, 8);
    assert_eq!(t.params.kind, OtpKind::Totp { period: 60 });
    assert_eq!(t.params.model.as_deref(), Some("M & N"));
    assert_eq!(t.params.manufacturer, None);
}

#[test]
fn nonzero_t0_and_bad_digits_are_record_errors() {
    let t0 = PREFIXED.replace("<k:Time><k:PlainValue>0<", "<k:Time><k:PlainValue>100<");
    let e = read_all(t0.as_bytes(), None)
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert!(e.problem.to_string().contains("T0"), "{}", e.problem);
    assert_eq!((e.line, e.serial.as_deref()), (3, Some("42")));

    let digits = PREFIXED.replace("Length=\"8\"", "Length=\"7\"");
    let e = read_all(digits.as_bytes(), None)
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert!(e.problem.to_string().contains("6 or 8"), "{}", e.problem);

    let hex = PREFIXED.replace("Encoding=\"DECIMAL\"", "Encoding=\"HEXADECIMAL\"");
    let e = read_all(hex.as_bytes(), None)
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert!(e.problem.to_string().contains("DECIMAL"), "{}", e.problem);

    let suite = PREFIXED.replace("HMAC-SHA256", "HMAC-MD5");
    let e = read_all(suite.as_bytes(), None)
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert!(
        e.problem.to_string().contains("unknown hash"),
        "{}",
        e.problem
    );
}

#[test]
fn undeclared_prefix_and_broken_xml() {
    let e = read_all(b"<p:KeyContainer Version=\"1.0\"/>", None).unwrap_err();
    assert!(e.to_string().contains("not declared"), "{e}");

    let broken = PREFIXED.replace("</k:Key>", "</k:Kee>");
    let records = read_all(broken.as_bytes(), None).unwrap();
    let e = records.last().unwrap().as_ref().unwrap_err();
    assert!(e.problem.to_string().contains("XML"), "{}", e.problem);

    let trailing = format!("{PREFIXED}<again/>");
    let records = read_all(trailing.as_bytes(), None).unwrap();
    assert!(records.last().unwrap().is_err());
}

#[test]
fn utf8_bom_is_tolerated() {
    let with_bom = format!("\u{feff}{PREFIXED}");
    let records = read_all(with_bom.as_bytes(), None).unwrap();
    assert!(records[0].is_ok());
}

#[test]
fn secrets_stay_out_of_debug() {
    let bytes = write_fast(&[token("1")], pre_shared(&[5; 16]));
    let opts = ReadOptions {
        pskc_key: pre_shared(&[5; 16]),
        ..ReadOptions::default()
    };
    let records = reader(Box::new(&bytes[..]), &opts).unwrap();
    let tokens: Vec<_> = records.collect();
    let shown = format!("{tokens:?} {opts:?}");
    assert!(!shown.contains("12345678901234567890"), "{shown}");
    assert!(!shown.contains("[5, 5"), "{shown}");
}

/// An input that makes up a million KeyPackages as it is read and counts
/// the bytes handed out.
struct Generated {
    next: u64,
    total: u64,
    pending: Vec<u8>,
    served: Rc<Cell<u64>>,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            if self.next == 0 {
                self.pending.extend_from_slice(
                    b"<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n",
                );
            }
            if self.next < self.total {
                let package = format!(
                    "<KeyPackage><DeviceInfo><SerialNo>{}</SerialNo></DeviceInfo>\
                     <Key Algorithm=\"urn:ietf:params:xml:ns:keyprov:pskc:hotp\"><Data><Secret>\
                     <PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data></Key></KeyPackage>\n",
                    self.next
                );
                self.pending.extend_from_slice(package.as_bytes());
                self.next += 1;
            } else if self.next == self.total {
                self.pending.extend_from_slice(b"</KeyContainer>\n");
                self.next += 1;
            }
        }
        let n = self.pending.len().min(out.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.served.set(self.served.get() + n as u64);
        Ok(n)
    }
}

#[test]
fn a_million_packages_stream() {
    let served = Rc::new(Cell::new(0));
    let input = Generated {
        next: 0,
        total: 1_000_000,
        pending: Vec::new(),
        served: served.clone(),
    };
    let opts = ReadOptions::default();
    let mut records = reader(Box::new(BufReader::new(input)), &opts).unwrap();
    for i in 0..1000u64 {
        let t = records.next().unwrap().unwrap();
        assert_eq!(t.serial.as_str(), i.to_string());
        assert_eq!(t.params.kind, OtpKind::Hotp { counter: 0 });
    }
    // The first thousand tokens came out after reading about a thousand
    // packages' worth of input, not the ~200 MB of the whole file.
    assert!(served.get() < 1_000_000, "read {} bytes", served.get());
}

#[test]
fn base64_with_spaces_and_without_padding() {
    use super::read::base64;
    assert_eq!(base64(" MTIz\n NDU2\tNzg5MA== ").unwrap(), b"1234567890");
    assert_eq!(base64("MTIzNDU2Nzg5MA").unwrap(), b"1234567890");
    assert!(base64("MTIz*DU2").is_err());
    assert!(base64("MTIzNDU2Nzg5MA=").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever one changed byte does to an encrypted file, the reader
    /// never panics and never produces a seed that was not written.
    #[test]
    fn altered_encrypted_file_never_yields_a_wrong_seed(
        tokens in proptest::collection::vec(token_strategy(), 1..3),
        at in any::<proptest::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let key = [9u8; 16];
        let mut bytes = write_fast(&tokens, pre_shared(&key));
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(records) = read_all(&bytes, pre_shared(&key)) {
            for t in records.into_iter().flatten() {
                prop_assert!(tokens.iter().any(|w| w.seed == t.seed));
            }
        }
    }

    #[test]
    fn arbitrary_input_does_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_all(&bytes, None);
    }
}

#[test]
fn encrypted_counter_is_a_big_endian_integer() {
    use super::crypto::{Cipher, MacAlg};
    let rng = ring::rand::SystemRandom::new();
    let key = [3u8; 16];
    let mac_key = [4u8; 20];
    let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
    let encrypted = |plain: &[u8]| {
        let data = Cipher::Aes128.encrypt(&key, plain, &rng).unwrap();
        let mac = MacAlg::Sha1.sign(&mac_key, &data);
        format!(
            "<EncryptedValue><xenc:EncryptionMethod Algorithm=\"{}\"/><xenc:CipherData>\
             <xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></EncryptedValue><ValueMAC>{}</ValueMAC>",
            Cipher::Aes128.uri(),
            b64(&data),
            b64(&mac)
        )
    };
    let file = format!(
        "<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\" \
         xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
         <EncryptionKey><ds:KeyName>k</ds:KeyName></EncryptionKey>\
         <MACMethod Algorithm=\"{}\"><MACKey><xenc:EncryptionMethod Algorithm=\"{}\"/>\
         <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></MACKey></MACMethod>\
         <KeyPackage><Key Id=\"S1\" Algorithm=\"{}\"><Data><Secret>{}</Secret><Counter>{}</Counter></Data></Key>\
         </KeyPackage></KeyContainer>",
        MacAlg::Sha1.uri(),
        Cipher::Aes128.uri(),
        b64(&Cipher::Aes128.encrypt(&key, &mac_key, &rng).unwrap()),
        super::HOTP_URI,
        encrypted(b"12345678901234567890"),
        encrypted(&[0x01, 0x2c]),
    );
    let records = read_all(file.as_bytes(), pre_shared(&key)).unwrap();
    let t = records[0].as_ref().unwrap();
    assert_eq!(t.serial.as_str(), "S1");
    assert_eq!(t.params.kind, OtpKind::Hotp { counter: 300 });
}

#[test]
fn deep_or_huge_packages_are_record_errors_not_crashes() {
    let open = "<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n<KeyPackage>";
    let deep = format!(
        "{open}{}{}</KeyPackage></KeyContainer>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let e = read_all(deep.as_bytes(), None)
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert!(
        e.problem.to_string().contains("too deeply"),
        "{}",
        e.problem
    );
    assert_eq!(e.line, 2);

    let wide = format!(
        "{open}{}</KeyPackage></KeyContainer>",
        "<a/>".repeat(20_000)
    );
    let e = read_all(wide.as_bytes(), None)
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert!(
        e.problem.to_string().contains("too many elements"),
        "{}",
        e.problem
    );
}

/// An endless text node, counting what the reader pulls from it.
struct EndlessText {
    head: &'static [u8],
    sent: Rc<Cell<usize>>,
}

impl Read for EndlessText {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = if self.head.is_empty() {
            out.fill(b'A');
            out.len()
        } else {
            let n = self.head.len().min(out.len());
            out[..n].copy_from_slice(&self.head[..n]);
            self.head = &self.head[n..];
            n
        };
        self.sent.set(self.sent.get() + n);
        Ok(n)
    }
}

#[test]
fn a_huge_text_node_is_refused_while_it_is_read() {
    // The node never ends: a reader that buffered it whole would never
    // return. It must stop within one limit (plus a read buffer) of input.
    let sent = Rc::new(Cell::new(0));
    let input = EndlessText {
        head: b"<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n\
                <KeyPackage>\n<Key Id=\"1\"><Data><Secret><PlainValue>",
        sent: sent.clone(),
    };
    let opts = ReadOptions::default();
    let records: Vec<_> = reader(Box::new(BufReader::new(input)), &opts)
        .unwrap()
        .collect();
    let e = records.last().unwrap().as_ref().unwrap_err();
    let limit = super::xml::MAX_EVENT_BYTES;
    assert!(
        e.problem
            .to_string()
            .contains(&format!("longer than {limit} bytes")),
        "{}",
        e.problem
    );
    assert_eq!(e.problem.kind(), "xml_too_large");
    assert_eq!(e.line, 3);
    assert!(sent.get() < limit + 64 * 1024, "read {} bytes", sent.get());
}

#[test]
fn errors_name_no_value_and_withhold_secret_like_serials() {
    let serial = "3132333435363738393031323334353637383930";
    let xml = format!(
        "<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n\
         <KeyPackage><DeviceInfo><SerialNo>{serial}</SerialNo></DeviceInfo>\
         <Key Id=\"1\" Algorithm=\"{}\"><Data><Secret><PlainValue>MTIz*NDU2</PlainValue></Secret>\
         </Data></Key></KeyPackage></KeyContainer>",
        super::TOTP_URI
    );
    let e = read_all(xml.as_bytes(), None)
        .unwrap()
        .remove(0)
        .unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("not valid base64"), "{shown}");
    assert!(
        !shown.contains(serial) && !shown.contains("MTIz"),
        "{shown}"
    );
    assert!(shown.contains("serial not shown: 40 characters"), "{shown}");
    assert_eq!(e.problem.kind(), "pskc_not_base64");
}
