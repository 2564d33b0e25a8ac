// Type names and compatibility rules.
#include "compiler/check/types.hpp"

namespace trix::sema {

namespace {
const char* Name(Kind k) {
  switch (k) {
    case Kind::Any: return "any";
    case Kind::String: return "string";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Bool: return "bool";
    case Kind::Duration: return "duration";
    case Kind::Percent: return "percent";
    case Kind::Cron: return "cron";
    case Kind::Secret: return "secret";
    case Kind::Environment: return "environment";
    case Kind::Role: return "role";
    case Kind::List: return "list";
    case Kind::Map: return "map";
    case Kind::EnvObject: return "environment";
    case Kind::StepsObject: return "steps";
    case Kind::StepRef: return "step";
    case Kind::BaselineObject: return "baselines";
    case Kind::Error: return "error";
  }
  return "?";
}
}  // namespace

std::string ToString(Type t) {
  if (t.kind == Kind::List) return std::string("[") + Name(t.elem) + "]";
  return Name(t.kind);
}

bool IsNumeric(Kind k) { return k == Kind::Int || k == Kind::Float || k == Kind::Duration || k == Kind::Percent; }

bool Assignable(Type from, Type to) {
  if (from.kind == Kind::Any || to.kind == Kind::Any || from.kind == Kind::Error || to.kind == Kind::Error) return true;
  if (from.kind == Kind::EnvObject && to.kind == Kind::Environment) return true;
  if (from.kind == Kind::List && to.kind == Kind::List) return Assignable(Type::Of(from.elem), Type::Of(to.elem));
  if (from.kind == to.kind) return true;
  if (from.kind == Kind::Int && to.kind == Kind::Float) return true;
  if (from.kind == Kind::String && to.kind == Kind::Cron) return true;
  return false;
}

bool Comparable(Type a, Type b) {
  if (a.kind == Kind::Any || b.kind == Kind::Any || a.kind == Kind::Error || b.kind == Kind::Error) return true;
  auto num = [](Kind k) { return k == Kind::Int || k == Kind::Float; };
  if (num(a.kind) && num(b.kind)) return true;
  if ((a.kind == Kind::Duration && (num(b.kind) || b.kind == Kind::Duration)) ||
      (b.kind == Kind::Duration && num(a.kind)))
    return true;
  if ((a.kind == Kind::Percent && (num(b.kind) || b.kind == Kind::Percent)) || (b.kind == Kind::Percent && num(a.kind)))
    return true;
  // An environment (a parameter of type `environment`, or `env`) compares with another, or with a name.
  auto envish = [](Kind k) { return k == Kind::Environment || k == Kind::EnvObject; };
  if ((envish(a.kind) || a.kind == Kind::String) && (envish(b.kind) || b.kind == Kind::String) && (envish(a.kind) || envish(b.kind)))
    return true;
  if (a.kind == Kind::Cron || b.kind == Kind::Cron) return (a.kind == Kind::String || a.kind == Kind::Cron) && (b.kind == Kind::String || b.kind == Kind::Cron);
  return a == b || (a.kind == Kind::List && b.kind == Kind::List);
}

}  // namespace trix::sema
