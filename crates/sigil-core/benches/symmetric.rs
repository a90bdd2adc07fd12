//! Throughput of the symmetric primitives and keysets. `bench/offline.py` reads the
//! `aead/aes256gcm_seal/16384` result and puts it next to `openssl speed` measured in the same
//! run.

#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sigil_core::aead::{AeadAlgorithm, AeadKey, NONCE_LEN};
use sigil_core::hash::{HashAlgorithm, MacAlgorithm, MacKey, digest};
use sigil_core::keyset::{KeyKind, Keyset};

fn aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("aead");
    g.measurement_time(Duration::from_secs(3));
    for (name, alg) in [
        ("aes256gcm_seal", AeadAlgorithm::Aes256Gcm),
        ("chacha20poly1305_seal", AeadAlgorithm::ChaCha20Poly1305),
    ] {
        let (key, _) = AeadKey::generate(alg).unwrap();
        for size in [1024usize, 16 * 1024] {
            let data = vec![0x5a; size];
            // In place, as a streaming encryptor uses it: the buffer is reused between calls.
            let mut buf = Vec::with_capacity(size + 16);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_function(format!("{name}/{size}"), |b| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(&data);
                    key.seal_in_place_at(&[0; NONCE_LEN], b"", &mut buf, 0)
                        .unwrap();
                    black_box(&buf);
                });
            });
        }
    }
    g.finish();
}

fn hashes(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    g.measurement_time(Duration::from_secs(2));
    let data = vec![0x5a; 16 * 1024];
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("sha256/16384", |b| {
        b.iter(|| digest(HashAlgorithm::Sha256, black_box(&data)));
    });
    let (mac, _) = MacKey::generate(MacAlgorithm::HmacSha256).unwrap();
    let small = vec![0x5a; 1024];
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("hmac_sha256/1024", |b| {
        b.iter(|| mac.sign(black_box(&small)));
    });
    g.finish();
}

fn keysets(c: &mut Criterion) {
    let mut g = c.benchmark_group("keyset");
    g.measurement_time(Duration::from_secs(2));
    let ks = Keyset::generate("bench", KeyKind::Aead(AeadAlgorithm::Aes256Gcm), 0).unwrap();
    let data = vec![0x5a; 1024];
    let ct = ks.encrypt(&data, b"").unwrap();
    g.bench_function("encrypt_vault_string/1024", |b| {
        b.iter(|| ks.encrypt(black_box(&data), b"").unwrap().to_vault_string());
    });
    let text = ct.to_vault_string();
    g.bench_function("decrypt_vault_string/1024", |b| {
        b.iter(|| {
            let c = sigil_core::keyset::Ciphertext::from_vault_string(black_box(&text)).unwrap();
            ks.decrypt(&c, b"").unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, aead, hashes, keysets);
criterion_main!(benches);
