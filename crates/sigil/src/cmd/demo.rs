//! `sigil demo`: an offline tour that does real work in a scratch directory, one step per idea,
//! printing what happened. Every step checks its own result, so the demo doubles as a smoke
//! test of the toolkit on a new machine.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sigil_core::aead::AeadAlgorithm;
use sigil_core::agefile::{self, Decryptor, EncryptTo, Encryptor, Identity};
use sigil_core::encoding::Encoding;
use sigil_core::hash::{HashAlgorithm, MacAlgorithm, MacKey, digest};
use sigil_core::hpke::{self, HpkeAead, HpkeSuite};
use sigil_core::keys::{KeyType, PrivateKey, SignatureScheme};
use sigil_core::keyset::{KeyKind, Keyset};
use sigil_core::password::{Params, PasswordHasher, Pepper};
use sigil_core::{SecretBytes, datakey};

use crate::cli::DemoArgs;
use crate::exit::{CliError, CliResult, Code};

fn step(n: u32, title: &str) {
    println!("\n{n}. {title}");
}

fn ok(what: impl std::fmt::Display) {
    println!("   ✓ {what}");
}

fn check(cond: bool, what: &str) -> CliResult {
    if cond {
        Ok(())
    } else {
        Err(CliError::new(
            Code::Internal,
            format!("demo check failed: {what}"),
        ))
    }
}

pub(crate) fn demo(args: &DemoArgs) -> CliResult {
    let scratch;
    let dir: &Path = match &args.dir {
        Some(d) => {
            fs::create_dir_all(d).map_err(|e| CliError::io("create", d, &e))?;
            d
        }
        None => {
            scratch = tempfile::tempdir()
                .map_err(|e| CliError::io("create", Path::new("a temporary directory"), &e))?;
            scratch.path()
        }
    };
    println!("Sigil offline tour, working in {}", dir.display());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();

    step(1, "Encoding is not encryption");
    let secret = b"db-password=hunter2";
    let encoded = Encoding::Base64.encode(secret);
    ok(format!("base64 of a secret: {encoded}"));
    check(
        Encoding::Base64.decode(&encoded)? == secret,
        "base64 round trip",
    )?;
    ok("anyone decodes it back without a key: encoding protects nothing");

    step(2, "Encrypting a file with age");
    let identity = Identity::generate();
    let recipient = identity.to_recipient();
    let key_path = dir.join("demo.agekey");
    write(
        &key_path,
        identity.to_identity_file(None).expose_secret().as_bytes(),
    )?;
    let plain = b"customer_id,card_last4\n42,4242\n".repeat(1000);
    let mut enc = Encryptor::new(
        &EncryptTo::Recipients(std::slice::from_ref(&recipient)),
        false,
        Vec::new(),
    )?;
    enc.write_all(&plain).map_err(internal)?;
    let ct = enc.finish().map_err(internal)?;
    write(&dir.join("customers.csv.age"), &ct)?;
    ok(format!(
        "{} bytes encrypted to {} ({} bytes); `age -d -i {}` opens it",
        plain.len(),
        recipient.as_str(),
        ct.len(),
        key_path.display()
    ));
    let mut out = Vec::new();
    agefile::decrypt_to(
        Decryptor::new(&ct[..])?.decrypt(std::slice::from_ref(&identity))?,
        &mut out,
    )
    .map_err(internal)?;
    check(out == plain, "age round trip")?;
    ok("decrypted with the identity file");
    let mut tampered = ct.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let refused = Decryptor::new(&tampered[..])?
        .decrypt(std::slice::from_ref(&identity))
        .map(|r| agefile::decrypt_to(r, &mut Vec::new()).is_err())
        .unwrap_or(true);
    check(refused, "tampered age file refused")?;
    ok("one flipped bit: decryption refused, no plaintext released");

    step(3, "Signing proves origin and integrity (and hides nothing)");
    let signer = PrivateKey::generate(KeyType::Ed25519)?;
    let release = b"release-1.2.3.tar.gz contents";
    let sig = signer.sign(release, SignatureScheme::Ed25519)?;
    write(
        &dir.join("signing.key"),
        signer.to_pkcs8_pem()?.expose_secret().as_bytes(),
    )?;
    write(
        &dir.join("signing.key.pub"),
        signer.public_key().to_spki_pem()?.as_bytes(),
    )?;
    signer
        .public_key()
        .verify(release, &sig, SignatureScheme::Ed25519)?;
    ok(format!(
        "Ed25519 signature verified (key {})",
        signer.public_key().jwk_thumbprint()?
    ));
    check(
        signer
            .public_key()
            .verify(
                b"release-1.2.4.tar.gz contents",
                &sig,
                SignatureScheme::Ed25519,
            )
            .is_err(),
        "signature over other data refused",
    )?;
    ok("the same signature on changed data: refused");

    step(4, "Hashes and MACs");
    ok(format!(
        "SHA-256: {}",
        Encoding::Hex.encode(&digest(HashAlgorithm::Sha256, release))
    ));
    let (mac_key, _) = MacKey::generate(MacAlgorithm::HmacSha256)?;
    let tag = mac_key.sign(release);
    mac_key.verify(release, &tag)?;
    ok("HMAC-SHA256 verified in constant time; without the key nobody can forge it");

    step(5, "Keysets: rotation without re-encrypting old data");
    let mut keyset = Keyset::generate("orders", KeyKind::Aead(AeadAlgorithm::Aes256Gcm), now)?;
    let old = keyset.encrypt(b"order #1", b"tenant=acme")?;
    keyset.rotate(now)?;
    let new = keyset.encrypt(b"order #2", b"tenant=acme")?;
    ok(format!("old: {}", old.to_vault_string()));
    ok(format!("new: {}", new.to_vault_string()));
    check(
        keyset.decrypt(&old, b"tenant=acme")?.expose_secret() == b"order #1",
        "old ciphertext after rotation",
    )?;
    ok("after rotation, v1 data still opens");
    keyset.set_min_decryption_version(2)?;
    check(
        keyset.decrypt(&old, b"tenant=acme").is_err(),
        "min decryption version",
    )?;
    ok("minimum decryption version raised to 2: v1 data refused");

    step(6, "Envelope encryption with data keys");
    let sealed = datakey::seal(&keyset, b"a large object", b"object=42")?;
    check(
        datakey::open(&keyset, &sealed, b"object=42")?.expose_secret() == b"a large object",
        "envelope round trip",
    )?;
    ok(format!(
        "a fresh data key per object, wrapped by keyset v{}; {} bytes sealed",
        keyset.primary_version(),
        sealed.len()
    ));

    step(
        7,
        "HPKE (RFC 9180) to a service's X25519 key, authenticated sender",
    );
    let (sk_r, pk_r) = hpke::generate_keypair()?;
    let (sk_s, pk_s) = hpke::generate_keypair()?;
    let suite = HpkeSuite {
        aead: HpkeAead::ChaCha20Poly1305,
    };
    let (enc_key, ct) = hpke::seal_auth(
        suite,
        &pk_r,
        sk_s.expose_secret(),
        b"demo",
        b"to=billing",
        b"invoice 17",
    )?;
    let pt = hpke::open_auth(
        suite,
        sk_r.expose_secret(),
        &pk_s,
        &enc_key,
        b"demo",
        b"to=billing",
        &ct,
    )?;
    check(pt.expose_secret() == b"invoice 17", "HPKE round trip")?;
    ok("sealed and opened in auth mode; another sender key cannot forge it");

    step(8, "Passwords: Argon2id with a pepper");
    let hasher = PasswordHasher::new(Params::default())?.with_pepper(Pepper::new(
        "2026-11",
        SecretBytes::copy_from(b"kept-outside-the-database"),
    )?);
    let phc = hasher.hash(b"correct horse battery staple")?;
    ok(format!("stored: {phc}"));
    check(
        hasher.verify(&phc, b"correct horse battery staple")?,
        "password",
    )?;
    check(!hasher.verify(&phc, b"Tr0ub4dor&3")?, "wrong password")?;
    ok("right password accepted, wrong one refused");

    if args.dir.is_none() {
        println!(
            "\nThe scratch directory is removed now; run `sigil demo --dir DIR` to keep the files."
        );
    }
    println!(
        "Next, the same with the CLI: `sigil keygen age -o me.agekey`, \
         `sigil encrypt -r <age1...> FILE`, `sigil sign -k signing.key FILE` (see `sigil --help`)."
    );
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> CliResult {
    crate::io::write_output(Some(path), crate::io::Mode::Secret, bytes)
}

#[allow(clippy::needless_pass_by_value, reason = "used as a map_err callback")]
fn internal(e: std::io::Error) -> CliError {
    CliError::new(Code::Internal, format!("demo: {e}"))
}
