//! Object IDs: 64 lowercase hex digits from 32 random bytes, as dockerd
//! makes them for containers, networks, endpoints and exec instances.

use rand::RngCore;

/// Fills `buf` with random bytes (the thread's CSPRNG, seeded by the kernel).
pub fn fill_random(buf: &mut [u8]) {
    rand::thread_rng().fill_bytes(buf);
}

/// A random `u64`.
pub fn random_u64() -> u64 {
    rand::thread_rng().next_u64()
}

/// `n` random bytes as `2n` lowercase hex digits.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    fill_random(&mut b);
    hex::encode(b)
}

/// A new 64-hex-digit ID whose 12-digit short form is not all digits
/// (dockerd avoids IDs that could be mistaken for numbers).
pub fn new_id() -> String {
    loop {
        let id = random_hex(32);
        if !is_numeric_short(&id) {
            return id;
        }
    }
}

/// The first `n` hex digits of a new ID (`n` ≤ 64).
pub fn short_id(n: usize) -> String {
    let mut id = new_id();
    id.truncate(n);
    id
}

fn is_numeric_short(id: &str) -> bool {
    id[..12].bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert!(!is_numeric_short(&a));
        assert!(is_numeric_short(&"1".repeat(64)));
        assert_eq!(short_id(12).len(), 12);
        assert_eq!(random_hex(8).len(), 16);
    }
}
