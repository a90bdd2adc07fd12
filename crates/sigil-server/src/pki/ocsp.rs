//! The OCSP responder (RFC 6960): `POST ocsp` with a DER `OCSPRequest` body and
//! `GET ocsp/<base64 of the DER>` (appendix A), both answered with a DER `OCSPResponse`
//! under `application/ocsp-response`, without a token, as Vault serves them.
//!
//! The issuer signs its answers itself (no delegated responder certificate), naming itself
//! by key hash. A certificate's state is its stored entry at `certs/<serial>`: revoked when
//! its revocation time is set, good otherwise, unknown when nothing is stored (or the CertID
//! names an issuer this mount does not have). Each answer is valid for [`NEXT_UPDATE`].
//!
//! Failures are OCSP answers too, never Vault's JSON errors, because an OCSP client reads
//! only the DER body: a request that does not parse (or is too large) gets `malformedRequest`
//! with 400, a mount without an issuer `unauthorized` with 401, a storage or signing failure
//! `internalError` with 500 — the statuses Vault uses.
//!
//! This module reads storage and never writes it. ASN.1 types come from `x509-ocsp`;
//! hashing and signing from aws-lc (the signature through rcgen's `KeyPair`).

use std::fmt;
use std::time::Duration;

use aws_lc_rs::digest;
use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};
use rcgen::{KeyPair, SigningKey as _};
use sigil_core::encoding::base64_decode;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse,
};

use super::ca::{StoredCa, serial_colons, serial_key};
use super::issuers::{self, load_issuer};
use super::{CertEntry, now};
use crate::api::{ApiError, Operation, Request, Response};
use crate::view::View;

/// The content type of every answer.
pub(super) const RESPONSE_CONTENT_TYPE: &str = "application/ocsp-response";

/// Requests this size or larger are refused as malformed, as Vault does: a request for one
/// certificate is about 80 bytes, so this leaves room for a few dozen CertIDs and a nonce
/// while bounding the storage reads one unauthenticated call can cause. For `GET` the limit
/// applies to the base64 text, for `POST` to the DER, again as in Vault.
const MAX_REQUEST: usize = 2048;

/// How long an answer may be cached (`nextUpdate - thisUpdate`): 12 hours, Vault's default
/// `ocsp_expiry`. Answers are computed from live storage, so a revocation shows at once to a
/// client that asks; this bound is how long a client (or a stapling server) may keep showing
/// an older `good`. Shorter than the CRL's 72 h because OCSP is the fresher channel.
const NEXT_UPDATE: i64 = 12 * 3600;

/// `id-sha1`, the CertID hash every OCSP client supports.
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// `id-sha256`.
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// `id-pkix-ocsp-nonce`.
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// `ecdsa-with-SHA256`.
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `ecdsa-with-SHA384`.
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// `id-Ed25519`.
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `sha256WithRSAEncryption`.
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// Why a request got no statuses; each is one `OCSPResponseStatus` and one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The request is not one: bad base64, bad DER, too large, no CertID.
    Malformed,
    /// The mount has no issuer to answer with.
    Unauthorized,
    /// Storage or signing failed.
    Internal,
}

impl Failure {
    /// The answer: an `OCSPResponse` with no `responseBytes`, and Vault's HTTP status.
    fn response(self) -> Response {
        let (http, ocsp) = match self {
            Self::Malformed => (400, OcspResponse::malformed_request()),
            Self::Unauthorized => (401, OcspResponse::unauthorized()),
            Self::Internal => (500, OcspResponse::internal_error()),
        };
        // Three fixed bytes: encoding cannot fail, and an empty body says as much if it did.
        Response::raw(RESPONSE_CONTENT_TYPE, ocsp.to_der().unwrap_or_default()).with_status(http)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        // The client sees only `internalError`; the cause goes to the log (ApiError messages
        // hold no secret).
        tracing::warn!(error = %e, "OCSP: answering internalError");
        Self::Internal
    }
}

impl From<der::Error> for Failure {
    fn from(_: der::Error) -> Self {
        Self::Internal
    }
}

/// An issuer as the responder sees it: what a CertID is matched against, and the key that
/// signs. `Debug` leaves the key out.
pub(super) struct Responder {
    /// Which issuer this is.
    issuer_id: String,
    /// The DER of the issuer certificate's subject (what `issuerNameHash` hashes).
    subject: Vec<u8>,
    /// The issuer's public key bits, without the algorithm (what `issuerKeyHash` hashes).
    key_bits: Vec<u8>,
    /// The issuer's signing key.
    key: KeyPair,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("subject_len", &self.subject.len())
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// The responder for a stored issuer.
    pub(super) fn new(ca: &StoredCa) -> Result<Self, ApiError> {
        let cert = Certificate::from_der(&ca.der()?)
            .map_err(|_| ApiError::internal("the stored CA certificate is corrupt"))?;
        let tbs = cert.tbs_certificate;
        Ok(Self {
            issuer_id: ca.issuer_id.clone(),
            subject: tbs
                .subject
                .to_der()
                .map_err(|_| ApiError::internal("encoding the CA subject"))?,
            key_bits: tbs
                .subject_public_key_info
                .subject_public_key
                .raw_bytes()
                .to_vec(),
            key: ca.key()?,
        })
    }

    /// Whether `id` names this issuer: both hashes match under the CertID's algorithm
    /// (SHA-1 or SHA-256; any other names no issuer of ours).
    fn matches(&self, id: &CertId) -> bool {
        let alg = match id.hash_algorithm.oid {
            SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            SHA256 => &digest::SHA256,
            _ => return false,
        };
        digest::digest(alg, &self.subject).as_ref() == id.issuer_name_hash.as_bytes()
            && digest::digest(alg, &self.key_bits).as_ref() == id.issuer_key_hash.as_bytes()
    }

    /// RFC 6960's `KeyHash`: SHA-1 of the public key bits.
    fn key_hash(&self) -> Vec<u8> {
        digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &self.key_bits)
            .as_ref()
            .to_vec()
    }

    /// The `signatureAlgorithm` for this key: what rcgen signs with for it.
    fn signature_algorithm(&self) -> Result<AlgorithmIdentifierOwned, Failure> {
        let alg = self.key.algorithm();
        // RSA's identifier carries an explicit NULL parameter (RFC 4055); the others none.
        let (oid, null) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            (ECDSA_SHA256, false)
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            (ECDSA_SHA384, false)
        } else if alg == &rcgen::PKCS_ED25519 {
            (ED25519, false)
        } else if alg == &rcgen::PKCS_RSA_SHA256 {
            (RSA_SHA256, true)
        } else {
            return Err(Failure::Internal);
        };
        Ok(AlgorithmIdentifierOwned {
            oid,
            parameters: null.then(|| Any::from(Null)),
        })
    }
}

/// The issuer among `issuers` that `id` names, if any. The one place a CertID meets the
/// mount's issuers, so that a mount with several only has to pass them all.
pub(super) fn find_issuer<'a>(issuers: &'a [Responder], id: &CertId) -> Option<&'a Responder> {
    issuers.iter().find(|i| i.matches(id))
}

/// Which issuer signs the answer: the one the first recognised CertID names, else the first
/// issuer (the default), which can then only say `unknown`, as Vault's default issuer does.
/// CertIDs of any other issuer are answered `unknown`: one signature vouches for one issuer.
fn pick_signer<'a>(issuers: &'a [Responder], request: &OcspRequest) -> Option<&'a Responder> {
    request
        .tbs_request
        .request_list
        .iter()
        .find_map(|r| find_issuer(issuers, &r.req_cert))
        .or_else(|| issuers.first())
}

/// Every issuer of the mount that has its key here, the default first (it answers a
/// request naming no issuer of ours).
async fn issuers(view: &View) -> Result<Vec<Responder>, Failure> {
    let default = issuers::config(view).await?.default;
    let mut all = issuers::all_issuers(view).await?;
    all.retain(|i| !i.key_id.is_empty());
    all.sort_by_key(|i| i.issuer_id != default);
    let mut out = Vec::with_capacity(all.len());
    for issuer in all {
        out.push(Responder::new(
            &load_issuer(view, &issuer.issuer_id).await?,
        )?);
    }
    Ok(out)
}

/// Answers `POST ocsp` and `GET ocsp/<request>`: an OCSP answer, never a JSON error, but
/// for `GET ocsp` (no request segment at all), which is Vault's 405.
pub(super) async fn handle(req: &Request, view: &View) -> Result<Response, ApiError> {
    if req.operation == Operation::Read && req.path == "ocsp" {
        return Err(ApiError::UnsupportedOperation);
    }
    Ok(match respond(req, view).await {
        Ok(der) => Response::raw(RESPONSE_CONTENT_TYPE, der),
        Err(f) => f.response(),
    })
}

async fn respond(req: &Request, view: &View) -> Result<Vec<u8>, Failure> {
    let request = parse_request(&request_der(req)?)?;
    let issuers = issuers(view).await?;
    let signer = pick_signer(&issuers, &request).ok_or(Failure::Unauthorized)?;
    let mut statuses = Vec::with_capacity(request.tbs_request.request_list.len());
    for r in &request.tbs_request.request_list {
        statuses.push(if signer.matches(&r.req_cert) {
            stored_status(view, &r.req_cert, &signer.issuer_id).await?
        } else {
            CertStatus::unknown()
        });
    }
    sign_response(signer, &request, statuses, now(req))
}

/// The DER request: the body of a `POST`, or the base64 path segment of a `GET`.
fn request_der(req: &Request) -> Result<Vec<u8>, Failure> {
    if req.operation == Operation::Read {
        // The path is taken untrimmed: base64 may end in '/'.
        let encoded = req.path.strip_prefix("ocsp/").unwrap_or_default();
        if encoded.is_empty() || encoded.len() >= MAX_REQUEST {
            return Err(Failure::Malformed);
        }
        return base64_decode(encoded).map_err(|_| Failure::Malformed);
    }
    match req.raw_body.as_deref() {
        Some(body) if !body.is_empty() && body.len() < MAX_REQUEST => Ok(body.to_vec()),
        _ => Err(Failure::Malformed),
    }
}

/// Parses an `OCSPRequest` holding at least one CertID (trailing bytes are refused).
fn parse_request(der: &[u8]) -> Result<OcspRequest, Failure> {
    let request = OcspRequest::from_der(der).map_err(|_| Failure::Malformed)?;
    if request.tbs_request.request_list.is_empty() {
        return Err(Failure::Malformed);
    }
    Ok(request)
}

/// The state of the certificate `id` names, from its stored entry.
async fn stored_status(view: &View, id: &CertId, issuer: &str) -> Result<CertStatus, Failure> {
    // The DER integer's content; a leading zero only keeps a serial positive and is not part
    // of the colon form the entries are stored under.
    let mut serial = id.serial_number.as_bytes();
    while let [0, rest @ ..] = serial
        && !rest.is_empty()
    {
        serial = rest;
    }
    let key = format!("certs/{}", serial_key(&serial_colons(serial)));
    Ok(match view.get_json::<CertEntry>(&key).await? {
        None => CertStatus::unknown(),
        // Another issuer's serial: this one cannot vouch for it ("" is an entry from before
        // several issuers, which the default signed).
        Some(e) if !e.issuer_id.is_empty() && e.issuer_id != issuer => CertStatus::unknown(),
        Some(e) if e.revocation_time != 0 => CertStatus::revoked(RevokedInfo {
            revocation_time: time(e.revocation_time)?,
            revocation_reason: None,
        }),
        Some(_) => CertStatus::good(),
    })
}

/// Unix seconds as an OCSP time.
fn time(unix: i64) -> Result<OcspGeneralizedTime, Failure> {
    let secs = u64::try_from(unix).map_err(|_| Failure::Internal)?;
    Ok(OcspGeneralizedTime(GeneralizedTime::from_unix_duration(
        Duration::from_secs(secs),
    )?))
}

/// Builds and signs the `BasicOCSPResponse`: one `SingleResponse` per CertID (echoed as
/// asked), produced and valid from `now` for [`NEXT_UPDATE`], with the request's nonce.
fn sign_response(
    signer: &Responder,
    request: &OcspRequest,
    statuses: Vec<CertStatus>,
    now: i64,
) -> Result<Vec<u8>, Failure> {
    let this_update = time(now)?;
    let next_update = time(now.saturating_add(NEXT_UPDATE))?;
    let responses = request
        .tbs_request
        .request_list
        .iter()
        .zip(statuses)
        .map(|(r, cert_status)| SingleResponse {
            cert_id: r.req_cert.clone(),
            cert_status,
            this_update,
            next_update: Some(next_update),
            single_extensions: None,
        })
        .collect();
    // The nonce goes back as sent (RFC 8954), binding the answer to this request.
    let nonce = request
        .tbs_request
        .request_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == NONCE)
        .cloned();
    let tbs_response_data = ResponseData {
        version: Default::default(),
        responder_id: ResponderId::ByKey(OctetString::new(signer.key_hash())?),
        produced_at: this_update,
        responses,
        response_extensions: nonce.map(|n| vec![n]),
    };
    let signature = signer
        .key
        .sign(&tbs_response_data.to_der()?)
        .map_err(|_| Failure::Internal)?;
    let basic = BasicOcspResponse {
        tbs_response_data,
        signature_algorithm: signer.signature_algorithm()?,
        signature: BitString::from_bytes(&signature)?,
        certs: None,
    };
    Ok(OcspResponse::successful(basic)?.to_der()?)
}

#[cfg(test)]
mod tests;
