//! Raw signatures and key files against OpenSSL 3: keys openssl generates load in Sigil, keys
//! Sigil generates load in openssl, and each verifies the other's signatures.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{filler, run, sigil, tool};

struct Case {
    /// `sigil keygen` type.
    sigil_type: &'static str,
    /// `openssl genpkey` arguments.
    genpkey: &'static [&'static str],
    /// Extra `sigil sign/verify` arguments.
    sigil_scheme: &'static [&'static str],
    /// How openssl signs: `pkeyutl` for Ed25519, else `dgst` with these arguments.
    openssl_sign: Openssl,
}

enum Openssl {
    Ed25519,
    Dgst(&'static [&'static str]),
}

const CASES: &[Case] = &[
    Case {
        sigil_type: "ed25519",
        genpkey: &["-algorithm", "ed25519"],
        sigil_scheme: &[],
        openssl_sign: Openssl::Ed25519,
    },
    Case {
        sigil_type: "ecdsa-p256",
        genpkey: &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        sigil_scheme: &[],
        openssl_sign: Openssl::Dgst(&["-sha256"]),
    },
    Case {
        sigil_type: "ecdsa-p384",
        genpkey: &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        sigil_scheme: &[],
        openssl_sign: Openssl::Dgst(&["-sha384"]),
    },
    Case {
        sigil_type: "rsa-2048",
        genpkey: &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        sigil_scheme: &[],
        openssl_sign: Openssl::Dgst(&[
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]),
    },
    Case {
        sigil_type: "rsa-3072",
        genpkey: &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        sigil_scheme: &["--scheme", "rsa-pkcs1-sha256"],
        openssl_sign: Openssl::Dgst(&["-sha256"]),
    },
];

fn openssl_sign(case: &Case, key: &Path, file: &Path, sig: &Path) {
    let mut cmd = tool("openssl");
    match case.openssl_sign {
        Openssl::Ed25519 => {
            cmd.args(["pkeyutl", "-sign", "-rawin", "-inkey"])
                .arg(key)
                .arg("-in")
                .arg(file)
                .arg("-out")
                .arg(sig);
        }
        Openssl::Dgst(args) => {
            cmd.arg("dgst")
                .args(args)
                .arg("-sign")
                .arg(key)
                .arg("-out")
                .arg(sig)
                .arg(file);
        }
    }
    run(&mut cmd).ok();
}

fn openssl_verify(case: &Case, public: &Path, file: &Path, sig: &Path) -> bool {
    let mut cmd = tool("openssl");
    match case.openssl_sign {
        Openssl::Ed25519 => {
            cmd.args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
                .arg(public)
                .arg("-in")
                .arg(file)
                .arg("-sigfile")
                .arg(sig);
        }
        Openssl::Dgst(args) => {
            cmd.arg("dgst")
                .args(args)
                .arg("-verify")
                .arg(public)
                .arg("-signature")
                .arg(sig)
                .arg(file);
        }
    }
    run(&mut cmd).code == 0
}

fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let file = dir.join("release.bin");
    fs::write(&file, filler(300_000, 5)).unwrap();
    let tampered = dir.join("tampered.bin");
    let mut t = filler(300_000, 5);
    t[1000] ^= 1;
    fs::write(&tampered, t).unwrap();
    (file, tampered)
}

#[test]
fn sigil_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let (file, tampered) = setup(dir.path());
    for case in CASES {
        let key = dir.path().join(format!("{}.key", case.sigil_type));
        run(sigil().args(["keygen", case.sigil_type, "-o"]).arg(&key)).ok();
        let public = dir.path().join(format!("{}.key.pub", case.sigil_type));
        // openssl reads both of our key files.
        run(tool("openssl").args(["pkey", "-noout", "-in"]).arg(&key)).ok();
        run(tool("openssl")
            .args(["pkey", "-noout", "-pubin", "-in"])
            .arg(&public))
        .ok();

        let sig = dir.path().join(format!("{}.sig", case.sigil_type));
        run(sigil()
            .args(["sign", "-k"])
            .arg(&key)
            .args(case.sigil_scheme)
            .arg("-o")
            .arg(&sig)
            .arg(&file))
        .ok();
        assert!(
            openssl_verify(case, &public, &file, &sig),
            "{}: openssl rejected ours",
            case.sigil_type
        );
        assert!(
            !openssl_verify(case, &public, &tampered, &sig),
            "{}",
            case.sigil_type
        );
    }
}

#[test]
fn openssl_signatures_verify_with_sigil() {
    let dir = tempfile::tempdir().unwrap();
    let (file, tampered) = setup(dir.path());
    for case in CASES {
        let key = dir.path().join(format!("{}.ossl.key", case.sigil_type));
        run(tool("openssl")
            .arg("genpkey")
            .args(case.genpkey)
            .arg("-out")
            .arg(&key))
        .ok();
        let public = dir.path().join(format!("{}.ossl.pub", case.sigil_type));
        run(tool("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public))
        .ok();
        let sig = dir.path().join(format!("{}.ossl.sig", case.sigil_type));
        openssl_sign(case, &key, &file, &sig);

        let verify = |f: &Path| {
            run(sigil()
                .args(["verify", "-k"])
                .arg(&public)
                .args(case.sigil_scheme)
                .arg("-s")
                .arg(&sig)
                .arg(f))
        };
        verify(&file).ok();
        verify(&tampered).fails_with(1);

        // Sigil signs with openssl's own private key file too.
        let ours = dir.path().join(format!("{}.ours.sig", case.sigil_type));
        run(sigil()
            .args(["sign", "-k"])
            .arg(&key)
            .args(case.sigil_scheme)
            .arg("-o")
            .arg(&ours)
            .arg(&file))
        .ok();
        assert!(
            openssl_verify(case, &public, &file, &ours),
            "{}",
            case.sigil_type
        );
    }
}

#[test]
fn legacy_openssl_key_files_load() {
    // `openssl ec` writes SEC1 "EC PRIVATE KEY"; `openssl rsa -traditional` writes PKCS#1.
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = setup(dir.path());
    let pkcs8 = dir.path().join("p8.key");
    run(tool("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&pkcs8))
    .ok();
    let sec1 = dir.path().join("sec1.key");
    run(tool("openssl")
        .args(["ec", "-in"])
        .arg(&pkcs8)
        .arg("-out")
        .arg(&sec1))
    .ok();
    assert!(
        fs::read_to_string(&sec1)
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    let rsa = dir.path().join("rsa.key");
    run(tool("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&rsa))
    .ok();
    let pkcs1 = dir.path().join("pkcs1.key");
    run(tool("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(&rsa)
        .arg("-out")
        .arg(&pkcs1))
    .ok();
    assert!(
        fs::read_to_string(&pkcs1)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    for key in [&sec1, &pkcs1] {
        let sig = dir.path().join("x.sig");
        run(sigil()
            .args(["sign", "-k"])
            .arg(key)
            .arg("-o")
            .arg(&sig)
            .arg(&file))
        .ok();
        run(sigil()
            .args(["verify", "-k"])
            .arg(key)
            .arg("-s")
            .arg(&sig)
            .arg(&file))
        .ok();
    }
}
