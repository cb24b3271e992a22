# labrun_unity_build(TARGET): with LABRUN_UNITY_BUILD on, TARGET's sources are compiled in batches
# of up to 8 files, each batch one translation unit that parses libtorch's headers once (they take
# 10-16 s a file to parse; labrun's own code a few seconds). Eight splits the library into three
# batches and the tool into two, which a 2-core machine compiles two at a time. A file with flags of its own (the
# lane kernels) is compiled alone, as SKIP_UNITY_BUILD_INCLUSION marks it. Names in anonymous
# namespaces share a batch: they must differ between the files of a target.
function(labrun_unity_build target)
  if(LABRUN_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE BATCH UNITY_BUILD_BATCH_SIZE 8)
  endif()
endfunction()
