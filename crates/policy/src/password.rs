//! Password hashing (argon2id, PHC strings only) and initial password generation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version};
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

/// argon2 work areas (19 MiB each with the default parameters), kept for the next check
/// instead of freed. Freeing them would make glibc raise its mmap threshold and then keep every
/// later work area in its arenas: after a storm of logins the server would hold hundreds of MiB
/// it no longer uses. Pooled, the memory for checking passwords is bounded by how many checks
/// run at once (storage runs as many as there are cores) and reused.
static WORK_AREAS: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());
/// At most this many work areas are kept.
const POOLED: usize = 8;
/// Larger work areas (unusual parameters in an imported hash) are not kept.
const POOLED_BLOCKS_MAX: usize = 64 * 1024;

fn with_work_area<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let pooled = WORK_AREAS.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut area = match pooled {
        Some(area) if area.len() >= blocks => area,
        _ => vec![Block::default(); blocks],
    };
    let result = f(&mut area);
    let mut pool = WORK_AREAS.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < POOLED && area.len() <= POOLED_BLOCKS_MAX {
        pool.push(area);
    }
    result
}

/// Constant-time equality of two byte strings of public length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Successful checks remembered for a while, so that a client reconnecting (phones, and
/// desktop clients that open several connections) does not cost a 19 MiB, tens-of-ms argon2
/// computation each time. An entry is a SHA-256 over a per-process random key, the stored PHC
/// string and the password: a password change (new PHC) makes old entries useless, failures are
/// never remembered, and nothing here outlives the process.
struct Verified {
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

/// At most this many remembered checks; beyond it the oldest half is dropped.
const VERIFIED_MAX: usize = 100_000;
/// How long a successful check is remembered, in seconds (0 = never).
static VERIFIED_SECS: AtomicU64 = AtomicU64::new(600);
static VERIFIED: LazyLock<Verified> = LazyLock::new(|| Verified {
    key: rand::random(),
    entries: Mutex::new(HashMap::new()),
});

/// Sets how long a successful password check is remembered (`accounts.login_cache_secs`).
pub fn set_verified_cache(ttl: Duration) {
    VERIFIED_SECS.store(ttl.as_secs(), Ordering::Relaxed);
    if ttl.is_zero() {
        VERIFIED
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn verified_key(password: &str, phc: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(VERIFIED.key);
    hasher.update((phc.len() as u64).to_be_bytes());
    hasher.update(phc.as_bytes());
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

fn recently_verified(key: &[u8; 32]) -> bool {
    let ttl = VERIFIED_SECS.load(Ordering::Relaxed);
    if ttl == 0 {
        return false;
    }
    let entries = VERIFIED.entries.lock().unwrap_or_else(|e| e.into_inner());
    entries
        .get(key)
        .is_some_and(|at| at.elapsed() < Duration::from_secs(ttl))
}

fn remember_verified(key: [u8; 32]) {
    let ttl = Duration::from_secs(VERIFIED_SECS.load(Ordering::Relaxed));
    if ttl.is_zero() {
        return;
    }
    let mut entries = VERIFIED.entries.lock().unwrap_or_else(|e| e.into_inner());
    if entries.len() >= VERIFIED_MAX {
        entries.retain(|_, at| at.elapsed() < ttl);
        if entries.len() >= VERIFIED_MAX / 2 {
            let mut ages: Vec<Instant> = entries.values().copied().collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, at| *at > cut);
        }
    }
    entries.insert(key, Instant::now());
}

/// True when `password` matches the PHC string. Malformed or non-argon2id hashes never match.
pub fn verify(password: &str, phc: &str) -> bool {
    let key = verified_key(password, phc);
    if recently_verified(&key) {
        return true;
    }
    let ok = verify_argon2(password, phc);
    if ok {
        remember_verified(key);
    }
    ok
}

fn verify_argon2(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let expected: &[u8] = expected.as_ref();
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    let mut computed = vec![0u8; expected.len()];
    let salt: &[u8] = salt.as_ref();
    with_work_area(blocks, |area| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, area)
    })
    .is_ok()
        && constant_time_eq(&computed, expected)
}

/// Checks the minimum length rule.
pub fn check_strength(password: &str, min_len: usize) -> Result<(), PasswordError> {
    if password.chars().count() < min_len {
        return Err(PasswordError::TooShort(min_len));
    }
    Ok(())
}

/// The PHC of an initial password made by [`generate`] (16 characters of 57: 93 bits of
/// entropy), which the person must change at first use (KT-7.1). argon2id's cost protects
/// guessable, human-chosen passwords; no amount of guessing reaches a 93-bit random one, so
/// these use light parameters (1 MiB, one pass: about a millisecond instead of tens) and a
/// bulk import of thousands of people does not spend minutes hashing. Still argon2id PHC,
/// checked by [`verify`] like any other.
pub fn hash_initial(password: &str) -> Result<String, PasswordError> {
    let params = Params::new(1024, 1, 1, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
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
    fn initial_password_hash_is_argon2id_and_verifies() {
        let password = generate();
        let phc = hash_initial(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(verify(&password, &phc));
        assert!(!verify("something-else-1", &phc));
    }

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let phc = hash("Mật khẩu 123").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("Mật khẩu 123", &phc));
        assert!(!verify("Mat khau 123", &phc));
        assert!(!verify("Mật khẩu 123", "plaintext"));
    }

    #[test]
    fn verification_reuses_work_areas_and_rejects_tampering() {
        let phc = hash("Mật khẩu 123").unwrap();
        for _ in 0..3 {
            assert!(verify("Mật khẩu 123", &phc));
        }
        let pooled = WORK_AREAS.lock().unwrap().len();
        assert!((1..=POOLED).contains(&pooled), "{pooled}");
        // Other parameters (an imported hash) verify with their own block count.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"abc")
        .unwrap()
        .to_string();
        assert!(verify("abc", &small));
        assert!(!verify("abd", &small));
        // A changed hash byte, a changed parameter, another algorithm: no match.
        let mut chars: Vec<char> = phc.chars().collect();
        let last = chars.len() - 2;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        assert!(!verify(
            "Mật khẩu 123",
            &chars.into_iter().collect::<String>()
        ));
        assert!(!verify("Mật khẩu 123", &phc.replace("t=2", "t=3")));
        assert!(!verify("Mật khẩu 123", &phc.replace("argon2id", "argon2i")));
        assert!(!verify("x", DUMMY_PHC));
    }

    #[test]
    fn successful_checks_are_remembered_and_nothing_else() {
        let phc = hash("Mật khẩu 456").unwrap();
        assert!(!recently_verified(&verified_key("Mật khẩu 456", &phc)));
        assert!(!verify("sai mật khẩu", &phc));
        assert!(!recently_verified(&verified_key("sai mật khẩu", &phc)));
        assert!(verify("Mật khẩu 456", &phc));
        assert!(recently_verified(&verified_key("Mật khẩu 456", &phc)));
        // The same password under a new hash (a reset) is checked again from scratch.
        let other = hash("Mật khẩu 456").unwrap();
        assert!(!recently_verified(&verified_key("Mật khẩu 456", &other)));
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
