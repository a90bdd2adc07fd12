//! SPIFFE building blocks: X509-SVID chain validation, JWT-SVID mint and validate, SPIFFE
//! bundle decode, and a full in-memory mTLS handshake with X509-SVIDs (X25519MLKEM768).

#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, date_time_ymd,
};
use rustls::{ClientConnection, ServerConnection};
use sigil_core::keys::{KeyType, PrivateKey};
use sigil_core::spiffe::tls::{MemorySource, client_config, server_config};
use sigil_core::spiffe::{
    Authorizer, JwtBundle, JwtSvid, JwtSvidClaims, SpiffeBundle, SpiffeId, TrustDomain, X509Bundle,
    X509Svid,
};

const NOW: u64 = 1_767_225_660;

fn pki() -> (Issuer<'static, KeyPair>, Vec<u8>) {
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let der = p.self_signed(&key).unwrap().der().to_vec();
    (Issuer::new(p, key), der)
}

fn svid(ca: &Issuer<'static, KeyPair>, id: &str) -> X509Svid {
    let mut p = CertificateParams::default();
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
    p.not_before = date_time_ymd(2025, 1, 1);
    p.not_after = date_time_ymd(2029, 1, 1);
    let key = KeyPair::generate().unwrap();
    let der = p.signed_by(&key, ca).unwrap().der().to_vec();
    X509Svid::parse(&der, &key.serialize_der()).unwrap()
}

fn spiffe(c: &mut Criterion) {
    let td = TrustDomain::parse("example.org").unwrap();
    let (ca, ca_der) = pki();
    let bundle = X509Bundle::new(td.clone(), vec![ca_der]).unwrap();
    let server = svid(&ca, "spiffe://example.org/server");
    let (chain, key) = server.encode().unwrap();

    let mut g = c.benchmark_group("spiffe");
    g.measurement_time(Duration::from_secs(2));
    g.bench_function("x509-svid/parse", |b| {
        b.iter(|| X509Svid::parse(black_box(&chain), key.expose_secret()).unwrap());
    });
    g.bench_function("x509-svid/verify", |b| {
        b.iter(|| server.verify(black_box(&bundle), NOW).unwrap());
    });

    for kind in [KeyType::EcdsaP256, KeyType::Rsa2048] {
        let signer = PrivateKey::generate(kind).unwrap();
        let mut jwt = JwtBundle::empty(td.clone());
        jwt.add("k", signer.public_key().clone()).unwrap();
        let claims = JwtSvidClaims {
            subject: SpiffeId::parse("spiffe://example.org/web").unwrap(),
            audience: vec!["aud".into()],
            issued_at: NOW,
            expires_at: NOW + 300,
            issuer: None,
        };
        let token = JwtSvid::mint(&claims, &signer, "k").unwrap();
        g.bench_function(format!("jwt-svid/{kind}/mint"), |b| {
            b.iter(|| JwtSvid::mint(black_box(&claims), &signer, "k").unwrap());
        });
        g.bench_function(format!("jwt-svid/{kind}/validate"), |b| {
            b.iter(|| JwtSvid::validate(black_box(token.token()), &jwt, "aud", NOW).unwrap());
        });
    }

    let mut full = SpiffeBundle::empty(&td);
    full.x509_mut()
        .add(bundle.authorities()[0].clone())
        .unwrap();
    full.jwt_mut()
        .add(
            "k",
            PrivateKey::generate(KeyType::EcdsaP256)
                .unwrap()
                .public_key()
                .clone(),
        )
        .unwrap();
    let json = full.encode().unwrap();
    g.bench_function("bundle/decode", |b| {
        b.iter(|| SpiffeBundle::decode(&td, black_box(json.as_bytes())).unwrap());
    });

    let client_src = Arc::new(MemorySource::new(
        svid(&ca, "spiffe://example.org/client"),
        [bundle.clone()],
    ));
    let server_src = Arc::new(MemorySource::new(server, [bundle]));
    let client = Arc::new(client_config(client_src, Authorizer::member_of(td.clone())).unwrap());
    let server = Arc::new(server_config(server_src, Authorizer::member_of(td)).unwrap());
    g.bench_function("mtls/handshake", |b| {
        b.iter(|| {
            let name = "server.invalid".try_into().unwrap();
            let mut c = ClientConnection::new(Arc::clone(&client), name).unwrap();
            let mut s = ServerConnection::new(Arc::clone(&server)).unwrap();
            while c.is_handshaking() || s.is_handshaking() {
                let mut buf = Vec::new();
                while c.wants_write() {
                    c.write_tls(&mut buf).unwrap();
                }
                s.read_tls(&mut buf.as_slice()).unwrap();
                s.process_new_packets().unwrap();
                let mut buf = Vec::new();
                while s.wants_write() {
                    s.write_tls(&mut buf).unwrap();
                }
                c.read_tls(&mut buf.as_slice()).unwrap();
                c.process_new_packets().unwrap();
            }
        });
    });
    g.finish();
}

criterion_group!(benches, spiffe);
criterion_main!(benches);
