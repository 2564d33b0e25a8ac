// The nginx provider's text work: weights that reproduce a percentage, and
// the rewrite of one upstream block that leaves the rest of the file alone.
#include <catch2/catch.hpp>
#include <stdexcept>

#include "runtime/rollout.hpp"

using trix::rt::NginxServers;
using trix::rt::RewriteUpstream;

TEST_CASE("nginx weights reproduce the percentage", "[rollout]") {
  CHECK(NginxServers("a:1", "b:2", 0) == std::vector<std::string>{"a:1"});  // nginx rejects weight=0: leave it out
  CHECK(NginxServers("a:1", "b:2", 100) == std::vector<std::string>{"b:2"});
  CHECK(NginxServers("a:1", "b:2", 25) == std::vector<std::string>{"a:1 weight=3", "b:2 weight=1"});
  CHECK(NginxServers("a:1", "b:2", 50) == std::vector<std::string>{"a:1 weight=1", "b:2 weight=1"});
  CHECK(NginxServers("a:1", "b:2", 10) == std::vector<std::string>{"a:1 weight=9", "b:2 weight=1"});
  CHECK(NginxServers("a:1", "b:2", 12.5) == std::vector<std::string>{"a:1 weight=7", "b:2 weight=1"});
  CHECK(NginxServers("a:1", "b:2", 33) == std::vector<std::string>{"a:1 weight=67", "b:2 weight=33"});
}

TEST_CASE("only the named upstream block is rewritten", "[rollout]") {
  const std::string conf =
      "# upstream app { in a comment }\n"
      "upstream app_other { server 10.0.0.9:80; }\n"
      "upstream app {\n"
      "    server 127.0.0.1:8001;  # stable\n"
      "    keepalive 8;\n"
      "    server_name_is_not_a_server_line x;\n"
      "}\n"
      "server { listen 80; location / { proxy_pass http://app; } }\n";
  const std::string out = RewriteUpstream(conf, "app", {"127.0.0.1:8001 weight=3", "127.0.0.1:8002 weight=1"});
  CHECK(out ==
        "# upstream app { in a comment }\n"
        "upstream app_other { server 10.0.0.9:80; }\n"
        "upstream app {\n"
        "    # managed by trixc: server lines are rewritten on every traffic change\n"
        "    server 127.0.0.1:8001 weight=3;\n"
        "    server 127.0.0.1:8002 weight=1;\n"
        "    keepalive 8;\n"
        "    server_name_is_not_a_server_line x;\n"
        "}\n"
        "server { listen 80; location / { proxy_pass http://app; } }\n");
  // Idempotent: rewriting again with the same servers gives the same text.
  CHECK(RewriteUpstream(out, "app", {"127.0.0.1:8001 weight=3", "127.0.0.1:8002 weight=1"}) == out);
  CHECK_THROWS_AS(RewriteUpstream(conf, "missing", {"x:1"}), std::runtime_error);
  CHECK_THROWS_AS(RewriteUpstream("upstream app {\n server a:1;\n", "app", {"x:1"}), std::runtime_error);
}
