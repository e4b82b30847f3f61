//! Password hashing (argon2id, PHC strings only) and initial password generation.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand::Rng;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password is too short (at least {0} characters)")]
    TooShort(usize),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Hashes `password` with argon2id and a fresh random salt; returns the PHC string.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// A valid argon2id hash of an unguessable string: verified against when a login names nobody,
/// so that timing does not reveal which addresses exist.
pub const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Z292bWFpbC1kdW1teQ$3Fz3YJ2Bq0y5H7q8o4xw0Ck3c9mYkq3C1mQ4eY9mQ0A";

/// True when `password` matches the PHC string. Malformed or non-argon2id hashes never match.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Checks the minimum length rule.
pub fn check_strength(password: &str, min_len: usize) -> Result<(), PasswordError> {
    if password.chars().count() < min_len {
        return Err(PasswordError::TooShort(min_len));
    }
    Ok(())
}

/// A random initial password: 16 characters from an alphabet without look-alikes
/// (no 0/O, 1/l/I), easy to read aloud or copy from a printed handover note.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let phc = hash("Mật khẩu 123").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("Mật khẩu 123", &phc));
        assert!(!verify("Mat khau 123", &phc));
        assert!(!verify("Mật khẩu 123", "plaintext"));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(hash("x").unwrap(), hash("x").unwrap());
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate();
        assert_eq!(a.len(), 16);
        assert_ne!(a, generate());
        assert!(check_strength(&a, 12).is_ok());
        assert!(check_strength("short", 12).is_err());
    }
}
