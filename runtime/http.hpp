// HTTP requests and Prometheus instant queries (libcurl).
//
// Invariants: TLS verification is on unless `insecure`; a transport error, a
// timeout or an unparsable Prometheus answer is reported as !ok — callers
// fail closed. Thread-compatible: each call uses its own easy handle.
//
// Choices worth knowing:
// - Redirects are NOT followed: probes check health endpoints, and a 301 is
//   an answer in its own right (status 301, which the default expect
//   `status >= 200 and status < 400` accepts). Following one could also
//   carry the request's headers to another host.
// - Only http:// and https:// URLs are accepted (no file://, ftp://, ...).
// - The body is captured up to 16 MiB; a larger one is !ok ("body too
//   large"), so a probe cannot grow memory without bound.
// - Proxies come from the usual environment variables, as with curl(1).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trix::rt {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double timeout_s = 30;    // whole request (connect + transfer); <= 0 = no timeout
  bool insecure = false;    // skip TLS certificate and host name verification
};

struct HttpResponse {
  bool ok = false;          // a response was received (any status)
  std::string error;        // transport error when !ok
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased; last value wins
  double latency_s = 0;     // total time of the transfer
};

HttpResponse HttpCall(const HttpRequest& req);

struct PromResult {
  bool ok = false;          // the query ran and the answer parsed
  std::string error;
  bool has_sample = false;  // false: no data (vector empty)
  double value = 0;         // first sample's value (vector or scalar result);
                            // "NaN", "+Inf", "-Inf" become the IEEE values
};

/// GET {base}/api/v1/query?query=... (URL-encoded). `base` like "http://127.0.0.1:9090".
/// !ok on a transport error, an HTTP status other than 200 (the error names
/// the status and Prometheus' error text or a body excerpt), a body that is
/// not a Prometheus answer, `"status": "error"`, or a result type other than
/// vector or scalar. An empty vector is ok with has_sample = false.
PromResult PromQuery(const std::string& base, const std::string& query, double timeout_s = 30);

/// Evaluates an RFC 6901 JSON pointer on a JSON text; nullopt when the text
/// is not JSON or the pointer does not resolve (or is not a valid pointer).
/// The value comes back as JSON text (`value.dump()`): a string is returned
/// with its quotes and escapes ("\"ok\""), a number as "1.5", an object as
/// "{...}" — callers that want the bare string unwrap it. Never throws.
std::optional<std::string> JsonPointerDump(const std::string& json_text, const std::string& pointer);

}  // namespace trix::rt
