// Types of Trix expressions (§2) as the checker sees them.
#pragma once

#include <string>

namespace trix::sema {

enum class Kind {
  Any,       // unknown or dynamic (json()); compatible with everything
  String, Int, Float, Bool, Duration, Percent, Cron, Secret, Environment, Role,
  List, Map,
  EnvObject,      // `env`
  StepsObject,    // `steps`
  StepRef,        // `steps.LABEL`
  BaselineObject, // `baseline`
  Error,          // an error was already reported; stay quiet
};

struct Type {
  Kind kind = Kind::Any;
  Kind elem = Kind::Any;  // List only

  static Type Of(Kind k) { return {k, Kind::Any}; }
  static Type ListOf(Kind k) { return {Kind::List, k}; }
  bool operator==(const Type& o) const { return kind == o.kind && (kind != Kind::List || elem == o.elem); }
};

std::string ToString(Type t);
bool IsNumeric(Kind k);  // Int, Float, Duration, Percent
/// Whether a value of type `from` may be used where `to` is expected.
bool Assignable(Type from, Type to);
/// Whether `a OP b` is allowed for ordering/equality (§2: durations compare with float seconds, percents with fractions).
bool Comparable(Type a, Type b);

}  // namespace trix::sema
