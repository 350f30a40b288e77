//! Arithmetic in GF(256) without tables, and Lagrange interpolation.
//!
//! Why no tables: the classic log/exp-table implementation indexes memory
//! with secret bytes, and which cache line was touched is observable by a
//! co-resident process. Every function here is straight-line in the values it
//! multiplies: multiplication is shift-and-xor where each conditional step is
//! a mask, and inversion is a fixed chain of squarings and multiplications
//! (a^254), the same sequence for every input. Only x-coordinates, which are
//! public member indices, steer loops or are compared.
//!
//! The field is SLIP-0039's (and AES's): polynomials over GF(2) modulo the
//! Rijndael polynomial x^8 + x^4 + x^3 + x + 1.

/// The reduction polynomial without its x^8 term.
const REDUCTION: u8 = 0x1b;

/// All ones when `bit` (0 or 1) is 1, all zeros when it is 0.
#[inline(always)]
fn mask(bit: u8) -> u8 {
    0u8.wrapping_sub(bit & 1)
}

/// Product of `a` and `b` in GF(256), in time independent of both.
pub(crate) fn mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut product = 0u8;
    for _ in 0..8 {
        product ^= a & mask(b);
        // Multiply `a` by x: shift, then reduce if a bit fell off the top.
        let carry = mask(a >> 7);
        a = (a << 1) ^ (REDUCTION & carry);
        b >>= 1;
    }
    product
}

/// Multiplicative inverse as a^254 (Fermat: a^255 = 1 for a != 0); maps 0 to 0.
///
/// The exponent is a public constant, so the square-and-multiply chain is the
/// same for every input.
pub(crate) fn inv(a: u8) -> u8 {
    // 254 = 0b1111_1110: square-and-multiply from the top bit down.
    let mut result = 1u8;
    let mut bit = 7;
    loop {
        result = mul(result, result);
        if (254u8 >> bit) & 1 == 1 {
            result = mul(result, a);
        }
        if bit == 0 {
            break;
        }
        bit -= 1;
    }
    result
}

/// Why interpolation refused its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InterpolationError {
    /// No points were given.
    Empty,
    /// Two points share an x-coordinate (the polynomial is not determined).
    DuplicateX(u8),
    /// The y-vectors differ in length.
    LengthMismatch,
}

/// Evaluates at `x` the polynomial of lowest degree through `points`
/// (x-coordinate, y-vector), byte by byte.
///
/// Constant-time in the y-values; the x-coordinates are public. When `x` is
/// one of the points' x-coordinates the formula gives that point's value
/// (its Lagrange basis is 1 there and the others 0), so no special case
/// (and no branch on it) is needed.
pub(crate) fn interpolate(x: u8, points: &[(u8, &[u8])]) -> Result<Vec<u8>, InterpolationError> {
    let Some(&(_, first)) = points.first() else {
        return Err(InterpolationError::Empty);
    };
    let len = first.len();
    for (i, &(xi, yi)) in points.iter().enumerate() {
        if yi.len() != len {
            return Err(InterpolationError::LengthMismatch);
        }
        if points[..i].iter().any(|&(xj, _)| xj == xi) {
            return Err(InterpolationError::DuplicateX(xi));
        }
    }
    let mut result = vec![0u8; len];
    for &(xi, yi) in points {
        // Lagrange basis l_i(x) = prod_{j != i} (x - x_j) / (x_i - x_j);
        // subtraction is xor in characteristic 2. The denominator is never 0
        // because the x-coordinates are distinct.
        let mut numerator = 1u8;
        let mut denominator = 1u8;
        for &(xj, _) in points.iter().filter(|&&(xj, _)| xj != xi) {
            numerator = mul(numerator, x ^ xj);
            denominator = mul(denominator, xi ^ xj);
        }
        let basis = mul(numerator, inv(denominator));
        for (r, &y) in result.iter_mut().zip(yi) {
            *r ^= mul(basis, y);
        }
    }
    Ok(result)
}

/// Like [`interpolate`], for callers that must wipe the result: returns it
/// in a buffer that zeroizes itself when dropped.
pub(crate) fn interpolate_zeroizing(
    x: u8,
    points: &[(u8, &[u8])],
) -> Result<zeroize::Zeroizing<Vec<u8>>, InterpolationError> {
    interpolate(x, points).map(zeroize::Zeroizing::new)
}

/// Constant-time equality of two equal-length byte strings.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slow, table-based reference: exp/log tables over generator 3. Used
    /// only to check the constant-time code above.
    struct Tables {
        exp: [u8; 255],
        log: [u8; 256],
    }

    fn tables() -> Tables {
        let mut exp = [0u8; 255];
        let mut log = [0u8; 256];
        let mut p: u8 = 1;
        for (i, e) in exp.iter_mut().enumerate() {
            *e = p;
            log[p as usize] = u8::try_from(i).unwrap();
            // p *= 3, i.e. p ^ (p * x)
            let times_x = (p << 1) ^ if p & 0x80 != 0 { 0x1b } else { 0 };
            p ^= times_x;
        }
        Tables { exp, log }
    }

    fn table_mul(t: &Tables, a: u8, b: u8) -> u8 {
        if a == 0 || b == 0 {
            return 0;
        }
        t.exp[(t.log[a as usize] as usize + t.log[b as usize] as usize) % 255]
    }

    fn table_inv(t: &Tables, a: u8) -> u8 {
        t.exp[(255 - t.log[a as usize] as usize) % 255]
    }

    #[test]
    fn mul_matches_tables_for_all_pairs() {
        let t = tables();
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), table_mul(&t, a, b), "{a} * {b}");
            }
        }
    }

    #[test]
    fn inv_matches_tables() {
        let t = tables();
        assert_eq!(inv(0), 0);
        for a in 1..=255u8 {
            assert_eq!(inv(a), table_inv(&t, a), "inv {a}");
            assert_eq!(mul(a, inv(a)), 1);
        }
    }

    #[test]
    fn aes_known_product() {
        // FIPS-197 section 4.2: {57} * {83} = {c1}.
        assert_eq!(mul(0x57, 0x83), 0xc1);
    }

    #[test]
    fn interpolation_recovers_polynomial() {
        // f(x) = 7 + 11 x + 200 x^2 per byte, evaluated with the table reference.
        let t = tables();
        let f = |x: u8| 7 ^ table_mul(&t, 11, x) ^ table_mul(&t, 200, table_mul(&t, x, x));
        let ys: Vec<[u8; 1]> = [0u8, 1, 5].iter().map(|&x| [f(x)]).collect();
        let points: Vec<(u8, &[u8])> = [0u8, 1, 5]
            .iter()
            .zip(&ys)
            .map(|(&x, y)| (x, &y[..]))
            .collect();
        for x in [255u8, 254, 0, 1, 5, 9] {
            assert_eq!(interpolate(x, &points).unwrap(), vec![f(x)], "at {x}");
        }
    }

    #[test]
    fn interpolation_refuses_bad_points() {
        assert_eq!(interpolate(255, &[]), Err(InterpolationError::Empty));
        let a = [1u8, 2];
        let b = [3u8];
        assert_eq!(
            interpolate(255, &[(1, &a[..]), (1, &a[..])]),
            Err(InterpolationError::DuplicateX(1))
        );
        assert_eq!(
            interpolate(255, &[(1, &a[..]), (2, &b[..])]),
            Err(InterpolationError::LengthMismatch)
        );
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
