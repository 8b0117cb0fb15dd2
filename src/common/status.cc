#include "common/status.h"

#include <memory>

namespace sluice {
namespace {

// Carries our kind and an optional hint through arrow::Status, which has its own codes.
class SluiceDetail : public arrow::StatusDetail {
 public:
  SluiceDetail(ErrorKind kind, std::string hint) : kind_(kind), hint_(std::move(hint)) {}
  const char* type_id() const override { return "sluice::SluiceDetail"; }
  std::string ToString() const override { return std::string(ErrorKindName(kind_)); }
  ErrorKind kind() const { return kind_; }
  const std::string& hint() const { return hint_; }

 private:
  ErrorKind kind_;
  std::string hint_;
};

const SluiceDetail* DetailOf(const Status& status) {
  const auto& detail = status.detail();
  if (detail && std::string_view(detail->type_id()) == "sluice::SluiceDetail") {
    return static_cast<const SluiceDetail*>(detail.get());
  }
  return nullptr;
}

arrow::StatusCode ArrowCodeFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNotFound:
      return arrow::StatusCode::KeyError;
    case ErrorKind::kAlreadyExists:
      return arrow::StatusCode::AlreadyExists;
    case ErrorKind::kIOError:
      return arrow::StatusCode::IOError;
    case ErrorKind::kResourceExceeded:
      return arrow::StatusCode::CapacityError;
    case ErrorKind::kInternal:
      return arrow::StatusCode::UnknownError;
    case ErrorKind::kCancelled:
      return arrow::StatusCode::Cancelled;
    case ErrorKind::kUserCodeFailed:
    case ErrorKind::kExpectationFailed:
      return arrow::StatusCode::ExecutionError;
    default:
      return arrow::StatusCode::Invalid;
  }
}

}  // namespace

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kOk:
      return "ok";
    case ErrorKind::kInvalidInput:
      return "invalid input";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kAlreadyExists:
      return "already exists";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kUserCodeFailed:
      return "model failed";
    case ErrorKind::kExpectationFailed:
      return "expectation failed";
    case ErrorKind::kResourceExceeded:
      return "resource limit exceeded";
    case ErrorKind::kIOError:
      return "I/O error";
    case ErrorKind::kCancelled:
      return "cancelled";
    case ErrorKind::kInternal:
      return "internal error";
  }
  return "unknown";
}

ErrorKind ErrorKindFromName(std::string_view name) {
  for (int k = static_cast<int>(ErrorKind::kInvalidInput); k <= static_cast<int>(ErrorKind::kInternal); ++k) {
    if (ErrorKindName(static_cast<ErrorKind>(k)) == name) return static_cast<ErrorKind>(k);
  }
  return ErrorKind::kInternal;
}

Status MakeError(ErrorKind kind, std::string message) {
  return Status(ArrowCodeFor(kind), std::move(message), std::make_shared<SluiceDetail>(kind, std::string()));
}

ErrorKind KindOf(const Status& status) {
  if (status.ok()) return ErrorKind::kOk;
  if (const auto* detail = DetailOf(status)) return detail->kind();
  switch (status.code()) {
    case arrow::StatusCode::IOError:
      return ErrorKind::kIOError;
    case arrow::StatusCode::KeyError:
      return ErrorKind::kNotFound;
    case arrow::StatusCode::AlreadyExists:
      return ErrorKind::kAlreadyExists;
    case arrow::StatusCode::Invalid:
    case arrow::StatusCode::TypeError:
      return ErrorKind::kInvalidInput;
    case arrow::StatusCode::OutOfMemory:
    case arrow::StatusCode::CapacityError:
      return ErrorKind::kResourceExceeded;
    case arrow::StatusCode::Cancelled:
      return ErrorKind::kCancelled;
    default:
      return ErrorKind::kInternal;
  }
}

Status WithContext(const Status& status, std::string_view context) {
  if (status.ok()) return status;
  std::string message(context);
  if (!message.empty() && message.back() != ' ') message += ": ";
  message += status.message();
  return status.WithMessage(message);
}

Status WithHint(const Status& status, std::string hint) {
  if (status.ok()) return status;
  return status.WithDetail(std::make_shared<SluiceDetail>(KindOf(status), std::move(hint)));
}

std::string HintOf(const Status& status) {
  const auto* detail = DetailOf(status);
  return detail ? detail->hint() : std::string();
}

}  // namespace sluice
