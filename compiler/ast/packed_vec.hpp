// PackedVec<T>: a move-only vector that is one pointer wide.
//
// The AST's expressions each carry four lists (string parts, list items, map
// entries, call arguments), and any one expression uses at most one of them.
// As std::vectors they were 96 of an Expr's bytes; a large runbook has
// millions of expressions, and the page faults and cache misses of that
// memory were a large part of `trixc check` (docs/performance.md). An empty
// PackedVec is a null pointer; a non-empty one points at a block holding its
// size and capacity followed by the elements.
//
// Only what the AST's builders and readers use is provided. Elements must be
// nothrow-movable (they are: unique_ptrs, strings, ranges).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace trix::ast {

template <typename T>
class PackedVec {
  static_assert(std::is_nothrow_move_constructible_v<T>);
  static_assert(alignof(T) <= alignof(std::max_align_t));

 public:
  using value_type = T;
  using size_type = std::size_t;
  using iterator = T*;
  using const_iterator = const T*;
  using reference = T&;
  using const_reference = const T&;

  PackedVec() = default;
  PackedVec(PackedVec&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  PackedVec& operator=(PackedVec&& o) noexcept {
    if (this != &o) {
      Free();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  PackedVec(const PackedVec&) = delete;
  PackedVec& operator=(const PackedVec&) = delete;
  ~PackedVec() { Free(); }

  size_type size() const { return h_ ? h_->size : 0; }
  bool empty() const { return size() == 0; }
  T* data() { return h_ ? Elems() : nullptr; }
  const T* data() const { return h_ ? Elems() : nullptr; }
  iterator begin() { return data(); }
  iterator end() { return data() + size(); }
  const_iterator begin() const { return data(); }
  const_iterator end() const { return data() + size(); }
  T& operator[](size_type i) { return Elems()[i]; }
  const T& operator[](size_type i) const { return Elems()[i]; }
  const T& at(size_type i) const {
    if (i >= size()) throw std::out_of_range("PackedVec::at");
    return Elems()[i];
  }
  T& front() { return Elems()[0]; }
  const T& front() const { return Elems()[0]; }
  T& back() { return Elems()[size() - 1]; }
  const T& back() const { return Elems()[size() - 1]; }
  operator std::span<const T>() const { return {data(), size()}; }

  void reserve(size_type n) {
    if (n > Capacity()) Grow(n);
  }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size() == Capacity()) Grow(Capacity() ? 2 * Capacity() : 1);
    T* slot = Elems() + h_->size;
    std::construct_at(slot, std::forward<Args>(args)...);
    ++h_->size;
    return *slot;
  }
  void push_back(T&& v) { emplace_back(std::move(v)); }

 private:
  struct Header {
    std::uint32_t size;
    std::uint32_t capacity;
  };
  static constexpr std::size_t kOffset = (sizeof(Header) + alignof(T) - 1) / alignof(T) * alignof(T);

  T* Elems() const { return reinterpret_cast<T*>(reinterpret_cast<char*>(h_) + kOffset); }
  size_type Capacity() const { return h_ ? h_->capacity : 0; }

  void Grow(size_type n) {
    if (n > UINT32_MAX) throw std::length_error("PackedVec");
    auto* h = static_cast<Header*>(::operator new(kOffset + n * sizeof(T)));
    h->size = 0;
    h->capacity = static_cast<std::uint32_t>(n);
    T* to = reinterpret_cast<T*>(reinterpret_cast<char*>(h) + kOffset);
    if (h_) {
      T* from = Elems();
      for (std::uint32_t i = 0; i < h_->size; ++i) {
        std::construct_at(to + i, std::move(from[i]));
        std::destroy_at(from + i);
      }
      h->size = h_->size;
      ::operator delete(h_);
    }
    h_ = h;
  }
  void Free() noexcept {
    if (!h_) return;
    std::destroy_n(Elems(), h_->size);
    ::operator delete(h_);
    h_ = nullptr;
  }

  Header* h_ = nullptr;
};

}  // namespace trix::ast
