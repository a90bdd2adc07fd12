//! mTLS between workloads with X509-SVIDs: rustls server and client configurations that read
//! their SVID and bundles from an [`X509Source`] on every handshake, validate the peer's chain
//! with [`verify_chain`] and then ask an [`Authorizer`] about the peer's SPIFFE ID.
//!
//! Reading the source per handshake is what makes rotation free: the agent replaces the SVID
//! or a bundle in the source and the next connection uses it, with no new config. The
//! configurations speak TLS 1.3 only, prefer the hybrid post-quantum key exchange
//! X25519MLKEM768 (then X25519, then P-256 for peers without either), and check handshake
//! signatures with the aws-lc-rs provider's algorithms. DNS names play no part: a peer is
//! known by its SPIFFE ID alone.
//!
//! Session resumption is off on both sides: a resumed session skips the certificate exchange,
//! so a peer whose CA was removed from the bundle, or an authorizer that changed, would still
//! be let in until the ticket expired. Every connection is a full handshake against the
//! current SVID, bundle and authorizer.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

use super::authorize::Authorizer;
use super::bundle::X509Bundle;
use super::id::{SpiffeId, TrustDomain};
use super::x509::{X509Svid, leaf_id, verify_chain};
use crate::error::{Error, Result};

/// Where the TLS configurations get the local SVID and the peers' bundles, on every handshake.
pub trait X509Source: fmt::Debug + Send + Sync {
    /// The current SVID.
    fn svid(&self) -> Arc<X509Svid>;
    /// The bundle of `td`, if this workload trusts it.
    fn bundle(&self, td: &TrustDomain) -> Option<Arc<X509Bundle>>;
}

/// An [`X509Source`] held in memory and updated by its owner (the Workload API client, or a
/// test).
#[derive(Debug)]
pub struct MemorySource {
    svid: RwLock<Arc<X509Svid>>,
    bundles: RwLock<Vec<Arc<X509Bundle>>>,
}

impl MemorySource {
    /// A source with an SVID and the bundles to trust.
    pub fn new(svid: X509Svid, bundles: impl IntoIterator<Item = X509Bundle>) -> Self {
        Self {
            svid: RwLock::new(Arc::new(svid)),
            bundles: RwLock::new(bundles.into_iter().map(Arc::new).collect()),
        }
    }

    /// Replaces the SVID; the next handshake uses it.
    pub fn set_svid(&self, svid: X509Svid) {
        *self.svid.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(svid);
    }

    /// Adds or replaces the bundle of its trust domain.
    pub fn set_bundle(&self, bundle: X509Bundle) {
        let mut bundles = self.bundles.write().unwrap_or_else(PoisonError::into_inner);
        bundles.retain(|b| b.trust_domain() != bundle.trust_domain());
        bundles.push(Arc::new(bundle));
    }
}

impl X509Source for MemorySource {
    fn svid(&self) -> Arc<X509Svid> {
        // A poisoned lock still holds a complete value: writers only swap whole `Arc`s.
        Arc::clone(&self.svid.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn bundle(&self, td: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.bundles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|b| b.trust_domain() == td)
            .cloned()
    }
}

/// The aws-lc-rs provider with the key exchange groups in Sigil's order.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        kx_groups: vec![
            aws_lc_rs::kx_group::X25519MLKEM768,
            aws_lc_rs::kx_group::X25519,
            aws_lc_rs::kx_group::SECP256R1,
        ],
        ..aws_lc_rs::default_provider()
    })
}

/// A rustls server configuration that presents `source`'s SVID, requires a client X509-SVID
/// from a trusted trust domain, and accepts the clients `authorizer` allows.
pub fn server_config(source: Arc<dyn X509Source>, authorizer: Authorizer) -> Result<ServerConfig> {
    let provider = provider();
    let verifier = Arc::new(SpiffeVerifier::new(
        Arc::clone(&source),
        authorizer,
        &provider,
    ));
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|_| Error::Internal("rustls refused TLS 1.3 with aws-lc-rs"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SvidResolver::new(source)));
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// A rustls client configuration that presents `source`'s SVID and accepts servers whose
/// X509-SVID is trusted and allowed by `authorizer`. The server name given to rustls is not
/// checked.
pub fn client_config(source: Arc<dyn X509Source>, authorizer: Authorizer) -> Result<ClientConfig> {
    let provider = provider();
    let verifier = Arc::new(SpiffeVerifier::new(
        Arc::clone(&source),
        authorizer,
        &provider,
    ));
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|_| Error::Internal("rustls refused TLS 1.3 with aws-lc-rs"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(SvidResolver::new(source)));
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// A rustls client configuration that presents no certificate and accepts servers whose
/// X509-SVID chains to `bundle` and is allowed by `authorizer`: what fetching a federated
/// trust domain's bundle from its `https_spiffe` endpoint needs (the caller has no SVID of
/// that trust domain).
pub fn anonymous_client_config(bundle: X509Bundle, authorizer: Authorizer) -> Result<ClientConfig> {
    let provider = provider();
    let bundle = Arc::new(bundle);
    let bundles: Bundles =
        Arc::new(move |td| (bundle.trust_domain() == td).then(|| Arc::clone(&bundle)));
    let verifier = Arc::new(SpiffeVerifier::with_bundles(bundles, authorizer, &provider));
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|_| Error::Internal("rustls refused TLS 1.3 with aws-lc-rs"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// The SPIFFE ID in a peer's certificate chain (from `peer_certificates()` after a
/// handshake these configurations completed).
pub fn peer_id(certificates: &[CertificateDer<'_>]) -> Result<SpiffeId> {
    let chain: Vec<Vec<u8>> = certificates.iter().map(|c| c.to_vec()).collect();
    leaf_id(&chain)
}

/// Hands rustls the source's current SVID, reloading the key only when the SVID changed.
struct SvidResolver {
    source: Arc<dyn X509Source>,
    cached: Mutex<Option<(Arc<X509Svid>, Arc<CertifiedKey>)>>,
}

impl SvidResolver {
    fn new(source: Arc<dyn X509Source>) -> Self {
        Self {
            source,
            cached: Mutex::new(None),
        }
    }

    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let svid = self.source.svid();
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, key)) = cached.as_ref()
            && Arc::ptr_eq(seen, &svid)
        {
            return Some(Arc::clone(key));
        }
        // The PKCS#8 bytes stay in their zeroizing buffer: rustls borrows them to load the
        // key and keeps only its own key object. The key matches the leaf (X509Svid checks it).
        let pkcs8 = svid.private_key().to_pkcs8_der().ok()?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.expose_secret()));
        let key = aws_lc_rs::sign::any_supported_type(&der).ok()?;
        let chain = svid
            .chain()
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect();
        let certified = Arc::new(CertifiedKey::new(chain, key));
        *cached = Some((svid, Arc::clone(&certified)));
        Some(certified)
    }
}

impl fmt::Debug for SvidResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SvidResolver")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SvidResolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

impl ResolvesClientCert for SvidResolver {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.current()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The bundle a verifier trusts for a trust domain, looked up on every handshake.
type Bundles = Arc<dyn Fn(&TrustDomain) -> Option<Arc<X509Bundle>> + Send + Sync>;

/// Validates a peer's chain as an X509-SVID of a trusted trust domain, then authorizes its ID.
struct SpiffeVerifier {
    bundles: Bundles,
    authorizer: Authorizer,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SpiffeVerifier {
    fn new(source: Arc<dyn X509Source>, authorizer: Authorizer, provider: &CryptoProvider) -> Self {
        Self::with_bundles(Arc::new(move |td| source.bundle(td)), authorizer, provider)
    }

    fn with_bundles(bundles: Bundles, authorizer: Authorizer, provider: &CryptoProvider) -> Self {
        Self {
            bundles,
            authorizer,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<(), rustls::Error> {
        let chain: Vec<Vec<u8>> = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.to_vec())
            .collect();
        let rejected = |e: Error| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
        };
        let id = leaf_id(&chain).map_err(rejected)?;
        let td = id.trust_domain();
        let bundle = (self.bundles)(&td).ok_or(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ))?;
        verify_chain(&chain, &bundle, now.as_secs()).map_err(rejected)?;
        if self.authorizer.allows(&id) {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

impl fmt::Debug for SpiffeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeVerifier")
            .field("authorizer", &self.authorizer)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for SpiffeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for SpiffeVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
