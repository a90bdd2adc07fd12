//! The trust domain's X.509 authority and the X509-SVIDs it signs, shaped as the X509-SVID
//! standard requires: the authority is a CA whose only URI SAN is the trust domain's own
//! SPIFFE ID (no path); a leaf carries exactly one URI SAN (its SPIFFE ID, which has a
//! path), `CA:FALSE`, a critical key usage with `digitalSignature` (plus key encipherment
//! and agreement, never certificate or CRL signing), and both `serverAuth` and
//! `clientAuth`. Certificates are built and signed by rcgen over aws-lc.

use std::fmt;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use sigil_core::encoding::{Pem, base64_decode, base64_encode};
use sigil_core::spiffe::{SpiffeId, TrustDomain};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::api::ApiError;
use crate::pki::{KeySpec, at, expiry, is_hostname, random_serial, serial_colons};

/// How far `notBefore` is set back, for clocks a little behind the server's.
const BACKDATE: i64 = 30;
/// The most DNS names one SVID may carry.
pub(super) const MAX_DNS_NAMES: usize = 32;

/// The subject organisation of everything this engine signs (SVIDs need no subject; one
/// keeps tools that print subjects readable and the URI SAN non-critical).
const ORGANIZATION: &str = "Sigil";

/// A stored X.509 authority. `Debug` shows identifiers only; the key is zeroized on drop.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Authority {
    /// The certificate, PEM.
    pub certificate: String,
    /// The key, PKCS#8 DER in base64.
    private_key: String,
    /// The certificate's serial, colon form.
    pub serial_number: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("serial_number", &self.serial_number)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Drop for Authority {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.private_key);
    }
}

/// The trust domain's X.509 authorities: the active one signs, all are published.
pub(super) type Authorities = super::rotation::Lifecycle<Authority>;

/// What an SVID is made for.
#[derive(Debug)]
pub(super) struct SvidRequest<'a> {
    /// Its SPIFFE ID (a member of the authority's trust domain, with a path).
    pub id: &'a SpiffeId,
    /// DNS SANs after the URI SAN.
    pub dns_names: &'a [String],
    /// Requested lifetime in seconds (cut to the authority's).
    pub ttl: u64,
}

/// A signed SVID.
#[derive(Debug)]
pub(super) struct Signed {
    /// The leaf, PEM.
    pub pem: String,
    /// Colon form.
    pub serial: String,
    /// Unix seconds.
    pub not_after: i64,
}

impl super::rotation::Rotating for Authority {
    fn not_before(&self) -> i64 {
        self.not_before
    }

    fn not_after(&self) -> i64 {
        self.not_after
    }
}

impl Authority {
    /// A new self-signed authority for `td`, valid from a little before `now` for `ttl`.
    pub(super) fn generate(
        td: &TrustDomain,
        key: KeySpec,
        ttl: u64,
        now: i64,
    ) -> Result<Self, ApiError> {
        let pair = key.generate()?;
        let serial = random_serial()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(None);
        params.subject_alt_names = vec![uri(td.id().as_str())?];
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let not_after = expiry(now, ttl)?;
        params.not_before = at(now - BACKDATE)?;
        params.not_after = at(not_after)?;
        let cert = params
            .self_signed(&pair)
            .map_err(|e| ApiError::internal(format!("signing the trust domain's CA: {e}")))?;
        Ok(Self {
            certificate: cert.pem(),
            private_key: base64_encode(&Zeroizing::new(pair.serialize_der())),
            serial_number: serial_colons(&serial),
            not_before: now - BACKDATE,
            not_after,
        })
    }

    /// The certificate in DER.
    pub(super) fn der(&self) -> Result<Vec<u8>, ApiError> {
        Pem::decode_expecting(&self.certificate, "CERTIFICATE")
            .map_err(|_| ApiError::internal("the stored authority is corrupt"))
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>, ApiError> {
        let corrupt = || ApiError::internal("the stored authority is corrupt");
        let key = Zeroizing::new(base64_decode(&self.private_key).map_err(|_| corrupt())?);
        let pair = KeyPair::try_from(key.as_slice()).map_err(|_| corrupt())?;
        Issuer::from_ca_cert_der(&self.der()?.into(), pair)
            .map_err(|e| ApiError::internal(format!("loading the authority: {e}")))
    }

    /// Signs an X509-SVID for `public_key`, valid from a little before `now` for the
    /// requested lifetime cut to the authority's own.
    pub(super) fn sign(
        &self,
        req: &SvidRequest<'_>,
        public_key: &impl PublicKeyData,
        now: i64,
    ) -> Result<Signed, ApiError> {
        let serial = random_serial()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(req.dns_names.first().map(String::as_str));
        params.subject_alt_names = std::iter::once(uri(req.id.as_str()))
            .chain(req.dns_names.iter().map(|d| {
                let not_dns = || ApiError::bad(format!("dns_names: {d:?} is not a DNS name"));
                if !is_hostname(d) {
                    return Err(not_dns());
                }
                d.as_str()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|_| not_dns())
            }))
            .collect::<Result<_, _>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let not_after = expiry(now, req.ttl)?.min(self.not_after);
        params.not_before = at(now - BACKDATE)?;
        params.not_after = at(not_after)?;
        let cert = params
            .signed_by(public_key, &self.issuer()?)
            .map_err(|e| ApiError::internal(format!("signing the SVID: {e}")))?;
        Ok(Signed {
            pem: cert.pem(),
            serial: serial_colons(&serial),
            not_after,
        })
    }
}

/// The leaf's only URI SAN and its serial (colon form), for an agent SVID already verified.
pub(super) fn leaf_identity(der: &[u8]) -> Option<(SpiffeId, String)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let mut uris = san.value.general_names.iter().filter_map(|n| match n {
        GeneralName::URI(u) => Some(*u),
        _ => None,
    });
    let (Some(uri), None) = (uris.next(), uris.next()) else {
        return None;
    };
    let id = SpiffeId::parse(uri).ok()?;
    Some((id, serial_colons(cert.raw_serial())))
}

fn subject(common_name: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    if let Some(cn) = common_name {
        dn.push(DnType::CommonName, cn);
    }
    dn
}

fn uri(id: &str) -> Result<SanType, ApiError> {
    id.try_into()
        .map(SanType::URI)
        .map_err(|_| ApiError::internal("a SPIFFE ID is not an IA5 string"))
}
