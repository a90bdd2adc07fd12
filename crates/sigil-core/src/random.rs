//! Randomness from the operating system, through aws-lc's CSPRNG.
//!
//! Every nonce, salt and key in Sigil comes from here. [`SystemRng`] adapts the same source to
//! the `rand_core` traits that RustCrypto and the `age` crate expect.

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::Internal("system random source failed"))
}

/// `n` random bytes.
pub fn bytes(n: usize) -> Result<Vec<u8>> {
    let mut v = vec![0; n];
    fill(&mut v)?;
    Ok(v)
}

/// `n` random bytes to be used as a secret.
pub fn secret_bytes(n: usize) -> Result<SecretBytes> {
    let mut s = SecretBytes::zeroed(n);
    fill(s.expose_secret_mut())?;
    Ok(s)
}

/// A random fixed-size array (nonces, salts).
pub fn array<const N: usize>() -> Result<[u8; N]> {
    let mut a = [0; N];
    fill(&mut a)?;
    Ok(a)
}

/// The system CSPRNG as a `rand_core` generator, for crates that take one.
///
/// `rand_core`'s infallible methods panic if the system source fails, as `OsRng` does; a
/// machine without working randomness cannot make keys safely, and stopping is the only safe
/// answer. Code that can report the failure uses [`fill`] instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRng;

impl rand_core::RngCore for SystemRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        #[allow(
            clippy::expect_used,
            reason = "rand_core's contract: infallible or panic"
        )]
        fill(dest).expect("system random source failed");
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        fill(dest).map_err(|_| rand_core::Error::new("system random source failed"))
    }
}

impl rand_core::CryptoRng for SystemRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_distinct_values() {
        assert_ne!(array::<32>().unwrap(), array::<32>().unwrap());
        assert_eq!(bytes(17).unwrap().len(), 17);
        assert_eq!(secret_bytes(5).unwrap().len(), 5);
    }
}
