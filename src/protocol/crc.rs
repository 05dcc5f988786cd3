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
    // len_b bytes = 8·len_b bits = len_b · 2^3.
    multiply(x_pow_mod(len_b as u64, 3), crc_a) ^ crc_b
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

    proptest! {
        #[test]
        fn agrees_with_the_crate(a in any::<u32>(), b in any::<u32>(), len in any::<u32>().prop_map(|l| l as usize)) {
            prop_assert_eq!(combine(a, b, len), crc32c::crc32c_combine(a, b, len));
        }
    }
}
