# labrun::warnings: the warning flags of labrun's own targets (never torch's headers).
add_library(labrun_warnings INTERFACE)
add_library(labrun::warnings ALIAS labrun_warnings)
if(MSVC)
  target_compile_options(labrun_warnings INTERFACE /W4)
else()
  target_compile_options(labrun_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local -Wconversion -Wno-sign-conversion)
endif()
