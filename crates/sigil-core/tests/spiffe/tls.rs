//! mTLS with X509-SVIDs: in-memory rustls handshakes (no sockets), accepted and refused by the
//! authorizer, and an SVID rotation between two handshakes on the same configurations.

use std::sync::Arc;

use rustls::{ClientConnection, ServerConnection};
use rustls_pki_types::ServerName;
use sigil_core::spiffe::tls::{MemorySource, X509Source, client_config, peer_id, server_config};
use sigil_core::spiffe::{Authorizer, SpiffeId, TrustDomain, X509Bundle, X509Svid};

use crate::pki::{Ca, ca, leaf, leaf_params, td, with_uris};

const SERVER: &str = "spiffe://example.org/server";
const CLIENT: &str = "spiffe://example.org/client";

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

/// An SVID valid until 2030: rustls checks it against the real clock.
fn svid(ca: &Ca, uri: &str) -> X509Svid {
    let mut params = with_uris(leaf_params(), &[uri]);
    params.not_after = rcgen::date_time_ymd(2029, 12, 31);
    let (der, key) = leaf(ca, &params);
    X509Svid::parse(&der, &key).unwrap()
}

fn source(ca: &Ca, uri: &str) -> Arc<MemorySource> {
    let bundle = X509Bundle::new(td(), vec![ca.der.clone()]).unwrap();
    Arc::new(MemorySource::new(svid(ca, uri), [bundle]))
}

/// Runs a handshake by moving bytes between the two connections until both are done or one
/// fails; returns the first error.
fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), rustls::Error> {
    for _ in 0..20 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets()?;
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("the handshake did not finish");
}

struct Pair {
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
}

impl Pair {
    fn new(
        client_src: Arc<MemorySource>,
        client_auth: Authorizer,
        server_src: Arc<MemorySource>,
        server_auth: Authorizer,
    ) -> Self {
        Self {
            client: Arc::new(client_config(client_src, client_auth).unwrap()),
            server: Arc::new(server_config(server_src, server_auth).unwrap()),
        }
    }

    fn connect(
        &self,
    ) -> (
        ClientConnection,
        ServerConnection,
        Result<(), rustls::Error>,
    ) {
        let name = ServerName::try_from("server.invalid").unwrap();
        let mut c = ClientConnection::new(Arc::clone(&self.client), name).unwrap();
        let mut s = ServerConnection::new(Arc::clone(&self.server)).unwrap();
        let result = handshake(&mut c, &mut s);
        (c, s, result)
    }
}

#[test]
fn mutual_authentication_with_post_quantum_key_exchange() {
    let ca = ca();
    let pair = Pair::new(
        source(&ca, CLIENT),
        Authorizer::exact(id(SERVER)),
        source(&ca, SERVER),
        Authorizer::member_of(td()),
    );
    let (c, s, result) = pair.connect();
    result.unwrap();
    assert_eq!(peer_id(c.peer_certificates().unwrap()).unwrap(), id(SERVER));
    assert_eq!(peer_id(s.peer_certificates().unwrap()).unwrap(), id(CLIENT));
    assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(
        c.negotiated_key_exchange_group().unwrap().name(),
        rustls::NamedGroup::X25519MLKEM768
    );
}

#[test]
fn the_client_authorizer_refuses_the_server() {
    let ca = ca();
    let pair = Pair::new(
        source(&ca, CLIENT),
        Authorizer::exact(id("spiffe://example.org/someone-else")),
        source(&ca, SERVER),
        Authorizer::any(),
    );
    let (_, _, result) = pair.connect();
    assert_eq!(
        result.unwrap_err(),
        rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)
    );
}

#[test]
fn the_server_authorizer_refuses_the_client() {
    let ca = ca();
    let pair = Pair::new(
        source(&ca, CLIENT),
        Authorizer::any(),
        source(&ca, SERVER),
        Authorizer::predicate(|id| id.path() != "/client"),
    );
    let (_, _, result) = pair.connect();
    assert!(result.is_err());
}

#[test]
fn an_untrusted_peer_is_refused() {
    let (ours, theirs) = (ca(), ca());
    let pair = Pair::new(
        source(&ours, CLIENT),
        Authorizer::any(),
        source(&theirs, SERVER),
        Authorizer::any(),
    );
    let (_, _, result) = pair.connect();
    assert!(matches!(result, Err(rustls::Error::InvalidCertificate(_))));
    // A trust domain with no bundle at all.
    let foreign = ca();
    let client = source(&ours, CLIENT);
    let server = source(&ours, SERVER);
    server.set_svid(svid(&foreign, "spiffe://other.org/server"));
    let pair = Pair::new(client, Authorizer::any(), server, Authorizer::any());
    let (_, _, result) = pair.connect();
    assert_eq!(
        result.unwrap_err(),
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    );
}

#[test]
fn rotation_takes_effect_on_the_next_handshake() {
    let old_ca = ca();
    let client = source(&old_ca, CLIENT);
    let server = source(&old_ca, SERVER);
    let pair = Pair::new(
        Arc::clone(&client),
        Authorizer::any(),
        Arc::clone(&server),
        Authorizer::any(),
    );
    let (c, _, result) = pair.connect();
    result.unwrap();
    let first = c.peer_certificates().unwrap()[0].to_vec();
    assert_eq!(first, server.svid().leaf());

    // The server rotates to an SVID from a new CA; the client learns the new bundle. No
    // session is resumed (resumption is off), so every handshake sees the current SVID.
    let new_ca = ca();
    server.set_svid(svid(&new_ca, SERVER));
    let (_, _, result) = pair.connect();
    assert!(result.is_err(), "the client does not trust the new CA yet");
    client.set_bundle(X509Bundle::new(td(), vec![old_ca.der.clone(), new_ca.der.clone()]).unwrap());
    server.set_bundle(X509Bundle::new(td(), vec![old_ca.der, new_ca.der]).unwrap());
    let (c, _, result) = pair.connect();
    result.unwrap();
    let second = c.peer_certificates().unwrap()[0].to_vec();
    assert_ne!(first, second);
    assert_eq!(second, server.svid().leaf());
    assert!(
        client
            .bundle(&TrustDomain::parse("other.org").unwrap())
            .is_none()
    );
}
