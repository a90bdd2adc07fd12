//! Certificates for the tests, made with rcgen: a CA, an optional intermediate and an
//! X509-SVID leaf, each built from parameters a test can break one at a time.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, date_time_ymd,
};
use sigil_core::spiffe::{TrustDomain, X509Bundle, X509Svid};

pub(crate) const TD: &str = "example.org";
pub(crate) const ID: &str = "spiffe://example.org/ns/prod/sa/web";

pub(crate) fn td() -> TrustDomain {
    TrustDomain::parse(TD).unwrap()
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, cn);
    dn
}

/// A trust domain CA.
pub(crate) struct Ca {
    pub(crate) der: Vec<u8>,
    pub(crate) issuer: Issuer<'static, KeyPair>,
}

pub(crate) fn ca_params(id: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn("SPIFFE");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.subject_alt_names = vec![uri(id)];
    p.not_before = date_time_ymd(2025, 1, 1);
    p.not_after = date_time_ymd(2030, 1, 1);
    p
}

pub(crate) fn ca() -> Ca {
    ca_from(ca_params(&format!("spiffe://{TD}")))
}

pub(crate) fn ca_from(params: CertificateParams) -> Ca {
    let key = KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Ca {
        der,
        issuer: Issuer::new(params, key),
    }
}

/// An intermediate signed by `parent`.
pub(crate) fn intermediate(parent: &Ca, params: CertificateParams) -> Ca {
    let key = KeyPair::generate().unwrap();
    let der = params
        .signed_by(&key, &parent.issuer)
        .unwrap()
        .der()
        .to_vec();
    Ca {
        der,
        issuer: Issuer::new(params, key),
    }
}

/// The parameters of a well-formed leaf, as SPIRE's template makes them.
pub(crate) fn leaf_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn("SPIRE");
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.subject_alt_names = vec![
        uri(ID),
        SanType::DnsName("web.example.org".try_into().unwrap()),
    ];
    p.not_before = date_time_ymd(2026, 1, 1);
    p.not_after = date_time_ymd(2026, 2, 1);
    p
}

pub(crate) fn with_uris(mut p: CertificateParams, uris: &[&str]) -> CertificateParams {
    p.subject_alt_names = uris.iter().map(|u| uri(u)).collect();
    p
}

/// A leaf signed by `issuer`: (DER, PKCS#8 key).
pub(crate) fn leaf(issuer: &Ca, params: &CertificateParams) -> (Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let der = params
        .signed_by(&key, &issuer.issuer)
        .unwrap()
        .der()
        .to_vec();
    (der, key.serialize_der())
}

/// A custom extension: DER `value` under `oid`, with the given criticality.
pub(crate) fn extension(oid: &[u64], value: Vec<u8>, critical: bool) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, value);
    ext.set_criticality(critical);
    ext
}

/// A CA, a good SVID under it, and the bundle.
pub(crate) fn svid() -> (Ca, X509Svid, X509Bundle) {
    let ca = ca();
    let (der, key) = leaf(&ca, &leaf_params());
    let svid = X509Svid::parse(&der, &key).unwrap();
    let bundle = X509Bundle::new(td(), vec![ca.der.clone()]).unwrap();
    (ca, svid, bundle)
}
