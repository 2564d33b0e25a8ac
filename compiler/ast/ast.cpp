// Small helpers on AST nodes.
#include "compiler/ast/ast.hpp"

namespace trix::ast {

bool Expr::IsPlainString(std::string* text_value) const {
  if (kind != ExprKind::String || interpolated) return false;
  if (text_value) *text_value = text;
  return true;
}

void ForEachExpr(const Expr& e, const std::function<void(const Expr&)>& f) {
  f(e);
  if (e.lhs) ForEachExpr(*e.lhs, f);
  if (e.rhs) ForEachExpr(*e.rhs, f);
  for (const auto& it : e.items) ForEachExpr(*it, f);
  for (const auto& a : e.attrs) ForEachExpr(*a.value, f);
  for (const auto& a : e.args) ForEachExpr(*a.value, f);
  for (const auto& part : e.parts) {
    if (part.expr) ForEachExpr(*part.expr, f);
  }
}

std::string_view ToString(TypeKind k) {
  switch (k) {
    case TypeKind::String: return "string";
    case TypeKind::Int: return "int";
    case TypeKind::Float: return "float";
    case TypeKind::Bool: return "bool";
    case TypeKind::Duration: return "duration";
    case TypeKind::Percent: return "percent";
    case TypeKind::Cron: return "cron";
    case TypeKind::Secret: return "secret";
    case TypeKind::Environment: return "environment";
    case TypeKind::Role: return "role";
    case TypeKind::List: return "list";
  }
  return "?";
}

std::string TypeToString(const TypeExpr& t) {
  if (t.kind == TypeKind::List) return "[" + (t.elem ? TypeToString(*t.elem) : std::string("?")) + "]";
  return std::string(ToString(t.kind));
}

const char* DeclKeyword(DeclKind k) {
  switch (k) {
    case DeclKind::Runbook: return "runbook";
    case DeclKind::Import: return "import";
    case DeclKind::Param: return "param";
    case DeclKind::Secret: return "secret";
    case DeclKind::Role: return "role";
    case DeclKind::Environment: return "environment";
    case DeclKind::Gate: return "gate";
    case DeclKind::Approval: return "approval";
    case DeclKind::Analysis: return "analysis";
    case DeclKind::Service: return "service";
    case DeclKind::Action: return "action";
    case DeclKind::Pipeline: return "pipeline";
    case DeclKind::Alert: return "alert";
    case DeclKind::Gitops: return "gitops";
  }
  return "declaration";
}

}  // namespace trix::ast
