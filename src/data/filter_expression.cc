#include "data/filter_expression.h"

#include <pg_query.h>

#include <arrow/compute/api.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <optional>
#include <variant>

#include "common/name_match.h"
#include "data/schema_util.h"

namespace sluice {
namespace {

using arrow::compute::Expression;
using nlohmann::json;
namespace cp = arrow::compute;

// Where "SELECT 1 WHERE " puts the filter inside the statement handed to the parser.
constexpr const char* kPrefix = "SELECT 1 WHERE ";

// A literal as written: the parser's JSON loses negative integers, so numbers are re-read
// from the source text at their location.
struct Literal {
  std::variant<std::monostate, bool, int64_t, double, std::string> value;
  bool is_null() const { return std::holds_alternative<std::monostate>(value); }
};

// An operand of a comparison: a column, a literal, or any other expression.
struct Operand {
  std::optional<std::string> column;
  std::optional<Literal> literal;
  std::optional<Expression> expression;
};

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// ISO 8601 date or timestamp: "2024-01-01", "2024-01-01 10:00", "2024-01-01T10:00:00.5Z",
// "2023-01-01T11:00:00-05:00". Naive times are UTC. Returns microseconds since the epoch.
std::optional<int64_t> ParseIsoMicros(const std::string& text, bool* has_time) {
  int year, month, day, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3 || consumed != 10 || month < 1 ||
      month > 12 || day < 1 || day > 31) {
    return std::nullopt;
  }
  int64_t micros = DaysFromCivil(year, month, day) * 86400LL * 1000000LL;
  size_t pos = 10;
  *has_time = false;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ')) {
    int hour = 0, minute = 0, n = 0;
    if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d%n", &hour, &minute, &n) != 2) return std::nullopt;
    *has_time = true;
    pos += 1 + n;
    double seconds = 0;
    if (pos < text.size() && text[pos] == ':') {
      size_t end = pos + 1;
      while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) ++end;
      seconds = std::stod(text.substr(pos + 1, end - pos - 1));
      pos = end;
    }
    micros += (hour * 3600LL + minute * 60LL) * 1000000LL + std::llround(seconds * 1e6);
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
      ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      int oh = 0, om = 0;
      int sign = text[pos] == '-' ? -1 : 1;
      if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d%n", &oh, &om, &n) == 2 ||
          std::sscanf(text.c_str() + pos + 1, "%2d%n", &oh, &n) == 1) {
        micros -= sign * (oh * 3600LL + om * 60LL) * 1000000LL;
        pos += 1 + n;
      } else {
        return std::nullopt;
      }
    }
  }
  if (pos != text.size()) return std::nullopt;
  return micros;
}

// An identifier as written at `pos` of `source`: the last part of a dotted name
// (`t."PassengerId"` -> PassengerId), unquoted ("" -> ") when quoted. The parser folds
// unquoted names to lower case, so names are re-read from the source to keep their case.
struct WrittenName {
  std::string text;
  bool quoted = false;
};

std::optional<WrittenName> IdentifierAt(const std::string& source, size_t pos) {
  std::optional<WrittenName> last;
  while (pos < source.size()) {
    WrittenName part;
    if (source[pos] == '"') {
      part.quoted = true;
      size_t i = pos + 1;
      for (; i < source.size(); ++i) {
        if (source[i] != '"') {
          part.text += source[i];
        } else if (i + 1 < source.size() && source[i + 1] == '"') {
          part.text += '"';
          ++i;
        } else {
          break;
        }
      }
      if (i >= source.size()) return std::nullopt;
      pos = i + 1;
    } else {
      size_t end = pos;
      while (end < source.size() && (std::isalnum(static_cast<unsigned char>(source[end])) || source[end] == '_' ||
                                     source[end] == '$' || static_cast<unsigned char>(source[end]) >= 0x80)) {
        ++end;
      }
      if (end == pos) return std::nullopt;
      part.text = source.substr(pos, end - pos);
      pos = end;
    }
    last = part;
    size_t next = pos;
    while (next < source.size() && std::isspace(static_cast<unsigned char>(source[next]))) ++next;
    if (next >= source.size() || source[next] != '.') break;
    pos = next + 1;
    while (pos < source.size() && std::isspace(static_cast<unsigned char>(source[pos]))) ++pos;
  }
  return last;
}

class FilterParser {
 public:
  FilterParser(std::string filter, const arrow::Schema* schema)
      : filter_(std::move(filter)), source_(kPrefix + filter_), schema_(schema) {}

  Result<Expression> Parse() {
    SLUICE_ASSIGN_OR_RAISE(json where, WhereClause());
    SLUICE_ASSIGN_OR_RAISE(Operand top, Convert(where));
    if (top.column) return ColumnExpression(*top.column);
    if (!top.expression) return Error("the filter is not a condition");
    return *top.expression;
  }

  Result<std::vector<std::string>> Columns() {
    SLUICE_ASSIGN_OR_RAISE(json where, WhereClause());
    std::vector<std::string> columns;
    Collect(where, &columns);
    return columns;
  }

 private:
  Status Error(const std::string& what) const { return InvalidInput("filter '", filter_, "': ", what); }

  Result<json> WhereClause() {
    if (filter_.find('$') != std::string::npos) {
      return Error("unsubstituted parameter (a '$name' the run does not define)");
    }
    PgQueryParseResult result = pg_query_parse(source_.c_str());
    if (result.error) {
      std::string message = result.error->message;
      pg_query_free_parse_result(result);
      return Error(message);
    }
    json tree;
    try {  // the parser copies bytes that are not UTF-8 into its JSON, which then does not parse
      tree = json::parse(result.parse_tree);
    } catch (const json::exception& e) {
      pg_query_free_parse_result(result);
      return Error(std::string("cannot be read: ") + e.what());
    }
    pg_query_free_parse_result(result);
    const auto& stmts = tree.at("stmts");
    if (stmts.size() != 1) return Error("expected one condition");
    const auto& select = stmts[0].at("stmt").at("SelectStmt");
    bool extra = false;
    for (const char* key :
         {"fromClause", "groupClause", "havingClause", "sortClause", "limitCount", "limitOffset", "windowClause"}) {
      extra = extra || select.contains(key);
    }
    if (!select.contains("whereClause") || extra) {
      return Error("expected a condition such as \"miles > 1 AND zone = 'Queens'\"");
    }
    return select.at("whereClause");
  }

  void Collect(const json& node, std::vector<std::string>* columns) const {
    if (node.is_object()) {
      if (node.contains("ColumnRef")) {
        const auto& fields = node["ColumnRef"].at("fields");
        if (!fields.empty() && fields.back().contains("String")) {
          std::string name = WrittenColumn(node["ColumnRef"]).text;
          if (std::find(columns->begin(), columns->end(), name) == columns->end()) {
            columns->push_back(name);
          }
        }
        return;
      }
      for (const auto& [_, child] : node.items()) Collect(child, columns);
    } else if (node.is_array()) {
      for (const auto& child : node) Collect(child, columns);
    }
  }

  // The column a ColumnRef names, as written (case kept, quotes removed).
  WrittenName WrittenColumn(const json& column_ref) const {
    auto written = IdentifierAt(source_, column_ref.value("location", 0));
    if (written) return *written;
    return {column_ref.at("fields").back()["String"].value("sval", ""), false};
  }

  // The stored name of the column a ColumnRef names, by the name rule (common/name_match.h).
  Result<std::string> ResolveColumn(const json& column_ref) {
    WrittenName written = WrittenColumn(column_ref);
    if (!schema_) return written.text;
    std::vector<std::string> names;
    for (const auto& field : schema_->fields()) names.push_back(field->name());
    auto resolved = ResolveName(written.text, names, "column", written.quoted);
    if (resolved.ok()) return resolved;
    if (KindOf(resolved.status()) == ErrorKind::kNotFound) {
      return Error("column '" + written.text + "' does not exist; available: " + FieldNames(*schema_));
    }
    return Error(resolved.status().message());
  }

  Result<Expression> ColumnExpression(const std::string& name) {
    SLUICE_RETURN_NOT_OK(FieldType(name).status());
    return cp::field_ref(name);
  }

  Result<std::shared_ptr<arrow::DataType>> FieldType(const std::string& name) {
    if (!schema_) return arrow::null();
    auto field = schema_->GetFieldByName(name);
    if (!field) {
      return Error("column '" + name + "' does not exist; available: " + FieldNames(*schema_));
    }
    return field->type();
  }

  // The number text at a location of the source (the parser's JSON drops negative values).
  std::string NumberAt(const json& node) const {
    size_t pos = node.value("location", 0);
    size_t end = pos;
    if (end < source_.size() && source_[end] == '-') ++end;
    while (end < source_.size() &&
           (std::isalnum(static_cast<unsigned char>(source_[end])) || source_[end] == '.' || source_[end] == '+' ||
            ((source_[end] == '-') && end > pos && (source_[end - 1] == 'e' || source_[end - 1] == 'E')))) {
      ++end;
    }
    return source_.substr(pos, end - pos);
  }

  Result<Literal> ConstLiteral(const json& node) const {
    Literal literal;
    if (node.value("isnull", false)) return literal;
    if (node.contains("boolval")) {
      literal.value = node["boolval"].value("boolval", false);
    } else if (node.contains("sval")) {
      literal.value = node["sval"].value("sval", std::string());
    } else if (node.contains("ival") || node.contains("fval")) {
      std::string text = NumberAt(node);
      try {
        if (text.find_first_of(".eE") == std::string::npos) {
          literal.value = static_cast<int64_t>(std::stoll(text));
        } else {
          literal.value = std::stod(text);
        }
      } catch (...) {
        literal.value = std::stod(text);  // integers beyond int64
      }
    } else {
      return Error("unsupported constant " + node.dump());
    }
    return literal;
  }

  Result<Operand> Convert(const json& node) {
    Operand out;
    if (node.contains("ColumnRef")) {
      const auto& fields = node["ColumnRef"].at("fields");
      if (fields.empty() || !fields.back().contains("String")) return Error("'*' is not a column");
      SLUICE_ASSIGN_OR_RAISE(out.column, ResolveColumn(node["ColumnRef"]));
      SLUICE_RETURN_NOT_OK(FieldType(*out.column).status());
      return out;
    }
    if (node.contains("A_Const")) {
      SLUICE_ASSIGN_OR_RAISE(out.literal, ConstLiteral(node["A_Const"]));
      return out;
    }
    if (node.contains("TypeCast")) {
      // 'x'::date and CAST('x' AS timestamp): the literal is bound to the column type anyway.
      return Convert(node["TypeCast"].at("arg"));
    }
    if (node.contains("BoolExpr")) {
      const auto& b = node["BoolExpr"];
      std::vector<Expression> args;
      for (const auto& arg : b.at("args")) {
        SLUICE_ASSIGN_OR_RAISE(Operand operand, Convert(arg));
        SLUICE_ASSIGN_OR_RAISE(Expression e, AsCondition(operand));
        args.push_back(std::move(e));
      }
      std::string op = b.at("boolop");
      if (op == "AND_EXPR")
        out.expression = cp::and_(args);
      else if (op == "OR_EXPR")
        out.expression = cp::or_(args);
      else
        out.expression = cp::not_(args.at(0));
      return out;
    }
    if (node.contains("NullTest")) {
      const auto& n = node["NullTest"];
      SLUICE_ASSIGN_OR_RAISE(Operand arg, Convert(n.at("arg")));
      SLUICE_ASSIGN_OR_RAISE(Expression e, AsValue(arg, nullptr));
      out.expression = cp::is_null(e);
      if (n.value("nulltesttype", "") == "IS_NOT_NULL") out.expression = cp::not_(*out.expression);
      return out;
    }
    if (node.contains("BooleanTest")) {
      const auto& n = node["BooleanTest"];
      SLUICE_ASSIGN_OR_RAISE(Operand arg, Convert(n.at("arg")));
      SLUICE_ASSIGN_OR_RAISE(Expression e, AsCondition(arg));
      std::string test = n.value("booltesttype", "");
      if (test == "IS_TRUE")
        out.expression = cp::equal(e, cp::literal(true));
      else if (test == "IS_FALSE")
        out.expression = cp::equal(e, cp::literal(false));
      else
        return Error("unsupported test " + test);
      return out;
    }
    if (node.contains("A_Expr")) return ConvertAExpr(node["A_Expr"]);
    return Error("unsupported expression " + node.begin().key());
  }

  Result<Expression> AsCondition(const Operand& operand) {
    if (operand.expression) return *operand.expression;
    if (operand.column) return ColumnExpression(*operand.column);
    if (operand.literal && std::holds_alternative<bool>(operand.literal->value)) {
      return cp::literal(std::get<bool>(operand.literal->value));
    }
    return Error("expected a condition");
  }

  Result<arrow::Datum> BindLiteral(const Literal& literal, const std::shared_ptr<arrow::DataType>& type) {
    if (literal.is_null()) return arrow::Datum(arrow::MakeNullScalar(type ? type : arrow::null()));
    if (!type || type->id() == arrow::Type::NA) {
      return std::visit(
          [](const auto& v) -> arrow::Datum {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>)
              return arrow::Datum(arrow::MakeNullScalar(arrow::null()));
            else
              return arrow::Datum(arrow::MakeScalar(v));
          },
          literal.value);
    }
    if (const auto* text = std::get_if<std::string>(&literal.value)) {
      if (type->id() == arrow::Type::TIMESTAMP || type->id() == arrow::Type::DATE32 ||
          type->id() == arrow::Type::DATE64) {
        bool has_time = false;
        auto micros = ParseIsoMicros(*text, &has_time);
        if (!micros) return Error("'" + *text + "' is not an ISO date or timestamp");
        if (type->id() == arrow::Type::DATE32) {
          return arrow::Datum(
              std::make_shared<arrow::Date32Scalar>(static_cast<int32_t>(std::floor(*micros / 86400e6))));
        }
        if (type->id() == arrow::Type::DATE64) {
          return arrow::Datum(std::make_shared<arrow::Date64Scalar>(*micros / 1000));
        }
        const auto& ts = static_cast<const arrow::TimestampType&>(*type);
        int64_t value = *micros;
        switch (ts.unit()) {
          case arrow::TimeUnit::SECOND:
            value = *micros / 1000000;
            break;
          case arrow::TimeUnit::MILLI:
            value = *micros / 1000;
            break;
          case arrow::TimeUnit::MICRO:
            break;
          case arrow::TimeUnit::NANO:
            if (__builtin_mul_overflow(*micros, int64_t{1000}, &value)) {
              return Error("'" + *text + "' is outside the years a nanosecond timestamp holds (1677 to 2262)");
            }
            break;
        }
        return arrow::Datum(std::make_shared<arrow::TimestampScalar>(value, type));
      }
      if (arrow::is_string(type->id()) || type->id() == arrow::Type::STRING_VIEW ||
          type->id() == arrow::Type::DICTIONARY) {
        return arrow::Datum(std::make_shared<arrow::StringScalar>(*text));
      }
    }
    std::shared_ptr<arrow::Scalar> scalar = std::visit(
        [](const auto& v) -> std::shared_ptr<arrow::Scalar> {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>)
            return arrow::MakeNullScalar(arrow::null());
          else
            return arrow::MakeScalar(v);
        },
        literal.value);
    if (std::holds_alternative<double>(literal.value) && arrow::is_integer(type->id())) {
      return arrow::Datum(scalar);  // compared as doubles; see Compare
    }
    auto cast = scalar->CastTo(type);
    if (!cast.ok()) {
      return Error("cannot compare a column of type " + type->ToString() + " with " + scalar->ToString());
    }
    return arrow::Datum(*cast);
  }

  // A value expression; literals take the type of `peer` (the column they meet).
  Result<Expression> AsValue(const Operand& operand, const Operand* peer) {
    if (operand.column) return ColumnExpression(*operand.column);
    if (operand.expression) return *operand.expression;
    std::shared_ptr<arrow::DataType> type;
    if (peer && peer->column) {
      SLUICE_ASSIGN_OR_RAISE(type, FieldType(*peer->column));
    }
    SLUICE_ASSIGN_OR_RAISE(arrow::Datum datum, BindLiteral(*operand.literal, type));
    return cp::literal(datum);
  }

  Result<Expression> Compare(const std::string& op, const Operand& left, const Operand& right) {
    SLUICE_ASSIGN_OR_RAISE(Expression l, AsValue(left, &right));
    SLUICE_ASSIGN_OR_RAISE(Expression r, AsValue(right, &left));
    // An integer column against a fractional literal: compare as doubles (miles > 2.5).
    auto widen = [&](const Operand& column, const Operand& literal, Expression* e) -> Status {
      if (column.column && literal.literal && std::holds_alternative<double>(literal.literal->value)) {
        SLUICE_ASSIGN_OR_RAISE(auto type, FieldType(*column.column));
        if (type && arrow::is_integer(type->id())) {
          *e = cp::call("cast", {*e}, cp::CastOptions::Safe(arrow::float64()));
        }
      }
      return Status::OK();
    };
    SLUICE_RETURN_NOT_OK(widen(left, right, &l));
    SLUICE_RETURN_NOT_OK(widen(right, left, &r));
    if (op == "=") return cp::equal(l, r);
    if (op == "<>" || op == "!=") return cp::not_equal(l, r);
    if (op == "<") return cp::less(l, r);
    if (op == "<=") return cp::less_equal(l, r);
    if (op == ">") return cp::greater(l, r);
    if (op == ">=") return cp::greater_equal(l, r);
    return Error("unsupported operator '" + op + "'");
  }

  Result<Operand> ConvertAExpr(const json& e) {
    std::string kind = e.at("kind");
    std::string op = e.contains("name") ? e["name"].back()["String"].value("sval", "") : "";
    Operand out;
    if (kind == "AEXPR_OP") {
      if (!e.contains("lexpr")) return Error("unsupported unary operator '" + op + "'");
      SLUICE_ASSIGN_OR_RAISE(Operand left, Convert(e.at("lexpr")));
      SLUICE_ASSIGN_OR_RAISE(Operand right, Convert(e.at("rexpr")));
      SLUICE_ASSIGN_OR_RAISE(out.expression, Compare(op, left, right));
      return out;
    }
    if (kind == "AEXPR_IN") {
      SLUICE_ASSIGN_OR_RAISE(Operand left, Convert(e.at("lexpr")));
      if (!left.column) return Error("IN needs a column on its left");
      SLUICE_ASSIGN_OR_RAISE(auto type, FieldType(*left.column));
      arrow::ScalarVector values;
      for (const auto& item : e.at("rexpr").at("List").at("items")) {
        SLUICE_ASSIGN_OR_RAISE(Operand value, Convert(item));
        if (!value.literal) return Error("IN lists hold constants only");
        SLUICE_ASSIGN_OR_RAISE(arrow::Datum datum, BindLiteral(*value.literal, type));
        auto scalar = datum.scalar();
        if (!scalar->type->Equals(*type)) {
          SLUICE_ASSIGN_OR_RAISE(scalar, scalar->CastTo(type));
        }
        values.push_back(scalar);
      }
      SLUICE_ASSIGN_OR_RAISE(auto builder, arrow::MakeBuilder(type));
      SLUICE_RETURN_NOT_OK(builder->AppendScalars(values));
      SLUICE_ASSIGN_OR_RAISE(auto set, builder->Finish());
      Expression in = cp::call("is_in", {cp::field_ref(*left.column)}, cp::SetLookupOptions(set));
      out.expression = op == "<>" ? cp::not_(in) : in;
      return out;
    }
    if (kind == "AEXPR_BETWEEN" || kind == "AEXPR_NOT_BETWEEN") {
      SLUICE_ASSIGN_OR_RAISE(Operand value, Convert(e.at("lexpr")));
      const auto& bounds = e.at("rexpr").at("List").at("items");
      SLUICE_ASSIGN_OR_RAISE(Operand low, Convert(bounds.at(0)));
      SLUICE_ASSIGN_OR_RAISE(Operand high, Convert(bounds.at(1)));
      SLUICE_ASSIGN_OR_RAISE(Expression lower, Compare(">=", value, low));
      SLUICE_ASSIGN_OR_RAISE(Expression upper, Compare("<=", value, high));
      out.expression = cp::and_(lower, upper);
      if (kind == "AEXPR_NOT_BETWEEN") out.expression = cp::not_(*out.expression);
      return out;
    }
    if (kind == "AEXPR_LIKE" || kind == "AEXPR_ILIKE") {
      SLUICE_ASSIGN_OR_RAISE(Operand left, Convert(e.at("lexpr")));
      SLUICE_ASSIGN_OR_RAISE(Operand right, Convert(e.at("rexpr")));
      if (!left.column || !right.literal || !std::holds_alternative<std::string>(right.literal->value)) {
        return Error("LIKE needs a column and a pattern string");
      }
      cp::MatchSubstringOptions options(std::get<std::string>(right.literal->value), kind == "AEXPR_ILIKE");
      Expression like = cp::call("match_like", {cp::field_ref(*left.column)}, options);
      out.expression = (op == "!~~" || op == "!~~*") ? cp::not_(like) : like;
      return out;
    }
    return Error("unsupported construct (" + kind + ")");
  }

  std::string filter_;
  std::string source_;
  const arrow::Schema* schema_;
};

}  // namespace

Result<Expression> ParseFilter(const std::string& filter, const arrow::Schema& schema) {
  try {  // the parse tree of odd input (bytes that are not UTF-8, ...) must not abort the caller
    return FilterParser(filter, &schema).Parse();
  } catch (const std::exception& e) {
    return InvalidInput("filter '", filter, "': cannot be read: ", e.what());
  }
}

Result<std::vector<std::string>> FilterColumns(const std::string& filter) {
  try {
    return FilterParser(filter, nullptr).Columns();
  } catch (const std::exception& e) {
    return InvalidInput("filter '", filter, "': cannot be read: ", e.what());
  }
}

}  // namespace sluice
