//! AES-256-GCM with a random 96-bit nonce per message.
//!
//! Stored form: `nonce (12) || ciphertext || tag (16)`. Random nonces are
//! safe here because no key seals more than a few million messages (a data
//! key seals one batch), far below the 2^32 bound for random GCM nonces.

use std::fmt;

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::{Zeroize, Zeroizing};

use super::{random, Key32};

/// Bytes a sealed message adds to its plaintext.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A sealed message did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AeadError {
    /// Tag mismatch: wrong key, altered bytes, or bytes moved from another
    /// context (row, vault, key version).
    #[error("integrity check failed (wrong key, altered data, or data moved from elsewhere)")]
    Integrity,
    /// Shorter than a nonce and a tag.
    #[error("sealed data is truncated")]
    Truncated,
    /// No randomness for the nonce.
    #[error("the system random number generator failed")]
    Random,
    /// The output buffer has no room for the plaintext (see
    /// [`SealingKey::open_append`]).
    #[error("no room in the buffer for the plaintext")]
    NoRoom,
}

/// An AES-256-GCM key ready for use; the expanded key is wiped on drop
/// (aes-gcm's `zeroize` feature).
pub struct SealingKey(Aes256Gcm);

impl SealingKey {
    /// Prepares `key` for sealing and opening.
    pub fn new(key: &Key32) -> Self {
        SealingKey(Aes256Gcm::new(key.expose().into()))
    }

    /// Encrypts `plaintext`, binding `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AeadError> {
        let nonce: [u8; NONCE_LEN] = random::array().map_err(|_| AeadError::Random)?;
        self.seal_with_nonce(&nonce, aad, plaintext)
    }

    /// Encrypts with a caller-chosen nonce. Only the self-test uses this
    /// (a fixed nonce is how known-answer vectors are written).
    pub(crate) fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, AeadError> {
        // One buffer of the final size: the plaintext is copied in and
        // encrypted in place, so the only copy of it this makes is
        // overwritten by the ciphertext (or wiped, should encryption fail),
        // and the buffer never grows (a reallocation would free a copy
        // unwiped). aes-gcm's `encrypt` would make a second, unwiped buffer.
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(plaintext);
        match self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut out[NONCE_LEN..])
        {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(out)
            }
            Err(_) => {
                out.zeroize();
                Err(AeadError::Integrity)
            }
        }
    }

    /// Decrypts what [`SealingKey::seal`] made under the same `aad`. The
    /// plaintext is wiped when the returned buffer is dropped.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AeadError> {
        if sealed.len() < OVERHEAD {
            return Err(AeadError::Truncated);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| AeadError::Integrity)
    }

    /// Decrypts like [`SealingKey::open`], appending the plaintext to `out`
    /// instead of allocating: many small seals open into one wiped buffer.
    /// `out` is never grown (growing would leave a copy of what it holds in
    /// freed memory): without spare capacity for the plaintext the result
    /// is [`AeadError::NoRoom`]. On any error `out` is as it was.
    pub fn open_append(
        &self,
        aad: &[u8],
        sealed: &[u8],
        out: &mut Zeroizing<Vec<u8>>,
    ) -> Result<(), AeadError> {
        if sealed.len() < OVERHEAD {
            return Err(AeadError::Truncated);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        if out.capacity() - out.len() < ct.len() {
            return Err(AeadError::NoRoom);
        }
        let start = out.len();
        out.extend_from_slice(ct);
        let opened = self.0.decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            &mut out[start..],
            Tag::from_slice(tag),
        );
        if opened.is_err() {
            out[start..].zeroize();
            out.truncate(start);
            return Err(AeadError::Integrity);
        }
        Ok(())
    }
}

/// Seals many messages under a key made for this sealer alone, with
/// nonces counted 0, 1, 2, ... (4 zero bytes || 64-bit big-endian count).
///
/// Counter nonces are unique by construction and cost no system call per
/// message, which matters for a million-seed batch. The guarantee holds
/// only if the key seals nothing else, ever: so the sealer takes the key by
/// value, is the only holder of it, and the key must be fresh (a batch
/// data key is generated for its ingest and never seals again). The key is
/// wiped when the sealer is dropped.
pub struct CounterSealer {
    key: SealingKey,
    next: u64,
}

impl CounterSealer {
    /// Takes a fresh key; it must never have sealed anything.
    pub fn new(fresh: Key32) -> Self {
        CounterSealer {
            key: SealingKey::new(&fresh),
            next: 0,
        }
    }

    /// Encrypts `plaintext` under the next nonce, binding `aad`. Opens with
    /// [`SealingKey::open`] under the same key.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AeadError> {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[4..].copy_from_slice(&self.next.to_be_bytes());
        self.next = self.next.checked_add(1).ok_or(AeadError::Random)?;
        self.key.seal_with_nonce(&nonce, aad, plaintext)
    }

    /// [`CounterSealer::seal`], appending the sealed form to `out` instead
    /// of allocating: a million seals into one buffer. The room is
    /// reserved before the plaintext is copied in, so growing `out` moves
    /// only what it held (never plaintext), and the plaintext is encrypted
    /// in place at once (or wiped, should that fail, with `out` as it was).
    pub fn seal_append(
        &mut self,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AeadError> {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[4..].copy_from_slice(&self.next.to_be_bytes());
        self.next = self.next.checked_add(1).ok_or(AeadError::Random)?;
        out.reserve(OVERHEAD + plaintext.len());
        let start = out.len();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let sealed = self.key.0.encrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            aad,
            &mut out[start + NONCE_LEN..],
        );
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(())
            }
            Err(_) => {
                out[start..].zeroize();
                out.truncate(start);
                Err(AeadError::Integrity)
            }
        }
    }
}

impl fmt::Debug for CounterSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CounterSealer([REDACTED], next {})", self.next)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seal_append_packs_what_seal_makes_after_what_the_buffer_held() {
        let key = Key32::random().unwrap();
        let bytes = *key.expose();
        let (mut one, mut packed) = (
            CounterSealer::new(Key32::from_slice_wiping(&mut bytes.clone()).unwrap()),
            CounterSealer::new(Key32::from_slice_wiping(&mut bytes.clone()).unwrap()),
        );
        let mut buf = b"serial-1".to_vec();
        let mut want = buf.clone();
        for (aad, pt) in [
            (&b"a"[..], &b"seed one"[..]),
            (b"b", b""),
            (b"c", &[7u8; 64]),
        ] {
            want.extend(one.seal(aad, pt).unwrap());
            packed.seal_append(aad, pt, &mut buf).unwrap();
        }
        assert_eq!(buf, want);
        let opener = SealingKey::new(&Key32::from_slice_wiping(&mut bytes.clone()).unwrap());
        let third = &buf[buf.len() - (OVERHEAD + 64)..];
        assert_eq!(&opener.open(b"c", third).unwrap()[..], &[7u8; 64]);
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(pt in proptest::collection::vec(any::<u8>(), 0..200),
                                aad in proptest::collection::vec(any::<u8>(), 0..50)) {
            let k = SealingKey::new(&Key32::random().unwrap());
            let sealed = k.seal(&aad, &pt).unwrap();
            prop_assert_eq!(&k.open(&aad, &sealed).unwrap()[..], &pt[..]);
        }

        #[test]
        fn open_append_agrees_with_open_and_leaves_the_buffer_alone_on_failure(
            pt in proptest::collection::vec(any::<u8>(), 0..100),
            bit in 0usize..8, pos in any::<prop::sample::Index>(),
        ) {
            let k = SealingKey::new(&Key32::random().unwrap());
            let sealed = k.seal(b"row 1", &pt).unwrap();
            let mut out = Zeroizing::new(Vec::with_capacity(300));
            out.extend_from_slice(b"before");
            k.open_append(b"row 1", &sealed, &mut out).unwrap();
            prop_assert_eq!(&out[6..], &pt[..]);
            prop_assert_eq!(&out[..6], b"before");
            let len = out.len();
            let mut bad = sealed.clone();
            let i = pos.index(bad.len());
            bad[i] ^= 1 << bit;
            prop_assert_eq!(k.open_append(b"row 1", &bad, &mut out).unwrap_err(), AeadError::Integrity);
            prop_assert_eq!(k.open_append(b"row 2", &sealed, &mut out).unwrap_err(), AeadError::Integrity);
            prop_assert_eq!(out.len(), len);
        }

        #[test]
        fn any_flipped_bit_or_other_aad_fails(pt in proptest::collection::vec(any::<u8>(), 1..64),
                                              bit in 0usize..8, pos in any::<prop::sample::Index>()) {
            let k = SealingKey::new(&Key32::random().unwrap());
            let mut sealed = k.seal(b"row 1", &pt).unwrap();
            prop_assert_eq!(k.open(b"row 2", &sealed).unwrap_err(), AeadError::Integrity);
            let i = pos.index(sealed.len());
            sealed[i] ^= 1 << bit;
            prop_assert_eq!(k.open(b"row 1", &sealed).unwrap_err(), AeadError::Integrity);
        }
    }

    #[test]
    fn counter_sealer_output_opens_with_the_same_key_and_never_repeats_a_nonce() {
        let k = Key32::random().unwrap();
        let opener = SealingKey::new(&Key32::from_slice_wiping(&mut k.expose().to_vec()).unwrap());
        let mut s = CounterSealer::new(k);
        let a = s.seal(b"a", b"same plaintext").unwrap();
        let b = s.seal(b"a", b"same plaintext").unwrap();
        assert_ne!(a[..12], b[..12]);
        assert_ne!(a, b);
        assert_eq!(&opener.open(b"a", &b).unwrap()[..], b"same plaintext");
    }

    #[test]
    fn open_append_never_grows_the_buffer() {
        let k = SealingKey::new(&Key32::random().unwrap());
        let sealed = k.seal(b"", &[7u8; 20]).unwrap();
        let mut out = Zeroizing::new(Vec::with_capacity(19));
        let cap = out.capacity();
        assert_eq!(
            k.open_append(b"", &sealed, &mut out).unwrap_err(),
            AeadError::NoRoom
        );
        assert_eq!((out.len(), out.capacity()), (0, cap));
    }

    #[test]
    fn sealing_fills_one_buffer_of_the_final_size() {
        let k = SealingKey::new(&Key32::random().unwrap());
        for len in [0usize, 1, 20, 64, 1000] {
            let sealed = k.seal(b"aad", &vec![0x5a; len]).unwrap();
            assert_eq!(
                (sealed.len(), sealed.capacity()),
                (len + OVERHEAD, len + OVERHEAD)
            );
            assert_eq!(&k.open(b"aad", &sealed).unwrap()[..], &vec![0x5a; len][..]);
        }
    }

    #[test]
    fn truncated_is_named() {
        let k = SealingKey::new(&Key32::random().unwrap());
        assert_eq!(k.open(b"", &[0u8; 10]).unwrap_err(), AeadError::Truncated);
    }
}
