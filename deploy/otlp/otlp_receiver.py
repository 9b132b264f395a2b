"""Throwaway OTLP/HTTP traces receiver for seawatch's trace tests.

    python otlp_receiver.py DIR PORT

Listens on 127.0.0.1:PORT. POST /v1/traces with a protobuf body
(Content-Type: application/x-protobuf) is decoded as an ExportTraceServiceRequest with
the official OpenTelemetry definitions (PyPI opentelemetry-proto) and every span is
appended to DIR/spans.jsonl as one JSON object a line:

    {"trace_id", "span_id", "parent_span_id" (hex, "" for a root), "name", "kind",
     "service", "start_ns", "end_ns", "attributes": {key: value}, "resource": {key: value}}

Anything else is refused (404 for another path, 415 for another content type, 400 for a
body that does not decode); refusals are counted in DIR/refused. The server answers
200 with an empty ExportTraceServiceResponse. Messages go to stderr.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

MAX_BODY = 16 * 1024 * 1024


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def spans_of(request):
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                yield {
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "name": s.name,
                    "kind": s.kind,
                    "service": resource.get("service.name", ""),
                    "start_ns": s.start_time_unix_nano,
                    "end_ns": s.end_time_unix_nano,
                    "attributes": attributes(s.attributes),
                    "resource": resource,
                }


class Handler(BaseHTTPRequestHandler):
    out_dir = "."

    def refuse(self, code, why):
        path = os.path.join(self.out_dir, "refused")
        with open(path, "a") as f:
            f.write(f"{code} {why}\n")
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY)) if length else b""
        if self.path != "/v1/traces":
            return self.refuse(404, self.path)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/x-protobuf":
            return self.refuse(415, ctype)
        if length > MAX_BODY:
            return self.refuse(413, str(length))
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as e:
            return self.refuse(400, str(e))
        lines = [json.dumps(s, sort_keys=True) for s in spans_of(request)]
        if lines:
            with open(os.path.join(self.out_dir, "spans.jsonl"), "a") as f:
                f.write("\n".join(lines) + "\n")
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        # Readiness probe of otlp-receiver.sh.
        code = 200 if self.path == "/ready" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("otlp-receiver: " + (fmt % args) + "\n")


def main():
    out_dir, port = sys.argv[1], int(sys.argv[2])
    os.makedirs(out_dir, exist_ok=True)
    Handler.out_dir = out_dir
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
