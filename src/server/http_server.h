// `sluice serve`: HTTP access to a data home: the Iceberg REST catalog (/v1/...) and the
// Sluice JSON API (/api/v1/...).
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "exec/lakehouse.h"

namespace sluice {

// Serves until the process is stopped. `on_ready` is called with the bound port (useful with
// port 0, which picks a free one). IOError when the address cannot be bound.
Status ServeHttp(Lakehouse* lake, const std::string& host, int port, const std::function<void(int)>& on_ready);

}  // namespace sluice
