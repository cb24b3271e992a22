# labrun_embed_file(INPUT file OUTPUT file.cpp SYMBOL name)
# Generates, at build time, a C++ source defining
#   extern const unsigned char name[];  extern const std::size_t name_size;
# with the bytes of INPUT, regenerated whenever INPUT changes.
set(_labrun_embed_script "${CMAKE_CURRENT_LIST_DIR}/LabrunEmbedScript.cmake")

function(labrun_embed_file)
  cmake_parse_arguments(ARG "" "INPUT;OUTPUT;SYMBOL" "" ${ARGN})
  add_custom_command(
    OUTPUT "${ARG_OUTPUT}"
    COMMAND "${CMAKE_COMMAND}" -DINPUT=${ARG_INPUT} -DOUTPUT=${ARG_OUTPUT} -DSYMBOL=${ARG_SYMBOL}
            -P "${_labrun_embed_script}"
    DEPENDS "${ARG_INPUT}" "${_labrun_embed_script}"
    COMMENT "Embedding ${ARG_INPUT} as ${ARG_SYMBOL}"
    VERBATIM)
endfunction()
