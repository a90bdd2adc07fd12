//! Signing, verification and key generation per key type.

#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sigil_core::keys::{KeyType, PrivateKey, SignatureScheme};

fn signing(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign");
    g.measurement_time(Duration::from_secs(2));
    let msg = vec![0x5a; 256];
    for kind in [
        KeyType::Ed25519,
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Rsa2048,
    ] {
        let key = PrivateKey::generate(kind).unwrap();
        let scheme = SignatureScheme::default_for(kind).unwrap();
        let sig = key.sign(&msg, scheme).unwrap();
        g.bench_function(format!("{kind}/sign"), |b| {
            b.iter(|| key.sign(black_box(&msg), scheme).unwrap());
        });
        g.bench_function(format!("{kind}/verify"), |b| {
            b.iter(|| {
                key.public_key()
                    .verify(black_box(&msg), &sig, scheme)
                    .unwrap();
            });
        });
    }
    g.finish();
    let mut g = c.benchmark_group("keygen");
    g.measurement_time(Duration::from_secs(2));
    for kind in [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::X25519] {
        g.bench_function(kind.name(), |b| {
            b.iter(|| PrivateKey::generate(kind).unwrap());
        });
    }
    g.sample_size(10);
    g.bench_function("rsa-2048", |b| {
        b.iter(|| PrivateKey::generate(KeyType::Rsa2048).unwrap());
    });
    g.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
