// ast::PackedVec: the one-pointer vector the AST's expressions use for their lists.
#include <catch2/catch.hpp>

#include <memory>
#include <span>
#include <string>

#include "compiler/ast/packed_vec.hpp"

using trix::ast::PackedVec;

namespace {

// Counts live instances, so the tests see every element destroyed exactly once.
struct Counted {
  static inline int live = 0;
  std::string s;
  explicit Counted(std::string v) : s(std::move(v)) { ++live; }
  Counted(Counted&& o) noexcept : s(std::move(o.s)) { ++live; }
  ~Counted() { --live; }
};

}  // namespace

TEST_CASE("an empty PackedVec is one null pointer wide and iterates nothing", "[packed_vec]") {
  STATIC_REQUIRE(sizeof(PackedVec<std::string>) == sizeof(void*));
  PackedVec<std::string> v;
  REQUIRE(v.empty());
  REQUIRE(v.size() == 0);
  REQUIRE(v.begin() == v.end());
  REQUIRE_THROWS_AS(v.at(0), std::out_of_range);
  std::span<const std::string> s = v;
  REQUIRE(s.empty());
}

TEST_CASE("PackedVec keeps its elements, in order, across growth", "[packed_vec]") {
  PackedVec<std::string> v;
  for (int i = 0; i < 100; ++i) v.push_back(std::string(20, static_cast<char>('a' + i % 26)) + std::to_string(i));
  REQUIRE(v.size() == 100);
  for (int i = 0; i < 100; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == std::string(20, static_cast<char>('a' + i % 26)) + std::to_string(i));
  REQUIRE(v.front() == v[0]);
  REQUIRE(v.back() == v.at(99));
  REQUIRE_THROWS_AS(v.at(100), std::out_of_range);
  std::span<const std::string> s = v;
  REQUIRE(s.size() == 100);
  REQUIRE(s[42] == v[42]);
}

TEST_CASE("PackedVec reserve keeps elements and emplace_back constructs in place", "[packed_vec]") {
  PackedVec<std::unique_ptr<int>> v;
  v.emplace_back(std::make_unique<int>(1));
  v.reserve(64);
  v.emplace_back(std::make_unique<int>(2));
  REQUIRE(v.size() == 2);
  REQUIRE(*v[0] == 1);
  REQUIRE(*v[1] == 2);
  int sum = 0;
  for (const auto& p : v) sum += *p;
  REQUIRE(sum == 3);
}

TEST_CASE("PackedVec destroys each element once, through moves", "[packed_vec]") {
  Counted::live = 0;
  {
    PackedVec<Counted> a;
    for (int i = 0; i < 10; ++i) a.emplace_back(std::to_string(i));
    REQUIRE(Counted::live == 10);
    PackedVec<Counted> b(std::move(a));
    REQUIRE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    REQUIRE(b.size() == 10);
    REQUIRE(Counted::live == 10);
    PackedVec<Counted> c;
    c.emplace_back("x");
    REQUIRE(Counted::live == 11);
    c = std::move(b);  // frees c's old element
    REQUIRE(Counted::live == 10);
    REQUIRE(c[9].s == "9");
    c = {};
    REQUIRE(Counted::live == 0);
    REQUIRE(c.empty());
  }
  REQUIRE(Counted::live == 0);
}
