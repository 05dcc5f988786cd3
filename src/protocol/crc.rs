//! CRC-32C helpers beyond the `crc32c` crate: a fast `combine`.
//!
//! `crc32c::crc32c_combine` uses the matrix-squaring method (about 32×32 bit operations per
//! bit of the length, some 20 µs per call), which would cost more than the CRC pass itself
//! for every batch under a few hundred KiB. Combining is a multiplication by x^(8·len) modulo
//! the polynomial, which this module does with a table of x^(2^k): one carry-less multiply per
//! set bit of the length (the method of zlib 1.2.12's `crc32_combine`).

/// CRC-32C (Castagnoli) polynomial, bit-reflected.
const POLY: u32 = 0x82F6_3B78;

/// `a · b mod P` for bit-reflected polynomials (x^0 is the top bit).
const fn multiply(a: u32, mut b: u32) -> u32 {
    let mut m: u32 = 1 << 31;
    let mut product: u32 = 0;
    loop {
        if a & m != 0 {
            product ^= b;
            if a & (m - 1) == 0 {
                return product;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
}

/// `X2N[k] = x^(2^k) mod P`, for every k a 64-bit length in bits can need (3 + 64). The
/// sequence does not repeat with period 32 (the CRC-32C polynomial is not irreducible), so the
/// table is not folded.
const X2N: [u32; 67] = {
    let mut table = [0u32; 67];
    let mut p: u32 = 1 << 30; // x^1
    table[0] = p;
    let mut k = 1;
    while k < 67 {
        p = multiply(p, p);
        table[k] = p;
        k += 1;
    }
    table
};

/// `x^(n · 2^k) mod P`.
fn x_pow_mod(mut n: u64, mut k: usize) -> u32 {
    let mut p: u32 = 1 << 31; // x^0
    while n != 0 {
        if n & 1 != 0 {
            p = multiply(X2N[k], p);
        }
        n >>= 1;
        k += 1;
    }
    p
}

/// `crc32c(A ++ B)` from `crc32c(A)`, `crc32c(B)` and the length of `B`.
pub fn combine(crc_a: u32, crc_b: u32, len_b: usize) -> u32 {
    shift(crc_a, len_b) ^ crc_b
}

/// `crc · x^(8·len) mod P`: what `crc` (or a difference of two CRCs) becomes with `len` bytes
/// appended after its data. CRCs of equal-length inputs differ by a linear function of the
/// inputs' difference, so `crc32c(A' ++ B) = crc32c(A ++ B) ^ shift(crc32c(A) ^ crc32c(A'), |B|)`
/// for `|A'| = |A|`: a header changed in front of a long payload gets its new CRC without a
/// pass over the payload.
pub fn shift(crc: u32, len: usize) -> u32 {
    match u32::try_from(len) {
        Ok(len) => multiply(x_pow_8n(len), crc),
        // len bytes = 8·len bits = len · 2^3.
        Err(_) => multiply(x_pow_mod(len as u64, 3), crc),
    }
}

/// `BY_NIBBLE[j][d] = x^(8 · d · 16^j) mod P`: the power for one hexadecimal digit of a byte
/// count, so that a 32-bit count takes at most 8 multiplications rather than one per set bit
/// plus one per squaring step.
const BY_NIBBLE: [[u32; 16]; 8] = {
    let mut table = [[0u32; 16]; 8];
    let mut j = 0;
    while j < 8 {
        let mut d = 0;
        while d < 16 {
            let mut p: u32 = 1 << 31; // x^0
            let mut bit = 0;
            while bit < 4 {
                if d & (1 << bit) != 0 {
                    // 8 · 2^bit · 16^j = 2^(3 + bit + 4j) bits.
                    p = multiply(X2N[3 + bit + 4 * j], p);
                }
                bit += 1;
            }
            table[j][d] = p;
            d += 1;
        }
        j += 1;
    }
    table
};

/// `x^(8·n) mod P` for a 32-bit byte count.
fn x_pow_8n(n: u32) -> u32 {
    let mut p: u32 = 1 << 31; // x^0
    let mut rest = n;
    let mut j = 0;
    while rest != 0 {
        let d = (rest & 0xF) as usize;
        if d != 0 {
            p = multiply(BY_NIBBLE[j][d], p);
        }
        rest >>= 4;
        j += 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_a_direct_computation() {
        let data = b"123456789 and then some more bytes";
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            assert_eq!(
                combine(crc32c::crc32c(a), crc32c::crc32c(b), b.len()),
                crc32c::crc32c(data)
            );
        }
    }

    #[test]
    fn powers_by_nibble_match_powers_by_bit() {
        for n in [0u32, 1, 15, 16, 255, 15_141, 65_536, 1 << 20, u32::MAX] {
            assert_eq!(x_pow_8n(n), x_pow_mod(u64::from(n), 3), "{n}");
        }
    }

    #[test]
    fn a_changed_prefix_gets_its_crc_without_the_rest() {
        let rest = b"the records section, long and untouched".repeat(50);
        let (old, new) = (b"header one", b"HEADER two");
        let whole = |prefix: &[u8]| crc32c::crc32c(&[prefix, &rest[..]].concat());
        let derived = whole(old) ^ shift(crc32c::crc32c(old) ^ crc32c::crc32c(new), rest.len());
        assert_eq!(derived, whole(new));
    }

    proptest! {
        #[test]
        fn agrees_with_the_crate(a in any::<u32>(), b in any::<u32>(), len in any::<u32>().prop_map(|l| l as usize)) {
            prop_assert_eq!(combine(a, b, len), crc32c::crc32c_combine(a, b, len));
        }
    }
}
