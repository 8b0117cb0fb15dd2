// Errors are values: Sluice uses arrow::Status and arrow::Result<T> directly, and tags
// each error with one of a few stable kinds so the CLI can tell a user's mistake (a bad
// project, an unknown ref) from a conflict, a failure in user code, or an internal bug.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <arrow/result.h>
#include <arrow/status.h>

namespace sluice {

using arrow::Result;
using arrow::Status;

// The stable error kinds. The message carries the domain detail.
enum class ErrorKind {
  kOk = 0,
  kInvalidInput,       // bad project, bad argument, bad data: the user can fix it
  kNotFound,           // a ref, table, model, file or commit that does not exist
  kAlreadyExists,      // creating something whose name is taken
  kConflict,           // a lost compare-and-swap, a merge conflict, a protected ref
  kUserCodeFailed,     // a model's own code raised or returned something unusable
  kExpectationFailed,  // a data expectation returned false under strict mode
  kResourceExceeded,   // memory, time or disk limits
  kIOError,            // the operating system said no
  kCancelled,          // a user asked for it to stop (sluice job kill)
  kInternal,           // a bug in Sluice
};

std::string_view ErrorKindName(ErrorKind kind);
// The kind with this name (as ErrorKindName spells it); kInternal for unknown names.
ErrorKind ErrorKindFromName(std::string_view name);

// Builds a status of the given kind; the arguments are concatenated into the message.
Status MakeError(ErrorKind kind, std::string message);

template <typename... Args>
Status InvalidInput(Args&&... args) {
  return MakeError(ErrorKind::kInvalidInput, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status NotFound(Args&&... args) {
  return MakeError(ErrorKind::kNotFound, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status AlreadyExists(Args&&... args) {
  return MakeError(ErrorKind::kAlreadyExists, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status Conflict(Args&&... args) {
  return MakeError(ErrorKind::kConflict, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status UserCodeFailed(Args&&... args) {
  return MakeError(ErrorKind::kUserCodeFailed, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status ExpectationFailed(Args&&... args) {
  return MakeError(ErrorKind::kExpectationFailed, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status ResourceExceeded(Args&&... args) {
  return MakeError(ErrorKind::kResourceExceeded, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status IOError(Args&&... args) {
  return MakeError(ErrorKind::kIOError, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status Cancelled(Args&&... args) {
  return MakeError(ErrorKind::kCancelled, arrow::internal::JoinToString(std::forward<Args>(args)...));
}
template <typename... Args>
Status Internal(Args&&... args) {
  return MakeError(ErrorKind::kInternal, arrow::internal::JoinToString(std::forward<Args>(args)...));
}

// The kind of any status, including ones that came from Arrow itself
// (Arrow's IOError maps to kIOError, KeyError to kNotFound, others to kInternal or kInvalidInput).
ErrorKind KindOf(const Status& status);

// Prefixes the message with context, keeping the kind: "model 'x' (models.py:3): " + message.
Status WithContext(const Status& status, std::string_view context);

// An optional one-line hint shown under the error by the CLI.
Status WithHint(const Status& status, std::string hint);
std::string HintOf(const Status& status);

// The same as WithContext for Result<T>.
template <typename T>
Result<T> WithContext(Result<T>&& result, std::string_view context) {
  if (result.ok()) return std::move(result);
  return WithContext(result.status(), context);
}

}  // namespace sluice

#define SLUICE_RETURN_NOT_OK(expr) ARROW_RETURN_NOT_OK(expr)
#define SLUICE_ASSIGN_OR_RAISE(lhs, rexpr) ARROW_ASSIGN_OR_RAISE(lhs, rexpr)
// Adds context to a failing status on its way up.
#define SLUICE_RETURN_NOT_OK_CTX(expr, context)                  \
  do {                                                           \
    ::arrow::Status _st = ::arrow::ToStatus(expr);               \
    if (!_st.ok()) return ::sluice::WithContext(_st, (context)); \
  } while (false)
