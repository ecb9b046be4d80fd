//! Hub's own keys for session tokens: ES256 (P-256) key pairs.
//!
//! The private key stays on the instance's disk: a key folder (`DATA_DIR/keys` by default)
//! holding `<kid>.pem` files and a `current` file naming the signing key, or one PEM file given
//! by configuration. Public halves are published in the database, so an instance verifies
//! tokens that other instances on the same database signed, and `/.well-known/jwks.json` serves
//! them to products that verify tokens offline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration as StdDuration, Instant, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::storage::sign_in::{self, PublishedKey};
use crate::storage::{Store, StorageError};

/// How long a replaced key still verifies tokens and stays published: the longest session
/// lifetime, so no live session loses its signature check through a rotation.
pub const RETIRED_KEY_GRACE_DAYS: i64 = 30;

/// Minimum time between two reloads of the published keys after an unknown `kid`.
const RELOAD_INTERVAL: StdDuration = StdDuration::from_secs(1);

/// Location of this instance's private signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A folder of `<kid>.pem` files with a `current` file; `hub keys rotate` adds keys.
    Folder(PathBuf),
    /// One PEM file (PKCS#8 or SEC1, P-256) managed outside Hub.
    File(PathBuf),
}

/// A key problem at startup or rotation.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot use the session signing key {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A private key that signs session tokens.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    /// The public JWK, with `kid`, `use` and `alg`.
    pub public_jwk: Value,
}

struct Current {
    key: std::sync::Arc<SigningKey>,
    /// When the folder's `current` file (or the key file) last changed, to notice a rotation.
    marker: Option<SystemTime>,
}

struct Verifying {
    key: DecodingKey,
    retired_at: Option<DateTime<Utc>>,
}

/// This instance's signing key and the public keys of every instance.
pub struct KeyRing {
    source: KeySource,
    current: RwLock<Current>,
    verifying: RwLock<HashMap<String, Verifying>>,
    last_reload: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "KeyRing({:?})", self.source)
    }
}

impl KeyRing {
    /// Loads the signing key (creating the first one in a key folder), publishes its public
    /// half, and reads the published keys.
    pub async fn open(store: &Store, source: KeySource) -> Result<KeyRing, KeyError> {
        let (key, marker) = load_current(&source, true)?;
        sign_in::publish_key(&mut store.db(), &key.kid, &key.public_jwk.to_string()).await?;
        tracing::info!(kid = %key.kid, "session signing key loaded");
        let ring = KeyRing {
            source,
            current: RwLock::new(Current {
                key: std::sync::Arc::new(key),
                marker,
            }),
            verifying: RwLock::new(HashMap::new()),
            last_reload: Mutex::new(None),
        };
        ring.reload_published(store).await?;
        Ok(ring)
    }

    /// Returns the key that signs new tokens, first picking up a rotation done by
    /// `hub keys rotate` while the server runs.
    pub async fn signing_key(&self, store: &Store) -> Result<std::sync::Arc<SigningKey>, KeyError> {
        let marker = current_marker(&self.source);
        let known = self.current.read().map(|current| (current.key.clone(), current.marker)).ok();
        if let Some((key, known_marker)) = known {
            if known_marker == marker {
                return Ok(key);
            }
        }

        let (key, marker) = load_current(&self.source, false)?;
        sign_in::publish_key(&mut store.db(), &key.kid, &key.public_jwk.to_string()).await?;
        tracing::info!(kid = %key.kid, "session signing key changed on disk; signing with the new key");
        let key = std::sync::Arc::new(key);
        if let Ok(mut current) = self.current.write() {
            *current = Current { key: key.clone(), marker };
        }
        self.reload_published(store).await?;
        Ok(key)
    }

    /// Returns the public key for `kid`, reading the published keys again when it is unknown
    /// (another instance's key, or a rotation). `None` for unknown and expired keys.
    pub async fn verifying_key(&self, store: &Store, kid: &str, now: DateTime<Utc>) -> Result<Option<DecodingKey>, StorageError> {
        if let Some(found) = self.lookup(kid, now) {
            return Ok(found);
        }
        if self.may_reload() {
            self.reload_published(store).await?;
        }
        Ok(self.lookup(kid, now).flatten())
    }

    /// Returns `Some(None)` when the key is known but past its grace period.
    fn lookup(&self, kid: &str, now: DateTime<Utc>) -> Option<Option<DecodingKey>> {
        let verifying = self.verifying.read().ok()?;
        let entry = verifying.get(kid)?;
        let expired = entry
            .retired_at
            .is_some_and(|retired| now >= retired + Duration::days(RETIRED_KEY_GRACE_DAYS));
        Some((!expired).then(|| entry.key.clone()))
    }

    fn may_reload(&self) -> bool {
        let Ok(mut last) = self.last_reload.lock() else { return false };
        if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    async fn reload_published(&self, store: &Store) -> Result<(), StorageError> {
        let published = sign_in::published_keys(&mut store.db()).await?;
        let mut loaded = HashMap::with_capacity(published.len());
        for key in &published {
            match decoding_key(key) {
                Some(decoding) => {
                    loaded.insert(
                        key.kid.clone(),
                        Verifying {
                            key: decoding,
                            retired_at: key.retired_at,
                        },
                    );
                }
                None => tracing::error!(kid = %key.kid, "a published session key is not a usable P-256 JWK; skipped"),
            }
        }
        if let Ok(mut verifying) = self.verifying.write() {
            *verifying = loaded;
        }
        Ok(())
    }
}

fn decoding_key(key: &PublishedKey) -> Option<DecodingKey> {
    let jwk: Value = serde_json::from_str(&key.public_jwk).ok()?;
    DecodingKey::from_ec_components(jwk.get("x")?.as_str()?, jwk.get("y")?.as_str()?).ok()
}

/// Returns the JWKS document of the published keys that still verify tokens.
pub async fn jwks_document(store: &Store, now: DateTime<Utc>) -> Result<Value, StorageError> {
    let keys: Vec<Value> = sign_in::published_keys(&mut store.db())
        .await?
        .into_iter()
        .filter(|key| key.retired_at.is_none_or(|retired| now < retired + Duration::days(RETIRED_KEY_GRACE_DAYS)))
        .filter_map(|key| serde_json::from_str(&key.public_jwk).ok())
        .collect();
    Ok(json!({ "keys": keys }))
}

/// Creates a new key in the folder, makes it current, publishes it and retires the others.
/// Returns the new key id. Private keys older than the previous one are deleted.
pub async fn rotate(store: &Store, folder: &Path) -> Result<String, KeyError> {
    let previous = read_current_kid(folder);
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let key = write_key(folder, &secret)?;
    set_current(folder, &key.kid)?;

    sign_in::publish_key(&mut store.db(), &key.kid, &key.public_jwk.to_string()).await?;
    let retired = sign_in::retire_keys_except(&mut store.db(), &key.kid, crate::clock::now()).await?;
    delete_old_keys(folder, &key.kid, previous.as_deref());
    tracing::info!(kid = %key.kid, previous = ?previous, retired, "session signing key rotated");
    Ok(key.kid)
}

/// Loads the current private key, creating the first one in an empty key folder.
fn load_current(source: &KeySource, create: bool) -> Result<(SigningKey, Option<SystemTime>), KeyError> {
    match source {
        KeySource::File(path) => Ok((read_key(path)?, current_marker(source))),
        KeySource::Folder(folder) => {
            if read_current_kid(folder).is_none() {
                if !create {
                    return Err(file_error(&folder.join("current"), "the file is missing"));
                }
                std::fs::create_dir_all(folder).map_err(|error| file_error(folder, &error.to_string()))?;
                let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
                let key = write_key(folder, &secret)?;
                set_current(folder, &key.kid)?;
                tracing::info!(kid = %key.kid, folder = %folder.display(), "created the first session signing key");
            }
            let kid = read_current_kid(folder).unwrap_or_default();
            let key = read_key(&folder.join(format!("{kid}.pem")))?;
            Ok((key, current_marker(source)))
        }
    }
}

fn current_marker(source: &KeySource) -> Option<SystemTime> {
    let path = match source {
        KeySource::File(path) => path.clone(),
        KeySource::Folder(folder) => folder.join("current"),
    };
    std::fs::metadata(path).and_then(|meta| meta.modified()).ok()
}

fn read_current_kid(folder: &Path) -> Option<String> {
    let text = std::fs::read_to_string(folder.join("current")).ok()?;
    let kid = text.trim();
    let valid = !kid.is_empty() && kid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then(|| kid.to_string())
}

fn read_key(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|error| file_error(path, &error.to_string()))?;
    let secret = p256::SecretKey::from_pkcs8_pem(&pem)
        .or_else(|_| p256::SecretKey::from_sec1_pem(&pem))
        .map_err(|_| file_error(path, "not a P-256 private key in PKCS#8 or SEC1 PEM form"))?;
    signing_key(&secret).map_err(|reason| file_error(path, &reason))
}

/// Builds the signing key, its id (the RFC 7638 thumbprint) and public JWK.
fn signing_key(secret: &p256::SecretKey) -> Result<SigningKey, String> {
    let der = secret.to_pkcs8_der().map_err(|error| error.to_string())?;
    let point = secret.public_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err("the public key has no coordinates".into());
    };
    let x = URL_SAFE_NO_PAD.encode(x);
    let y = URL_SAFE_NO_PAD.encode(y);

    // RFC 7638: the required members in lexicographic order, without spaces.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    Ok(SigningKey {
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        public_jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"}),
        kid,
    })
}

fn write_key(folder: &Path, secret: &p256::SecretKey) -> Result<SigningKey, KeyError> {
    let key = signing_key(secret).map_err(|reason| file_error(folder, &reason))?;
    let pem = secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|error| file_error(folder, &error.to_string()))?;
    let path = folder.join(format!("{}.pem", key.kid));
    write_private(&path, pem.as_bytes())?;
    Ok(key)
}

/// Writes a file readable by its owner only, through a temporary file and a rename, so a
/// crash never leaves half a key.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;

    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|error| file_error(path, &error.to_string()))
}

fn set_current(folder: &Path, kid: &str) -> Result<(), KeyError> {
    write_private(&folder.join("current"), format!("{kid}\n").as_bytes())
}

fn delete_old_keys(folder: &Path, current: &str, previous: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(kid) = name.strip_suffix(".pem") else { continue };
        if kid != current && Some(kid) != previous {
            if let Err(error) = std::fs::remove_file(entry.path()) {
                tracing::error!(kid, %error, "cannot delete an old session signing key");
            }
        }
    }
}

fn file_error(path: &Path, reason: &str) -> KeyError {
    KeyError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}
