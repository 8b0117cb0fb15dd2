# Arrow C++ comes from the pinned pyarrow wheel in .venv: it ships headers and shared
# libraries but no CMake package, so we declare IMPORTED targets by hand (see REFERENCE.md).
set(SLUICE_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python with the pinned pyarrow")
execute_process(
  COMMAND "${SLUICE_PYTHON}" -c "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); v=pa.__version__.split('.'); print(int(v[0])*100+int(v[1]))"
  OUTPUT_VARIABLE _pa_out RESULT_VARIABLE _pa_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pa_rc EQUAL 0)
  message(FATAL_ERROR "pyarrow is not importable from ${SLUICE_PYTHON}; run scripts/setup.sh")
endif()
string(REPLACE "\n" ";" _pa_lines "${_pa_out}")
list(GET _pa_lines 0 ARROW_INCLUDE_DIR)
list(GET _pa_lines 1 ARROW_LIB_DIR)
list(GET _pa_lines 2 ARROW_SO_VERSION)
message(STATUS "Arrow from pyarrow wheel: ${ARROW_LIB_DIR} (so ${ARROW_SO_VERSION})")

function(sluice_arrow_target name lib)
  add_library(${name} SHARED IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES
    IMPORTED_LOCATION "${ARROW_LIB_DIR}/lib${lib}.so.${ARROW_SO_VERSION}"
    INTERFACE_INCLUDE_DIRECTORIES "${ARROW_INCLUDE_DIR}")
endfunction()

sluice_arrow_target(Arrow::arrow arrow)
sluice_arrow_target(Arrow::compute arrow_compute)
sluice_arrow_target(Arrow::acero arrow_acero)
sluice_arrow_target(Arrow::dataset arrow_dataset)
sluice_arrow_target(Arrow::parquet parquet)
set_property(TARGET Arrow::compute APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::acero APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::compute)
set_property(TARGET Arrow::parquet APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::dataset APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::acero Arrow::parquet)
set(CMAKE_BUILD_RPATH "${ARROW_LIB_DIR}")
set(CMAKE_INSTALL_RPATH "${ARROW_LIB_DIR}")
