"""Runs the PyPI `spiffe` client against Sigil's Workload API and prints what it saw.

Usage: workload_client.py SOCKET COMMAND

Each command prints one JSON object per line on stdout; the Rust test asserts on them.
  fetch    fetch_x509_svid, fetch_x509_context and fetch_x509_bundles
  raw      raw gRPC calls the client would never make: no security header, a wrong one,
           a WIT method; prints each call's status code and message
  denied   FetchX509SVID as a caller with no identity: the status code and message
  jwt      fetch_jwt_svid, fetch_jwt_bundles (the token verified against the bundle),
           validate_jwt_svid, the claims of a raw ValidateJWTSVID, and the JWT calls'
           argument errors
  stream   stream_x509_contexts; prints the default SVID's serial on every update and
           exits after the second distinct one (or fails after a bounded wait)
"""

import json
import sys
import threading

import grpc
from cryptography.hazmat.primitives import serialization
from google.protobuf.json_format import MessageToDict
from spiffe import JwtSvid, WorkloadApiClient
from spiffe._proto import workload_pb2, workload_pb2_grpc

TIMEOUT = 10.0


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def public_der(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def describe_svid(svid):
    leaf = svid.leaf
    return {
        "spiffe_id": str(svid.spiffe_id),
        "serial": leaf.serial_number,
        "chain": len(svid.cert_chain),
        "key_matches_leaf": public_der(svid.private_key) == public_der(leaf),
    }


def describe_bundles(bundle_set):
    return {
        str(b.trust_domain): len(b.x509_authorities) for b in bundle_set.bundles
    }


def fetch(socket):
    client = WorkloadApiClient(socket_path=socket, default_timeout=TIMEOUT)
    svid = client.fetch_x509_svid()
    context = client.fetch_x509_context()
    bundles = client.fetch_x509_bundles()
    # The leaf must be signed by an authority of its own trust domain's bundle.
    td_bundle = context.x509_bundle_set.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
    verified = False
    for ca in td_bundle.x509_authorities:
        try:
            svid.leaf.verify_directly_issued_by(ca)
            verified = True
        except Exception:  # noqa: BLE001 - another authority may be the issuer
            pass
    emit(
        {
            "svid": describe_svid(svid),
            "context_default": describe_svid(context.default_svid),
            "context_svids": [str(s.spiffe_id) for s in context.x509_svids],
            "context_bundles": describe_bundles(context.x509_bundle_set),
            "bundles": describe_bundles(bundles),
            "leaf_verified_by_bundle": verified,
        }
    )
    client.close()


def status_of(call):
    try:
        for _ in call():
            return {"code": "OK", "message": ""}
        return {"code": "OK", "message": "stream ended"}
    except grpc.RpcError as e:
        return {"code": e.code().name, "message": e.details()}


def raw(socket):
    with grpc.insecure_channel(socket) as channel:
        stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)
        request = workload_pb2.X509SVIDRequest()
        emit({"call": "no-header", **status_of(lambda: stub.FetchX509SVID(request, timeout=TIMEOUT))})
        emit(
            {
                "call": "wrong-header",
                **status_of(
                    lambda: stub.FetchX509SVID(
                        request, timeout=TIMEOUT, metadata=[("workload.spiffe.io", "false")]
                    )
                ),
            }
        )
        try:
            stub.FetchJWTSVID(
                workload_pb2.JWTSVIDRequest(audience=["x"]), timeout=TIMEOUT
            )
            emit({"call": "jwt-no-header", "code": "OK", "message": ""})
        except grpc.RpcError as e:
            emit({"call": "jwt-no-header", "code": e.code().name, "message": e.details()})
        wit = channel.unary_stream(
            "/SpiffeWorkloadAPI/FetchWITSVID",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        emit(
            {
                "call": "wit",
                **status_of(
                    lambda: wit(b"", timeout=TIMEOUT, metadata=[("workload.spiffe.io", "true")])
                ),
            }
        )


def denied(socket):
    with grpc.insecure_channel(socket) as channel:
        stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)
        emit(
            status_of(
                lambda: stub.FetchX509SVID(
                    workload_pb2.X509SVIDRequest(),
                    timeout=TIMEOUT,
                    metadata=[("workload.spiffe.io", "true")],
                )
            )
        )


HEADER = [("workload.spiffe.io", "true")]


def jwt_calls(socket):
    client = WorkloadApiClient(socket_path=socket, default_timeout=TIMEOUT)
    svid = client.fetch_jwt_svid(audience={"db"})
    bundles = client.fetch_jwt_bundles()
    bundle = bundles.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
    verified = JwtSvid.parse_and_validate(svid.token, bundle, {"db"})
    validated = client.validate_jwt_svid(svid.token, "db")
    client.close()
    with grpc.insecure_channel(socket) as channel:
        stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)
        response = stub.ValidateJWTSVID(
            workload_pb2.ValidateJWTSVIDRequest(audience="db", svid=svid.token),
            timeout=TIMEOUT,
            metadata=HEADER,
        )
        errors = {}
        calls = {
            "fetch-no-audience": lambda: stub.FetchJWTSVID(
                workload_pb2.JWTSVIDRequest(), timeout=TIMEOUT, metadata=HEADER
            ),
            "validate-no-audience": lambda: stub.ValidateJWTSVID(
                workload_pb2.ValidateJWTSVIDRequest(svid=svid.token),
                timeout=TIMEOUT,
                metadata=HEADER,
            ),
            "validate-no-svid": lambda: stub.ValidateJWTSVID(
                workload_pb2.ValidateJWTSVIDRequest(audience="db"),
                timeout=TIMEOUT,
                metadata=HEADER,
            ),
            "validate-wrong-audience": lambda: stub.ValidateJWTSVID(
                workload_pb2.ValidateJWTSVIDRequest(audience="web", svid=svid.token),
                timeout=TIMEOUT,
                metadata=HEADER,
            ),
        }
        for name, call in calls.items():
            try:
                call()
                errors[name] = {"code": "OK", "message": ""}
            except grpc.RpcError as e:
                errors[name] = {"code": e.code().name, "message": e.details()}
    emit(
        {
            "spiffe_id": str(svid.spiffe_id),
            "audience": sorted(svid.audience),
            "bundle_kids": sorted(bundle.jwt_authorities),
            "verified_sub": str(verified.spiffe_id),
            "validated_sub": str(validated.spiffe_id),
            "raw_validate": MessageToDict(response),
            "errors": errors,
        }
    )


def stream(socket):
    client = WorkloadApiClient(socket_path=socket, default_timeout=TIMEOUT)
    seen = []
    done = threading.Event()
    errors = []

    def on_success(context):
        serial = context.default_svid.leaf.serial_number
        if serial not in seen:
            seen.append(serial)
            emit({"update": len(seen), **describe_svid(context.default_svid)})
        if len(seen) >= 2:
            done.set()

    def on_error(error):
        errors.append(repr(error))
        done.set()

    handle = client.stream_x509_contexts(on_success, on_error, retry_connect=False)
    finished = done.wait(30.0)
    handle.cancel()
    client.close()
    if not finished or errors or len(seen) < 2:
        emit({"error": errors or "no rotation seen within 30s", "seen": len(seen)})
        sys.exit(1)


def main():
    socket, command = sys.argv[1], sys.argv[2]
    {"fetch": fetch, "raw": raw, "jwt": jwt_calls, "denied": denied, "stream": stream}[command](socket)


if __name__ == "__main__":
    main()
