# labrun::warnings: the warning flags of labrun's own targets (never torch's headers).
add_library(labrun_warnings INTERFACE)
add_library(labrun::warnings ALIAS labrun_warnings)
if(MSVC)
  target_compile_options(labrun_warnings INTERFACE /W4)
elseif(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(labrun_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
else()
  target_compile_options(labrun_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local -Wconversion -Wno-sign-conversion)
endif()

# labrun::sanitizers: ASan + UBSan on labrun's own targets when LABRUN_SANITIZE is on (libtorch itself
# is not instrumented; its allocations are still checked through the interposed malloc).
add_library(labrun_sanitizers INTERFACE)
add_library(labrun::sanitizers ALIAS labrun_sanitizers)
if(LABRUN_SANITIZE)
  set(_labrun_sanitize_flags -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_compile_options(labrun_sanitizers INTERFACE ${_labrun_sanitize_flags})
  target_link_options(labrun_sanitizers INTERFACE ${_labrun_sanitize_flags})
  target_compile_definitions(labrun_sanitizers INTERFACE LABRUN_SANITIZE)
endif()

# LABRUN_WERROR (on in CI): a new warning in labrun's own code fails the build.
if(LABRUN_WERROR)
  if(MSVC)
    target_compile_options(labrun_warnings INTERFACE /WX)
  else()
    target_compile_options(labrun_warnings INTERFACE -Werror)
  endif()
endif()
