//! The audit signing certificate: its public key as a verifier, after the checks AuditVerify
//! makes (keyUsage with digitalSignature; validity dates deliberately not checked, so that old
//! logs stay verifiable).

use std::path::Path;

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::*;

/// Why a certificate cannot be used to verify signatures.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The file cannot be read.
    #[error("cannot read the certificate {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither PEM nor DER X.509.
    #[error("{path} is not an X.509 certificate (PEM or DER): {reason}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// Without keyUsage digitalSignature, AuditVerify refuses the certificate; so do we.
    #[error("{path}: the certificate {detail}; an audit signing certificate must have keyUsage digitalSignature")]
    KeyUsage {
        /// The file.
        path: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// A key type or curve Dogtag's verifier does not use.
    #[error("{path}: unsupported key ({detail}); audit signing keys are RSA or EC P-256/P-384")]
    Key {
        /// The file.
        path: String,
        /// What it is.
        detail: String,
    },
}

/// The digest of RSA signatures: SHA-256 since Dogtag 9 (2010); SHA-1 before, SHA-512 where
/// configured. ECDSA signatures always use SHA-256, whatever the curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Digest {
    /// SHA-256 (the default).
    #[default]
    Sha256,
    /// SHA-1 (logs written before December 2010).
    Sha1,
    /// SHA-512.
    Sha512,
}

/// A public key that verifies Dogtag's audit log signatures.
#[derive(Debug)]
pub struct SigningKey {
    algorithm: &'static dyn VerificationAlgorithm,
    public: Vec<u8>,
    /// The RSA modulus length in bytes (a signature has exactly this length); `None` for EC.
    rsa_len: Option<usize>,
    /// `RSA-2048`, `EC P-256`, ...
    pub description: String,
}

impl SigningKey {
    /// Reads the certificate at `path` (PEM or DER) and checks it.
    pub fn from_file(path: &Path, digest: Digest) -> Result<Self, CertError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| CertError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_bytes(&bytes, &shown, digest)
    }

    /// Checks the certificate in `bytes` (PEM or DER); `shown` names it in errors.
    pub fn from_bytes(bytes: &[u8], shown: &str, digest: Digest) -> Result<Self, CertError> {
        let parse_error = |reason: String| CertError::Parse {
            path: shown.to_owned(),
            reason,
        };
        let der = if bytes.starts_with(b"-----BEGIN") || bytes.iter().take(64).all(u8::is_ascii) {
            let (_, pem) = x509_parser::pem::parse_x509_pem(bytes)
                .map_err(|e| parse_error(format!("PEM: {e}")))?;
            pem.contents
        } else {
            bytes.to_vec()
        };
        let (_, cert) = X509Certificate::from_der(&der).map_err(|e| parse_error(e.to_string()))?;
        match cert.key_usage() {
            Ok(Some(usage)) if usage.value.digital_signature() => {}
            Ok(Some(_)) => {
                return Err(CertError::KeyUsage {
                    path: shown.to_owned(),
                    detail: "has keyUsage without digitalSignature",
                })
            }
            Ok(None) => {
                return Err(CertError::KeyUsage {
                    path: shown.to_owned(),
                    detail: "has no keyUsage extension",
                })
            }
            Err(e) => return Err(parse_error(format!("keyUsage: {e}"))),
        }
        let spki = cert.public_key();
        let key_error = |detail: String| CertError::Key {
            path: shown.to_owned(),
            detail,
        };
        match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                let modulus = rsa.modulus.iter().skip_while(|b| **b == 0).count();
                let bits = modulus * 8;
                let legacy = bits < 2048;
                let algorithm: &'static dyn VerificationAlgorithm = match (digest, legacy) {
                    (Digest::Sha256, false) => &signature::RSA_PKCS1_2048_8192_SHA256,
                    (Digest::Sha256, true) => {
                        &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                    }
                    (Digest::Sha1, false) => {
                        &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
                    }
                    (Digest::Sha1, true) => {
                        &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
                    }
                    (Digest::Sha512, false) => &signature::RSA_PKCS1_2048_8192_SHA512,
                    (Digest::Sha512, true) => {
                        &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
                    }
                };
                Ok(Self {
                    algorithm,
                    public: spki.subject_public_key.data.to_vec(),
                    rsa_len: Some(modulus),
                    description: format!(
                        "RSA-{bits} with {}",
                        match digest {
                            Digest::Sha256 => "SHA-256",
                            Digest::Sha1 => "SHA-1",
                            Digest::Sha512 => "SHA-512",
                        }
                    ),
                })
            }
            Ok(x509_parser::public_key::PublicKey::EC(_)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                let (algorithm, name): (&'static dyn VerificationAlgorithm, &str) =
                    match curve.as_str() {
                        "1.2.840.10045.3.1.7" => (&signature::ECDSA_P256_SHA256_ASN1, "P-256"),
                        "1.3.132.0.34" => (&signature::ECDSA_P384_SHA256_ASN1, "P-384"),
                        other => return Err(key_error(format!("EC curve {other}"))),
                    };
                Ok(Self {
                    algorithm,
                    public: spki.subject_public_key.data.to_vec(),
                    rsa_len: None,
                    description: format!("EC {name} with SHA-256"),
                })
            }
            Ok(other) => Err(key_error(format!(
                "{} key",
                match other {
                    x509_parser::public_key::PublicKey::DSA(_) => "DSA",
                    _ => "an unknown",
                }
            ))),
            Err(e) => Err(key_error(e.to_string())),
        }
    }

    /// Whether `signature` is a valid signature of `data`.
    #[must_use]
    pub fn verifies(&self, data: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(self.algorithm, &self.public)
            .verify(data, signature)
            .is_ok()
    }

    /// For RSA keys, the exact length a signature must have.
    #[must_use]
    pub fn rsa_signature_len(&self) -> Option<usize> {
        self.rsa_len
    }
}
