//! Cost of one Argon2id password hash and verification at the default (OWASP) parameters,
//! to compare against the reference implementation (argon2-cffi) on the same machine.

#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sigil_core::SecretBytes;
use sigil_core::password::{Params, PasswordHasher, Pepper};

fn bench(c: &mut Criterion) {
    let plain = PasswordHasher::new(Params::default()).unwrap();
    let pepper = Pepper::new("v1", SecretBytes::new(vec![7; 32])).unwrap();
    let peppered = plain.clone().with_pepper(pepper);
    let stored = plain.hash(b"correct horse").unwrap();

    let mut group = c.benchmark_group("argon2id_m19456_t2_p1");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("hash", |b| {
        b.iter(|| plain.hash(black_box(b"correct horse")).unwrap());
    });
    group.bench_function("hash_peppered", |b| {
        b.iter(|| peppered.hash(black_box(b"correct horse")).unwrap());
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            plain
                .verify(black_box(&stored), black_box(b"correct horse"))
                .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
