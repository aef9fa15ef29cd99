# Test directories of the layers above the routed heap; one line per module.
add_subdirectory(alloc)
add_subdirectory(smr)
add_subdirectory(debug)
add_subdirectory(profile)
add_subdirectory(tools)
