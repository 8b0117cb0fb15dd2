// Where Sluice keeps its state and which Python it runs models with.
#pragma once

#include <string>

namespace sluice {

// The data home: $SLUICE_HOME, else $HOME/.sluice. Holds catalog.db (the SQLite catalog),
// warehouse/ (table data and metadata, unless WarehouseUri() puts them elsewhere) and
// state.json (active branch, settings).
// Two data homes never share state.
std::string DataHome();

// Where the catalog lives when it is not the data home's SQLite file: $SLUICE_CATALOG
// ("postgresql://user@host/db"), empty for the default.
std::string CatalogUri();

// Where a data home keeps table files when not in its own warehouse/ directory:
// $SLUICE_WAREHOUSE (a location storage/storage_uri.h accepts, e.g. "s3://bucket/prefix"),
// empty for the default.
std::string WarehouseUri();

// The interpreter that runs Python models and discovery: $SLUICE_PYTHON, else the
// project's .venv Python the binary was built against.
std::string PythonExecutable();

// The uv binary that resolves and installs model environments: $SLUICE_UV, else the uv
// beside PythonExecutable() (the project's .venv has one), else "uv".
std::string UvExecutable();

// The directory holding the `sluice` and `bauplan` Python packages (added to PYTHONPATH of
// every Python process Sluice starts): $SLUICE_PYTHONPATH, else python/ of the source tree.
std::string PythonPackageDir();

// The `sluice-sandbox` launcher workers start through ($SLUICE_SANDBOX, else the built one).
std::string SandboxLauncher();

// The shared library a zygote loads to fork confined workers ($SLUICE_CONFINE_LIBRARY, else
// the one built beside the launcher).
std::string ConfinementLibrary();

// The library model workers preload so their large buffers live in a memory file the engine
// can map (env/shared_heap.c; $SLUICE_HEAP_LIBRARY, else the one built beside the launcher).
std::string SharedHeapLibrary();

// Whether models' outputs may stay in their workers' heaps: not with SLUICE_SHARED_HEAP=off
// (every output is then copied into an IPC file), nor without the library.
bool SharedHeapEnabled();

// The kernel's setting for huge pages in shared memory (shmem_enabled under
// /sys/kernel/mm/transparent_hugepage: "advise", "never", ...; "unknown" when unreadable).
// Worker heaps ask for them (madvise): with 4 KiB pages a worker's exit, which a hand-off
// waits for, unmaps its output page by page (about 50 ms a GiB); with 2 MiB pages it does
// not grow with the output's size. Only "never" and "deny" refuse them.
std::string SharedHugePagesSetting();

// Directory for a data home's shared-memory objects (under /dev/shm when it exists);
// SharedMemoryRoot() is the one of DataHome().
std::string SharedMemoryRootFor(const std::string& data_home);
std::string SharedMemoryRoot();

}  // namespace sluice
