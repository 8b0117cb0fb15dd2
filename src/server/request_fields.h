// Reading a request's query parameters and JSON body fields, and who the request acts as.
// Shared by every route of the server's APIs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "catalog/commit_note.h"
#include "common/status.h"
#include "server/rest_request.h"

namespace sluice {

// The query parameter `key`, or `fallback` when it is absent or empty.
std::string Param(const RestRequest& request, const std::string& key, const std::string& fallback = "");

// The string field `key` of `body`, or `fallback` when it is absent or not a string.
std::string Field(const nlohmann::json& body, const char* key, const std::string& fallback = "");

// The author of whatever the request writes: the API key's user when the server checks keys
// (the body's "author" is then ignored: a client cannot claim another name), else the body's
// "author", else the server's own user.
std::string RequestAuthor(const RestRequest& request, const nlohmann::json& body);

// bauplan's commit_body and commit_properties (an object of strings) from the JSON body, or
// from the query string for a DELETE (commit_properties then as JSON text); validated.
Result<CommitNote> CommitNoteOf(const RestRequest& request, const nlohmann::json& body);

}  // namespace sluice
