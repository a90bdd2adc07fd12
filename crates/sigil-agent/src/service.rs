//! The `SpiffeWorkloadAPI` service: the five RPCs, each checking the security header and
//! attesting its caller first.
//!
//! Every response is computed by a pure function of the cache state and the caller's
//! selectors (`*_response`), so what a caller sees is testable without sockets. Streams
//! send the full state at once and again whenever the state changes what this caller sees.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;

use sigil_core::spiffe::{SpiffeId, TrustDomain};
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::attest::UnixAttestor;
use crate::cache::{Cache, CacheState};
use crate::error::Error;
use crate::jwt::{Claims, JwtAuthority};
use crate::listener::CallerInfo;
use crate::proto::spiffe_workload_api_server::SpiffeWorkloadApi;
use crate::proto::{
    JwtBundlesRequest, JwtBundlesResponse, Jwtsvid, JwtsvidRequest, JwtsvidResponse,
    ValidateJwtsvidRequest, ValidateJwtsvidResponse, X509BundlesRequest, X509BundlesResponse,
    X509svid, X509svidRequest, X509svidResponse,
};

/// The metadata every Workload API request must carry, with the value `true`.
const SECURITY_HEADER: &str = "workload.spiffe.io";

type Updates<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The Workload API over one cache.
pub(crate) struct WorkloadApi {
    cache: Arc<Cache>,
    jwt: Arc<dyn JwtAuthority>,
    attestor: Arc<UnixAttestor>,
    /// Turns `true` when the server shuts down, ending every stream.
    stopping: watch::Receiver<bool>,
}

impl WorkloadApi {
    pub(crate) fn new(
        cache: Arc<Cache>,
        jwt: Arc<dyn JwtAuthority>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Self {
            cache,
            jwt,
            attestor: Arc::new(UnixAttestor::default()),
            stopping,
        }
    }

    /// The caller's selectors: the security header first, then attestation.
    async fn caller<T>(&self, request: &Request<T>) -> Result<crate::SelectorSet, Error> {
        check_header(request.metadata())?;
        let peer = request
            .extensions()
            .get::<CallerInfo>()
            .map(|info| info.peer.clone())
            .ok_or(Error::AttestationFailed)?;
        let attestor = self.attestor.clone();
        let attested = tokio::task::spawn_blocking(move || attestor.attest(&peer))
            .await
            .map_err(|e| Error::Internal(format!("attestation task: {e}")))?;
        match &attested {
            Ok(selectors) => tracing::debug!(
                selectors = %selectors.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                "workload attested"
            ),
            Err(e) => tracing::info!(error = %e, "workload attestation failed"),
        }
        attested
    }

    /// A stream of `render(state)` for this cache, from now until the client leaves, the
    /// server stops, or `render` fails (sent as the stream's final status).
    fn updates<T, F>(&self, render: F) -> Updates<T>
    where
        T: prost::Message + Send + 'static,
        F: Fn(&CacheState) -> Result<T, Error> + Send + 'static,
    {
        Box::pin(updates(
            self.cache.subscribe(),
            self.stopping.clone(),
            render,
        ))
    }
}

impl std::fmt::Debug for WorkloadApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadApi").finish_non_exhaustive()
    }
}

/// Checks the security header: exactly one `workload.spiffe.io` value, equal to `true`.
pub(crate) fn check_header(metadata: &MetadataMap) -> Result<(), Error> {
    let mut values = metadata.get_all(SECURITY_HEADER).iter();
    match (values.next(), values.next()) {
        (Some(value), None) if value.as_bytes() == b"true" => Ok(()),
        _ => Err(Error::HeaderMissing),
    }
}

/// Sends `render(state)` for the current state and every later one that renders
/// differently. The last message is remembered only as a digest of its encoding, so no
/// copy of a private key outlives the message itself.
fn updates<T, F>(
    mut states: watch::Receiver<Arc<CacheState>>,
    mut stopping: watch::Receiver<bool>,
    render: F,
) -> ReceiverStream<Result<T, Status>>
where
    T: prost::Message + Send + 'static,
    F: Fn(&CacheState) -> Result<T, Error> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut last: Option<Vec<u8>> = None;
        loop {
            let state = states.borrow_and_update().clone();
            match render(&state) {
                Ok(message) => {
                    let digest = digest_of(&message);
                    if last.as_ref() != Some(&digest) {
                        if tx.send(Ok(message)).await.is_err() {
                            return;
                        }
                        last = Some(digest);
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.status())).await;
                    return;
                }
            }
            drop(state);
            tokio::select! {
                changed = states.changed() => if changed.is_err() { return },
                _ = stopping.wait_for(|stop| *stop) => return,
                () = tx.closed() => return,
            }
        }
    });
    ReceiverStream::new(rx)
}

fn digest_of(message: &impl prost::Message) -> Vec<u8> {
    let mut encoded = message.encode_to_vec();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &encoded);
    sigil_core::secret::wipe(&mut encoded);
    digest.as_ref().to_vec()
}

/// DER certificates, concatenated: the Workload API's encoding of chains and bundles.
fn concat(certs: &[Vec<u8>]) -> Vec<u8> {
    certs.concat()
}

/// The X.509 authorities of `td` (local or federated), concatenated.
fn bundle_of(state: &CacheState, td: &TrustDomain) -> Option<Vec<u8>> {
    if *td == state.trust_domain {
        Some(concat(&state.x509_bundle))
    } else {
        state.federated_x509_bundles.get(td).map(|b| concat(b))
    }
}

/// What FetchX509SVID sends a caller with `selectors`.
pub(crate) fn x509_svid_response(
    state: &CacheState,
    selectors: &crate::SelectorSet,
) -> Result<X509svidResponse, Error> {
    let mut response = X509svidResponse::default();
    let mut hints = BTreeSet::new();
    for entry in state.entries_for(selectors) {
        // Hints must be unique in a response; the first entry with a hint keeps it.
        if !entry.hint().is_empty() && !hints.insert(entry.hint()) {
            tracing::warn!(
                spiffe_id = %entry.spiffe_id(),
                hint = entry.hint(),
                "hint already used by another identity of this caller; SVID left out"
            );
            continue;
        }
        let td = entry.spiffe_id().trust_domain();
        response.svids.push(X509svid {
            spiffe_id: entry.spiffe_id().to_string(),
            x509_svid: concat(entry.svid_chain()),
            x509_svid_key: entry.key().expose_secret().to_vec(),
            bundle: bundle_of(state, &td).unwrap_or_default(),
            hint: entry.hint().to_owned(),
        });
        for foreign in entry.federates_with() {
            if *foreign == state.trust_domain {
                continue;
            }
            if let Some(bundle) = state.federated_x509_bundles.get(foreign) {
                response
                    .federated_bundles
                    .insert(foreign.id().to_string(), concat(bundle));
            }
        }
    }
    if response.svids.is_empty() {
        return Err(Error::NoIdentity);
    }
    Ok(response)
}

/// What FetchX509Bundles sends: the local bundle and every federated one.
pub(crate) fn x509_bundles_response(
    state: &CacheState,
    selectors: &crate::SelectorSet,
) -> Result<X509BundlesResponse, Error> {
    require_identity(state, selectors)?;
    let mut bundles = BTreeMap::new();
    for (td, certs) in &state.federated_x509_bundles {
        bundles.insert(td.id().to_string(), concat(certs));
    }
    bundles.insert(
        state.trust_domain.id().to_string(),
        concat(&state.x509_bundle),
    );
    Ok(X509BundlesResponse {
        crl: Vec::new(),
        bundles,
    })
}

/// What FetchJWTBundles sends: every JWT bundle (JWKS JSON) the cache holds.
pub(crate) fn jwt_bundles_response(
    state: &CacheState,
    selectors: &crate::SelectorSet,
) -> Result<JwtBundlesResponse, Error> {
    require_identity(state, selectors)?;
    Ok(JwtBundlesResponse {
        bundles: state
            .jwt_bundles
            .iter()
            .map(|(td, jwks)| (td.id().to_string(), jwks.clone()))
            .collect(),
    })
}

/// Bundles go only to callers that have an identity, as with SPIRE's default: an
/// unattested process learns nothing about the trust domain.
fn require_identity(state: &CacheState, selectors: &crate::SelectorSet) -> Result<(), Error> {
    if state.entries_for(selectors).next().is_none() {
        return Err(Error::NoIdentity);
    }
    Ok(())
}

/// JSON claims as a `google.protobuf.Struct`, with `aud` always a list (as SPIRE returns
/// it, so clients need not handle both shapes).
pub(crate) fn claims_struct(mut claims: Claims) -> prost_types::Struct {
    if let Some(aud @ serde_json::Value::String(_)) = claims.get_mut("aud") {
        *aud = serde_json::Value::Array(vec![aud.take()]);
    }
    json_struct(claims)
}

fn json_struct(map: Claims) -> prost_types::Struct {
    prost_types::Struct {
        fields: map.into_iter().map(|(k, v)| (k, json_value(v))).collect(),
    }
}

fn json_value(value: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    use serde_json::Value;
    let kind = match value {
        Value::Null => Kind::NullValue(prost_types::NullValue::NullValue.into()),
        Value::Bool(b) => Kind::BoolValue(b),
        // A Struct number is a double, like a JSON number in JavaScript.
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(json_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(json_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[tonic::async_trait]
impl SpiffeWorkloadApi for WorkloadApi {
    type FetchX509SVIDStream = Updates<X509svidResponse>;
    type FetchX509BundlesStream = Updates<X509BundlesResponse>;
    type FetchJWTBundlesStream = Updates<JwtBundlesResponse>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        let selectors = self.caller(&request).await.map_err(|e| e.status())?;
        Ok(Response::new(self.updates(move |state| {
            x509_svid_response(state, &selectors)
        })))
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        let selectors = self.caller(&request).await.map_err(|e| e.status())?;
        Ok(Response::new(self.updates(move |state| {
            x509_bundles_response(state, &selectors)
        })))
    }

    async fn fetch_jwt_bundles(
        &self,
        request: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        let selectors = self.caller(&request).await.map_err(|e| e.status())?;
        Ok(Response::new(self.updates(move |state| {
            jwt_bundles_response(state, &selectors)
        })))
    }

    async fn fetch_jwtsvid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        self.fetch_jwt_svid(request).await.map_err(|e| e.status())
    }

    async fn validate_jwtsvid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        self.validate_jwt_svid(request)
            .await
            .map_err(|e| e.status())
    }
}

impl WorkloadApi {
    async fn fetch_jwt_svid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Error> {
        check_header(request.metadata())?;
        if request.get_ref().audience.iter().all(String::is_empty) {
            return Err(Error::AudienceMissing);
        }
        let selectors = self.caller(&request).await?;
        let JwtsvidRequest {
            audience,
            spiffe_id,
        } = request.into_inner();
        let audience: Vec<String> = audience.into_iter().filter(|a| !a.is_empty()).collect();
        let wanted = if spiffe_id.is_empty() {
            None
        } else {
            Some(SpiffeId::parse(&spiffe_id).map_err(|e| Error::BadSpiffeId(e.to_string()))?)
        };
        let state = self.cache.current();
        let mut seen = BTreeSet::new();
        let mut svids = Vec::new();
        for entry in state.entries_for(&selectors) {
            let id = entry.spiffe_id();
            if wanted.as_ref().is_some_and(|w| w != id) || !seen.insert(id.clone()) {
                continue;
            }
            let svid = self.jwt.mint(id, &audience).await?;
            svids.push(Jwtsvid {
                spiffe_id: id.to_string(),
                svid,
                hint: entry.hint().to_owned(),
            });
        }
        if svids.is_empty() {
            return Err(Error::NoIdentity);
        }
        Ok(Response::new(JwtsvidResponse { svids }))
    }

    async fn validate_jwt_svid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Error> {
        check_header(request.metadata())?;
        let ValidateJwtsvidRequest { audience, svid } = request.get_ref();
        if audience.is_empty() {
            return Err(Error::AudienceMissing);
        }
        if svid.is_empty() {
            return Err(Error::SvidMissing);
        }
        let selectors = self.caller(&request).await?;
        require_identity(&self.cache.current(), &selectors)?;
        let ValidateJwtsvidRequest { audience, svid } = request.into_inner();
        let (spiffe_id, claims) = self.jwt.validate(&svid, &audience).await?;
        Ok(Response::new(ValidateJwtsvidResponse {
            spiffe_id: spiffe_id.to_string(),
            claims: Some(claims_struct(claims)),
        }))
    }
}

#[cfg(test)]
mod tests;
