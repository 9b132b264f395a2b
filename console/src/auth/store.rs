//! Local users (argon2id hashes in `DATA/users.json`) and the node's secret files.
//!
//! Files holding secrets are written whole to a temporary file created with mode 0600
//! and renamed into place, so a crash leaves either the old or the new file, and no
//! other user of the machine can read them at any time.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

use super::role::Role;
use super::AuthError;

/// Name of the users file under the data directory.
pub const USERS_FILE: &str = "users.json";
/// Name of the first admin password file under the data directory (contracts §2).
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";
/// Name of the ingest token file under the data directory.
pub const INGEST_TOKEN_FILE: &str = "ingest-token";

/// One local user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The argon2id hash in PHC string form.
    pub hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<User>,
}

/// The local users of a node, backed by `DATA/users.json`.
#[derive(Debug)]
pub struct UserStore {
    path: PathBuf,
    users: Vec<User>,
}

/// Writes `contents` to `path` atomically with mode 0600.
pub fn write_secret(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// A random password or token of `len` alphanumeric characters from the OS's generator.
pub fn random_secret(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// The argon2id hash of `password` with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash that verifies no password, checked against when the user does not exist so that
/// a login for an unknown name costs as much as one for a known name.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_secret(24)).unwrap_or_default())
}

impl UserStore {
    /// Opens `DATA/users.json`; on first start creates it with the user `admin` and a random
    /// password written to `DATA/initial-admin-password` (mode 0600, never logged).
    pub fn open_or_init(data: &Path) -> Result<Self, AuthError> {
        std::fs::create_dir_all(data).map_err(|e| AuthError::io(data, e))?;
        let path = data.join(USERS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: UsersFile = serde_json::from_slice(&bytes).map_err(|e| {
                    AuthError::Config(format!(
                        "{}: line {} column {}: {e} (expected {{\"users\": [{{\"name\", \"role\", \"hash\"}}]}})",
                        path.display(),
                        e.line(),
                        e.column()
                    ))
                })?;
                Ok(Self {
                    path,
                    users: file.users,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let password = random_secret(24);
                let store = Self {
                    path,
                    users: vec![User {
                        name: "admin".into(),
                        role: Role::Admin,
                        hash: hash_password(&password)?,
                    }],
                };
                let pw_path = data.join(INITIAL_ADMIN_PASSWORD_FILE);
                write_secret(&pw_path, format!("{password}\n").as_bytes())
                    .map_err(|e| AuthError::io(&pw_path, e))?;
                store.save()?;
                tracing::info!(file = %pw_path.display(), "created user admin; its first password is in the file");
                Ok(store)
            }
            Err(e) => Err(AuthError::io(&path, e)),
        }
    }

    fn save(&self) -> Result<(), AuthError> {
        let body = serde_json::to_vec_pretty(&UsersFile {
            users: self.users.clone(),
        })
        .map_err(|e| AuthError::Config(e.to_string()))?;
        write_secret(&self.path, &body).map_err(|e| AuthError::io(&self.path, e))
    }

    /// The user called `name`.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// All users.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Adds or replaces a user (password hashed here) and saves the file.
    pub fn upsert(&mut self, name: &str, password: &str, role: Role) -> Result<(), AuthError> {
        let hash = hash_password(password)?;
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(u) => {
                u.role = role;
                u.hash = hash;
            }
            None => self.users.push(User {
                name: name.into(),
                role,
                hash,
            }),
        }
        self.save()
    }
}

/// Reads `DATA/ingest-token`, creating it (mode 0600) with a random token on first start.
pub fn ingest_token(data: &Path) -> Result<String, AuthError> {
    let path = data.join(INGEST_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Ok(_) => Err(AuthError::Config(format!(
            "{}: empty (expected a token; delete the file to get a new one)",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = format!("swi_{}", random_secret(40));
            write_secret(&path, format!("{token}\n").as_bytes())
                .map_err(|e| AuthError::io(&path, e))?;
            Ok(token)
        }
        Err(e) => Err(AuthError::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_writes_admin_password_0600_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::open_or_init(dir.path()).unwrap();
        let pw = std::fs::read_to_string(dir.path().join(INITIAL_ADMIN_PASSWORD_FILE)).unwrap();
        let pw = pw.trim();
        assert_eq!(pw.len(), 24);
        let admin = store.get("admin").unwrap();
        assert_eq!(admin.role, Role::Admin);
        assert!(admin.hash.starts_with("$argon2id$"));
        assert!(verify_password(pw, &admin.hash));
        assert!(!verify_password("wrong", &admin.hash));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [INITIAL_ADMIN_PASSWORD_FILE, USERS_FILE] {
                let mode = std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        // The users file holds no plain password.
        let users = std::fs::read_to_string(dir.path().join(USERS_FILE)).unwrap();
        assert!(!users.contains(pw));
        // A second start keeps the same users and does not rewrite the password file.
        let again = UserStore::open_or_init(dir.path()).unwrap();
        assert_eq!(again.users(), store.users());
        let tok = ingest_token(dir.path()).unwrap();
        assert_eq!(ingest_token(dir.path()).unwrap(), tok);
    }

    #[test]
    fn bad_users_file_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(USERS_FILE),
            "{\"users\": [\n{\"name\": 3}]}",
        )
        .unwrap();
        let err = UserStore::open_or_init(dir.path()).unwrap_err().to_string();
        assert!(err.contains("users.json: line 2"), "{err}");
    }
}
