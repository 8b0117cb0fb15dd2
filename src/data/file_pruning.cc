#include "data/file_pruning.h"

#include <arrow/compute/api.h>

#include "data/filter_expression.h"
#include "format/partition_transform.h"

namespace sluice {
namespace {

using nlohmann::json;
namespace cp = arrow::compute;

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };

std::optional<Op> ComparisonOp(const std::string& name) {
  if (name == "equal") return Op::kEq;
  if (name == "not_equal") return Op::kNe;
  if (name == "less") return Op::kLt;
  if (name == "less_equal") return Op::kLe;
  if (name == "greater") return Op::kGt;
  if (name == "greater_equal") return Op::kGe;
  return std::nullopt;
}

Op Negate(Op op) {
  switch (op) {
    case Op::kEq:
      return Op::kNe;
    case Op::kNe:
      return Op::kEq;
    case Op::kLt:
      return Op::kGe;
    case Op::kLe:
      return Op::kGt;
    case Op::kGt:
      return Op::kLe;
    case Op::kGe:
      return Op::kLt;
  }
  return op;
}

Op Swap(Op op) {  // `literal op column` as `column op' literal`
  switch (op) {
    case Op::kLt:
      return Op::kGt;
    case Op::kLe:
      return Op::kGe;
    case Op::kGt:
      return Op::kLt;
    case Op::kGe:
      return Op::kLe;
    default:
      return op;
  }
}

// Whether two partition values can be compared as the same kind of value.
bool Comparable(const json& a, const json& b) {
  auto fits = [](const json& v) {  // an unsigned beyond int64 would compare as negative
    return !v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  };
  if (a.is_number_integer() && b.is_number_integer()) return fits(a) && fits(b);
  if (a.is_number_float() && b.is_number_float()) return true;
  return a.type() == b.type() && (a.is_string() || a.is_binary() || a.is_boolean());
}

// `x < v` as `x <= v - 1` (and `x > v` as `x >= v + 1`) for values with a successor, so a
// transform of the bound is exact at its boundary (`ts < '2024-01-03'` is `day <= 01-02`).
std::shared_ptr<arrow::Scalar> Step(const arrow::Scalar& value, int64_t delta) {
  if (const auto* i = dynamic_cast<const arrow::Int64Scalar*>(&value)) {
    if (i->value == INT64_MIN || i->value == INT64_MAX) return nullptr;
  }
  if (const auto* t = dynamic_cast<const arrow::TimestampScalar*>(&value)) {
    if (t->value == INT64_MIN || t->value == INT64_MAX) return nullptr;
  }
  switch (value.type->id()) {
    case arrow::Type::INT32:
      return std::make_shared<arrow::Int32Scalar>(static_cast<const arrow::Int32Scalar&>(value).value + delta);
    case arrow::Type::INT64:
      return std::make_shared<arrow::Int64Scalar>(static_cast<const arrow::Int64Scalar&>(value).value + delta);
    case arrow::Type::DATE32:
      return std::make_shared<arrow::Date32Scalar>(static_cast<const arrow::Date32Scalar&>(value).value + delta);
    case arrow::Type::TIMESTAMP:
      return std::make_shared<arrow::TimestampScalar>(static_cast<const arrow::TimestampScalar&>(value).value + delta,
                                                      value.type);
    default:
      return nullptr;
  }
}

class Projection {
 public:
  Projection(const PartitionSpecs& specs, int spec_id, const json& tuple) : tuple_(tuple) {
    auto it = specs.find(spec_id);
    if (it != specs.end() && tuple.is_object()) fields_ = &it->second;
  }

  // False only when no row of the file can make `e` true (`negated`: make it false-not-null).
  bool MayMatch(const cp::Expression& e, bool negated) const {
    if (!fields_) return true;
    if (const arrow::Datum* literal = e.literal()) {
      if (!literal->is_scalar() || literal->type()->id() != arrow::Type::BOOL) return true;
      const auto& scalar = static_cast<const arrow::BooleanScalar&>(*literal->scalar());
      if (!scalar.is_valid) return false;  // NULL never holds
      return scalar.value != negated;
    }
    const cp::Expression::Call* call = e.call();
    if (!call) return true;
    const std::string& name = call->function_name;
    const auto& args = call->arguments;
    if (name == "invert" && args.size() == 1) return MayMatch(args[0], !negated);
    bool conjunction = name == "and_kleene" || name == "and";
    bool disjunction = name == "or_kleene" || name == "or";
    if ((conjunction || disjunction) && args.size() == 2) {
      // NOT (a AND b) = NOT a OR NOT b.
      bool all = conjunction != negated;
      bool left = MayMatch(args[0], negated), right = MayMatch(args[1], negated);
      return all ? (left && right) : (left || right);
    }
    if (auto op = ComparisonOp(name); op && args.size() == 2) {
      const std::string* column = args[0].field_ref() ? args[0].field_ref()->name() : nullptr;
      const arrow::Datum* value = args[1].literal();
      Op o = *op;
      if (!column) {
        column = args[1].field_ref() ? args[1].field_ref()->name() : nullptr;
        value = args[0].literal();
        o = Swap(o);
      }
      if (!column || !value || !value->is_scalar() || !value->scalar()->is_valid) return true;
      return Compare(*column, negated ? Negate(o) : o, *value->scalar());
    }
    if (name == "is_null" && args.size() == 1 && args[0].field_ref() && args[0].field_ref()->name()) {
      return IsNull(*args[0].field_ref()->name(), !negated);
    }
    if (name == "is_in" && !negated && args.size() == 1 && args[0].field_ref() && args[0].field_ref()->name()) {
      const auto* options = dynamic_cast<const cp::SetLookupOptions*>(call->options.get());
      if (!options || !options->value_set.is_array()) return true;
      return In(*args[0].field_ref()->name(), *options->value_set.make_array());
    }
    return true;
  }

 private:
  // The fields of the file's spec computed from `column`, with their value in the tuple.
  template <typename Visit>
  bool ForEachField(const std::string& column, Visit visit) const {
    for (const auto& field : *fields_) {
      if (field.source_column != column || !tuple_.contains(field.name)) continue;
      auto transform = PartitionTransform::Parse(field.transform);
      if (!transform.ok() || transform->kind() == PartitionTransform::Kind::kVoid) continue;
      if (!visit(*transform, tuple_[field.name])) return false;
    }
    return true;
  }

  bool Compare(const std::string& column, Op asked, const arrow::Scalar& literal) const {
    return ForEachField(column, [&](const PartitionTransform& t, const json& p) {
      Op op = asked;
      if (p.is_null()) return false;  // every row of the file has a NULL there: no comparison holds
      const arrow::Scalar* bound = &literal;
      std::shared_ptr<arrow::Scalar> stepped;
      if (t.kind() != PartitionTransform::Kind::kIdentity && (op == Op::kLt || op == Op::kGt)) {
        stepped = Step(literal, op == Op::kLt ? -1 : 1);
        if (stepped) {
          bound = stepped.get();
          op = op == Op::kLt ? Op::kLe : Op::kGe;
        }
      }
      auto projected = t.Apply(*bound);
      if (!projected.ok() || projected->is_null() || !Comparable(p, *projected)) return true;
      const json& v = *projected;
      bool identity = t.kind() == PartitionTransform::Kind::kIdentity;
      switch (op) {
        case Op::kEq:
          return p == v;
        case Op::kNe:
          return !identity || p != v;
        case Op::kLt:
          if (!t.preserves_order()) return true;
          return identity ? p < v : !(v < p);
        case Op::kLe:
          return !t.preserves_order() || !(v < p);
        case Op::kGt:
          if (!t.preserves_order()) return true;
          return identity ? v < p : !(p < v);
        case Op::kGe:
          return !t.preserves_order() || !(p < v);
      }
      return true;
    });
  }

  bool IsNull(const std::string& column, bool want_null) const {
    return ForEachField(column, [&](const PartitionTransform&, const json& p) { return p.is_null() == want_null; });
  }

  bool In(const std::string& column, const arrow::Array& values) const {
    return ForEachField(column, [&](const PartitionTransform& t, const json& p) {
      if (p.is_null()) return false;
      for (int64_t i = 0; i < values.length(); ++i) {
        auto projected = t.Apply(values, i);
        if (!projected.ok() || projected->is_null() || !Comparable(p, *projected) || p == *projected) return true;
      }
      return false;
    });
  }

  const json& tuple_;
  const std::vector<PartitionFieldInfo>* fields_ = nullptr;
};

}  // namespace

bool FileMayMatch(const cp::Expression& filter, const PartitionSpecs& specs, int spec_id, const json& tuple) {
  return Projection(specs, spec_id, tuple).MayMatch(filter, /*negated=*/false);
}

Result<std::vector<DataFile>> DataFilesToRead(const std::vector<DataFile>& files, const PartitionSpecs& specs,
                                              const arrow::Schema& schema, const std::string& filter) {
  if (filter.empty()) return files;
  SLUICE_ASSIGN_OR_RAISE(cp::Expression expression, ParseFilter(filter, schema));
  std::vector<DataFile> out;
  for (const auto& file : files) {
    if (FileMayMatch(expression, specs, file.spec_id, file.partition)) out.push_back(file);
  }
  return out;
}

}  // namespace sluice
