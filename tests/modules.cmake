# SPDX-License-Identifier: MIT
# Test directories of the layers above the routed heap; one line per module.
add_subdirectory(alloc)
add_subdirectory(smr)
add_subdirectory(debug)
add_subdirectory(profile)
add_subdirectory(tools)
add_subdirectory(migrate)
# The Python package (python/CMakeLists.txt): the _alloy extension and ctest python.pytest.
add_subdirectory(${PROJECT_SOURCE_DIR}/python ${PROJECT_BINARY_DIR}/python)
