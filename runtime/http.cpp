// HTTP requests (libcurl easy interface), Prometheus instant queries and
// JSON pointer evaluation for `http` and `prometheus` probes.
//
// libcurl is loaded with dlopen("libcurl.so.4") on the first request, not
// linked: linking it made every `trixc` start map ~37 shared libraries
// (OpenSSL, Kerberos, LDAP, ...), about 18 ms, for commands that never make
// a request (docs/performance.md). Only the curl headers are used at build
// time, for types and constants; the few functions come from dlsym. When the
// library cannot be loaded, every request fails with an error naming it.
//
// Everything here reports failure in the result, never by exception: a probe
// that cannot be evaluated is a failed probe (LANGUAGE.md §4, fail closed).
#include "runtime/http.hpp"

#include <curl/curl.h>
#include <dlfcn.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <limits>
#include <memory>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace trix::rt {
namespace {

using nlohmann::json;

// A probe reads status, headers and maybe a JSON field; 16 MiB is far above
// any health or metrics answer and still small enough to hold in memory.
constexpr std::size_t kMaxBody = std::size_t{16} << 20;
// Prometheus' error answers are short; this is for when the body is HTML
// from a proxy or a wrong port, where the first line or two say enough.
constexpr std::size_t kExcerpt = 200;

// The libcurl functions trixc uses, resolved from the dlopen'ed library.
// Declared through decltype so a signature can never drift from the headers.
struct CurlApi {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_perform) easy_perform = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_easy_escape) easy_escape = nullptr;
  decltype(&::curl_free) free = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;
  std::string error;  // why loading failed; empty when every function resolved
};

constexpr const char* kCurlLibrary = "libcurl.so.4";

CurlApi LoadCurl() {
  CurlApi api;
  // RTLD_LOCAL: curl's dependencies (OpenSSL, ...) stay out of the global
  // symbol namespace. The handle is never closed: curl keeps global state.
  void* lib = dlopen(kCurlLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    api.error = std::string("cannot load ") + kCurlLibrary + " (" + (why ? why : "unknown error") +
                "); HTTP probes and steps need libcurl: install the libcurl4 package";
    return api;
  }
  auto resolve = [&](auto& fn, const char* name) {
    if (!api.error.empty()) return;
    void* sym = dlsym(lib, name);
    if (!sym) {
      api.error = std::string(kCurlLibrary) + " has no `" + name + "`";
      return;
    }
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym);
  };
  resolve(api.global_init, "curl_global_init");
  resolve(api.easy_init, "curl_easy_init");
  resolve(api.easy_cleanup, "curl_easy_cleanup");
  resolve(api.easy_setopt, "curl_easy_setopt");
  resolve(api.easy_perform, "curl_easy_perform");
  resolve(api.easy_getinfo, "curl_easy_getinfo");
  resolve(api.easy_strerror, "curl_easy_strerror");
  resolve(api.easy_escape, "curl_easy_escape");
  resolve(api.free, "curl_free");
  resolve(api.slist_append, "curl_slist_append");
  resolve(api.slist_free_all, "curl_slist_free_all");
  // curl_global_init is not thread-safe and must run before any other libcurl
  // call; it is never paired with curl_global_cleanup, which would race with
  // handles still in use on other threads at exit.
  if (api.error.empty() && api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    api.error = std::string("curl_global_init failed in ") + kCurlLibrary;
  return api;
}

// Loads libcurl once (thread-safe: a function-local static); later calls
// return the same table. Callers check `error` first.
const CurlApi& Curl() {
  static const CurlApi api = LoadCurl();
  return api;
}

struct EasyDeleter {
  void operator()(CURL* h) const { Curl().easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { Curl().slist_free_all(l); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// RFC 9110 token characters: a method or header name with anything else
// (a space, CR, LF) could smuggle a second request line or header.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool HasLineBreak(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos || s.find('\0') != std::string_view::npos;
}

struct Capture {
  std::string body;
  bool too_large = false;
  std::map<std::string, std::string> headers;
  std::string last_header;  // for obsolete folded continuation lines
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* cap = static_cast<Capture*>(user);
  size_t n = size * nmemb;
  if (cap->body.size() + n > kMaxBody) {
    cap->too_large = true;
    return 0;  // makes curl_easy_perform fail with CURLE_WRITE_ERROR
  }
  cap->body.append(data, n);
  return n;
}

size_t WriteHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* cap = static_cast<Capture*>(user);
  size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new status line (after a 100 Continue, say): only the final
    // response's headers are reported.
    cap->headers.clear();
    cap->last_header.clear();
    return n;
  }
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    std::string_view more = Trim(line);
    if (!cap->last_header.empty() && !more.empty()) {
      std::string& v = cap->headers[cap->last_header];
      if (!v.empty()) v += ' ';
      v.append(more);
    }
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;  // the blank line ending the block
  std::string name = Lower(Trim(line.substr(0, colon)));
  if (name.empty()) return n;
  cap->headers[name] = std::string(Trim(line.substr(colon + 1)));
  cap->last_header = std::move(name);
  return n;
}

HttpResponse Fail(std::string error) {
  HttpResponse r;
  r.error = std::move(error);
  return r;
}

std::string Excerpt(std::string_view body) {
  std::string out(body.substr(0, kExcerpt));
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (body.size() > kExcerpt) out += "...";
  return out;
}

// Prometheus writes sample values with Go's strconv.FormatFloat(v, 'f', -1, 64),
// which spells the specials "NaN", "+Inf" and "-Inf".
bool ParseSampleValue(const std::string& s, double& out) {
  if (s == "NaN") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (s == "+Inf" || s == "Inf") {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-Inf") {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s.empty()) return false;
  // from_chars is locale-independent (strtod would read "1,5" under de_DE).
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out, std::chars_format::general);
  return ec == std::errc() && ptr == end;
}

// `[<unix time>, "<value>"]`, the shape of a vector sample's "value" and of a
// scalar result.
bool ParseSamplePair(const json& pair, double& out) {
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) return false;
  return ParseSampleValue(pair[1].get<std::string>(), out);
}

std::string PromErrorText(const json& answer) {
  std::string text;
  if (answer.is_object()) {
    auto type = answer.find("errorType");
    if (type != answer.end() && type->is_string()) text = type->get<std::string>();
    auto err = answer.find("error");
    if (err != answer.end() && err->is_string()) {
      if (!text.empty()) text += ": ";
      text += err->get<std::string>();
    }
  }
  return text;
}

PromResult PromFail(std::string error) {
  PromResult r;
  r.error = std::move(error);
  return r;
}

PromResult ParsePromAnswer(const std::string& body) {
  json answer = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded()) return PromFail("prometheus answer is not JSON: " + Excerpt(body));
  if (!answer.is_object()) return PromFail("prometheus answer is not a JSON object: " + Excerpt(body));
  auto status = answer.find("status");
  if (status == answer.end() || !status->is_string())
    return PromFail("prometheus answer has no \"status\": " + Excerpt(body));
  if (*status != "success") {
    std::string text = PromErrorText(answer);
    return PromFail("prometheus query failed: " + (text.empty() ? Excerpt(body) : text));
  }
  auto data = answer.find("data");
  if (data == answer.end() || !data->is_object()) return PromFail("prometheus answer has no \"data\" object");
  auto type = data->find("resultType");
  auto result = data->find("result");
  if (type == data->end() || !type->is_string() || result == data->end())
    return PromFail("prometheus answer has no \"resultType\" or \"result\"");

  PromResult r;
  if (*type == "vector") {
    if (!result->is_array()) return PromFail("prometheus vector result is not an array");
    if (result->empty()) {
      r.ok = true;  // no data: has_sample stays false and the caller decides
      return r;
    }
    const json& first = (*result)[0];
    auto value = first.is_object() ? first.find("value") : first.end();
    if (value == first.end() || !ParseSamplePair(*value, r.value))
      return PromFail("prometheus vector sample has no readable \"value\"");
  } else if (*type == "scalar") {
    if (!ParseSamplePair(*result, r.value)) return PromFail("prometheus scalar result is not [time, \"value\"]");
  } else {
    // A matrix (a range selector like `up[5m]`) has many samples per series,
    // and a string has none: neither gives the one number `value` means.
    return PromFail("prometheus result type `" + type->get<std::string>() +
                    "` is not supported (want vector or scalar)");
  }
  r.ok = true;
  r.has_sample = true;
  return r;
}

}  // namespace

HttpResponse HttpCall(const HttpRequest& req) {
  const CurlApi& curl = Curl();
  if (!curl.error.empty()) return Fail(curl.error);
  std::string method = Upper(req.method);
  if (!IsToken(method)) return Fail("invalid HTTP method `" + req.method + "`");
  if (HasLineBreak(req.url)) return Fail("invalid URL: contains a line break");

  EasyPtr easy(curl.easy_init());
  if (!easy) return Fail("curl_easy_init failed");
  CURL* h = easy.get();

  SlistPtr headers;
  bool has_expect = false;
  for (const auto& [name, value] : req.headers) {
    if (!IsToken(name)) return Fail("invalid HTTP header name `" + name + "`");
    if (HasLineBreak(value)) return Fail("invalid value for HTTP header `" + name + "`: contains a line break");
    if (Lower(name) == "expect") has_expect = true;
    // "Name:" alone would tell curl to drop the header; "Name;" sends it empty.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* next = curl.slist_append(headers.get(), line.c_str());
    if (!next) return Fail("out of memory building HTTP headers");
    (void)headers.release();
    headers.reset(next);
  }
  if (!has_expect) {
    // curl would send "Expect: 100-continue" for large bodies and wait up to
    // a second for the server's go-ahead; that second would show in latency.
    curl_slist* next = curl.slist_append(headers.get(), "Expect:");
    if (!next) return Fail("out of memory building HTTP headers");
    (void)headers.release();
    headers.reset(next);
  }

  Capture cap;
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';

  curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl.easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts: we may run threaded
  curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl.easy_setopt(h, CURLOPT_USERAGENT, "trixc/0.1");
  curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  curl.easy_setopt(h, CURLOPT_WRITEDATA, &cap);
  curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl.easy_setopt(h, CURLOPT_HEADERDATA, &cap);
  curl.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, req.insecure ? 0L : 1L);
  curl.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, req.insecure ? 0L : 2L);

  if (std::isfinite(req.timeout_s) && req.timeout_s > 0) {
    // Round up so 0.0001 s does not become 0, which curl reads as "never".
    // The cap (about 11 days) keeps the conversion to long defined.
    double ms = std::min(std::ceil(req.timeout_s * 1000.0), 1e9);
    curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(ms));
  } else if (std::isinf(req.timeout_s) || req.timeout_s <= 0) {
    curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, 0L);
  } else {
    return Fail("invalid HTTP timeout (NaN)");
  }

  if (method == "HEAD") {
    curl.easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method == "GET" && req.body.empty()) {
    curl.easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    if (method == "POST" || !req.body.empty()) {
      // POSTFIELDS does not copy: req outlives the transfer.
      curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl.easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
    }
    if (method != "POST") curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  CURLcode rc = curl.easy_perform(h);

  HttpResponse resp;
  curl_off_t total_us = 0;
  if (curl.easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK)
    resp.latency_s = static_cast<double>(total_us) / 1e6;
  curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);

  if (rc != CURLE_OK) {
    if (cap.too_large) {
      resp.error = "body too large (more than " + std::to_string(kMaxBody >> 20) + " MiB)";
    } else {
      resp.error = curl.easy_strerror(rc);
      if (errbuf[0] != '\0' && resp.error != errbuf) resp.error += std::string(": ") + errbuf;
    }
    return resp;  // ok stays false; body and headers are not reported
  }
  resp.ok = true;
  resp.body = std::move(cap.body);
  resp.headers = std::move(cap.headers);
  return resp;
}

PromResult PromQuery(const std::string& base, const std::string& query, double timeout_s) {
  const CurlApi& curl = Curl();
  if (!curl.error.empty()) return PromFail(curl.error);
  if (query.size() > static_cast<std::size_t>(INT_MAX)) return PromFail("prometheus query too long");
  EasyPtr easy(curl.easy_init());
  if (!easy) return PromFail("curl_easy_init failed");
  char* escaped = curl.easy_escape(easy.get(), query.data(), static_cast<int>(query.size()));
  if (!escaped) return PromFail("could not URL-encode the prometheus query");
  std::string root = base;
  while (!root.empty() && root.back() == '/') root.pop_back();
  HttpRequest req;
  req.url = root + "/api/v1/query?query=" + escaped;
  curl.free(escaped);
  req.timeout_s = timeout_s;
  req.headers.emplace_back("Accept", "application/json");

  HttpResponse resp = HttpCall(req);
  if (!resp.ok) return PromFail("prometheus at " + root + " unreachable: " + resp.error);
  if (resp.status != 200) {
    // Prometheus answers 400/422/503 with its usual JSON error object; name
    // its text when it parses, otherwise show the start of the body.
    json answer = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
    std::string text = answer.is_discarded() ? std::string() : PromErrorText(answer);
    return PromFail("prometheus answered HTTP " + std::to_string(resp.status) + ": " +
                    (text.empty() ? Excerpt(resp.body) : text));
  }
  try {
    return ParsePromAnswer(resp.body);
  } catch (const json::exception& e) {
    // The checks above should leave nothing to throw; this is the backstop.
    return PromFail(std::string("prometheus answer unreadable: ") + e.what());
  }
}

std::optional<std::string> JsonPointerDump(const std::string& json_text, const std::string& pointer) {
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return std::nullopt;
  try {
    json::json_pointer ptr(pointer);  // throws parse_error on "a" or "/~2"
    const json& value = doc.at(ptr);  // throws out_of_range (or parse_error for "/x" on an array)
    // `replace` so a string holding invalid UTF-8 cannot make dump() throw.
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace trix::rt
