//! X509-SVIDs: the Workload API encoding (concatenated DER certificates, leaf first, and an
//! unencrypted PKCS#8 key), the X509-SVID standard's leaf and signing-certificate rules, and
//! RFC 5280 path validation against a trust domain's [`X509Bundle`].
//!
//! Certificates are read with x509-parser for the SPIFFE rules and handed to rustls-webpki
//! (with the aws-lc-rs algorithms) for chain building, signatures and validity periods; this
//! file does no signature arithmetic of its own. The rules are checked when an SVID is parsed,
//! so an [`X509Svid`] in hand always has a well-formed leaf; [`verify_chain`] checks a peer's
//! chain the same way before validating its path.

use std::fmt;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::bundle::X509Bundle;
use super::id::SpiffeId;
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};
use crate::secret::SecretBytes;

/// The largest certificate chain or bundle accepted in the Workload API encoding (bytes).
const MAX_DER_INPUT: usize = 512 * 1024;
/// The most certificates accepted in one chain or bundle encoding.
const MAX_CERTS: usize = 256;

/// An X509-SVID with its private key: what the Workload API hands a workload.
pub struct X509Svid {
    id: SpiffeId,
    /// DER certificates, leaf first.
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
    not_before: i64,
    not_after: i64,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::malformed("X509-SVID", reason)
}

/// Splits concatenated DER certificates (the Workload API's `x509_svid` and `bundle` fields)
/// into one DER value per certificate, parsing each so that a truncated or corrupted
/// certificate is refused here and not later.
pub(crate) fn split_der_certificates(input: &[u8], what: &'static str) -> Result<Vec<Vec<u8>>> {
    if input.is_empty() {
        return Err(Error::malformed(what, "no certificates"));
    }
    if input.len() > MAX_DER_INPUT {
        return Err(Error::TooLarge {
            what,
            limit: MAX_DER_INPUT as u64,
        });
    }
    let mut certs = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        if certs.len() == MAX_CERTS {
            return Err(Error::TooLarge {
                what,
                limit: MAX_CERTS as u64,
            });
        }
        let (after, _) = X509Certificate::from_der(rest).map_err(|_| {
            Error::malformed(
                what,
                format!("certificate {} is not a DER X.509 certificate", certs.len()),
            )
        })?;
        let used = rest.len() - after.len();
        certs.push(rest[..used].to_vec());
        rest = after;
    }
    Ok(certs)
}

/// Parses one DER certificate that must use every byte.
pub(crate) fn parse_certificate<'a>(
    der: &'a [u8],
    what: &'static str,
) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(Error::malformed(
            what,
            "trailing bytes after the certificate",
        )),
        Err(_) => Err(Error::malformed(what, "not a DER X.509 certificate")),
    }
}

/// The URI SANs of a certificate (none when it has no SAN extension).
fn uri_sans<'a>(cert: &X509Certificate<'a>) -> Result<(Vec<&'a str>, bool)> {
    let san = cert
        .subject_alternative_name()
        .map_err(|_| bad("the subject alternative name extension is invalid or repeated"))?;
    Ok(match san {
        None => (Vec::new(), false),
        Some(ext) => (
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(uri) => Some(*uri),
                    _ => None,
                })
                .collect(),
            ext.critical,
        ),
    })
}

/// The X509-SVID leaf rules (X509-SVID.md §4.1 and §5): returns the SPIFFE ID.
fn check_leaf(cert: &X509Certificate<'_>) -> Result<SpiffeId> {
    let (uris, san_critical) = uri_sans(cert)?;
    let [uri] = uris.as_slice() else {
        return Err(bad(format!(
            "the leaf must have exactly one URI SAN, it has {}",
            uris.len()
        )));
    };
    let id = SpiffeId::parse(uri)?;
    if id.path().is_empty() {
        return Err(bad("the leaf's SPIFFE ID must have a path"));
    }
    // RFC 5280 §4.1.2.6: with an empty subject the name lives only in the SAN, which must
    // then be critical.
    if cert.subject().iter().next().is_none() && !san_critical {
        return Err(bad("the subject is empty, so the URI SAN must be critical"));
    }
    let bc = cert
        .basic_constraints()
        .map_err(|_| bad("the basic constraints extension is invalid or repeated"))?;
    if bc.is_some_and(|bc| bc.value.ca) {
        return Err(bad("the leaf must not be a CA (basic constraints cA=true)"));
    }
    let ku = cert
        .key_usage()
        .map_err(|_| bad("the key usage extension is invalid or repeated"))?
        .ok_or_else(|| bad("the leaf must have a key usage extension"))?;
    if !ku.critical {
        return Err(bad("the leaf's key usage extension must be critical"));
    }
    if !ku.value.digital_signature() {
        return Err(bad("the leaf's key usage must include digitalSignature"));
    }
    if ku.value.key_cert_sign() || ku.value.crl_sign() {
        return Err(bad(
            "the leaf's key usage must not include keyCertSign or cRLSign",
        ));
    }
    let eku = cert
        .extended_key_usage()
        .map_err(|_| bad("the extended key usage extension is invalid or repeated"))?;
    if let Some(eku) = eku
        && !(eku.value.server_auth && eku.value.client_auth)
    {
        return Err(bad(
            "the leaf's extended key usage must include both serverAuth and clientAuth",
        ));
    }
    Ok(id)
}

/// The rules for a signing (intermediate) certificate (X509-SVID.md §4.3 and §5).
fn check_signing(cert: &X509Certificate<'_>, index: usize) -> Result<()> {
    let bc = cert
        .basic_constraints()
        .map_err(|_| bad("the basic constraints extension is invalid or repeated"))?;
    if !bc.is_some_and(|bc| bc.value.ca) {
        return Err(bad(format!(
            "certificate {index} signs the chain but is not a CA (cA=true)"
        )));
    }
    let ku = cert
        .key_usage()
        .map_err(|_| bad("the key usage extension is invalid or repeated"))?;
    if !ku.is_some_and(|ku| ku.value.key_cert_sign()) {
        return Err(bad(format!(
            "certificate {index} signs the chain but its key usage lacks keyCertSign"
        )));
    }
    for uri in uri_sans(cert)?.0 {
        if uri.starts_with("spiffe:") && !SpiffeId::parse(uri)?.path().is_empty() {
            return Err(bad(format!(
                "certificate {index} is a CA, so its SPIFFE ID must have no path"
            )));
        }
    }
    Ok(())
}

/// Checks the SPIFFE rules on every certificate of a chain; returns the leaf's ID and validity.
fn check_chain(chain: &[Vec<u8>]) -> Result<(SpiffeId, i64, i64)> {
    let Some((leaf_der, rest)) = chain.split_first() else {
        return Err(bad("no certificates"));
    };
    let leaf = parse_certificate(leaf_der, "X509-SVID")?;
    let id = check_leaf(&leaf)?;
    for (i, der) in rest.iter().enumerate() {
        check_signing(&parse_certificate(der, "X509-SVID")?, i + 1)?;
    }
    let validity = leaf.validity();
    Ok((
        id,
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

/// The SPIFFE ID of a chain's leaf, after the SPIFFE rules but before any path validation
/// (to choose the bundle to validate it with).
pub(crate) fn leaf_id(chain: &[Vec<u8>]) -> Result<SpiffeId> {
    Ok(check_chain(chain)?.0)
}

/// Validates a peer's certificate chain (DER, leaf first) as an X509-SVID of `bundle`'s trust
/// domain at `now` (seconds since the Unix epoch): the SPIFFE rules on every certificate, then
/// RFC 5280 path validation to one of the bundle's authorities. Returns the leaf's SPIFFE ID.
pub fn verify_chain(chain: &[Vec<u8>], bundle: &X509Bundle, now: u64) -> Result<SpiffeId> {
    if chain.len() > MAX_CERTS {
        return Err(Error::TooLarge {
            what: "X509-SVID",
            limit: MAX_CERTS as u64,
        });
    }
    let (id, _, _) = check_chain(chain)?;
    if !id.is_member_of(bundle.trust_domain()) {
        return Err(bad(format!(
            "the SVID is for trust domain {}, the bundle is for {}",
            id.trust_domain_name(),
            bundle.trust_domain()
        )));
    }
    let authorities: Vec<CertificateDer<'_>> = bundle
        .authorities()
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let anchors = authorities
        .iter()
        .map(webpki::anchor_from_trusted_cert)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::malformed("X.509 bundle", format!("unusable authority: {e}")))?;
    let leaf = CertificateDer::from(chain[0].as_slice());
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let ee = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| bad(format!("the leaf is not usable: {e}")))?;
    // Both EKUs are already required when the extension is present, so checking one usage
    // here only adds webpki's own "if present" rule.
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::since_unix_epoch(Duration::from_secs(now)),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map_err(|e| {
        bad(format!(
            "path validation to the bundle of {} failed: {e}",
            bundle.trust_domain()
        ))
    })?;
    Ok(id)
}

impl X509Svid {
    /// Parses the Workload API encoding: `chain` is concatenated DER certificates, leaf first;
    /// `key` is the leaf's private key as unencrypted PKCS#8 DER. The leaf and every signing
    /// certificate must follow the X509-SVID rules and the key must match the leaf.
    pub fn parse(chain: &[u8], key: &[u8]) -> Result<Self> {
        let chain = split_der_certificates(chain, "X509-SVID")?;
        let key = PrivateKey::from_pkcs8_der(key)?;
        Self::from_parts(chain, key)
    }

    /// The SVID from DER certificates (leaf first) and the leaf's key, with the same checks as
    /// [`X509Svid::parse`].
    pub fn from_parts(chain: Vec<Vec<u8>>, key: PrivateKey) -> Result<Self> {
        if chain.len() > MAX_CERTS {
            return Err(Error::TooLarge {
                what: "X509-SVID",
                limit: MAX_CERTS as u64,
            });
        }
        let (id, not_before, not_after) = check_chain(&chain)?;
        let leaf = parse_certificate(&chain[0], "X509-SVID")?;
        let leaf_key = PublicKey::from_spki_der(leaf.public_key().raw)?;
        if &leaf_key != key.public_key() {
            return Err(bad("the private key does not match the leaf certificate"));
        }
        Ok(Self {
            id,
            chain,
            key,
            not_before,
            not_after,
        })
    }

    /// The Workload API encoding: (concatenated DER chain, PKCS#8 DER key).
    pub fn encode(&self) -> Result<(Vec<u8>, SecretBytes)> {
        Ok((self.chain.concat(), self.key.to_pkcs8_der()?))
    }

    /// The SPIFFE ID in the leaf.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.id
    }

    /// The DER certificates, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The leaf certificate (DER).
    pub fn leaf(&self) -> &[u8] {
        &self.chain[0]
    }

    /// The leaf's private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }

    /// The leaf's notBefore, in seconds since the Unix epoch.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// The leaf's notAfter, in seconds since the Unix epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Validates this SVID's own chain against `bundle` at `now`, as [`verify_chain`] does for a
    /// peer's.
    pub fn verify(&self, bundle: &X509Bundle, now: u64) -> Result<SpiffeId> {
        verify_chain(&self.chain, bundle, now)
    }
}

impl PartialEq for X509Svid {
    fn eq(&self, other: &Self) -> bool {
        // The key matches the leaf (checked at parse time), so comparing chains and public
        // keys compares everything without touching private material.
        self.chain == other.chain && self.key.public_key() == other.key.public_key()
    }
}

impl Eq for X509Svid {}

impl fmt::Debug for X509Svid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Svid")
            .field("id", &self.id.as_str())
            .field("certificates", &self.chain.len())
            .field("not_after", &self.not_after)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_refuses_empty_oversized_and_garbage() {
        assert!(split_der_certificates(&[], "t").is_err());
        assert!(matches!(
            split_der_certificates(&vec![0; MAX_DER_INPUT + 1], "t"),
            Err(Error::TooLarge { .. })
        ));
        for garbage in [&[0x30, 0x00][..], &[0x30, 0x82, 0xff], &[0x04, 0x01, 0x00]] {
            assert!(split_der_certificates(garbage, "t").is_err());
        }
        assert!(check_chain(&[]).is_err());
        assert!(leaf_id(&[vec![0x30, 0x00]]).is_err());
    }
}
